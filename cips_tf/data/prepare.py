"""Dataset preparation: an image folder, a zip file or a prepared TFDS dataset -> TFRecord shards.

The one implementation of the dataset work behind `cips-dataset` and the pipeline's ExampleGen,
whichever runner executes it:

    source.list_refs()          the inputs, listed on the driver (file paths, zip members, TFDS
                                shard instructions, Fashion-MNIST index ranges), each with a
                                global input index
    source.read(ref)            -> RawItem(index, name, location, data)   (encoded bytes or pixels)
    process_item(raw, options)  decode + validate (`images.decode_image`: any format and mode ->
                                RGB, truncated / corrupt files rejected, the header's size checked
                                against `options.limits()` before decoding), crop / resize
                                (`transforms`), PNG-encode, `tf.train.Example` -> Result
    shard_index(index)          input index % num_shards: every runner puts a record in the same
                                shard, so shard contents and counts do not depend on the runner
    Statistics                  counts, every skipped file with its reason, size / mode / format
                                histograms; mergeable (a Beam CombineFn wraps it)

`prepare_dataset(..., runner="local")` runs it in this process (a thread pool) and
`runner="beam"` as one Apache Beam pipeline (`cips_tf.data.beam_prepare`: DirectRunner here,
Dataflow / Flink / Spark through pipeline options). Both write the same records into the same
shards (the order inside a shard aside) and the same report (apart from its `run` section).

Output: `<out_dir>/<prefix>-SSSSS-of-NNNNN.tfrecord` (the format of `cips_tf.data.tfrecord`, what
`data.source='tfrecord'` reads) and the report (a dict; `cips-dataset` writes it as JSON):

    {"source": {...}, "options": {...}, "num_inputs", "num_examples", "num_skipped",
     "skipped": [{"path", "reason"}, ...] (every one, sorted by path),
     "modes": {"RGB": n, "L": n, "P": n, ...}      input modes of the written images
     "formats": {"PNG": n, ...}, "input_sizes": {"HxW": n}, "sizes": {"HxW": n} (as stored),
     "num_shards", "examples_per_shard", "files",
     "left_out": [{"path", "reason"}, ...]  paths the listing did not read (symlinks that leave
                                            the folder or repeat a file), "num_left_out",
     "run": {"runner", "seconds", ...}}

Untrusted inputs stay bounded: an image whose header declares more than `max_image_pixels` pixels
or an aspect ratio above `max_aspect_ratio` is refused before it is decoded (a bad file like any
other: skipped and reported, or the run stops naming it); large images are decoded reduced (JPEG
draft, integer box reduce) and center-cropped before the resize, so the resize allocates a small
multiple of the output; a zip member larger than `max_member_bytes` is refused from its header and
read with a cap in case the header lies; folders are listed without leaving them
(`images.scan_image_files`).
"""
import collections
import concurrent.futures
import dataclasses
import datetime
import functools
import io
import json
import os
import threading
import time
import uuid
import zipfile
from typing import Any, Optional

import numpy as np
from absl import logging

from cips_tf.data import images as images_lib

CROPS = ("center", "none")
RUNNERS = ("local", "beam")
REPORT_FILE = "dataset_report.json"
MAX_MEMBER_BYTES = 256 * 2**20  # a zip member's uncompressed size (an uncompressed 2**26-pixel BMP fits)
MAX_ZIP_BYTES = 64 * 2**30  # all image members of a zip together, uncompressed
_CHUNK = 1024  # inputs per ref for array sources (Fashion-MNIST): one ref = one unit of Beam work


# ------------------------------------------------------------------------------------------------
# Options and per-item processing


@dataclasses.dataclass(frozen=True)
class Options:
    """What to do with each image.

    Attributes:
      resolution: target size (the shorter side), or None to keep the native size.
      crop: 'center': a square (with `resolution`: shorter side resized to it, then the central
        `resolution` x `resolution` window; without: the central min(H, W) square). 'none': keep
        the aspect ratio (with `resolution`: shorter side resized to it); the reader crops later.
      aspect: with crop='none', the aspect "W:H" every image is brought to: its largest central
        window of that aspect (a centre crop, never a letterbox), resized with `resolution` to
        `cips_tf.coords.canvas_size(resolution, aspect)` (32 and "2:1": 32 x 64, height x width),
        else kept at native scale. Train on the shards with the same `aspect` in the config.
      resize_shorter_side: False keeps the native scale with `resolution` (only the central
        square is kept, upscaled when smaller than `resolution`): the random-rotation recipe.
      max_images: read at most the first N inputs (sorted order / source order); 0: all.
      num_shards: number of shard files.
      prefix: shard file name prefix.
      skip_bad_images: skip and report bad files; False: fail naming the first bad file.
      max_image_pixels, max_aspect_ratio: larger images (by their header) are bad files
        (`images.ImageLimits`).
    """

    resolution: Optional[int] = None
    crop: str = "center"
    aspect: Optional[str] = None
    resize_shorter_side: bool = True
    max_images: int = 0
    num_shards: int = 1
    prefix: str = "data"
    skip_bad_images: bool = True
    max_image_pixels: int = images_lib.MAX_IMAGE_PIXELS
    max_aspect_ratio: float = images_lib.MAX_ASPECT_RATIO

    def limits(self):
        return images_lib.ImageLimits(self.max_image_pixels, self.max_aspect_ratio)

    def min_side(self):
        """The shorter side the fit resizes to (decoding may reduce down to twice it), or None. With an
        aspect, the canvas's longer side: the aspect's window of a reduced image still covers the canvas."""
        if self.resolution is None or not self.resize_shorter_side:
            return None
        if self.aspect:
            from cips_tf.coords import canvas_size

            return max(canvas_size(self.resolution, self.aspect))
        return int(self.resolution)

    def validate(self):
        if self.resolution is not None and int(self.resolution) < 1:
            raise ValueError(f"resolution must be a positive number of pixels (or None), got {self.resolution}")
        if self.crop not in CROPS:
            raise ValueError(f"crop must be one of {CROPS}, got {self.crop!r}")
        if self.aspect:
            from cips_tf.coords import canvas_size, parse_aspect

            aspect_w, aspect_h = parse_aspect(self.aspect)
            if self.crop != "none" and aspect_w != aspect_h:
                raise ValueError(f"aspect={self.aspect!r} keeps a non-square shape: use it with crop='none' "
                                 f"(crop={self.crop!r} makes squares)")
            if not self.resize_shorter_side:
                raise ValueError(f"aspect={self.aspect!r} resizes to the canvas; resize_shorter_side=False is for "
                                 "square crops")
            if self.resolution is not None:
                canvas_size(self.resolution, self.aspect)  # the longer side must be whole pixels
        if int(self.max_images) < 0:
            raise ValueError(f"max_images must be >= 0 (0: all), got {self.max_images}")
        if int(self.num_shards) < 1:
            raise ValueError(f"num_shards must be >= 1, got {self.num_shards}")
        if not self.prefix or "/" in self.prefix:
            raise ValueError(f"prefix must be a plain file name prefix, got {self.prefix!r}")
        self.limits().validate()
        return self

    def to_json(self):
        return dataclasses.asdict(self)


@dataclasses.dataclass(frozen=True)
class RawItem:
    """One input as read: `data` holds encoded bytes or a uint8 array; `error` a read failure."""

    index: int  # global input index (listing order)
    name: str  # stored in the record's `source` field (e.g. the path relative to the folder)
    location: str  # where to find it (full path, archive:member, dataset[index]); used in reports
    data: Any = None
    error: Optional[str] = None
    label: Optional[int] = None  # class index, when the source has labels (the record's `label`)


@dataclasses.dataclass(frozen=True)
class Result:
    """One processed input: a serialized Example, or the reason it was skipped."""

    index: int
    location: str
    record: Optional[bytes] = None
    reason: Optional[str] = None
    mode: Optional[str] = None
    format: Optional[str] = None
    input_size: Optional[str] = None  # "HxW" as decoded
    size: Optional[str] = None  # "HxW" as stored

    @property
    def ok(self):
        return self.record is not None

    def summary(self, num_shards):
        """What the statistics need (no pixels)."""
        return {"location": self.location, "reason": self.reason, "mode": self.mode, "format": self.format,
                "input_size": self.input_size, "size": self.size,
                "shard": shard_index(self.index, num_shards) if self.ok else None}


def shard_index(index, num_shards):
    """The shard of the input with global index `index` (the same for every runner)."""
    return int(index) % int(num_shards)


def _hw(array):
    return f"{array.shape[0]}x{array.shape[1]}"


def _array_to_rgb(array, location, limits):
    array = np.asarray(array)
    if array.ndim >= 2:
        limits.check(array.shape[1], array.shape[0], location)
    if array.dtype != np.uint8:
        raise images_lib.BadImageError(location, f"want uint8 pixels, got {array.dtype}")
    if array.ndim == 3 and array.shape[-1] == 1:
        array = array[..., 0]
    if array.ndim == 2:
        return np.repeat(array[..., None], 3, axis=-1), "L"
    if array.ndim == 3 and array.shape[-1] == 3:
        return array, "RGB"
    if array.ndim == 3 and array.shape[-1] == 4:
        from PIL import Image

        return images_lib.decode_image_bytes(_png_bytes(Image.fromarray(array, "RGBA")), location, limits), "RGBA"
    raise images_lib.BadImageError(location, f"want [H, W], [H, W, 1|3|4] pixels, got shape {array.shape}")


def _png_bytes(image):
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()


def _header(data):
    """(mode, format) from the image header, or (None, None) when Pillow cannot even open it."""
    from PIL import Image

    try:
        with Image.open(io.BytesIO(data)) as image:
            return image.mode, image.format
    except Exception:  # the decoder below reports why
        return None, None


@functools.lru_cache(maxsize=None)
def _fit_fn(resolution, crop, resize_shorter_side, aspect=None):
    """One traced graph per geometry, for images of any size (eager ops cost ~4 ms per image)."""
    import tensorflow as tf

    from cips_tf.coords import canvas_size, parse_aspect
    from cips_tf.data import transforms

    if aspect and crop == "none":
        if resolution is None:
            aspect_w, aspect_h = parse_aspect(aspect)
            body = lambda image: transforms.center_crop_to_aspect(image, aspect_w, aspect_h)  # noqa: E731
        else:
            height, width = canvas_size(resolution, aspect)
            body = lambda image: transforms.fit_to_canvas(image, height, width)  # noqa: E731
        return tf.function(body, input_signature=[tf.TensorSpec([None, None, 3], tf.uint8)])

    def upscale_only(image):
        small = tf.reduce_min(tf.shape(image)[:2]) < resolution
        return tf.cond(small, lambda: transforms.resize_shorter_side(image, resolution), lambda: image)

    if crop == "center":
        body = lambda image: transforms.fit_to_resolution(image, resolution, resize_shorter_side)  # noqa: E731
    elif resize_shorter_side:
        body = lambda image: transforms.resize_shorter_side(image, resolution)  # noqa: E731
    else:
        body = upscale_only
    return tf.function(body, input_signature=[tf.TensorSpec([None, None, 3], tf.uint8)])


def fit_image(image, options):
    """uint8 [H, W, 3] -> uint8 [h, w, 3] per `options` (the geometry of `transforms`)."""
    if options.aspect and options.crop == "none":
        resolution = None if options.resolution is None else int(options.resolution)
        return _fit_fn(resolution, "none", True, options.aspect)(image).numpy()
    if options.resolution is None:
        if options.crop == "none":
            return image
        side = min(image.shape[:2])
        top, left = (image.shape[0] - side) // 2, (image.shape[1] - side) // 2
        return image[top:top + side, left:left + side]
    fn = _fit_fn(int(options.resolution), options.crop, bool(options.resize_shorter_side))
    return fn(image).numpy()


def process_item(raw, options):
    """Decode, validate, fit, encode one input -> `Result` (never raises for a bad image: a file that
    cannot be decoded, is too large, or cannot be fitted is a Result with its reason)."""
    from cips_tf.data import tfrecord

    mode = fmt = None
    try:
        if raw.error is not None:
            raise images_lib.BadImageError(raw.location, raw.error)
        if isinstance(raw.data, (bytes, bytearray)):
            mode, fmt = _header(bytes(raw.data))
            rgb, (height, width) = images_lib.decode_image(bytes(raw.data), raw.location, options.limits(),
                                                           options.min_side())
        else:
            rgb, mode = _array_to_rgb(raw.data, raw.location, options.limits())
            fmt, (height, width) = "array", rgb.shape[:2]
        try:
            image = np.ascontiguousarray(fit_image(rgb, options))
        except Exception as e:  # an allocation failure, ...: this file only, never the run
            raise images_lib.BadImageError(raw.location, f"cannot be fitted to resolution {options.resolution}: "
                                                         f"{type(e).__name__}: {str(e).splitlines()[0][:200]}") from e
    except images_lib.BadImageError as e:
        return Result(index=raw.index, location=raw.location, reason=e.reason, mode=mode, format=fmt)
    return Result(index=raw.index, location=raw.location, record=tfrecord.make_example(image, raw.name, raw.label),
                  mode=mode, format=fmt, input_size=f"{height}x{width}", size=_hw(image))


# ------------------------------------------------------------------------------------------------
# Statistics (mergeable: the local runner adds to one, Beam combines many)


class Statistics:
    """Counts and histograms over `Result.summary()` dicts; `merge` makes it a Beam combiner."""

    _HISTOGRAMS = ("modes", "formats", "input_sizes", "sizes")

    def __init__(self, num_shards):
        self.num_shards = int(num_shards)
        self.num_inputs = 0
        self.skipped = []
        self.histograms = {k: collections.Counter() for k in self._HISTOGRAMS}
        self.per_shard = [0] * self.num_shards

    def add(self, summary):
        self.num_inputs += 1
        if summary["reason"] is not None:
            self.skipped.append({"path": summary["location"], "reason": summary["reason"]})
            return self
        for key, field in (("modes", "mode"), ("formats", "format"), ("input_sizes", "input_size"),
                           ("sizes", "size")):
            self.histograms[key][str(summary[field])] += 1
        self.per_shard[summary["shard"]] += 1
        return self

    def merge(self, other):
        self.num_inputs += other.num_inputs
        self.skipped.extend(other.skipped)
        for key in self._HISTOGRAMS:
            self.histograms[key].update(other.histograms[key])
        self.per_shard = [a + b for a, b in zip(self.per_shard, other.per_shard)]
        return self

    @property
    def num_examples(self):
        return sum(self.per_shard)

    def report(self):
        """The runner-independent part of the report (sorted, so equal inputs give equal dicts)."""
        return {
            "num_inputs": self.num_inputs,
            "num_examples": self.num_examples,
            "num_skipped": len(self.skipped),
            "skipped": sorted(self.skipped, key=lambda s: (s["path"], s["reason"])),
            **{k: dict(sorted(v.items())) for k, v in self.histograms.items()},
            "num_shards": self.num_shards,
            "examples_per_shard": list(self.per_shard),
        }


class Progress:
    """Logs 'n/total inputs (rate/s, ETA ...), written, skipped' at most every `interval` seconds."""

    def __init__(self, total, label, interval=10.0):
        self.total, self.label, self.interval = total, label, interval
        self.start = self.last = time.time()
        self.done = self.skipped = 0

    def update(self, result):
        self.done += 1
        self.skipped += 0 if result.ok else 1
        if not result.ok:
            logging.warning("%s: skipped %s (%s); %d skipped so far", self.label, result.location, result.reason,
                            self.skipped)
        now = time.time()
        if now - self.last >= self.interval or self.done == self.total:
            self.last = now
            rate = self.done / max(now - self.start, 1e-9)
            eta = datetime.timedelta(seconds=int((self.total - self.done) / max(rate, 1e-9)))
            logging.info("%s: %d/%d inputs (%.1f%%) | %.1f images/s | %d written, %d skipped | ETA %s", self.label,
                         self.done, self.total, 100.0 * self.done / max(self.total, 1), rate,
                         self.done - self.skipped, self.skipped, eta)


# ------------------------------------------------------------------------------------------------
# Sources. Each is a small picklable description; `read` runs wherever the runner puts it.


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
        from cips_tf.data import labels as labels_lib

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
        import tensorflow as tf

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
        import tensorflow as tf

        return _thread_cached(("zip", self.path), lambda: zipfile.ZipFile(tf.io.gfile.GFile(self.path, "rb")))

    def list_refs(self, max_images=0):
        import tensorflow as tf

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
        from cips_tf.data import labels as labels_lib

        return list(labels_lib.FASHION_MNIST_CLASSES) if self.labels else None

    def _labels(self):
        from cips_tf.data import fashion_mnist

        return _process_cached(("fashion_mnist_labels", self.split, self.data_dir),
                               lambda: fashion_mnist.load_fashion_mnist(self.split, self.data_dir)[1])

    def _images(self):
        from cips_tf.data import fashion_mnist

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
        import tensorflow as tf
        import tensorflow_datasets as tfds

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
        import tensorflow as tf
        import tensorflow_datasets as tfds

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
    import tensorflow as tf

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


# ------------------------------------------------------------------------------------------------
# Running it


def existing_shards(out_dir, prefix):
    import tensorflow as tf

    from cips_tf.data import tfrecord

    pattern = os.path.join(os.fspath(out_dir), f"{prefix}-*-of-*{tfrecord.SUFFIX}*")
    return sorted(tf.io.gfile.glob(pattern))


def _run_local(source, refs, out_dir, options, num_workers):
    from cips_tf.data import tfrecord

    stats = Statistics(options.num_shards)
    progress = Progress(source.count(refs), "cips-dataset[local]")
    num_workers = max(1, int(num_workers or min(4, os.cpu_count() or 1)))

    def _process_ref(ref):
        return [process_item(raw, options) for raw in source.read(ref)]

    def _records():
        with concurrent.futures.ThreadPoolExecutor(num_workers) as pool:
            window = 64 * num_workers
            for begin in range(0, len(refs), window):  # bounded: at most `window` refs in flight
                for results in pool.map(_process_ref, refs[begin:begin + window]):
                    for result in results:
                        stats.add(result.summary(options.num_shards))
                        progress.update(result)
                        if result.ok:
                            yield shard_index(result.index, options.num_shards), result.record

    tfrecord.write_records(_records(), out_dir, options.num_shards, prefix=options.prefix, sharded=True)
    return stats.report()


def prepare_dataset(source, out_dir, options, *, runner="local", beam_pipeline_args=(), num_workers=None,
                    overwrite=False):
    """Runs the dataset work; returns the report dict (see the module docstring).

    Args:
      source: a FolderSource, ZipSource, TfdsSource or FashionMnistSource.
      out_dir: where the shards go (any `tf.io.gfile` path; created).
      options: `Options`.
      runner: 'local' (this process, a thread pool of `num_workers`) or 'beam' (Apache Beam with
        `beam_pipeline_args`, e.g. ['--runner=DataflowRunner', '--project=...']).
      overwrite: replace existing `<prefix>-*-of-*.tfrecord` shards in `out_dir`; otherwise they are
        an error (mixing two runs' shards would silently change the dataset).

    Raises:
      ValueError / FileNotFoundError naming the bad option, source or file; `images.BadImageError`
      naming the first bad file when `options.skip_bad_images` is False (nothing is kept then).
    """
    import tensorflow as tf

    options.validate()
    if runner not in RUNNERS:
        raise ValueError(f"runner must be one of {RUNNERS}, got {runner!r}")
    if runner == "beam":
        from cips_tf.data import beam_prepare

        beam_prepare.require_beam()  # before any work: a clear error when the [beam] extra is missing
    out_dir = os.fspath(out_dir)
    old = existing_shards(out_dir, options.prefix)
    if old:
        if not overwrite:
            raise FileExistsError(f"{out_dir} already holds {len(old)} shard file(s) ({os.path.basename(old[0])} ...): "
                                  "choose an empty destination or overwrite them (cips-dataset --overwrite)")
        for path in old:
            tf.io.gfile.remove(path)
    start = time.time()
    class_names = source.class_names() if hasattr(source, "class_names") else None  # label errors before any work
    if hasattr(source, "scan"):
        refs, left_out = source.scan(int(options.max_images))
    else:
        refs, left_out = source.list_refs(int(options.max_images)), []
    for path, reason in left_out[:10]:
        logging.warning("cips-dataset: left out %s (%s)", path, reason)
    if len(left_out) > 10:
        logging.warning("cips-dataset: ... %d paths left out in all (see the report's left_out)", len(left_out))
    total = source.count(refs)
    logging.info("cips-dataset: %d inputs from %s -> %s (%d shards, resolution %s, crop %s, aspect %s, runner %s)",
                 total, source.describe(), out_dir, options.num_shards, options.resolution, options.crop,
                 options.aspect or "kept", runner)
    if runner == "local":
        report = _run_local(source, refs, out_dir, options, num_workers)
        run = {"runner": "local", "num_workers": num_workers or min(4, os.cpu_count() or 1)}
    else:
        from cips_tf.data import beam_prepare

        report = beam_prepare.run_beam(source, refs, out_dir, options, list(beam_pipeline_args))
        run = {"runner": "beam", "beam_pipeline_args": list(beam_pipeline_args)}
    from cips_tf.data import tfrecord

    files = [tfrecord.shard_path(out_dir, options.prefix, i, options.num_shards) for i in range(options.num_shards)]
    run["seconds"] = round(time.time() - start, 3)
    report = {"source": source.describe(), "options": options.to_json(), **report,
              "files": [os.path.basename(f) for f in files], "num_left_out": len(left_out),
              "left_out": [{"path": p, "reason": r} for p, r in left_out], "run": run,
              **({"class_names": class_names} if class_names else {})}
    logging.info("cips-dataset: %d of %d inputs written, %d skipped, in %.1fs (%.1f inputs/s)", report["num_examples"],
                 report["num_inputs"], report["num_skipped"], run["seconds"],
                 report["num_inputs"] / max(run["seconds"], 1e-9))
    if report["skipped"] and not options.skip_bad_images:
        for path in files:
            if tf.io.gfile.exists(path):
                tf.io.gfile.remove(path)
        first = report["skipped"][0]
        raise images_lib.BadImageError(first["path"], f"{first['reason']} ({report['num_skipped']} bad file(s) in "
                                                      "all; no shard kept)")
    return report


def write_report(report, path):
    """Writes the report as indented JSON (any gfile path; via a temporary name)."""
    import tensorflow as tf

    path = os.fspath(path)
    tmp = f"{path}.tmp-{uuid.uuid4().hex}"  # unique on shared storage too (a PID is not)
    with tf.io.gfile.GFile(tmp, "w") as f:
        f.write(json.dumps(report, indent=2, sort_keys=True) + "\n")
    tf.io.gfile.rename(tmp, path, overwrite=True)
    return path


def convert_image_folder(folder, out_dir, *, num_shards, resolution=None, resize_shorter_side=True,
                         skip_bad_images=True, prefix="data", runner="local", beam_pipeline_args=()):
    """An image folder -> TFRecord shards (centre-cropped squares at `resolution`, or native size).

    Returns the `prepare_dataset` report, with `num_files` (image files found) added.
    """
    crop = "center" if resolution is not None else "none"
    options = Options(resolution=resolution, crop=crop, resize_shorter_side=resize_shorter_side,
                      num_shards=num_shards, prefix=prefix, skip_bad_images=skip_bad_images)
    report = prepare_dataset(FolderSource(os.fspath(folder)), out_dir, options, runner=runner,
                             beam_pipeline_args=beam_pipeline_args)
    report["num_files"] = report["num_inputs"]
    return report
