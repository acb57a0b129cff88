"""Tests of cips_tf.metrics.precision_recall (Kynkaanniemi et al. 2019)."""
import numpy as np
import pytest

from cips_tf.metrics import precision_recall as pr


def _line(points):
    return np.asarray(points, np.float64)[:, None]  # 1-D features [N, 1]


def _brute_precision_recall(real, fake, k):
    """Oracle: explicit loops over full distance matrices."""
    def radii(x):
        d = np.linalg.norm(x[:, None] - x[None], axis=-1)
        return np.sort(d, axis=1)[:, k]

    def coverage(centres, r, queries):
        d = np.linalg.norm(queries[:, None] - centres[None], axis=-1)
        return np.mean([(row <= r).any() for row in d])

    return coverage(real, radii(real), fake), coverage(fake, radii(fake), real)


def test_precision_recall_identical_sets_are_one_one():
    x = np.random.default_rng(0).normal(size=[50, 8])
    assert pr.precision_recall(x, x.copy()) == (1.0, 1.0)


def test_precision_recall_disjoint_far_sets_are_zero_zero():
    rng = np.random.default_rng(1)
    real, fake = rng.normal(size=[40, 8]), rng.normal(size=[30, 8]) + 100.0
    assert pr.precision_recall(real, fake) == (0.0, 0.0)


def test_precision_recall_fake_subset_of_real_has_full_precision_partial_recall():
    real = _line(range(10))  # 0, 1, ..., 9
    fake = _line(range(5))  # 0 .. 4: radii (k = 3) are 3, 2, 2, 2, 3
    precision, recall = pr.precision_recall(real, fake, k=3)
    assert precision == 1.0
    assert recall == pytest.approx(0.8)  # reals 0..7 covered (7 is exactly at radius 3 of fake 4); 8, 9 not


def test_precision_recall_real_subset_of_fake_has_partial_precision_full_recall():
    precision, recall = pr.precision_recall(_line(range(5)), _line(range(10)), k=3)
    assert (precision, recall) == (pytest.approx(0.8), 1.0)


def test_compute_radii_on_line_matches_hand_values():
    np.testing.assert_allclose(pr.compute_radii(_line(range(5)), k=3), [3, 2, 2, 2, 3])
    np.testing.assert_allclose(pr.compute_radii(_line(range(5)), k=1), [1, 1, 1, 1, 1])


def test_precision_recall_small_blocks_match_brute_force_oracle():
    rng = np.random.default_rng(2)
    real, fake = rng.normal(size=[60, 5]), rng.normal(size=[45, 5]) * 1.4 + 0.3
    got = pr.precision_recall(real, fake, k=3, block_size=7)
    want = _brute_precision_recall(real, fake, 3)
    assert got == pytest.approx(want)
    assert 0.0 < got[0] < 1.0 and 0.0 < got[1] < 1.0


def test_pairwise_distances_matches_numpy_norm():
    rng = np.random.default_rng(3)
    a, b = rng.normal(size=[6, 4]), rng.normal(size=[9, 4])
    np.testing.assert_allclose(pr.pairwise_distances(a, b), np.linalg.norm(a[:, None] - b[None], axis=-1), rtol=1e-10)


def test_compute_radii_too_few_samples_raises():
    with pytest.raises(ValueError, match="more than k=3"):
        pr.compute_radii(np.zeros([3, 2]), k=3)
