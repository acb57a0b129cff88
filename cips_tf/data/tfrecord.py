"""The cips-tf TFRecord format: writer, folder converter and reader.

Format (one `tf.train.Example` per image; what ExampleGen writes and the 'tfrecord' source reads):

    image   bytes   the image, PNG-encoded, RGB, 8 bits per channel (lossless)
    height  int64   image height in pixels (equals the PNG's)
    width   int64   image width in pixels (equals the PNG's)
    source  bytes   optional: where the image came from (e.g. its path relative to the input
                    folder); used in error messages and for provenance. May be absent or empty.
    label   int64   optional: the class index (cips-dataset --labels); the class names are in the
                    shards' dataset_report.json ("class_names"). Read with data.labels='tfrecord'.

Images are usually stored already at the training resolution (square), but any size is valid: the
reader applies the same geometry as every other source (`transforms.fit_to_resolution`). Storing
native sizes is what the random-rotation recipe wants (rotate the full image, then crop).

Files: `<out_dir>/<prefix>-NNNNN-of-MMMMM.tfrecord`, uncompressed (PNG is already compressed).
Examples are dealt round-robin to the shards (`cips_tf.data.prepare`: by input position), so
shards differ little in size; a shard may be empty when there are fewer images than shards. Shards are written to `*.tmp` names and renamed
when complete, so a crashed run leaves no half-written shard under a final name.
"""
import io
import os

import numpy as np
import tensorflow as tf
from absl import logging
from PIL import Image

FEATURES = {
    "image": tf.io.FixedLenFeature([], tf.string),
    "height": tf.io.FixedLenFeature([], tf.int64),
    "width": tf.io.FixedLenFeature([], tf.int64),
    "source": tf.io.FixedLenFeature([], tf.string, default_value=""),
}
SUFFIX = ".tfrecord"


def encode_png(image, compress_level=6):
    """uint8 [H, W, 3] -> PNG bytes."""
    buffer = io.BytesIO()
    Image.fromarray(image, mode="RGB").save(buffer, format="PNG", compress_level=compress_level)
    return buffer.getvalue()


def make_example(image, source="", label=None):
    """uint8 [H, W, 3] RGB (+ optional source string and class index) -> serialized tf.train.Example."""
    image = np.asarray(image)
    if image.dtype != np.uint8 or image.ndim != 3 or image.shape[-1] != 3:
        raise ValueError(f"{source or 'image'}: want uint8 [H, W, 3], got {image.dtype} {image.shape}")
    feature = {
        "image": tf.train.Feature(bytes_list=tf.train.BytesList(value=[encode_png(image)])),
        "height": tf.train.Feature(int64_list=tf.train.Int64List(value=[image.shape[0]])),
        "width": tf.train.Feature(int64_list=tf.train.Int64List(value=[image.shape[1]])),
        "source": tf.train.Feature(bytes_list=tf.train.BytesList(value=[str(source).encode("utf-8")])),
    }
    if label is not None:  # absent otherwise: unlabelled records stay byte-identical
        feature["label"] = tf.train.Feature(int64_list=tf.train.Int64List(value=[int(label)]))
    # deterministic: map entries sorted, so equal examples are equal bytes in every process
    return tf.train.Example(features=tf.train.Features(feature=feature)).SerializeToString(deterministic=True)


def shard_path(out_dir, prefix, index, num_shards):
    return os.path.join(os.fspath(out_dir), f"{prefix}-{index:05d}-of-{num_shards:05d}{SUFFIX}")


def write_records(records, out_dir, num_shards, *, prefix="data", sharded=False):
    """Writes serialized records to `num_shards` TFRecord shards in `out_dir` (created if missing).

    Args:
      records: yields serialized records (bytes), dealt round-robin; with `sharded`, yields
        `(shard index, record)` pairs instead.
      out_dir: output directory (any `tf.io.gfile` path).
      num_shards: number of shard files (>= 1); every shard file is written, empty ones included.
      prefix: shard file name prefix (e.g. the split name).

    Returns:
      (files, records per shard). Shards are written to `*.tmp` names and renamed when complete.
    """
    if num_shards < 1:
        raise ValueError(f"num_shards must be >= 1, got {num_shards}")
    tf.io.gfile.makedirs(os.fspath(out_dir))
    files = [shard_path(out_dir, prefix, i, num_shards) for i in range(num_shards)]
    writers = [tf.io.TFRecordWriter(f + ".tmp") for f in files]
    counts = [0] * num_shards
    try:
        for position, item in enumerate(records):
            shard, record = item if sharded else (position % num_shards, item)
            writers[shard].write(record)
            counts[shard] += 1
    except BaseException:
        for w in writers:
            w.close()
        for f in files:
            if tf.io.gfile.exists(f + ".tmp"):
                tf.io.gfile.remove(f + ".tmp")
        raise
    for w in writers:
        w.close()
    for f in files:
        tf.io.gfile.rename(f + ".tmp", f, overwrite=True)
    return files, counts


def write_tfrecords(images_iterable, out_dir, num_shards, *, prefix="data"):
    """Writes images to `num_shards` TFRecord shards in `out_dir` (created if missing), round-robin.

    Args:
      images_iterable: yields uint8 [H, W, 3] RGB arrays, or `(image, source)` pairs.
      out_dir: output directory (any `tf.io.gfile` path).
      num_shards: number of shard files (>= 1).
      prefix: shard file name prefix (e.g. the split name).

    Returns:
      dict with `num_examples`, `num_shards`, `files` (shard paths), `examples_per_shard`, and
      `sizes` ({"HxW": count}).

    Image folders, zip files and TFDS datasets go through `cips_tf.data.prepare` instead, which
    validates every file and reports the bad ones.
    """
    sizes = {}

    def _records():
        for item in images_iterable:
            image, source = item if isinstance(item, tuple) else (item, "")
            record = make_example(image, source)
            key = f"{image.shape[0]}x{image.shape[1]}"
            sizes[key] = sizes.get(key, 0) + 1
            yield record

    files, counts = write_records(_records(), out_dir, num_shards, prefix=prefix)
    total = sum(counts)
    logging.info("Wrote %d examples to %d shards in %s", total, num_shards, out_dir)
    return {"num_examples": total, "num_shards": num_shards, "files": files, "examples_per_shard": counts, "sizes": sizes}


def list_tfrecord_files(path):
    """Shard files for `path`: a directory (all `*.tfrecord*` in it) or a glob. Sorted.

    Raises FileNotFoundError if nothing matches.
    """
    path = os.fspath(path)
    pattern = os.path.join(path, f"*{SUFFIX}*") if tf.io.gfile.isdir(path) else path
    files = sorted(f for f in tf.io.gfile.glob(pattern) if not f.endswith(".tmp"))
    if not files:
        raise FileNotFoundError(f"{path}: no TFRecord files match {pattern}")
    return files


def parse_example(serialized):
    """Serialized Example -> dict(image=PNG bytes, height, width, source) tensors."""
    return tf.io.parse_single_example(serialized, FEATURES)


def read_tfrecords(path):
    """A dataset of dicts (image PNG bytes, height, width, source) from all shards, in file order."""
    return tf.data.TFRecordDataset(list_tfrecord_files(path)).map(parse_example)
