"""Image transforms of the input pipelines: geometry, augmentation, scaling to [-1, 1].

All functions take one image (no batch axis), HWC with 3 channels, and are traceable inside
`tf.data` maps. Random ones are stateless: they take a `seed` tensor of shape [2] and give the
same result for the same seed, whatever the parallelism or the TF global seed.

Pixel geometry: pixel (x, y) has its centre at integer coordinates, the image centre is at
((W - 1) / 2, (H - 1) / 2); a rotation by 90 degrees equals `np.rot90(image, 1)` exactly.
"""
import math

import tensorflow as tf

_FILL_MODES = {"reflect": "REFLECT", "wrap": "WRAP", "constant": "CONSTANT", "nearest": "NEAREST"}


def resize_shorter_side(image, size):
    """uint8 [H, W, 3] -> uint8 with the shorter side equal to `size`, aspect ratio kept.

    Bilinear, antialiased when shrinking (so downscaling averages like an area filter), rounded
    back to uint8. An image already at that size is returned unchanged.
    """
    shape = tf.shape(image)
    h, w = tf.cast(shape[0], tf.float64), tf.cast(shape[1], tf.float64)
    scale = tf.cast(size, tf.float64) / tf.minimum(h, w)
    new_h = tf.maximum(tf.cast(tf.round(h * scale), tf.int32), size)
    new_w = tf.maximum(tf.cast(tf.round(w * scale), tf.int32), size)

    def _resize():
        resized = tf.image.resize(image, tf.stack([new_h, new_w]), method="bilinear", antialias=True)
        return tf.cast(tf.clip_by_value(tf.round(resized), 0.0, 255.0), tf.uint8)

    unchanged = tf.logical_and(tf.equal(new_h, shape[0]), tf.equal(new_w, shape[1]))
    return tf.cond(unchanged, lambda: image, _resize)


def center_crop(image, height, width):
    """Crops the central `height` x `width` window (top-left rounding as `(H - h) // 2`)."""
    shape = tf.shape(image)
    top = (shape[0] - height) // 2
    left = (shape[1] - width) // 2
    return image[top : top + height, left : left + width]


def center_square(image, min_size):
    """Central square of side min(H, W), then upscaled if that is below `min_size`.

    Cropped first: the resize never sees (or allocates) the long side of an elongated image.
    """
    shape = tf.shape(image)
    side = tf.minimum(shape[0], shape[1])
    image = center_crop(image, side, side)
    return tf.cond(side < min_size, lambda: resize_shorter_side(image, min_size), lambda: image)


def fit_to_resolution(image, resolution, resize_shorter_side_first=True):
    """The deterministic geometry of every source: uint8 [H, W, 3] -> uint8 square.

    With `resize_shorter_side_first` (the default): the central min(H, W) square resized to
    `resolution` -> [resolution, resolution, 3] (cropped before resizing, as StyleGAN's dataset_tool
    does: the same window as resizing the shorter side first and cropping after, but the resize
    allocates only the square and its output, never an image as elongated as the input). Without it the image keeps its native scale and only
    the central min(H, W) square is kept (upscaled if smaller than `resolution`); the final
    `resolution` crop happens after augmentation (the Satellite-Buildings recipe: 300 x 300 images,
    random rotation, center crop to 256).
    """
    if resize_shorter_side_first:
        shape = tf.shape(image)
        side = tf.minimum(shape[0], shape[1])
        image = resize_shorter_side(center_crop(image, side, side), resolution)
        return tf.ensure_shape(image, [resolution, resolution, 3])
    return center_square(image, resolution)


def center_crop_to_aspect(image, aspect_w, aspect_h):
    """The largest central window of `image` whose width:height is `aspect_w:aspect_h` (the
    non-square counterpart of the central square; top-left rounding as `center_crop`)."""
    shape = tf.shape(image)
    h, w = tf.cast(shape[0], tf.int64), tf.cast(shape[1], tf.int64)
    too_wide = w * aspect_h >= h * aspect_w
    crop_h = tf.where(too_wide, h, (w * aspect_h) // aspect_w)
    crop_w = tf.where(too_wide, (h * aspect_w) // aspect_h, w)
    return center_crop(image, tf.cast(tf.maximum(crop_h, 1), tf.int32), tf.cast(tf.maximum(crop_w, 1), tf.int32))


def fit_to_canvas(image, height, width):
    """uint8 [H, W, 3] -> uint8 [height, width, 3]: the central window of the canvas's aspect
    (`center_crop_to_aspect`, no letterboxing: no padding is ever learned), resized (bilinear,
    antialiased when shrinking) to exactly `height x width`. A square canvas is `fit_to_resolution`;
    an image already of that size is returned unchanged."""
    if height == width:
        return fit_to_resolution(image, height)
    image = center_crop_to_aspect(image, width, height)
    shape = tf.shape(image)

    def _resize():
        resized = tf.image.resize(image, [height, width], method="bilinear", antialias=True)
        return tf.cast(tf.clip_by_value(tf.round(resized), 0.0, 255.0), tf.uint8)

    unchanged = tf.logical_and(tf.equal(shape[0], height), tf.equal(shape[1], width))
    return tf.ensure_shape(tf.cond(unchanged, lambda: image, _resize), [height, width, 3])


def rotate(image, angle, fill_mode="reflect"):
    """Rotates float [H, W, C] by `angle` radians counterclockwise about the centre, bilinear.

    Output pixel (x, y) samples the input at R(angle) (x - c) + c; pixels that come from outside
    the input are filled per `fill_mode` ('reflect', 'wrap', 'nearest' or 'constant' black).
    """
    if fill_mode not in _FILL_MODES:
        raise ValueError(f"rotation fill_mode must be one of {sorted(_FILL_MODES)}, got {fill_mode!r}")
    shape = tf.shape(image)
    cx = (tf.cast(shape[1], tf.float32) - 1.0) / 2.0
    cy = (tf.cast(shape[0], tf.float32) - 1.0) / 2.0
    angle = tf.cast(angle, tf.float32)
    cos, sin = tf.cos(angle), tf.sin(angle)
    # Maps output (x, y) to input coordinates: x_in = cos x - sin y + a2, y_in = sin x + cos y + b2.
    transform = tf.stack(
        [cos, -sin, cx - cos * cx + sin * cy, sin, cos, cy - sin * cx - cos * cy, 0.0, 0.0]
    )[None]
    rotated = tf.raw_ops.ImageProjectiveTransformV3(
        images=tf.cast(image, tf.float32)[None],
        transforms=transform,
        output_shape=shape[:2],
        fill_value=0.0,
        interpolation="BILINEAR",
        fill_mode=_FILL_MODES[fill_mode],
    )
    return rotated[0]


def random_rotate(image, seed, max_degrees=180.0, fill_mode="reflect"):
    """Rotates by an angle uniform in [-max_degrees, max_degrees) drawn from the stateless `seed`."""
    limit = math.radians(max_degrees)
    angle = tf.random.stateless_uniform([], seed=seed, minval=-limit, maxval=limit)
    return rotate(image, angle, fill_mode)


def random_flip_left_right(image, seed):
    """Mirrors along the width with probability 1/2, decided by the stateless `seed`."""
    flip = tf.random.stateless_uniform([], seed=seed) < 0.5
    return tf.cond(flip, lambda: tf.reverse(image, axis=[1]), lambda: image)


def to_unit_range(image):
    """uint8 (or float in [0, 255]) -> float32 in [-1, 1]: x / 127.5 - 1."""
    return tf.cast(image, tf.float32) / 127.5 - 1.0


def augment_and_finalize(image, seed, *, resolution, random_flip, random_rotation, rotation_degrees,
                         rotation_fill_mode, width=None):
    """uint8 square from `fit_to_resolution` -> float32 [resolution, resolution, 3] in [-1, 1]
    (with `width`: uint8 from `fit_to_canvas` -> [resolution, width, 3], `resolution` the height).

    Order: random rotation of the full square, center crop to `resolution`, random horizontal flip.
    `seed` is a stateless seed [2]; with both augmentations off it is unused.
    """
    width = resolution if width is None else width
    rotation_seed, flip_seed = tf.unstack(tf.random.experimental.stateless_split(seed, 2))
    image = tf.cast(image, tf.float32)
    if random_rotation:
        image = random_rotate(image, rotation_seed, rotation_degrees, rotation_fill_mode)
    image = center_crop(image, resolution, width)
    if random_flip:
        image = random_flip_left_right(image, flip_seed)
    image = tf.clip_by_value(image / 127.5 - 1.0, -1.0, 1.0)
    return tf.ensure_shape(image, [resolution, width, 3])
