"""`build_dataset`: the tf.data input pipeline of training and evaluation.

    source units (indices or files; sharded per input pipeline; training: a new stateless
             permutation every epoch, endless)
      -> decode to uint8 RGB + fit_to_resolution (deterministic geometry), in one parallel map
         (TF ops in-graph, checked per chunk: errors name the file; bad images skipped if asked)
                                                                             -> [cache]
      -> [training: repeat, block shuffle of `shuffle_buffer` elements (stateless)]
      -> enumerate -> augment (stateless, seeded per element) -> center crop -> [-1, 1]
      -> batch(per-replica batch size) -> prefetch

Determinism: tf.data `deterministic` is on, every parallel map and interleave keeps order, and
every random choice (file/index permutations, block shuffles, flips, angles) is a stateless op
keyed by (seed, input pipeline, epoch / block / element index). `Dataset.shuffle` is not used: its
order also depends on the TF global seed. So the same `seed` gives the same batches, whatever the
global seed and parallelism. (Exception: the 'tfds' source shuffles its files with TFDS's own
seeded shuffle, which also reads the global seed.)

Labels (`data.labels`, `cips_tf.data.labels`): each element is `(image, label)` from the source on,
the label travelling with its image through decoding (skips included), cache, shuffles and
augmentation (which touches the image only); batches are `(images [B, H, W, 3], labels [B] int32)`.
Without labels everything is as before.

No Python runs inside the pipeline (images are decoded by TF ops, `graph_decode`), so a data
error ends the process like any other exception: there is no Python callback for TF to hang on
while it shuts an iterator down.
"""
import numpy as np
import tensorflow as tf

from cips_tf.coords import canvas_size
from cips_tf.data import config as config_lib
from cips_tf.data import fashion_mnist
from cips_tf.data import graph_decode
from cips_tf.data import images as images_lib
from cips_tf.data import labels as labels_lib
from cips_tf.data import tfrecord
from cips_tf.data import transforms

_MAX_INTERLEAVE = 16


def _limits(cfg):
    """`data.max_image_pixels` / `data.max_aspect_ratio` (defaults for configs written before them)."""
    return images_lib.ImageLimits(int(cfg.get("max_image_pixels", images_lib.MAX_IMAGE_PIXELS)),
                                  float(cfg.get("max_aspect_ratio", images_lib.MAX_ASPECT_RATIO)))


def _decode(ds, cfg, *, from_file, parallel, fit, parse=None, describe=None, labels=False):
    """Dataset of (data, name[, label]) -> dataset of fitted uint8 images [with labels], decoded in-graph."""
    return graph_decode.decode_dataset(ds, from_file=from_file, skip=cfg.skip_bad_images, parallel=parallel,
                                       transform=fit, limits=_limits(cfg), parse=parse, describe=describe,
                                       labels=labels)


def _gray_or_rgba_to_rgb(image):
    """uint8 [H, W, C] with C in {1, 3, 4} -> [H, W, 3] (alpha composited over white)."""
    channels = image.shape[-1]
    if channels == 1:
        return tf.image.grayscale_to_rgb(image)
    if channels == 4:
        rgb, alpha = tf.cast(image[..., :3], tf.float32), tf.cast(image[..., 3:], tf.float32) / 255.0
        return tf.cast(tf.round(rgb * alpha + 255.0 * (1.0 - alpha)), tf.uint8)
    if channels == 3:
        return image
    raise ValueError(f"images must have 1, 3 or 4 channels, got shape {image.shape}")


def _seed_pair(seed, *salt):
    """A stateless seed [2] from `seed` (an int, or already a seed [2]) folded with int salts."""
    key = tf.constant([seed, 0], tf.int64) if isinstance(seed, int) else tf.cast(seed, tf.int64)
    for value in salt:
        key = tf.random.experimental.stateless_fold_in(key, tf.cast(value, tf.int64))
    return key


def _ordered_units(units, *, training, cache, seed):
    """Dataset of the cheap source units (indices, file paths) in the order they are read.

    Evaluation: one pass in the given order. Training: a fresh stateless permutation per epoch,
    keyed by (seed, epoch), repeated forever; with `cache` only the first epoch is produced (the
    cache then repeats it, and the element block shuffle reorders it every epoch).
    """
    units = tf.convert_to_tensor(units)
    if not training:
        return tf.data.Dataset.from_tensor_slices(units)

    def epoch(e):
        order = tf.random.experimental.stateless_shuffle(tf.range(tf.shape(units)[0]), seed=_seed_pair(seed, 1, e))
        return tf.data.Dataset.from_tensor_slices(tf.gather(units, order))

    epochs = tf.data.Dataset.range(1) if cache else tf.data.Dataset.counter()
    return epochs.flat_map(epoch)


def _block_shuffle(ds, block, seed):
    """Stateless shuffle: permutes each consecutive block of `block` elements, keyed by (seed, block index).

    Used instead of `Dataset.shuffle`, whose order also depends on the TF global seed.
    """
    ragged = not tf.nest.flatten(ds.element_spec)[0].shape.is_fully_defined()
    ds = ds.apply(tf.data.experimental.dense_to_ragged_batch(block)) if ragged else ds.batch(block)

    def permute(index, *elements):  # images, or (images, labels)
        images = elements[0]
        count = images.nrows() if isinstance(images, tf.RaggedTensor) else tf.shape(images)[0]
        order = tf.random.experimental.stateless_shuffle(
            tf.range(tf.cast(count, tf.int32)), seed=_seed_pair(seed, 2, index)
        )
        out = tuple(tf.gather(e, order) for e in elements)
        return out[0] if len(out) == 1 else out

    ds = ds.enumerate().map(lambda index, element: permute(index, *tf.nest.flatten(element))).unbatch()
    if ragged:
        def dense(*element):
            out = tuple(e.to_tensor() if isinstance(e, tf.RaggedTensor) else e for e in element)
            return out[0] if len(out) == 1 else out

        ds = ds.map(dense)
    return ds


def subset_indices(count, max_images, seed=0):
    """The indices of `data.max_images`' subset of `count` units: StyleGAN2-ADA's `--subset` (a
    uniformly random subset by a fixed seed, independent of the training seed, in source order)."""
    if not max_images or max_images >= count:
        return np.arange(count)
    order = np.random.RandomState(seed).permutation(count)
    return np.sort(order[: int(max_images)])


def _shard_args(input_context):
    if input_context is None:
        return 1, 0
    return input_context.num_input_pipelines, input_context.input_pipeline_id


def _fashion_mnist_source(cfg, training, seed, input_context, parallel, fit):
    images, labels = fashion_mnist.load_fashion_mnist(cfg.split, data_dir=cfg.data_dir or None)
    images = tf.constant(images)  # [N, 28, 28] uint8, in memory
    labels = tf.constant(labels.astype(np.int32))
    with_labels = labels_lib.uses_labels(cfg)
    num, index = _shard_args(input_context)
    units = subset_indices(images.shape[0], cfg.get("max_images"))[index::num]
    ds = _ordered_units(units, training=training, cache=cfg.cache, seed=seed)

    def element(i):
        image = fit(tf.image.grayscale_to_rgb(tf.gather(images, i)[..., None]))
        return (image, tf.gather(labels, i)) if with_labels else image

    return ds.map(element, num_parallel_calls=parallel, deterministic=True)


def _folder_source(cfg, training, seed, input_context, parallel, fit):
    kind = cfg.get("labels") or "none"
    labeled = None
    if kind == "folder":
        labeled = labels_lib.folder_labels(cfg.path)
    elif kind == "dataset.json":
        labeled = labels_lib.dataset_json_labels(cfg.path)
    files = labeled.files if labeled else images_lib.list_image_files(cfg.path)
    subset = subset_indices(len(files), cfg.get("max_images"))
    files = [files[i] for i in subset]
    if labeled:
        labeled = labeled._replace(files=files, labels=[labeled.labels[i] for i in subset])
    graph_decode.check_decodable_files(files, skip=cfg.skip_bad_images)
    num, index = _shard_args(input_context)
    if len(files) < num:
        raise ValueError(f"{cfg.path}: {len(files)} image files cannot feed {num} input pipelines")
    if labeled is None:
        ds = _ordered_units(files[index::num], training=training, cache=cfg.cache, seed=seed)
        ds = ds.map(lambda path: (tf.constant(b""), path))
        return _decode(ds, cfg, from_file=True, parallel=parallel, fit=fit)
    paths, labels = tf.constant(files), tf.constant(labeled.labels, tf.int32)
    ds = _ordered_units(np.arange(index, len(files), num), training=training, cache=cfg.cache, seed=seed)
    ds = ds.map(lambda i: (tf.constant(b""), tf.gather(paths, i), tf.gather(labels, i)))
    return _decode(ds, cfg, from_file=True, parallel=parallel, fit=fit, labels=True)


def _tfrecord_source(cfg, training, seed, input_context, parallel, fit):
    files = tfrecord.list_tfrecord_files(cfg.path)
    num, index = _shard_args(input_context)
    by_file = num > 1 and len(files) >= num
    ds = _ordered_units(files[index::num] if by_file else files, training=training, cache=cfg.cache, seed=seed)

    def records(path):
        def named(i, serialized):
            return serialized, tf.strings.join([path, "[record ", tf.strings.as_string(i), "]"])

        return tf.data.TFRecordDataset(path).enumerate().map(named)

    cycle = min(len(files), _MAX_INTERLEAVE) if training else 1  # training: mixes shards
    with_labels = labels_lib.uses_labels(cfg)
    if with_labels:  # the label rides along the checked decode (a record without one is refused there)
        def records(path, plain=records):
            return plain(path).map(lambda serialized, name: (serialized, name, _record_label(serialized)))

    ds = ds.interleave(
        records,
        cycle_length=cycle,
        block_length=1,
        num_parallel_calls=parallel if parallel == tf.data.AUTOTUNE else min(parallel, cycle),  # TF refuses more
        deterministic=True,
    )
    if num > 1 and not by_file:
        ds = ds.shard(num, index)

    def describe(serialized, name):  # a bad record's name, with its `source` when the record parses
        source = tfrecord.parse_example(serialized)["source"]
        return tf.cond(tf.strings.length(source) > 0, lambda: tf.strings.join([name, " (", source, ")"]), lambda: name)

    # Parsed inside the checked decode: a malformed record (not an Example, no image) is a bad element,
    # skipped and counted under skip_bad_images, or the error naming it.
    return _decode(ds, cfg, from_file=False, parallel=parallel, fit=fit,
                   parse=lambda serialized: tfrecord.parse_example(serialized)["image"], describe=describe,
                   labels=with_labels)


def _record_label(serialized):
    """A record's `label` feature (-1 when the record has none or does not parse; refused when batched)."""
    parsed = tf.io.parse_single_example(serialized, {"label": tf.io.FixedLenFeature([], tf.int64, default_value=-1)})
    return tf.cast(parsed["label"], tf.int32)


def _tfds_source(cfg, training, seed, input_context, parallel, fit):
    import tensorflow_datasets as tfds  # slow to import (seconds): only for TFDS sources

    if not cfg.name:
        raise ValueError("data.source='tfds' needs data.name (a TFDS dataset name)")
    builder = tfds.builder(cfg.name, data_dir=cfg.data_dir or None)
    feature = builder.info.features[cfg.image_key]
    num, index = _shard_args(input_context)
    num_files = len(builder.info.splits[cfg.split].file_instructions)
    by_file = num > 1 and num_files >= num
    encoded = isinstance(feature, tfds.features.Image) and np.dtype(feature.np_dtype) == np.uint8
    read_config = tfds.ReadConfig(
        shuffle_seed=seed,
        shuffle_reshuffle_each_iteration=True,
        input_context=input_context if by_file else None,
        add_tfds_id=True,
    )
    ds = builder.as_dataset(
        split=cfg.split,
        shuffle_files=training,
        read_config=read_config,
        decoders={cfg.image_key: tfds.decode.SkipDecoding()} if encoded else None,
    )
    if num > 1 and not by_file:
        ds = ds.shard(num, index)
    prefix = f"{cfg.name}/{cfg.split}"
    if encoded:
        ds = ds.map(
            lambda ex: (ex[cfg.image_key], tf.strings.join([prefix, "[", ex.get("tfds_id", ""), "]"])),
            num_parallel_calls=parallel,
            deterministic=True,
        )
        return _decode(ds, cfg, from_file=False, parallel=parallel, fit=fit)

    def convert(ex):
        image = ex[cfg.image_key]
        if image.dtype != tf.uint8:  # uint16 / float32 images
            image = tf.image.convert_image_dtype(image, tf.uint8, saturate=True)
        return fit(_gray_or_rgba_to_rgb(image))

    return ds.map(convert, num_parallel_calls=parallel, deterministic=True)


_SOURCES = {
    "fashion_mnist": _fashion_mnist_source,
    "tfds": _tfds_source,
    "tfrecord": _tfrecord_source,
    "folder": _folder_source,
}


def _validate(cfg, resolution, batch_size, canvas):
    if cfg.source not in _SOURCES:
        raise ValueError(f"data.source must be one of {config_lib.SOURCES}, got {cfg.source!r}")
    if cfg.source in ("tfrecord", "folder") and not cfg.path:
        raise ValueError(f"data.source={cfg.source!r} needs data.path")
    max_images = cfg.get("max_images")
    if max_images is not None and (not isinstance(max_images, int) or max_images < 1):
        raise ValueError(f"data.max_images must be a positive integer or None, got {max_images!r}")
    if max_images and cfg.source not in ("fashion_mnist", "folder"):
        raise ValueError(f"data.max_images works with the 'fashion_mnist' and 'folder' sources, not {cfg.source!r}: "
                         "write the subset's shards with cips-dataset instead")
    if resolution < 1 or batch_size < 1:
        raise ValueError(f"resolution and batch_size must be positive, got {resolution}, {batch_size}")
    if canvas[0] != canvas[1] and not cfg.resize_shorter_side:
        raise ValueError("data.resize_shorter_side=False (native scale, central square) works on square images "
                         f"only; a non-square aspect ({canvas[1]} x {canvas[0]}) resizes to the canvas")
    _limits(cfg).validate(prefix="data.")
    kind = cfg.get("labels") or "none"
    if kind != "none":
        if kind not in labels_lib.LABEL_SOURCES:
            raise ValueError(f"data.labels must be one of {', '.join(labels_lib.LABEL_SOURCES)}, got {kind!r}")
        if labels_lib.COMPATIBLE_SOURCES[kind] != cfg.source:
            raise ValueError(f"data.labels={kind!r} needs data.source="
                             f"{labels_lib.COMPATIBLE_SOURCES[kind]!r}, got {cfg.source!r}")


def _check_record_label(image, label):
    check = tf.debugging.assert_non_negative(label, message="data.labels='tfrecord': a record has no label "
                                             "feature (shards written without cips-dataset --labels)")
    with tf.control_dependencies([check]):
        return image, tf.identity(label)


def build_dataset(data_config, *, resolution, batch_size, seed, training=True, input_context=None, aspect=None):
    """The input pipeline: float32 [B, resolution, resolution, 3] in [-1, 1], NHWC, RGB
    ([B, H, W, 3] with a non-square `aspect`); with `data.labels` batches of `(images, labels [B] int32)`.

    Args:
      data_config: a `default_config()`-shaped ConfigDict.
      resolution: output side in pixels (the shorter side with a non-square `aspect`).
      aspect: "W:H" (the training config's `aspect`); None or "1:1": square. Each image's largest
        central window of that aspect is resized to `cips_tf.coords.canvas_size(resolution,
        aspect)` (`transforms.fit_to_canvas`: centre crop, no letterbox).
      batch_size: the GLOBAL batch size; with `input_context` each input pipeline yields
        `input_context.get_per_replica_batch_size(batch_size)` images per batch.
      seed: int; shuffling and augmentation are derived from it.
      training: True: shuffled, repeated forever, augmented, last partial batch dropped.
        False: one deterministic pass in source order, no augmentation, the last partial batch
        kept (unless `data_config.drop_remainder_eval`).
      input_context: `tf.distribute.InputContext` (from `distribute_datasets_from_function`):
        the data are sharded per input pipeline (by file when there are enough files).

    Returns:
      a `tf.data.Dataset`.
    """
    cfg = data_config
    height, width = canvas_size(resolution, aspect)
    _validate(cfg, resolution, batch_size, (height, width))
    per_replica = input_context.get_per_replica_batch_size(batch_size) if input_context else batch_size
    _, pipeline_id = _shard_args(input_context)
    parallel = tf.data.AUTOTUNE if cfg.num_parallel_calls in (None, -1) else int(cfg.num_parallel_calls)

    def fit(image):  # applied by the source in its decoding map: one function call per image fewer
        if height != width:
            return transforms.fit_to_canvas(image, height, width)
        return transforms.fit_to_resolution(image, resolution, cfg.resize_shorter_side)

    ds = _SOURCES[cfg.source](cfg, training, seed, input_context, parallel, fit)
    if labels_lib.uses_labels(cfg) and cfg.source == "tfrecord":
        ds = ds.map(_check_record_label, num_parallel_calls=parallel, deterministic=True)
    if cfg.cache:
        ds = ds.cache()
    if training:
        ds = ds.repeat()  # a no-op on the endless unit streams; repeats the cache or a TFDS pass
        if cfg.shuffle_buffer > 1:
            ds = _block_shuffle(ds, int(cfg.shuffle_buffer), _seed_pair(seed, 3, pipeline_id))

    base_seed = _seed_pair(seed, 4, pipeline_id)
    augment = dict(
        resolution=height,
        width=width,
        random_flip=bool(training and cfg.random_flip),
        random_rotation=bool(training and cfg.random_rotation),
        rotation_degrees=float(cfg.rotation_degrees),
        rotation_fill_mode=cfg.rotation_fill_mode,
    )

    def finalize(index, element):
        element_seed = tf.random.experimental.stateless_fold_in(base_seed, index)
        if isinstance(element, tuple):  # (image, label): the label passes untouched
            return transforms.augment_and_finalize(element[0], element_seed, **augment), element[1]
        return transforms.augment_and_finalize(element, element_seed, **augment)

    ds = ds.enumerate().map(finalize, num_parallel_calls=parallel, deterministic=True)
    ds = ds.batch(per_replica, drop_remainder=training or cfg.drop_remainder_eval)
    ds = ds.prefetch(tf.data.AUTOTUNE)
    options = tf.data.Options()
    options.deterministic = True
    return ds.with_options(options)


def iterate_numpy(data_config, *, resolution, batch_size, seed=0, training=False, num_batches=None, aspect=None):
    """Yields numpy float32 batches from `build_dataset` (for metrics, notebooks, tests)."""
    ds = build_dataset(data_config, resolution=resolution, batch_size=batch_size, seed=seed, training=training,
                       aspect=aspect)
    if num_batches is not None:
        ds = ds.take(num_batches)
    yield from ds.as_numpy_iterator()
