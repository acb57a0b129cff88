"""Decoding encoded images inside the tf.data graph, with no Python in the pipeline.

The input pipelines decode with TensorFlow ops (`tf.io.decode_image`: JPEG, PNG, GIF (first
frame), BMP, WebP). Earlier versions decoded with Pillow inside `tf.numpy_function`; when a bad
image stopped training, TF shut the iterator down while its threads still called into Python, and
the process hung at exit or aborted (4 runs in 6). With TF ops only, a data error ends the process
like any other exception.

A bad element (truncated, corrupt, unreadable, a format TF cannot decode) is detected in-graph:
each decode runs in a one-element dataset with `ignore_errors()` whose `reduce` says whether an
image came out. Then

- `skip=False`: an in-graph assertion fails with `"<name>: bad image ... skip_bad_images ..."`
  (`is_bad_image_error` / `bad_image_message` recognise it);
- `skip=True`: the element is dropped and its name inserted in a `MutableHashTable` registered
  with `images.BAD_IMAGES`; `cips_tf.data.skipped_images()` reads the tables (and logs each new
  name once), so skips are still counted exactly, without calling Python from the pipeline.

Modes are mapped to RGB as `images.decode_image_bytes` (Pillow) does: gray -> RGB, gray+alpha and
RGBA composited over white, 16-bit PNG scaled to 8 bits, 8-bit palette BMPs looked up in their
palette. Unlike Pillow, EXIF orientation is not applied (`convert_image_folder` applies it).
"""
import re

import tensorflow as tf

from cips_tf.data import images as images_lib

BAD_IMAGE_HINT = "data.skip_bad_images=True skips such files"
_BAD_IMAGE_RE = re.compile(r"([^\[\]\n]*?: bad image: [^\n]*?" + re.escape(BAD_IMAGE_HINT) + r"\))")


def bad_image_message(error):
    """The one-line bad-image message inside a TF error raised by the pipeline, or None."""
    match = _BAD_IMAGE_RE.search(str(getattr(error, "message", error)))
    return match.group(1).strip() if match else None


def is_bad_image_error(error):
    return bad_image_message(error) is not None


def check_decodable_files(files, skip):
    """Raises ValueError naming the first file TF cannot decode by its extension (TIFF), unless `skip`."""
    tiff = [f for f in files if str(f).lower().endswith((".tif", ".tiff"))]
    if tiff and not skip:
        raise ValueError(
            f"{tiff[0]}: TIFF image ({len(tiff)} in the folder): the folder source decodes with TensorFlow, "
            "which cannot read TIFF; convert the folder with cips_tf.data.convert_image_folder and use "
            "data.source='tfrecord' (or data.skip_bad_images=True skips them)"
        )


def _u16(data, offset):
    return tf.cast(tf.io.decode_raw(tf.strings.substr(data, offset, 2), tf.uint16, little_endian=True)[0], tf.int32)


def _u32(data, offset):
    return tf.cast(tf.io.decode_raw(tf.strings.substr(data, offset, 4), tf.int32, little_endian=True)[0], tf.int32)


def _bmp_palette_lookup(data, image):
    """TF decodes 8-bit palette BMPs to their palette indices; map them through the palette."""
    is_bmp = tf.strings.substr(data, 0, 2) == b"BM"

    def lookup():
        bits = _u16(data, 28)
        colours = _u32(data, 46)
        colours = tf.where(colours > 0, colours, 256)
        start = 14 + _u32(data, 14)
        palette = tf.reshape(tf.io.decode_raw(tf.strings.substr(data, start, 4 * colours), tf.uint8), [-1, 4])
        rgb = tf.reverse(palette[:, :3], axis=[1])  # BGRx -> RGB
        looked_up = tf.gather(rgb, tf.cast(image[..., 0], tf.int32))
        return tf.cond(bits == 8, lambda: looked_up, lambda: tf.tile(image, [1, 1, 3]))

    single = tf.logical_and(is_bmp, tf.shape(image)[-1] == 1)
    return tf.cond(single, lookup, lambda: image)


def to_rgb(image):
    """uint8 [H, W, C], C in {1, 2, 3, 4} (dynamic) -> [H, W, 3]; alpha composited over white."""
    channels = tf.shape(image)[-1]
    color = tf.cond(channels >= 3, lambda: image[..., :3], lambda: tf.tile(image[..., :1], [1, 1, 3]))
    has_alpha = tf.logical_or(channels == 2, channels == 4)

    def composite():
        alpha = tf.cast(image[..., -1:], tf.float32) / 255.0
        rgb = tf.cast(color, tf.float32)
        return tf.cast(tf.round(rgb * alpha + 255.0 * (1.0 - alpha)), tf.uint8)

    return tf.ensure_shape(tf.cond(has_alpha, composite, lambda: color), [None, None, 3])


def decode_rgb(data):
    """Encoded bytes -> uint8 [H, W, 3] with TF ops; raises an op error on a bad image."""
    image = tf.io.decode_image(data, channels=0, dtype=tf.uint8, expand_animations=False)
    image = _bmp_palette_lookup(data, image)
    image = to_rgb(image)
    tf.debugging.assert_positive(tf.size(image), message="empty image")
    return image


def decode_dataset(ds, *, from_file, skip, parallel):
    """Dataset of (data, name) -> dataset of uint8 [H, W, 3] (see the module docstring).

    `from_file`: `name` is a path to read (`data` is unused), else `data` holds the encoded bytes.
    """
    table = None
    if skip:
        table = tf.lookup.experimental.MutableHashTable(tf.string, tf.int64, default_value=0)
        images_lib.BAD_IMAGES.watch(table)

    def attempt(data, name):
        encoded = tf.io.read_file(name) if from_file else data
        return decode_rgb(encoded)

    def decode(data, name):
        tries = tf.data.Dataset.from_tensors((data, name)).map(attempt).ignore_errors()
        image, ok = tries.reduce(
            (tf.zeros([0, 0, 3], tf.uint8), tf.constant(False)), lambda state, decoded: (decoded, tf.constant(True))
        )
        if skip:
            def record():
                table.insert(name[None], tf.constant([1], tf.int64))
                return tf.constant(True)

            tf.cond(ok, lambda: tf.constant(True), record)
        else:
            message = tf.strings.join([
                name, ": bad image: cannot be decoded (missing, truncated, corrupt, or not a JPEG, PNG, GIF, BMP "
                "or WebP file) (", BAD_IMAGE_HINT, ")"])
            with tf.control_dependencies([tf.debugging.Assert(ok, [message])]):
                image = tf.identity(image)
        return image, ok

    ds = ds.map(decode, num_parallel_calls=parallel, deterministic=True)
    if skip:
        ds = ds.filter(lambda image, ok: ok)
    return ds.map(lambda image, ok: image)
