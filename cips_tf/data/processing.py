"""One input -> one record: the options of dataset preparation and the per-item work, shared by every
runner (`cips_tf.data.prepare`'s local runner and `cips_tf.data.beam_prepare`).

    RawItem                     one input as a source read it (`cips_tf.data.sources`): encoded bytes
                                or pixels, with its global input index
    process_item(raw, options)  decode + validate (`images.decode_image`: any format and mode ->
                                RGB, truncated / corrupt files rejected, the header's size checked
                                against `options.limits()` before decoding), crop / resize
                                (`transforms`), PNG-encode, `tf.train.Example` -> Result
    shard_index(index)          input index % num_shards: every runner puts a record in the same
                                shard, so shard contents and counts do not depend on the runner
"""
import dataclasses
import functools
import io
from typing import Any, Optional

import numpy as np
import tensorflow as tf
from PIL import Image

from cips_tf import coords
from cips_tf.data import images as images_lib
from cips_tf.data import tfrecord
from cips_tf.data import transforms

CROPS = ("center", "none")


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
            return max(coords.canvas_size(self.resolution, self.aspect))
        return int(self.resolution)

    def validate(self):
        if self.resolution is not None and int(self.resolution) < 1:
            raise ValueError(f"resolution must be a positive number of pixels (or None), got {self.resolution}")
        if self.crop not in CROPS:
            raise ValueError(f"crop must be one of {CROPS}, got {self.crop!r}")
        if self.aspect:
            aspect_w, aspect_h = coords.parse_aspect(self.aspect)
            if self.crop != "none" and aspect_w != aspect_h:
                raise ValueError(f"aspect={self.aspect!r} keeps a non-square shape: use it with crop='none' "
                                 f"(crop={self.crop!r} makes squares)")
            if not self.resize_shorter_side:
                raise ValueError(f"aspect={self.aspect!r} resizes to the canvas; resize_shorter_side=False is for "
                                 "square crops")
            if self.resolution is not None:
                coords.canvas_size(self.resolution, self.aspect)  # the longer side must be whole pixels
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
        return images_lib.decode_image_bytes(_png_bytes(Image.fromarray(array, "RGBA")), location, limits), "RGBA"
    raise images_lib.BadImageError(location, f"want [H, W], [H, W, 1|3|4] pixels, got shape {array.shape}")


def _png_bytes(image):
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()


def _header(data):
    """(mode, format) from the image header, or (None, None) when Pillow cannot even open it."""
    try:
        with Image.open(io.BytesIO(data)) as image:
            return image.mode, image.format
    except Exception:  # the decoder below reports why
        return None, None


@functools.lru_cache(maxsize=None)
def _fit_fn(resolution, crop, resize_shorter_side, aspect=None):
    """One traced graph per geometry, for images of any size (eager ops cost ~4 ms per image)."""
    if aspect and crop == "none":
        if resolution is None:
            aspect_w, aspect_h = coords.parse_aspect(aspect)
            body = lambda image: transforms.center_crop_to_aspect(image, aspect_w, aspect_h)  # noqa: E731
        else:
            height, width = coords.canvas_size(resolution, aspect)
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

