"""The cips-tf TFRecord format: writer, folder converter and reader.

Format (one `tf.train.Example` per image; what ExampleGen writes and the 'tfrecord' source reads):

    image   bytes   the image, PNG-encoded, RGB, 8 bits per channel (lossless)
    height  int64   image height in pixels (equals the PNG's)
    width   int64   image width in pixels (equals the PNG's)
    source  bytes   optional: where the image came from (e.g. its path relative to the input
                    folder); used in error messages and for provenance. May be absent or empty.

Images are usually stored already at the training resolution (square), but any size is valid: the
reader applies the same geometry as every other source (`transforms.fit_to_resolution`). Storing
native sizes is what the random-rotation recipe wants (rotate the full image, then crop).

Files: `<out_dir>/<prefix>-NNNNN-of-MMMMM.tfrecord`, uncompressed (PNG is already compressed).
Examples are dealt round-robin to the shards, so shards differ in size by at most one; a shard may
be empty when there are fewer images than shards. Shards are written to `*.tmp` names and renamed
when complete, so a crashed run leaves no half-written shard under a final name.
"""
import io
import os

import numpy as np
import tensorflow as tf
from absl import logging
from PIL import Image

from cips_tf.data import images as images_lib
from cips_tf.data import transforms

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


def make_example(image, source=""):
    """uint8 [H, W, 3] RGB (+ optional source string) -> serialized tf.train.Example."""
    image = np.asarray(image)
    if image.dtype != np.uint8 or image.ndim != 3 or image.shape[-1] != 3:
        raise ValueError(f"{source or 'image'}: want uint8 [H, W, 3], got {image.dtype} {image.shape}")
    feature = {
        "image": tf.train.Feature(bytes_list=tf.train.BytesList(value=[encode_png(image)])),
        "height": tf.train.Feature(int64_list=tf.train.Int64List(value=[image.shape[0]])),
        "width": tf.train.Feature(int64_list=tf.train.Int64List(value=[image.shape[1]])),
        "source": tf.train.Feature(bytes_list=tf.train.BytesList(value=[str(source).encode("utf-8")])),
    }
    return tf.train.Example(features=tf.train.Features(feature=feature)).SerializeToString()


def shard_path(out_dir, prefix, index, num_shards):
    return os.path.join(os.fspath(out_dir), f"{prefix}-{index:05d}-of-{num_shards:05d}{SUFFIX}")


def write_tfrecords(images_iterable, out_dir, num_shards, *, prefix="data"):
    """Writes images to `num_shards` TFRecord shards in `out_dir` (created if missing).

    Args:
      images_iterable: yields uint8 [H, W, 3] RGB arrays, or `(image, source)` pairs.
      out_dir: output directory (any `tf.io.gfile` path).
      num_shards: number of shard files (>= 1).
      prefix: shard file name prefix (e.g. the split name).

    Returns:
      dict with `num_examples`, `num_shards`, `files` (shard paths), `examples_per_shard`, and
      `sizes` ({"HxW": count}).
    """
    if num_shards < 1:
        raise ValueError(f"num_shards must be >= 1, got {num_shards}")
    tf.io.gfile.makedirs(os.fspath(out_dir))
    files = [shard_path(out_dir, prefix, i, num_shards) for i in range(num_shards)]
    writers = [tf.io.TFRecordWriter(f + ".tmp") for f in files]
    counts = [0] * num_shards
    sizes = {}
    total = 0
    try:
        for item in images_iterable:
            image, source = item if isinstance(item, tuple) else (item, "")
            record = make_example(image, source)
            writers[total % num_shards].write(record)
            counts[total % num_shards] += 1
            key = f"{image.shape[0]}x{image.shape[1]}"
            sizes[key] = sizes.get(key, 0) + 1
            total += 1
    finally:
        for w in writers:
            w.close()
    for f in files:
        tf.io.gfile.rename(f + ".tmp", f, overwrite=True)
    logging.info("Wrote %d examples to %d shards in %s", total, num_shards, out_dir)
    return {"num_examples": total, "num_shards": num_shards, "files": files, "examples_per_shard": counts, "sizes": sizes}


def convert_image_folder(folder, out_dir, *, num_shards, resolution=None, resize_shorter_side=True,
                         skip_bad_images=True, prefix="data"):
    """Converts an image folder (recursive; see `images.list_image_files`) to TFRecord shards.

    Every file is decoded with `images.decode_image_bytes` (any format and mode -> RGB). With
    `resolution`, images are brought to it with `transforms.fit_to_resolution` (resize the shorter
    side and center crop, or with `resize_shorter_side=False` keep the native scale and keep the
    central square); with `resolution=None` they are stored as they are.

    Bad files (corrupt, truncated, unreadable) are skipped and reported when `skip_bad_images`, and
    raise `images.BadImageError` naming the file otherwise.

    Returns:
      the `write_tfrecords` stats plus `num_files` (image files found) and `skipped`: a list of
      {"path": ..., "reason": ...} for the skipped files.
    """
    folder = os.fspath(folder)
    paths = images_lib.list_image_files(folder)
    skipped = []

    def _images():
        for path in paths:
            try:
                image = images_lib.read_image_file(path)
            except images_lib.BadImageError as e:
                if not skip_bad_images:
                    raise
                skipped.append({"path": path, "reason": e.reason})
                logging.warning("Skipped bad image %s (%s); %d skipped so far", path, e.reason, len(skipped))
                continue
            if resolution is not None:
                image = transforms.fit_to_resolution(tf.constant(image), resolution, resize_shorter_side).numpy()
            yield image, os.path.relpath(path, folder)

    stats = write_tfrecords(_images(), out_dir, num_shards, prefix=prefix)
    stats.update(num_files=len(paths), skipped=skipped)
    logging.info("Converted %s: %d of %d files written, %d skipped", folder, stats["num_examples"], len(paths), len(skipped))
    return stats


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
