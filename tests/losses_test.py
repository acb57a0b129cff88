import numpy as np
import tensorflow as tf

from cips_tf import losses
from cips_tf.models.discriminator import Discriminator


def _softplus(x):
    return np.log1p(np.exp(x))


def test_d_logistic_loss_random_logits_matches_numpy():
    rng = np.random.RandomState(0)
    real, fake = rng.randn(6, 1).astype(np.float32), rng.randn(6, 1).astype(np.float32)
    got = losses.d_logistic_loss(real, fake).numpy()
    np.testing.assert_allclose(got, _softplus(fake[:, 0]) + _softplus(-real[:, 0]), rtol=1e-6)


def test_g_nonsaturating_loss_random_logits_matches_numpy():
    fake = np.random.RandomState(1).randn(5, 1).astype(np.float32)
    np.testing.assert_allclose(losses.g_nonsaturating_loss(fake).numpy(), _softplus(-fake[:, 0]), rtol=1e-6)


def test_r1_penalty_small_discriminator_matches_finite_differences():
    d = Discriminator(size=8, widths=[8, 8], stddev_group=4)
    x = np.random.RandomState(2).uniform(-1, 1, (2, 8, 8, 3)).astype(np.float64)
    penalty, _ = losses.r1_penalty(d, x.astype(np.float32))

    total_fn = tf.function(lambda images: tf.reduce_sum(d(images)))

    def total(images):
        return float(total_fn(tf.constant(images, tf.float32)))

    # Central differences of sum(D(x)) per input element; the penalty is ||grad_i||^2 per sample i.
    eps = 1e-2
    grad = np.zeros_like(x)
    flat = x.reshape(-1)
    for idx in range(flat.size):
        plus, minus = flat.copy(), flat.copy()
        plus[idx] += eps
        minus[idx] -= eps
        grad.reshape(-1)[idx] = (total(plus.reshape(x.shape)) - total(minus.reshape(x.shape))) / (2 * eps)
    expected = (grad**2).reshape(2, -1).sum(axis=1)
    np.testing.assert_allclose(penalty.numpy(), expected, rtol=2e-2)
