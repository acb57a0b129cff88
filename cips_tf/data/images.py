"""Decoding image files of any format and mode to RGB uint8, with errors that name the file.

`decode_image_bytes` (Pillow) turns encoded bytes into pixels for the TFRecord converter and for
Python callers; the input pipelines decode in-graph with TF ops (`cips_tf.data.graph_decode`, no
Python in tf.data) and map modes to RGB the same way:

- any Pillow format (JPEG, PNG, WebP, BMP, GIF: first frame, TIFF ...);
- any mode -> RGB: grayscale and palette images are expanded, CMYK and YCbCr converted, 16-bit
  and 32-bit integer images scaled to 8 bits, and images with alpha (RGBA, LA, PA, palette with a
  transparent colour) are composited over a white background;
- the EXIF orientation tag is applied;
- a truncated, corrupt or unreadable file raises `BadImageError` whose message starts with the
  file's name. Pillow's `LOAD_TRUNCATED_IMAGES` is never turned on: a truncated file is an error,
  not a grey band.

Skipped bad images are recorded in a process-wide `BadImageLog` (`skipped_images()`), and each
new one is logged with absl at WARNING level together with the running count. The pipelines record
them in-graph (hash tables the log watches); the log reads the tables whenever it is queried, and
the training loop queries it at every progress line.
"""
import io
import os
import threading

import numpy as np
from absl import logging
from PIL import Image, ImageOps, UnidentifiedImageError

from cips_tf.errors import RunError

IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".webp", ".bmp", ".gif", ".tif", ".tiff")


class BadImageError(RunError, ValueError):
    """An image file that cannot be decoded. `name` is the file (or record), `reason` why. A `RunError`
    (the CLIs print one line, exit code 1) and, as before, a `ValueError`."""

    def __init__(self, name, reason):
        super().__init__(f"{name}: bad image: {reason}")
        self.name = name
        self.reason = reason


def _to_rgb(image):
    """A loaded PIL image in any mode -> uint8 [H, W, 3]."""
    if image.mode in ("I;16", "I;16L", "I;16B", "I;16N", "I"):
        array = np.asarray(image, dtype=np.float64)
        peak = 65535.0 if image.mode.startswith("I;16") or array.max(initial=0) > 255 else 255.0
        gray = np.clip(np.round(array * (255.0 / peak)), 0, 255).astype(np.uint8)
        return np.repeat(gray[..., None], 3, axis=-1)
    if image.mode == "F":
        array = np.asarray(image, dtype=np.float64)
        scale = 255.0 if array.max(initial=0) <= 1.0 else 1.0
        gray = np.clip(np.round(array * scale), 0, 255).astype(np.uint8)
        return np.repeat(gray[..., None], 3, axis=-1)
    if image.mode == "P" and "transparency" in image.info:
        image = image.convert("RGBA")
    if image.mode in ("RGBA", "LA", "PA", "RGBa", "La"):
        rgba = image.convert("RGBA")
        background = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        image = Image.alpha_composite(background, rgba)
    return np.asarray(image.convert("RGB"), dtype=np.uint8)


def decode_image_bytes(data, name):
    """Encoded image bytes -> uint8 [H, W, 3] RGB. Raises `BadImageError` naming `name`."""
    if not data:
        raise BadImageError(name, "empty file")
    try:
        with Image.open(io.BytesIO(data)) as image:
            image.load()  # decodes fully: truncation and corruption surface here
            image = ImageOps.exif_transpose(image)
            rgb = _to_rgb(image)
    except BadImageError:
        raise
    except UnidentifiedImageError as e:
        raise BadImageError(name, "not a recognised image format, or its header is corrupt") from e
    except Exception as e:  # Pillow raises OSError, SyntaxError, ValueError, struct.error ...
        raise BadImageError(name, f"{type(e).__name__}: {e}") from e
    if rgb.ndim != 3 or rgb.shape[0] == 0 or rgb.shape[1] == 0:
        raise BadImageError(name, f"decoded to an empty image of shape {rgb.shape}")
    return rgb


def read_image_file(path):
    """Reads and decodes one image file (local or any `tf.io.gfile` path) to uint8 [H, W, 3]."""
    import tensorflow as tf

    path = os.fspath(path)
    try:
        with tf.io.gfile.GFile(path, "rb") as f:
            data = f.read()
    except Exception as e:
        raise BadImageError(path, f"unreadable: {type(e).__name__}: {e}") from e
    return decode_image_bytes(data, path)


def list_image_files(folder, extensions=IMAGE_EXTENSIONS):
    """All image files under `folder`, recursively, sorted; hidden files and directories skipped.

    Files are recognised by extension (case-insensitive). Raises FileNotFoundError if `folder`
    does not exist or holds no image file.
    """
    import tensorflow as tf

    folder = os.fspath(folder)
    if not tf.io.gfile.isdir(folder):
        raise FileNotFoundError(f"{folder}: image folder not found")
    files = []
    for root, dirs, names in tf.io.gfile.walk(folder):
        dirs[:] = [d for d in dirs if not d.startswith(".")]
        if any(part.startswith(".") for part in os.path.relpath(root, folder).split(os.sep) if part != "."):
            continue
        files.extend(
            os.path.join(root, n) for n in names if not n.startswith(".") and n.lower().endswith(tuple(extensions))
        )
    if not files:
        raise FileNotFoundError(f"{folder}: no image files ({', '.join(extensions)}) found")
    return sorted(files)


def _reason(name):
    """Why a file the pipeline could not decode is bad (Pillow's diagnosis, read outside tf.data)."""
    if "[record " in name or "[" in name and not os.path.exists(name):  # a TFRecord / TFDS record
        return "cannot be decoded (truncated, corrupt or an unsupported format)"
    if not os.path.isfile(name):
        return "missing or unreadable"
    try:
        read_image_file(name)
    except BadImageError as e:
        return e.reason
    return "TensorFlow cannot decode this format (convert_image_folder converts it)"


class BadImageLog:
    """Thread-safe record of skipped bad images: name -> reason. Each new one is logged (absl)."""

    def __init__(self):
        self._lock = threading.Lock()
        self._skipped = {}
        self._tables = []  # kept alive: the pipeline that fills a table may be gone when it is read

    def watch(self, table):
        """Also reports the names in `table` (a `tf.lookup.experimental.MutableHashTable` string ->
        int64 filled by an input pipeline) as skipped bad images."""
        with self._lock:
            self._tables.append(table)

    def _sync(self):
        with self._lock:
            tables = list(self._tables)
        for table in tables:
            names = table.export()[0].numpy()
            for name in sorted(n.decode("utf-8", "replace") for n in names):
                if name not in self._skipped:
                    self.record(name, _reason(name))

    def record(self, name, reason):
        with self._lock:
            if name in self._skipped:  # seen again in a later epoch: already counted and logged
                return
            self._skipped[name] = reason
            count = len(self._skipped)
        logging.warning("Skipped bad image %s (%s); %d bad image(s) skipped so far", name, reason, count)

    def skipped(self):
        self._sync()
        with self._lock:
            return dict(self._skipped)

    def count(self):
        self._sync()
        with self._lock:
            return len(self._skipped)

    def reset(self):
        with self._lock:
            self._skipped.clear()
            tables = list(self._tables)
        for table in tables:
            table.remove(table.export()[0])


BAD_IMAGES = BadImageLog()


def skipped_images():
    """Bad images skipped so far in this process by pipelines with `skip_bad_images`: {name: reason}."""
    return BAD_IMAGES.skipped()


def reset_skipped_images():
    BAD_IMAGES.reset()
