"""Latent helpers: seeded z, the average w for truncation."""
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


def estimate_w_avg(generator, num_samples=10000, batch_size=1000, seed=0):
    """Mean of `M(z)` over `num_samples` z ~ N(0, I): the truncation centre `w_avg` (`[style_dim]`)."""
    rng = np.random.RandomState(seed)
    total = np.zeros([generator.style_dim], np.float64)
    done = 0
    while done < num_samples:
        n = min(batch_size, num_samples - done)
        z = tf.constant(rng.randn(n, generator.style_dim).astype(np.float32))
        total += generator.mapping(z).numpy().astype(np.float64).sum(axis=0)
        done += n
    return (total / num_samples).astype(np.float32)
