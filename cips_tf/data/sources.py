"""The inputs of a dataset preparation: an image folder, a zip file, a prepared TFDS dataset, the
offline Fashion-MNIST. Each source is a small picklable description, listed on the driver and read
wherever the runner puts the work:

    source.list_refs()          the inputs (file paths, zip members, TFDS shard instructions,
                                Fashion-MNIST index ranges), each with a global input index
    source.read(ref)            -> `processing.RawItem(index, name, location, data)` (encoded bytes or
                                pixels)

`source_from_spec` makes one from `cips-dataset --source`. Untrusted inputs stay bounded: a zip
member larger than `max_member_bytes` is refused from its header and read with a cap in case the
header lies; folders are listed without leaving them (`images.scan_image_files`).
"""
import dataclasses
import os
import threading
import zipfile
from typing import Optional

import tensorflow as tf

from cips_tf.data import fashion_mnist
from cips_tf.data import images as images_lib
from cips_tf.data import labels as labels_lib
from cips_tf.data.processing import RawItem

MAX_MEMBER_BYTES = 256 * 2**20  # a zip member's uncompressed size (an uncompressed 2**26-pixel BMP fits)
MAX_ZIP_BYTES = 64 * 2**30  # all image members of a zip together, uncompressed
_CHUNK = 1024  # inputs per ref for array sources (Fashion-MNIST): one ref = one unit of Beam work


_LOCAL = threading.local()  # per-thread open archives (a ZipFile is not thread-safe)
_SHARED = {}  # per-process loaded datasets and builders (read-only once made)
_SHARED_LOCK = threading.Lock()


def _thread_cached(key, make):
    if not hasattr(_LOCAL, "cache"):
        _LOCAL.cache = {}
    if key not in _LOCAL.cache:
        _LOCAL.cache[key] = make()
    return _LOCAL.cache[key]


def _process_cached(key, make):
    with _SHARED_LOCK:
        if key not in _SHARED:
            _SHARED[key] = make()
        return _SHARED[key]


@dataclasses.dataclass(frozen=True)
class FolderSource:
    """A directory of images, read recursively (`images.list_image_files`); any gfile path.

    `labels`: 'none', 'folder' (class subfolders) or 'dataset.json' (StyleGAN's file in the folder):
    each record then carries its class index (`cips_tf.data.labels`), and `class_names()` the names.
    """

    path: str
    labels: str = "none"

    def describe(self):
        return {"kind": "folder", "path": self.path, **({"labels": self.labels} if self.labels != "none" else {})}

    def _label_table(self):
        """({path relative to the folder: class index}, class names), or None without labels."""
        if self.labels == "none":
            return None
        if self.labels not in ("folder", "dataset.json"):
            raise ValueError(f"labels of an image folder must be none, folder or dataset.json, got {self.labels!r}")

        def make():
            labeled = (labels_lib.folder_labels(self.path) if self.labels == "folder"
                       else labels_lib.dataset_json_labels(self.path))
            return ({os.path.relpath(f, self.path): l for f, l in zip(labeled.files, labeled.labels)},
                    labeled.class_names)

        return _process_cached(("folder_labels", self.path, self.labels), make)

    def class_names(self):
        table = self._label_table()
        return None if table is None else list(table[1])

    def scan(self, max_images=0):
        """(refs, left out: [(path, reason)]) (`images.scan_image_files`: the folder is never left)."""
        paths, left_out = images_lib.scan_image_files(self.path)
        paths = paths[:max_images] if max_images else paths
        return [(i, p) for i, p in enumerate(paths)], left_out

    def list_refs(self, max_images=0):
        return self.scan(max_images)[0]

    def count(self, refs):
        return len(refs)

    def read(self, ref):
        index, path = ref
        name = os.path.relpath(path, self.path)
        table = self._label_table()
        label = None if table is None else table[0][name]
        try:
            with tf.io.gfile.GFile(path, "rb") as f:
                data = f.read()
        except Exception as e:  # gone since listing, unreadable ...
            yield RawItem(index, name, path, error=f"unreadable: {type(e).__name__}: {e}", label=label)
            return
        yield RawItem(index, name, path, data=data, label=label)


@dataclasses.dataclass(frozen=True)
class ZipSource:
    """Images inside a zip file (members with image extensions; hidden, `..` and __MACOSX skipped).

    Nothing is extracted to disk. A member whose uncompressed size (its header's `file_size`) is
    above `max_member_bytes` is a bad file, refused before reading; the others are read with a cap
    in case the header lies. Image members above `max_total_bytes` in all stop the listing.
    """

    path: str
    max_member_bytes: int = MAX_MEMBER_BYTES
    max_total_bytes: int = MAX_ZIP_BYTES

    def describe(self):
        return {"kind": "zip", "path": self.path}

    def _archive(self):
        return _thread_cached(("zip", self.path), lambda: zipfile.ZipFile(tf.io.gfile.GFile(self.path, "rb")))

    def list_refs(self, max_images=0):
        if not tf.io.gfile.exists(self.path):
            raise FileNotFoundError(f"{self.path}: zip file not found")
        try:
            members = self._archive().namelist()
        except (zipfile.BadZipFile, tf.errors.OpError) as e:  # GFile: a file shorter than a zip's end record
            raise ValueError(f"{self.path}: not a readable zip file: {e}") from e
        names = sorted(
            m for m in members
            if not m.endswith("/") and m.lower().endswith(images_lib.IMAGE_EXTENSIONS)
            and not any(part.startswith(".") or part == "__MACOSX" for part in m.split("/"))
        )
        if not names:
            raise FileNotFoundError(f"{self.path}: no image files ({', '.join(images_lib.IMAGE_EXTENSIONS)}) in the zip")
        names = names[:max_images] if max_images else names
        archive = self._archive()
        total = sum(archive.getinfo(n).file_size for n in names)
        if total > self.max_total_bytes:
            raise ValueError(f"{self.path}: its {len(names)} image members hold {total} bytes uncompressed, above "
                             f"the limit of {self.max_total_bytes} (cips-dataset --max_zip_bytes lifts it)")
        return [(i, n) for i, n in enumerate(names)]

    def count(self, refs):
        return len(refs)

    def _too_large(self, size):
        return (f"zip member of {size} bytes uncompressed, above the limit of {self.max_member_bytes} "
                "(cips-dataset --max_member_bytes lifts it)")

    def read(self, ref):
        index, member = ref
        location = f"{self.path}:{member}"
        try:
            info = self._archive().getinfo(member)
            if info.file_size > self.max_member_bytes:  # refused from the header, before reading
                yield RawItem(index, member, location, error=self._too_large(info.file_size))
                return
            with self._archive().open(info) as f:
                data = f.read(self.max_member_bytes + 1)  # stops at the cap even if the header lies
        except Exception as e:  # CRC mismatch, unsupported compression ...
            yield RawItem(index, member, location, error=f"unreadable zip member: {type(e).__name__}: {e}")
            return
        if len(data) > self.max_member_bytes:
            yield RawItem(index, member, location, error=self._too_large(f"more than {self.max_member_bytes}") +
                          f"; its header said {info.file_size}")
            return
        yield RawItem(index, member, location, data=data)


@dataclasses.dataclass(frozen=True)
class FashionMnistSource:
    """The offline Fashion-MNIST of Debian's dataset-fashion-mnist (`fashion_mnist.py`)."""

    split: str = "train"
    data_dir: Optional[str] = None
    labels: bool = False  # records carry the class (0..9, `labels.FASHION_MNIST_CLASSES`)

    def describe(self):
        return {"kind": "fashion_mnist", "split": self.split, "data_dir": self.data_dir}

    def class_names(self):
        return list(labels_lib.FASHION_MNIST_CLASSES) if self.labels else None

    def _labels(self):
        return _process_cached(("fashion_mnist_labels", self.split, self.data_dir),
                               lambda: fashion_mnist.load_fashion_mnist(self.split, self.data_dir)[1])

    def _images(self):
        return _process_cached(("fashion_mnist", self.split, self.data_dir),
                               lambda: fashion_mnist.load_fashion_mnist(self.split, self.data_dir)[0])

    def list_refs(self, max_images=0):
        total = len(self._images())
        total = min(total, max_images) if max_images else total
        return [(start, min(start + _CHUNK, total)) for start in range(0, total, _CHUNK)]

    def count(self, refs):
        return sum(stop - start for start, stop in refs)

    def read(self, ref):
        pixels = self._images()
        labels = self._labels() if self.labels else None
        for i in range(*ref):
            name = f"fashion_mnist/{self.split}[{i}]"
            yield RawItem(i, name, name, data=pixels[i], label=None if labels is None else int(labels[i]))


@dataclasses.dataclass(frozen=True)
class TfdsSource:
    """A TFDS dataset already prepared in `data_dir` (never downloaded); images read undecoded."""

    name: str
    split: str = "train"
    data_dir: Optional[str] = None
    image_key: str = "image"

    def describe(self):
        return {"kind": "tfds", "name": self.name, "split": self.split, "data_dir": self.data_dir,
                "image_key": self.image_key}

    def _builder(self):
        import tensorflow_datasets as tfds  # slow to import (seconds): only for TFDS sources

        def _make():
            try:
                builder = tfds.builder(self.name, data_dir=self.data_dir)
            except Exception as e:
                raise ValueError(f"TFDS dataset {self.name!r}: {type(e).__name__}: {e}") from e
            if not tf.io.gfile.exists(os.path.join(builder.data_dir, "dataset_info.json")):
                raise FileNotFoundError(
                    f"TFDS dataset {self.name!r} is not prepared in {builder.data_dir}: cips-dataset never "
                    "downloads; prepare it where the network is reachable (`tfds build "
                    f"{self.name} --data_dir=DIR`) and pass that data_dir")
            return builder

        return _process_cached(("tfds", self.name, self.data_dir), _make)

    def list_refs(self, max_images=0):
        builder = self._builder()
        if self.split not in builder.info.splits:
            raise ValueError(f"TFDS dataset {self.name!r} has no split {self.split!r} "
                             f"(has {sorted(builder.info.splits.keys())})")
        if self.image_key not in builder.info.features:
            raise ValueError(f"TFDS dataset {self.name!r} has no feature {self.image_key!r} "
                             f"(has {sorted(builder.info.features.keys())})")
        refs, start = [], 0
        for fi in builder.info.splits[self.split].file_instructions:
            take = fi.take if fi.take is not None and fi.take >= 0 else fi.examples_in_shard - fi.skip
            if max_images:
                take = min(take, max_images - start)
            if take <= 0:
                break
            refs.append((start, os.fspath(fi.filename), int(fi.skip), int(take)))
            start += take
        return refs

    def count(self, refs):
        return sum(ref[3] for ref in refs)

    def read(self, ref):
        import tensorflow_datasets as tfds  # slow to import (seconds): only for TFDS sources

        start, filename, skip, take = ref
        features = self._builder().info.features
        path = filename if os.path.isabs(filename) or "://" in filename else os.path.join(
            self._builder().data_dir, filename)
        dataset = tf.data.TFRecordDataset(path).skip(skip).take(take)
        decoders = {self.image_key: tfds.decode.SkipDecoding()}
        for offset, serialized in enumerate(dataset):
            index = start + offset
            name = f"{self.name}/{self.split}[{index}]"
            try:
                example = features.deserialize_example(serialized, decoders=decoders)
                data = example[self.image_key].numpy()
            except Exception as e:
                yield RawItem(index, name, name, error=f"unreadable example: {type(e).__name__}: {e}")
                continue
            yield RawItem(index, name, name, data=data)


def source_from_spec(spec, *, split="train", data_dir=None, image_key="image", max_member_bytes=MAX_MEMBER_BYTES,
                     max_zip_bytes=MAX_ZIP_BYTES, labels="none"):
    """`--source`: an existing folder, a `.zip` file, or a TFDS dataset name prepared in `data_dir`.
    `labels` ('folder', 'dataset.json'; `--labels`) only with a folder."""
    spec = os.fspath(spec)
    if not spec:
        raise ValueError("source is empty: give an image folder, a .zip file or a prepared TFDS dataset name")
    if tf.io.gfile.isdir(spec):
        return FolderSource(spec, labels=labels or "none")
    if (labels or "none") != "none":
        raise ValueError(f"--labels={labels} needs an image folder as --source (class subfolders or a dataset.json), "
                         f"got {spec}")
    if spec.lower().endswith(".zip"):
        if not tf.io.gfile.exists(spec):
            raise FileNotFoundError(f"{spec}: zip file not found")
        return ZipSource(spec, max_member_bytes=int(max_member_bytes), max_total_bytes=int(max_zip_bytes))
    if spec.startswith((".", "/", "~")) or "://" in spec or os.sep in spec and os.path.exists(os.path.dirname(spec)):
        raise FileNotFoundError(f"{spec}: no such folder or zip file")  # a path, not a TFDS name
    return TfdsSource(spec, split=split, data_dir=data_dir, image_key=image_key)
