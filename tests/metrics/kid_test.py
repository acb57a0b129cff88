"""Tests of cips_tf.metrics.kid (KID through TF-GAN)."""
import numpy as np
import pytest
import tensorflow as tf

from cips_tf.metrics import kid
from cips_tf.metrics import tfgan_compat


def _numpy_unbiased_mmd2(x, y):
    """Oracle: unbiased MMD^2 with k(a, b) = (a.b / d + 1)^3 (Binkowski et al., one block)."""
    d = x.shape[1]
    kxx, kyy, kxy = ((x @ x.T) / d + 1) ** 3, ((y @ y.T) / d + 1) ** 3, ((x @ y.T) / d + 1) ** 3
    m, n = len(x), len(y)
    return (
        (kxx.sum() - np.trace(kxx)) / (m * (m - 1))
        + (kyy.sum() - np.trace(kyy)) / (n * (n - 1))
        - 2 * kxy.mean()
    )


def test_kernel_distance_random_activations_matches_tfgan():
    rng = np.random.default_rng(0)
    a1, a2 = rng.normal(size=[300, 16]), rng.normal(size=[260, 16]) + 0.2
    tfgan = tfgan_compat.import_tfgan()
    want_kid, want_std = tfgan.eval.kernel_classifier_distance_and_std_from_activations(
        tf.constant(a1), tf.constant(a2), max_block_size=100
    )
    got_kid, got_std = kid.kernel_distance(a1, a2, max_block_size=100)
    assert got_kid == pytest.approx(float(want_kid), rel=1e-9)
    assert got_std == pytest.approx(float(want_std), rel=1e-9)


def test_kernel_distance_single_block_matches_numpy_oracle():
    rng = np.random.default_rng(1)
    a1, a2 = rng.normal(size=[120, 8]), rng.normal(size=[100, 8]) * 1.3
    got, std = kid.kernel_distance(a1, a2)
    assert got == pytest.approx(_numpy_unbiased_mmd2(a1, a2), rel=1e-9)
    assert np.isnan(std)  # one block: no standard error


def test_kernel_distance_shifted_set_larger_than_same_distribution():
    rng = np.random.default_rng(2)
    real = rng.normal(size=[400, 8])
    same, shifted = rng.normal(size=[400, 8]), rng.normal(size=[400, 8]) + 1.0
    near, _ = kid.kernel_distance(real, same, max_block_size=200)
    far, _ = kid.kernel_distance(real, shifted, max_block_size=200)
    assert abs(near) < 0.05 < far


def test_kernel_distance_shuffle_seed_permutes_reproducibly():
    rng = np.random.default_rng(3)
    a1, a2 = np.sort(rng.normal(size=[200, 4]), axis=0), rng.normal(size=[200, 4])
    first = kid.kernel_distance(a1, a2, max_block_size=50, shuffle_seed=7)
    assert first == kid.kernel_distance(a1, a2, max_block_size=50, shuffle_seed=7)
    assert first != kid.kernel_distance(a1, a2, max_block_size=50)


def test_kernel_distance_bad_shapes_raise():
    with pytest.raises(ValueError, match="equal D"):
        kid.kernel_distance(np.zeros([5, 3]), np.zeros([5, 4]))
    with pytest.raises(ValueError, match="at least 2"):
        kid.kernel_distance(np.zeros([1, 3]), np.zeros([5, 3]))
