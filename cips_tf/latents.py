"""Latents and pixels at the bottom: seed -> z -> w = M(z) -> truncation, float images -> uint8, and
uint8 images -> one mosaic.

The one home of each step, shared by the synthesis experiments, the in-training and offline FID,
the SavedModel signatures and the training loop. Everything takes and returns tensors (numpy is
accepted on the way in); conversion to numpy happens at the edges that write files. The generator
is duck-typed (`generator.mapping`, `generator.style_dim`, `generator.num_classes`), so this module
imports no model code.

Class-conditional generators (`num_classes > 0`) map `(z, label)`: every function that maps z takes
`labels` (`[N]` int class indices, or one int for all). `resolve_class` turns a user's `--class`
(an index or a class name) into an index; `labels_for_fakes` is how training labels its fakes;
`estimate_w_avg` averages over z AND the classes (uniformly), one global truncation centre as
StyleGAN2-ADA keeps.
"""
import numpy as np
import tensorflow as tf


def z_from_seed(seed, style_dim):
    """The z of integer seeds: `tf.random.stateless_normal([style_dim], seed=[seed, 0])` per seed.

    `seed` is an int or `[N]` int64 -> `[style_dim]` or `[N, style_dim]` float32 tensor. Stateless, so
    the same in Python, in a `tf.function` and in the exported `from_seed` serving signature.
    """
    seeds = tf.convert_to_tensor(seed, tf.int64)
    if seeds.shape.rank == 0:
        return tf.random.stateless_normal([style_dim], seed=tf.stack([seeds, tf.zeros_like(seeds)]))
    return tf.map_fn(
        lambda s: tf.random.stateless_normal([style_dim], seed=tf.stack([s, tf.zeros_like(s)])),
        seeds,
        fn_output_signature=tf.TensorSpec([style_dim], tf.float32),
    )


def num_classes(generator):
    """The generator's class count (0: unconditional; generators without the attribute are)."""
    return int(getattr(generator, "num_classes", 0) or 0)


def resolve_class(value, class_names=None, num_classes=None, what="--class"):
    """A user's class (an int, a digit string or one of `class_names`) -> its index. An integer is
    always an index.

    Raises ValueError naming `what` for an unconditional model (`num_classes` 0), an index out of
    range or an unknown name (listing the known ones).
    """
    names = [str(n) for n in (class_names or [])]
    count = int(num_classes if num_classes is not None else len(names))
    if count <= 0:
        raise ValueError(f"{what}: this model is unconditional (trained without class labels); it takes no class")
    text = str(value).strip()
    if text.lstrip("-").isdigit():  # an integer is always an index (even where names are digits too)
        index = int(text)
        if not 0 <= index < count:
            raise ValueError(f"{what}={value}: class index out of range 0..{count - 1}")
        return index
    if text in names:
        return names.index(text)
    known = ", ".join(names) if names else "none recorded; use an index"
    raise ValueError(f"{what}={value!r}: unknown class name (classes: {known})")


def labels_for_fakes(real_labels):
    """The labels training gives its fakes: the real batch's own labels.

    StyleGAN2-ADA draws the generator's labels from the dataset (`training_set.get_label(random
    index)`); the labels of the step's real batch are such draws already (the pipeline shuffles the
    dataset), so G generates each class as often as the data holds it, at no extra input cost. The D
    step's fakes and the G step's fakes both use them (one home for the rule: here).
    """
    return tf.cast(real_labels, tf.int32)


def _label_kwargs(generator, labels, n):
    """`{"labels": [n] int32}` for a conditional generator (labels required), `{}` otherwise."""
    count = num_classes(generator)
    if not count:
        if labels is not None:
            raise ValueError("this generator is unconditional (num_classes=0): it takes no class labels")
        return {}
    if labels is None:
        raise ValueError(f"this generator is class-conditional (num_classes={count}): pass labels")
    labels = tf.convert_to_tensor(labels, tf.int32)
    if labels.shape.rank == 0:
        labels = tf.fill([n], labels)
    return {"labels": labels}


def truncate(w, w_avg, psi):
    """The truncation trick: `w_avg + psi * (w - w_avg)`; `psi` a scalar or `[B]`."""
    psi = tf.convert_to_tensor(psi, dtype=w.dtype)
    if len(psi.shape) == 1:
        psi = tf.reshape(psi, (-1,) + (1,) * (len(w.shape) - 1))
    return w_avg + psi * (w - w_avg)


def styles(generator, z, psi=1.0, w_avg=None, labels=None):
    """`w = M(z)` `[N, style_dim]` float32 (under any dtype policy), truncated toward `w_avg` by `psi`
    (a scalar or `[N]`; a Python 1.0 skips truncation). Conditional generators: `w = M(z, labels)`
    (`labels` `[N]` or one int)."""
    z = tf.convert_to_tensor(z)
    w = tf.cast(generator.mapping(z, **_label_kwargs(generator, labels, tf.shape(z)[0])), tf.float32)
    if isinstance(psi, (int, float)) and psi == 1.0:
        return w
    if w_avg is None:
        raise ValueError("truncation (psi != 1) needs w_avg")
    return truncate(w, tf.convert_to_tensor(w_avg, tf.float32), psi)


def styles_from_seeds(generator, seeds, psi=1.0, w_avg=None, labels=None):
    """`[N, style_dim]` float32 tensor: `styles(generator, z_from_seed(seed), psi, w_avg, labels)` per seed."""
    return styles(generator, z_from_seed(np.asarray(list(seeds), np.int64), generator.style_dim), psi, w_avg,
                  labels)


def mapped_samples(generator, num_samples=10000, batch_size=1000, seed=0):
    """Yields `M(z)` as float64 numpy batches (`[<= batch_size, style_dim]`) for `num_samples`
    z ~ N(0, I) drawn from `np.random.RandomState(seed)`: the samples behind `estimate_w_avg` and the
    projector's `w_std`. Conditional generators: sample `i` has class `i % num_classes` (the classes
    equally)."""
    rng = np.random.RandomState(seed)
    count = num_classes(generator)
    for start in range(0, int(num_samples), int(batch_size)):
        n = min(int(batch_size), int(num_samples) - start)
        z = tf.constant(rng.randn(n, generator.style_dim).astype(np.float32))
        labels = (np.arange(start, start + n) % count).astype(np.int32) if count else None
        yield generator.mapping(z, **_label_kwargs(generator, labels, n)).numpy().astype(np.float64)


def estimate_w_avg(generator, num_samples=10000, batch_size=1000, seed=0):
    """Mean of `M(z)` over `num_samples` z ~ N(0, I): the truncation centre `w_avg` (`[style_dim]`)."""
    total = np.zeros([generator.style_dim], np.float64)
    for w in mapped_samples(generator, num_samples, batch_size, seed):
        total += w.sum(axis=0)
    return (total / num_samples).astype(np.float32)


def quantize_images(images):
    """Converts float images in [-1, 1] to uint8 pixels exactly as StyleGAN's evaluation does.

    `uint8(clip(x * 127.5 + 128, 0, 255))` with truncation toward zero, which equals
    `round(x * 127.5 + 127.5)` (round half up): StyleGAN/StyleGAN2's
    `tflib.convert_images_to_uint8`, and torchvision's `save_image` used by the official CIPS code.
    Generated images are quantized before feature extraction so that they are measured as the
    image files a person would save, like the real data.

    Args:
      images: float array/tensor in [-1, 1], any shape (usually [B, H, W, C]).

    Returns:
      A uint8 `tf.Tensor` of the same shape.
    """
    images = tf.convert_to_tensor(images)
    if images.dtype == tf.uint8:
        return images
    x = tf.cast(images, tf.float32) * 127.5 + 128.0
    return tf.cast(tf.clip_by_value(x, 0.0, 255.0), tf.uint8)  # cast truncates, as saturate_cast does


def tile_images(images, ncols=None, pad=0, pad_value=255):
    """`[N, H, W, C]` -> one `[rows * H, ncols * W, C]` mosaic (row-major), optional padding."""
    images = np.asarray(images)
    n, h, w, c = images.shape
    ncols = int(np.ceil(np.sqrt(n))) if ncols is None else min(int(ncols), n)
    nrows = int(np.ceil(n / ncols))
    out = np.full((nrows * h + (nrows - 1) * pad, ncols * w + (ncols - 1) * pad, c), pad_value, images.dtype)
    for i in range(n):
        r, col = divmod(i, ncols)
        out[r * (h + pad) : r * (h + pad) + h, col * (w + pad) : col * (w + pad) + w] = images[i]
    return out
