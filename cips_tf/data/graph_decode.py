"""Decoding encoded images inside the tf.data graph, with no Python in the pipeline.

The input pipelines decode with TensorFlow ops (`tf.io.decode_image`: JPEG, PNG, GIF (first
frame), BMP, WebP). Earlier versions decoded with Pillow inside `tf.numpy_function`; when a bad
image stopped training, TF shut the iterator down while its threads still called into Python, and
the process hung at exit or aborted (4 runs in 6). With TF ops only, a data error ends the process
like any other exception.

A bad element (truncated, corrupt, unreadable, a format TF cannot decode) is detected in-graph,
per chunk of `CHUNK` consecutive elements: each chunk becomes a small dataset whose parallel-free
map decodes (and optionally transforms) every element and tags it with its position in the chunk;
`ignore_errors()` drops the bad ones, a marker closes the chunk, and one map over the batched chunk
compares the positions that came out with the chunk's names. Chunks are decoded `interleave`d in
parallel, in order (`deterministic=True`); `ignore_errors` sees only the chunk's decoding, so an
error upstream (a corrupt TFRecord shard, a bad config) still propagates. Then

- `skip=False`: an in-graph assertion fails with `"<name>: bad image ... skip_bad_images ..."`
  (`is_bad_image_error` / `bad_image_message` recognise it), naming the first bad element;
- `skip=True`: the bad elements are left out and their names inserted in a `MutableHashTable`
  registered with `images.BAD_IMAGES`; `cips_tf.data.skipped_images()` reads the tables (and logs
  each new name once), so skips are still counted exactly, without calling Python from the
  pipeline.

The check costs one function call per chunk, not per element: earlier versions reduced a
one-element dataset per image inside the map, which held the folder and TFRecord sources to
~17 images/s; a per-element `scan` would halve the decoding rate. A chunk of images of one static
shape (a `transform` to a fixed size, as `build_dataset` passes) is batched as it is; images of
varying shapes are padded to the largest of their chunk and cropped back after the check.

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


CHUNK = 32  # elements per checked chunk: amortizes the per-chunk dataset and check
_BAD_IMAGE_TEXT = ("bad image: cannot be decoded (missing, truncated, corrupt, or not a JPEG, PNG, GIF, BMP "
                   "or WebP file) (" + BAD_IMAGE_HINT + ")")


def decode_dataset(ds, *, from_file, skip, parallel, transform=None):
    """Dataset of (data, name) -> dataset of uint8 [H, W, 3] (see the module docstring).

    `from_file`: `name` is a path to read (`data` is unused), else `data` holds the encoded bytes.
    `transform`: optional uint8 [H, W, 3] -> uint8 [h, w, 3] applied right after decoding (in the
    same parallel map); with a static output shape the chunks need no padding.
    Order is kept; with `skip` the bad elements are left out and recorded.
    """
    skipped = None
    if skip:
        skipped = tf.lookup.experimental.MutableHashTable(tf.string, tf.int64, default_value=0)
        images_lib.BAD_IMAGES.watch(skipped)
    transform = transform or (lambda image: image)
    out_spec = tf.function(lambda data: transform(decode_rgb(data))).get_concrete_function(
        tf.TensorSpec([], tf.string)).structured_outputs
    fixed = out_spec.shape.is_fully_defined()
    empty = tf.zeros(out_spec.shape if fixed else [0, 0, 3], tf.uint8)

    def attempt(position, data, name):
        image = transform(decode_rgb(tf.io.read_file(name) if from_file else data))
        return position, image, tf.shape(image)

    def check(names, positions, images, shapes):
        """One chunk: the positions that decoded (the marker last) -> its good images and shapes."""
        count = tf.shape(names)[0]
        decoded = tf.scatter_nd(positions[:-1, None], tf.ones_like(positions[:-1]), [count]) > 0
        bad = tf.boolean_mask(names, tf.logical_not(decoded))
        if skip:
            recorded = skipped.insert(bad, tf.ones(tf.shape(bad), tf.int64))
        else:
            first = tf.strings.reduce_join(bad[:1])
            recorded = tf.debugging.Assert(tf.size(bad) == 0, [tf.strings.join([first, ": ", _BAD_IMAGE_TEXT])])
        with tf.control_dependencies([recorded]):
            images = tf.identity(images[:-1])
        return images if fixed else (images, shapes[:-1])

    def decode_chunk(datas, names):
        count = tf.shape(names)[0]
        good = tf.data.Dataset.from_tensor_slices((tf.range(count), datas, names)).map(attempt).ignore_errors()
        marker = tf.data.Dataset.from_tensors((count, empty, tf.shape(empty)))
        good = good.concatenate(marker)
        batched = good.batch(CHUNK + 1) if fixed else good.padded_batch(CHUNK + 1)
        return batched.map(lambda *chunk: check(names, *chunk)).unbatch()

    ds = ds.batch(CHUNK).interleave(
        decode_chunk,
        cycle_length=None if parallel == tf.data.AUTOTUNE else max(int(parallel), 1),
        block_length=CHUNK,
        num_parallel_calls=parallel,
        deterministic=True,
    )
    if fixed:
        return ds
    return ds.map(lambda image, shape: image[: shape[0], : shape[1]], num_parallel_calls=parallel, deterministic=True)
