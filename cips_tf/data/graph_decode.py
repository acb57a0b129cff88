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


_HEADER = 32  # bytes of the header read by `header_size` (zero-padded when the data is shorter)
# A 1 x 1 JPEG: what `tf.image.extract_jpeg_shape` reads when the data is not a JPEG, so the shape
# op runs on every element without a branch (tf.cond per element costs more than the decode of a
# 32 px image), and a 1 x 1 PNG decoded in place of a refused image.
_TINY_JPEG = bytes.fromhex(  # Pillow: Image.new("RGB", (1, 1)).save(f, "JPEG", optimize=True)
    "ffd8ffe000104a46494600010100000100010000ffdb004300080606070605080707070909080a0c140d0c0b0b0c1912130f"
    "141d1a1f1e1d1a1c1c20242e2720222c231c1c2837292c30313434341f27393d38323c2e333432ffdb0043010909090c0b0c18"
    "0d0d1832211c21323232323232323232323232323232323232323232323232323232323232323232323232323232323232323232"
    "3232323232ffc00011080001000103012200021101031101ffc4001500010100000000000000000000000000000008ffc40014"
    "100100000000000000000000000000000000ffc40014010100000000000000000000000000000000ffc4001411010000000000"
    "0000000000000000000000ffda000c03010002110311003f009fc007ffd9")
_TINY_PNG = bytes.fromhex(  # the same image as PNG
    "89504e470d0a1a0a0000000d4948445200000001000000010802000000907753de0000000c4944415478da63606060000000"
    "040001c8eaebf90000000049454e44ae426082")


def _fields_table():
    """Static tables of `header_size`: signatures, little/big-endian fields and the formats using them."""
    # (name, signature [(offset, bytes)], header bytes needed, height field, width field, add, signed)
    # fields: (offset, size, big_endian, divisor, modulus); VP8L packs width - 1, height - 1 in 14 bits
    png, gif = (0, b"\x89PNG\r\n\x1a\n"), (0, b"GIF")
    bmp, riff = (0, b"BM"), [(0, b"RIFF"), (8, b"WEBP")]
    core = (14, b"\x0c\x00\x00\x00")  # BITMAPCOREHEADER (12 bytes): u16 sizes; else int32 (< 0: top-down)
    formats = [
        ([png], 24, (20, 4, True, 1, 0), (16, 4, True, 1, 0), 0, False),  # IHDR
        ([gif], 10, (8, 2, False, 1, 0), (6, 2, False, 1, 0), 0, False),  # logical screen
        ([bmp, core], 22, (20, 2, False, 1, 0), (18, 2, False, 1, 0), 0, False),
        ([bmp], 26, (22, 4, False, 1, 0), (18, 4, False, 1, 0), 0, True),
        (riff + [(12, b"VP8X")], 30, (27, 3, False, 1, 0), (24, 3, False, 1, 0), 1, False),  # canvas - 1
        (riff + [(12, b"VP8L")], 25, (21, 4, False, 2**14, 2**14), (21, 4, False, 1, 2**14), 1, False),
        (riff + [(12, b"VP8 ")], 30, (28, 2, False, 1, 2**14), (26, 2, False, 1, 2**14), 0, False),
    ]
    return formats


def _header_tables():
    formats = _fields_table()
    width = max(sum(len(text) for _, text in signature) for signature, *_ in formats)
    sig_index, sig_value, sig_care = [], [], []
    field_index, field_weight, field_div, field_mod = [], [], [], []
    for signature, _, *fields_add_signed in formats:
        idx, val = [], []
        for offset, text in signature:
            idx += range(offset, offset + len(text))
            val += list(text)
        care = [True] * len(idx) + [False] * (width - len(idx))
        sig_index.append(idx + [_HEADER] * (width - len(idx)))
        sig_value.append(val + [0] * (width - len(val)))
        sig_care.append(care)
        for offset, size, big, div, mod in fields_add_signed[:2]:
            order = range(size)
            field_index.append([offset + i for i in order] + [_HEADER] * (4 - size))
            field_weight.append([256 ** (size - 1 - i if big else i) for i in order] + [0] * (4 - size))
            field_div.append(div)
            field_mod.append(mod or 2**40)
    return dict(
        sig_index=sig_index, sig_value=sig_value, sig_care=sig_care, field_index=field_index,
        field_weight=field_weight, field_div=field_div, field_mod=field_mod,
        needed=[f[1] for f in formats], add=[f[4] for f in formats], signed=[f[5] for f in formats])


_TABLES = _header_tables()


def header_size(data):
    """(height, width) int64 from an encoded image's header, without decoding; (0, 0) when the format
    is not recognised or the header is cut short (the decoder then decides). JPEG sizes come from
    `tf.image.extract_jpeg_shape` (an op error for a corrupt JPEG, i.e. a bad element).

    Vectorised and branch-free (a tf.data map pays per op and per branch, which cost more than the
    decode of a 32 px image): one zero-padded 32-byte prefix, every format's signature compared and
    every size field read with one gather each, and the first matching format selected."""
    t = _TABLES
    prefix = tf.strings.substr(tf.strings.join([tf.strings.substr(data, 0, _HEADER), b"\0" * (_HEADER + 1)]),
                               0, _HEADER + 1)  # byte _HEADER is always 0: the padding of the tables
    b = tf.reshape(tf.cast(tf.io.decode_raw(prefix, tf.uint8), tf.int64), [_HEADER + 1])
    length = tf.cast(tf.strings.length(data), tf.int64)
    matches = tf.reduce_all(tf.logical_or(tf.gather(b, t["sig_index"]) == t["sig_value"],
                                          tf.logical_not(t["sig_care"])), axis=1)
    matches = tf.logical_and(matches, length >= t["needed"])
    fields = tf.reduce_sum(tf.gather(b, t["field_index"]) * t["field_weight"], axis=1)
    fields = (fields // t["field_div"]) % t["field_mod"]
    heights, widths = fields[0::2], fields[1::2]
    signed = tf.constant(t["signed"])
    heights, widths = (tf.where(tf.logical_and(signed, v >= 2**31), tf.abs(v - 2**32), v) + t["add"]
                       for v in (heights, widths))
    is_jpeg = tf.reduce_all(b[:2] == [0xFF, 0xD8])
    jpeg = tf.cast(tf.image.extract_jpeg_shape(tf.where(is_jpeg, data, _TINY_JPEG)), tf.int64)
    # JPEG first (as Pillow would match it), then the table's order
    matches = tf.concat([is_jpeg[None], matches], 0)
    heights, widths = tf.concat([jpeg[:1], heights], 0), tf.concat([jpeg[1:2], widths], 0)
    first = tf.argmax(tf.cast(matches, tf.int32), output_type=tf.int32)
    found = tf.reduce_any(matches)
    return tuple(tf.where(found, v[first], tf.constant(0, tf.int64)) for v in (heights, widths))


def refused(height, width, limits):
    """(too many pixels, too long) flags of sizes (any shape; 0 = unknown is never refused)."""
    too_many = height * width > limits.max_pixels
    too_long = tf.cast(tf.maximum(height, width), tf.float64) > limits.max_aspect_ratio * tf.cast(
        tf.maximum(tf.minimum(height, width), 1), tf.float64)
    return too_many, tf.logical_and(too_long, tf.logical_not(too_many))


def refusal(height, width, limits):
    """The in-graph twin of `images.ImageLimits.refusal`, vectorised: reason strings, "" where the
    size is fine (or unknown: 0)."""
    height, width = tf.convert_to_tensor(height, tf.int64), tf.convert_to_tensor(width, tf.int64)
    too_many, too_long = refused(height, width, limits)
    w, h, pixels = (tf.strings.as_string(v) for v in (width, height, height * width))
    hint = "; " + images_lib.LIMITS_HINT

    def fill(template, *values):  # str.format's "{}" fields, element-wise
        parts = template.split("{}")
        return tf.strings.join([piece for i, part in enumerate(parts)
                                for piece in ((part,) if i == len(parts) - 1 else (part, values[i]))] + [hint])

    many = fill(images_lib._PIXELS_TEXT, w, h, pixels, str(limits.max_pixels))
    long = fill(images_lib._ASPECT_TEXT, w, h, images_lib._number(limits.max_aspect_ratio))
    return tf.where(too_many, many, tf.where(too_long, long, ""))


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


def decode_dataset(ds, *, from_file, skip, parallel, transform=None, limits=None, parse=None, describe=None,
                   labels=False):
    """Dataset of (data, name) -> dataset of uint8 [H, W, 3] (see the module docstring).

    `labels`: the elements are (data, name, label) and the result (image, label): each label stays
    with its image (and goes with it when the image is skipped).
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
        size = tf.stack(header_size(encoded))
        # Before decoding, so a refused image is never allocated: it is swapped for a 1 x 1 image
        # (a select, not a tf.cond: a branch per element costs more than a 32 px decode).
        ok = tf.logical_not(tf.reduce_any(tf.stack(refused(size[0], size[1], limits))))
        image = transform(decode_rgb(tf.where(ok, encoded, _TINY_PNG)))
        return position, image, tf.shape(image), size

    def check(datas, names, chunk_labels, positions, images, shapes, sizes):
        """One chunk: the positions that decoded (the marker last) -> its good images and shapes
        (and, with `labels`, their labels)."""
        count = tf.shape(names)[0]
        positions, reasons = positions[:-1], refusal(sizes[:-1, 0], sizes[:-1, 1], limits)
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
        out = (images,) if fixed else (images, tf.boolean_mask(shapes[:-1], keep))
        if labels:
            out += (tf.boolean_mask(tf.gather(chunk_labels, positions), keep),)
        return out[0] if len(out) == 1 else out

    def decode_chunk(datas, names, chunk_labels=None):
        count = tf.shape(names)[0]
        good = tf.data.Dataset.from_tensor_slices((tf.range(count), datas, names)).map(attempt).ignore_errors()
        marker = tf.data.Dataset.from_tensors((count, empty, tf.shape(empty), tf.zeros([2], tf.int64)))
        good = good.concatenate(marker)
        batched = good.batch(CHUNK + 1) if fixed else good.padded_batch(CHUNK + 1)
        return batched.map(lambda *chunk: check(datas, names, chunk_labels, *chunk)).unbatch()

    ds = ds.batch(CHUNK).interleave(
        decode_chunk,
        cycle_length=None if parallel == tf.data.AUTOTUNE else max(int(parallel), 1),
        block_length=CHUNK,
        num_parallel_calls=parallel,
        deterministic=True,
    )
    if fixed:
        return ds
    return ds.map(lambda image, shape, *label: (image[: shape[0], : shape[1]],) + label if label
                  else image[: shape[0], : shape[1]], num_parallel_calls=parallel, deterministic=True)
