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
  not a grey band;
- untrusted sizes: the header's width and height are checked against `ImageLimits` (at most
  `MAX_IMAGE_PIXELS` pixels and an aspect ratio of `MAX_ASPECT_RATIO`) before any pixel is
  decoded, so a small file that declares a huge image is refused without allocating it. Pillow's
  own decompression-bomb limit is set explicitly and its warning is an error.

Skipped bad images are recorded in a process-wide `BadImageLog` (`skipped_images()`), and each
new one is logged with absl at WARNING level together with the running count. The pipelines record
them in-graph (hash tables the log watches); the log reads the tables whenever it is queried, and
the training loop queries it at every progress line.
"""
import dataclasses
import io
import math
import os
import re
import threading
import warnings

import numpy as np
from absl import logging
from PIL import Image, ImageOps, UnidentifiedImageError

from cips_tf.errors import RunError

IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".webp", ".bmp", ".gif", ".tif", ".tiff")

# Default limits on an image's header size (config `data.max_image_pixels` / `data.max_aspect_ratio`,
# cips-dataset and cips-project `--max_image_pixels` / `--max_aspect_ratio`). 2**26 pixels (8192 x
# 8192, a 60-megapixel photo fits) is a little below Pillow's own default of ~89.5M: a decoded RGB
# image is then at most 192 MiB, and a few decoded at once stay well inside a small machine's memory.
# Training images are far smaller (FFHQ 1024 x 1024, LSUN ~256 x 256). An aspect ratio above 16:1
# (a 1 x 1,000,000 strip) is no training image; a panorama of 2:1 .. 8:1 passes.
MAX_IMAGE_PIXELS = 2**26
MAX_ASPECT_RATIO = 16.0
LIMITS_HINT = ("raise it with data.max_image_pixels / data.max_aspect_ratio (training config) or "
               "--max_image_pixels / --max_aspect_ratio (cips-dataset, cips-project)")
_PIXELS_TEXT = "{}x{} image ({} pixels) is above the limit of {} pixels"
_ASPECT_TEXT = "{}x{} image has an aspect ratio above the limit of {}:1"

# Pillow's decompression-bomb guard, explicitly: Image.open warns above MAX_IMAGE_PIXELS and raises
# above twice that. The warning is made an error (our own check below refuses such sizes first; this
# keeps any other Pillow open in the process from silently decoding a bomb).
Image.MAX_IMAGE_PIXELS = MAX_IMAGE_PIXELS
warnings.filterwarnings("error", category=Image.DecompressionBombWarning)
_PIL_LIMIT_LOCK = threading.Lock()


class BadImageError(RunError, ValueError):
    """An image file that cannot be decoded. `name` is the file (or record), `reason` why. A `RunError`
    (the CLIs print one line, exit code 1) and, as before, a `ValueError`."""

    def __init__(self, name, reason):
        super().__init__(f"{name}: bad image: {reason}")
        self.name = name
        self.reason = reason


@dataclasses.dataclass(frozen=True)
class ImageLimits:
    """The largest image a reader accepts, checked on the header before decoding.

    Attributes:
      max_pixels: width x height above this is refused.
      max_aspect_ratio: max(width, height) / min(width, height) above this is refused.
    """

    max_pixels: int = MAX_IMAGE_PIXELS
    max_aspect_ratio: float = MAX_ASPECT_RATIO

    def validate(self, prefix=""):
        if isinstance(self.max_pixels, bool) or not isinstance(self.max_pixels, int) or self.max_pixels < 1:
            raise ValueError(f"{prefix}max_image_pixels must be a positive integer, got {self.max_pixels!r}")
        ratio = self.max_aspect_ratio
        if isinstance(ratio, bool) or not isinstance(ratio, (int, float)) or not math.isfinite(ratio) or ratio < 1:
            raise ValueError(f"{prefix}max_aspect_ratio must be a finite number >= 1, got {ratio!r}")
        return self

    def refusal(self, width, height):
        """Why a `width` x `height` image is refused (naming the limit and how to lift it), or None."""
        if width * height > self.max_pixels:
            return _PIXELS_TEXT.format(width, height, width * height, self.max_pixels) + "; " + LIMITS_HINT
        if max(width, height) > self.max_aspect_ratio * max(min(width, height), 1):
            return _ASPECT_TEXT.format(width, height, _number(self.max_aspect_ratio)) + "; " + LIMITS_HINT
        return None

    def check(self, width, height, name):
        reason = self.refusal(width, height)
        if reason is not None:
            raise BadImageError(name, reason)

    def allow_in_pillow(self):
        """Lets Pillow open what these limits allow (its bomb limit is process-wide: only ever raised)."""
        with _PIL_LIMIT_LOCK:
            if Image.MAX_IMAGE_PIXELS is not None and Image.MAX_IMAGE_PIXELS < self.max_pixels:
                Image.MAX_IMAGE_PIXELS = int(self.max_pixels)


def _number(value):
    return str(int(value)) if float(value).is_integer() else str(value)


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


def _reduce(image, min_side):
    """Shrinks a loaded image by an integer factor while its shorter side stays >= 2 * min_side.

    JPEGs are decoded at 1/2, 1/4 or 1/8 scale (`draft`) before this; the box reduce here bounds
    what the final antialiased resize allocates to a small multiple of the output size.
    """
    factor = min(image.size) // (2 * int(min_side))
    return image.reduce(factor) if factor >= 2 else image


def decode_image(data, name, limits=None, min_side=None):
    """Encoded image bytes -> (uint8 [h, w, 3] RGB, (H, W) of the file). Raises `BadImageError` naming `name`.

    `limits` (`ImageLimits`, default the module's limits) are checked on the header before decoding.
    With `min_side`, the pixels may come back reduced by an integer factor as long as their shorter
    side stays >= 2 * min_side (for a caller that resizes the shorter side to `min_side` next).
    """
    limits = limits or ImageLimits()
    if not data:
        raise BadImageError(name, "empty file")
    if limits.max_pixels > MAX_IMAGE_PIXELS:
        limits.allow_in_pillow()
    try:
        with Image.open(io.BytesIO(data)) as image:  # lazy: reads the header only
            limits.check(*image.size, name)
            width, height = image.size
            if image.getexif().get(0x0112) in (5, 6, 7, 8):  # EXIF orientation: transposed
                width, height = height, width
            size = image.size
            if min_side and image.format == "JPEG":
                scale = int(min_side) * 2 / max(min(size), 1)
                image.draft(None, (math.ceil(size[0] * scale), math.ceil(size[1] * scale)))
            image.load()  # decodes fully: truncation and corruption surface here
            if min_side:
                image = _reduce(image, min_side)
            image = ImageOps.exif_transpose(image)
            rgb = _to_rgb(image)
    except BadImageError:
        raise
    except UnidentifiedImageError as e:
        raise BadImageError(name, "not a recognised image format, or its header is corrupt") from e
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as e:  # Pillow's guard, before ours
        pixels = re.search(r"\((\d+) pixels\)", str(e))
        raise BadImageError(name, f"image of {pixels.group(1) if pixels else 'too many'} pixels (by its header) is "
                                  f"above the limit of {max(limits.max_pixels, Image.MAX_IMAGE_PIXELS or 0)} "
                                  f"pixels; {LIMITS_HINT}") from e
    except Exception as e:  # Pillow raises OSError, SyntaxError, ValueError, struct.error ...
        raise BadImageError(name, f"{type(e).__name__}: {e}") from e
    if rgb.ndim != 3 or rgb.shape[0] == 0 or rgb.shape[1] == 0:
        raise BadImageError(name, f"decoded to an empty image of shape {rgb.shape}")
    return rgb, (height, width)


def decode_image_bytes(data, name, limits=None):
    """Encoded image bytes -> uint8 [H, W, 3] RGB. Raises `BadImageError` naming `name`."""
    return decode_image(data, name, limits)[0]


def read_image_file(path, limits=None, min_side=None):
    """Reads and decodes one image file (local or any `tf.io.gfile` path) to uint8 [H, W, 3].

    `limits` and `min_side` as in `decode_image`.
    """
    import tensorflow as tf  # local: the module imports without TensorFlow (images_test loads it alone)

    path = os.fspath(path)
    try:
        with tf.io.gfile.GFile(path, "rb") as f:
            data = f.read()
    except Exception as e:
        raise BadImageError(path, f"unreadable: {type(e).__name__}: {e}") from e
    return decode_image(data, path, limits, min_side)[0]


def _inside(path, root):
    return path == root or path.startswith(root.rstrip(os.sep) + os.sep)


def _walk_local(folder, extensions):
    """(files, skipped) of a local folder, never leaving it: symlinks to folders are not followed
    (a link inside the folder would list files twice, a `loop -> .` link endlessly; one outside
    leaves the folder), a symlinked file is read only when its real path is inside the folder and
    not listed already. `skipped` lists (path, reason)."""
    root = os.path.realpath(folder)
    files, skipped, seen = [], [], set()
    for current, dirs, names in os.walk(folder, followlinks=False):
        dirs.sort()
        kept = []
        for d in dirs:
            path = os.path.join(current, d)
            if d.startswith("."):
                continue
            if os.path.islink(path):
                target = os.path.realpath(path)
                why = "links to a folder inside the source (listed once, where it is)" if _inside(target, root) \
                    else f"links outside the source folder (to {target})"
                skipped.append((path, f"symlink not followed: {why}"))
                continue
            kept.append(d)
        dirs[:] = kept
        for n in sorted(names):
            if n.startswith(".") or not n.lower().endswith(tuple(extensions)):
                continue
            path = os.path.join(current, n)
            real = os.path.realpath(path)
            if not _inside(real, root):
                skipped.append((path, f"symlink not followed: links outside the source folder (to {real})"))
            elif os.path.islink(path) and not os.path.isfile(real):
                skipped.append((path, "symlink to something that is not a file"))
            elif real in seen:
                skipped.append((path, "symlink to a file listed already"))
            else:
                seen.add(real)
                files.append(path)
    return files, skipped


def scan_image_files(folder, extensions=IMAGE_EXTENSIONS):
    """(image files under `folder`, recursively, sorted; [(path, reason)] of what was left out).

    Hidden files and directories are ignored silently. Local folders never leave `folder`: symlinks
    to folders are not followed and symlinked files only when they resolve inside it, each real
    file once (see `_walk_local`); those left out are returned with the reason. Other `tf.io.gfile`
    paths (gs://, ...) have no symlinks. Raises FileNotFoundError if `folder` does not exist or
    holds no image file.
    """
    import tensorflow as tf  # local: the module imports without TensorFlow (images_test loads it alone)

    folder = os.fspath(folder)
    if not tf.io.gfile.isdir(folder):
        raise FileNotFoundError(f"{folder}: image folder not found")
    if "://" not in folder:
        files, skipped = _walk_local(folder, extensions)
    else:
        files, skipped = [], []
        for root, dirs, names in tf.io.gfile.walk(folder):
            dirs[:] = [d for d in dirs if not d.startswith(".")]
            if any(part.startswith(".") for part in os.path.relpath(root, folder).split(os.sep) if part != "."):
                continue
            files.extend(os.path.join(root, n) for n in names
                         if not n.startswith(".") and n.lower().endswith(tuple(extensions)))
    if not files:
        raise FileNotFoundError(f"{folder}: no image files ({', '.join(extensions)}) found")
    return sorted(files), sorted(skipped)


def list_image_files(folder, extensions=IMAGE_EXTENSIONS):
    """All image files under `folder`, recursively, sorted (`scan_image_files`; what it leaves out
    is logged with absl at WARNING level: the count and the first names)."""
    files, skipped = scan_image_files(folder, extensions)
    if skipped:
        first = "; ".join(f"{path} ({reason})" for path, reason in skipped[:5])
        logging.warning("%s: %d path(s) left out of the listing: %s%s", folder, len(skipped), first,
                        " ..." if len(skipped) > 5 else "")
    return files


def _reason(name):
    """Why a file the pipeline could not decode is bad (Pillow's diagnosis, read outside tf.data)."""
    if "[record " in name or "[" in name and not os.path.exists(name):  # a TFRecord / TFDS record
        return "a malformed record, or an image that cannot be decoded (truncated, corrupt or an unsupported format)"
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

    def watch(self, table, reasons=None):
        """Also reports the names in `table` (a `tf.lookup.experimental.MutableHashTable` string ->
        int64 filled by an input pipeline) as skipped bad images. `reasons` (optional, int64 ->
        string) maps a name's value in `table` to why it was skipped; "" or absent: the pipeline could
        not decode it, and Pillow is asked why."""
        with self._lock:
            self._tables.append((table, reasons))

    def _sync(self):
        with self._lock:
            tables = list(self._tables)
        for table, reasons in tables:
            keys, ids = (t.numpy() for t in table.export())
            why = {}
            if reasons is not None:
                why = {int(i): r.decode("utf-8", "replace") for i, r in zip(*(t.numpy() for t in reasons.export()))}
            found = {k.decode("utf-8", "replace"): why.get(int(i), "") for k, i in zip(keys, ids)}
            for name in sorted(found):
                if name not in self._skipped:
                    self.record(name, found[name] or _reason(name))

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
        for table, reasons in tables:
            table.remove(table.export()[0])
            if reasons is not None:
                reasons.remove(reasons.export()[0])


BAD_IMAGES = BadImageLog()


def skipped_images():
    """Bad images skipped so far in this process by pipelines with `skip_bad_images`: {name: reason}."""
    return BAD_IMAGES.skipped()


def reset_skipped_images():
    BAD_IMAGES.reset()
