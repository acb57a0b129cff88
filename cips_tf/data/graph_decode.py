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

Sizes are checked before decoding: `header_size` reads width and height from the PNG, JPEG, GIF,
BMP or WebP header (a few bytes, `tf.strings.substr` + `tf.io.decode_raw`; JPEG with
`tf.image.extract_jpeg_shape`), and an image above `images.ImageLimits` (pixel count, aspect ratio)
is a bad element whose reason names the limit and the config field that lifts it, refused without
decoding it. A `parse` function (the TFRecord source's Example parsing) runs inside the checked
decode too, so a malformed record is a bad element like a corrupt image.

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


def _uint(data, offset, size, big_endian=False):
    """The unsigned integer of `size` bytes at `offset` of a string scalar, as int64."""
    raw = tf.cast(tf.io.decode_raw(tf.strings.substr(data, offset, size), tf.uint8), tf.int64)
    raw = tf.ensure_shape(raw, [size])  # a header cut short: an op error, i.e. a bad element
    weights = [256**i for i in range(size)]
    return tf.reduce_sum(raw * tf.constant(weights[::-1] if big_endian else weights, tf.int64))


def header_size(data):
    """(height, width) int64 from an encoded image's header, without decoding; (0, 0) when the format
    is not recognised (the decoder then decides). Raises an op error when a header is cut short."""
    magic = tf.strings.substr(data, 0, 4)
    riff = tf.logical_and(magic == b"RIFF", tf.strings.substr(data, 8, 4) == b"WEBP")
    kind = tf.case([
        (tf.strings.substr(data, 0, 8) == b"\x89PNG\r\n\x1a\n", lambda: tf.constant(1)),
        (tf.strings.substr(data, 0, 2) == b"\xff\xd8", lambda: tf.constant(2)),
        (tf.strings.substr(data, 0, 3) == b"GIF", lambda: tf.constant(3)),
        (tf.strings.substr(data, 0, 2) == b"BM", lambda: tf.constant(4)),
        (riff, lambda: tf.constant(5)),
    ], default=lambda: tf.constant(0), exclusive=False)

    def png():  # IHDR: width, height big-endian at 16, 20
        return _uint(data, 20, 4, True), _uint(data, 16, 4, True)

    def jpeg():
        shape = tf.cast(tf.image.extract_jpeg_shape(data), tf.int64)
        return shape[0], shape[1]

    def gif():  # logical screen: width, height little-endian at 6, 8
        return _uint(data, 8, 2), _uint(data, 6, 2)

    def bmp():  # BITMAPCOREHEADER (12 bytes): u16 at 18, 20; else int32 at 18, 22 (height < 0: top-down)
        core = _uint(data, 14, 4) == 12

        def signed(offset):
            value = _uint(data, offset, 4)
            return tf.abs(tf.where(value >= 2**31, value - 2**32, value))

        return tf.cond(core, lambda: (_uint(data, 20, 2), _uint(data, 18, 2)), lambda: (signed(22), signed(18)))

    def webp():
        chunk = tf.strings.substr(data, 12, 4)

        def vp8x():  # canvas width - 1, height - 1: 24 bits each at 24, 27
            return _uint(data, 27, 3) + 1, _uint(data, 24, 3) + 1

        def vp8l():  # 14 bits width - 1, 14 bits height - 1 from byte 21
            bits = _uint(data, 21, 4)
            return (bits // 2**14) % 2**14 + 1, bits % 2**14 + 1

        def vp8():  # 14-bit width, height at 26, 28
            return _uint(data, 28, 2) % 2**14, _uint(data, 26, 2) % 2**14

        zero = tf.constant(0, tf.int64)
        return tf.case([(chunk == b"VP8X", vp8x), (chunk == b"VP8L", vp8l), (chunk == b"VP8 ", vp8)],
                       default=lambda: (zero, zero), exclusive=True)

    zero = tf.constant(0, tf.int64)
    return tf.switch_case(kind, [lambda: (zero, zero), png, jpeg, gif, bmp, webp])


def refusal(height, width, limits):
    """The in-graph twin of `images.ImageLimits.refusal`: a reason string, "" when the size is fine
    (or unknown: 0)."""
    pixels = height * width
    ratio = tf.cast(tf.maximum(height, width), tf.float64) / tf.cast(tf.maximum(tf.minimum(height, width), 1),
                                                                      tf.float64)
    hint = "; " + images_lib.LIMITS_HINT
    aspect_text = images_lib._ASPECT_TEXT.replace("{}:1", images_lib._number(limits.max_aspect_ratio) + ":1")

    def too_many():  # formatted only for a refused image
        return tf.strings.format(images_lib._PIXELS_TEXT, (width, height, pixels, limits.max_pixels)) + hint

    def too_long():
        return tf.strings.format(aspect_text, (width, height)) + hint

    return tf.case([(pixels > limits.max_pixels, too_many), (ratio > limits.max_aspect_ratio, too_long)],
                   default=lambda: tf.constant(""), exclusive=False)


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
_UNDECODABLE = ("cannot be decoded (missing, truncated, corrupt, or not a JPEG, PNG, GIF, BMP or WebP file"
                "; a TFRecord example that is malformed or lacks its image)")


def _describe_bad(describe, datas, names, bad):
    """`names` with `describe(data, name)` applied where `bad` (an op error there keeps the name)."""
    where = tf.where(bad)[:, 0]

    def described():
        ds = tf.data.Dataset.from_tensor_slices((where, tf.gather(datas, where), tf.gather(names, where)))
        ds = ds.map(lambda i, data, name: (i, describe(data, name))).ignore_errors()
        return ds.reduce(names, lambda acc, item: tf.tensor_scatter_nd_update(acc, item[0][None, None], item[1][None]))

    return tf.cond(tf.size(where) > 0, described, lambda: names)


def decode_dataset(ds, *, from_file, skip, parallel, transform=None, limits=None, parse=None, describe=None):
    """Dataset of (data, name) -> dataset of uint8 [H, W, 3] (see the module docstring).

    `from_file`: `name` is a path to read (`data` is unused), else `data` holds the encoded bytes.
    `transform`: optional uint8 [H, W, 3] -> uint8 [h, w, 3] applied right after decoding (in the
    same parallel map); with a static output shape the chunks need no padding.
    `limits`: `images.ImageLimits` checked on each header before decoding (default: the defaults).
    `parse`: optional data -> encoded image bytes (e.g. a serialized Example's image), checked like
    the decoding; `describe`: optional (data, name) -> the name a bad element is reported under.
    Order is kept; with `skip` the bad elements are left out and recorded.
    """
    limits = (limits or images_lib.ImageLimits()).validate()
    skipped = why_table = None
    if skip:  # name -> id (a hash of the name), id -> reason ("" when the decoder failed); TF has no string -> string table
        skipped = tf.lookup.experimental.MutableHashTable(tf.string, tf.int64, default_value=0)
        why_table = tf.lookup.experimental.MutableHashTable(tf.int64, tf.string, default_value="")
        images_lib.BAD_IMAGES.watch(skipped, why_table)
    transform = transform or (lambda image: image)
    parse = parse or (lambda data: data)
    out_spec = tf.function(lambda data: transform(decode_rgb(data))).get_concrete_function(
        tf.TensorSpec([], tf.string)).structured_outputs
    fixed = out_spec.shape.is_fully_defined()
    empty = tf.zeros(out_spec.shape if fixed else [0, 0, 3], tf.uint8)

    def attempt(position, data, name):
        encoded = parse(tf.io.read_file(name) if from_file else data)
        reason = refusal(*header_size(encoded), limits)  # before decoding: a refused image is never allocated
        image = tf.cond(reason == "", lambda: transform(decode_rgb(encoded)), lambda: empty)
        return position, image, tf.shape(image), reason

    def check(datas, names, positions, images, shapes, reasons):
        """One chunk: the positions that decoded (the marker last) -> its good images and shapes."""
        count = tf.shape(names)[0]
        positions, reasons = positions[:-1], reasons[:-1]
        decoded = tf.scatter_nd(positions[:, None], tf.ones_like(positions), [count]) > 0
        why = tf.tensor_scatter_nd_update(tf.fill([count], _UNDECODABLE), positions[:, None], reasons)
        bad = tf.logical_or(tf.logical_not(decoded), why != "")
        if describe is not None:
            names = _describe_bad(describe, datas, names, bad)
        bad_names, bad_why = tf.boolean_mask(names, bad), tf.boolean_mask(why, bad)
        if skip:
            ids = tf.strings.to_hash_bucket_fast(bad_names, 2**62)
            recorded = tf.group(skipped.insert(bad_names, ids),
                                why_table.insert(ids, tf.where(bad_why == _UNDECODABLE, "", bad_why)))
        else:
            first = tf.strings.join([tf.strings.reduce_join(bad_names[:1]), ": bad image: ",
                                     tf.strings.reduce_join(bad_why[:1]), " (", BAD_IMAGE_HINT, ")"])
            recorded = tf.debugging.Assert(tf.size(bad_names) == 0, [first])
        keep = tf.equal(reasons, "")
        with tf.control_dependencies([recorded]):
            images = tf.boolean_mask(images[:-1], keep)
        return images if fixed else (images, tf.boolean_mask(shapes[:-1], keep))

    def decode_chunk(datas, names):
        count = tf.shape(names)[0]
        good = tf.data.Dataset.from_tensor_slices((tf.range(count), datas, names)).map(attempt).ignore_errors()
        marker = tf.data.Dataset.from_tensors((count, empty, tf.shape(empty), tf.constant("")))
        good = good.concatenate(marker)
        batched = good.batch(CHUNK + 1) if fixed else good.padded_batch(CHUNK + 1)
        return batched.map(lambda *chunk: check(datas, names, *chunk)).unbatch()

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
