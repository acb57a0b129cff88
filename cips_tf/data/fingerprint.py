"""Dataset fingerprints: a short hash that changes whenever the data a config reads changes.

Used in the keys of cached real-image statistics (FID / KID / precision-recall), so a dataset that
gained, lost or changed files never reuses stale statistics:

- `folder`: the sorted file listing (relative path, size, modification time) of every image file;
- `tfrecord`: the content (SHA-256) of every shard file;
- `fashion_mnist`: the content of the split's IDX files;
- `tfds`: name, split and data_dir, plus the listing (path, size, mtime) of the prepared
  dataset's directory when it can be found under data_dir.

The data options that change the images (split, resizing, image key) are hashed in as well.
Resolution and the feature extractor are separate parts of the cache key.
"""
import hashlib
import os
import pathlib

import tensorflow as tf

from cips_tf.data import fashion_mnist, images, tfrecord

_CHUNK = 1 << 20


def _listing(paths, root):
    rows = []
    for p in paths:
        st = tf.io.gfile.stat(p)
        rows.append((os.path.relpath(p, root), int(st.length), int(st.mtime_nsec)))
    return rows


def _content(paths, digest):
    for p in paths:
        digest.update(os.path.basename(p).encode() + b"\0")
        with tf.io.gfile.GFile(p, "rb") as f:
            while True:
                block = f.read(_CHUNK)
                if not block:
                    break
                digest.update(block)


def dataset_fingerprint(data_config, length=16):
    """A hex fingerprint (`length` chars) of the data `data_config` reads (see the module docstring).

    Raises:
      FileNotFoundError: the folder / shards / IDX files do not exist.
      ValueError: unknown `data_config.source`.
    """
    d = data_config
    digest = hashlib.sha256()
    options = [d.get("source"), d.get("split"), d.get("resize_shorter_side"), d.get("image_key"), d.get("name")]
    digest.update(repr(options).encode())
    source = d.source
    if source == "folder":
        root = os.fspath(d.path)
        digest.update(repr(_listing(images.list_image_files(root), root)).encode())
    elif source == "tfrecord":
        _content(tfrecord.list_tfrecord_files(d.path), digest)
    elif source == "fashion_mnist":
        data_dir = pathlib.Path(d.get("data_dir") or os.environ.get("CIPS_FASHION_MNIST_DIR",
                                                                    fashion_mnist.DEFAULT_DIR))
        splits = ["train", "test"] if d.split == "all" else [d.split]
        for split in splits:
            if split not in fashion_mnist._FILES:  # pylint: disable=protected-access
                raise ValueError(f"data.split: unknown Fashion-MNIST split {split!r}")
            paths = [str(data_dir / name) for name in fashion_mnist._FILES[split]]  # pylint: disable=protected-access
            missing = [p for p in paths if not os.path.exists(p)]
            if missing:
                raise FileNotFoundError(f"{missing[0]} not found: install Debian's dataset-fashion-mnist")
            _content(paths, digest)
    elif source == "tfds":
        data_dir = d.get("data_dir")
        digest.update(repr((d.get("name"), d.get("split"), data_dir)).encode())
        if data_dir:
            name = str(d.name).split(":")[0]
            prepared = pathlib.Path(os.path.expanduser(data_dir)) / name
            if prepared.is_dir():
                files = sorted(str(p) for p in prepared.rglob("*") if p.is_file())
                digest.update(repr(_listing(files, str(prepared))).encode())
    else:
        raise ValueError(f"data.source: unknown source {source!r}")
    return digest.hexdigest()[:length]
