"""Latents and pixels at the bottom: seed -> z -> w = M(z) -> truncation, float images -> uint8, and
uint8 images -> one mosaic.

The one home of each step, shared by the synthesis experiments, the in-training and offline FID,
the SavedModel signatures and the training loop. Everything takes and returns tensors (numpy is
accepted on the way in); conversion to numpy happens at the edges that write files. The generator
is duck-typed (`generator.mapping`, `generator.style_dim`), so this module imports no model code.
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


def truncate(w, w_avg, psi):
    """The truncation trick: `w_avg + psi * (w - w_avg)`; `psi` a scalar or `[B]`."""
    psi = tf.convert_to_tensor(psi, dtype=w.dtype)
    if len(psi.shape) == 1:
        psi = tf.reshape(psi, (-1,) + (1,) * (len(w.shape) - 1))
    return w_avg + psi * (w - w_avg)


def styles(generator, z, psi=1.0, w_avg=None):
    """`w = M(z)` `[N, style_dim]` float32 (under any dtype policy), truncated toward `w_avg` by `psi`
    (a scalar or `[N]`; a Python 1.0 skips truncation)."""
    w = tf.cast(generator.mapping(z), tf.float32)
    if isinstance(psi, (int, float)) and psi == 1.0:
        return w
    if w_avg is None:
        raise ValueError("truncation (psi != 1) needs w_avg")
    return truncate(w, tf.convert_to_tensor(w_avg, tf.float32), psi)


def styles_from_seeds(generator, seeds, psi=1.0, w_avg=None):
    """`[N, style_dim]` float32 tensor: `styles(generator, z_from_seed(seed), psi, w_avg)` per seed."""
    return styles(generator, z_from_seed(np.asarray(list(seeds), np.int64), generator.style_dim), psi, w_avg)


def mapped_samples(generator, num_samples=10000, batch_size=1000, seed=0):
    """Yields `M(z)` as float64 numpy batches (`[<= batch_size, style_dim]`) for `num_samples`
    z ~ N(0, I) drawn from `np.random.RandomState(seed)`: the samples behind `estimate_w_avg` and the
    projector's `w_std`."""
    rng = np.random.RandomState(seed)
    for start in range(0, int(num_samples), int(batch_size)):
        n = min(int(batch_size), int(num_samples) - start)
        z = tf.constant(rng.randn(n, generator.style_dim).astype(np.float32))
        yield generator.mapping(z).numpy().astype(np.float64)


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
