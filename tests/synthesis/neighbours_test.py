"""Tests for cips_tf.synthesis.neighbours (App. E, Fig. 18)."""
import numpy as np
import pytest

from cips_tf.metrics import feature_extractor
from cips_tf.synthesis import neighbours


def test_nearest_neighbours_matches_brute_force_across_blocks():
    rng = np.random.RandomState(0)
    q, r = rng.randn(5, 7), rng.randn(50, 7)
    idx, dist = neighbours.nearest_neighbours(q, r, k=3, block_size=8)
    full = np.sqrt(((q[:, None] - r[None]) ** 2).sum(-1))
    np.testing.assert_array_equal(idx, np.argsort(full, axis=1)[:, :3])
    np.testing.assert_allclose(dist, np.sort(full, axis=1)[:, :3], rtol=1e-5)


def test_find_neighbours_finds_an_exact_copy_first():
    rng = np.random.RandomState(1)
    refs = rng.uniform(-1, 1, (20, 16, 16, 3)).astype(np.float32)
    samples = refs[[7, 3]] + 0.001
    idx, dist = neighbours.find_neighbours(samples, refs, neighbours.pixel_features, k=2)
    np.testing.assert_array_equal(idx[:, 0], [7, 3])
    assert dist[0, 0] < dist[0, 1]


def test_resize_to_model_grey_uint8_to_rgb_unit_range():
    imgs = np.full((2, 28, 28, 1), 255, np.uint8)
    out = neighbours.resize_to_model(imgs, 16)
    assert out.shape == (2, 16, 16, 3)
    np.testing.assert_allclose(out, 1.0, atol=1e-5)


def test_load_reference_images_reads_offline_fashion_mnist_or_npy(tmp_path):
    arr = np.random.RandomState(0).randint(0, 255, (4, 28, 28), dtype=np.uint8)
    np.save(tmp_path / "refs.npy", arr)
    out = neighbours.load_reference_images(16, dataset=str(tmp_path / "refs.npy"), limit=3)
    assert out.shape == (3, 16, 16, 3)
    try:
        fm = neighbours.load_reference_images(16, split="test", limit=5)
    except FileNotFoundError:
        pytest.skip("offline Fashion-MNIST not installed")
    assert fm.shape == (5, 16, 16, 3) and -1 <= fm.min() and fm.max() <= 1


def test_classifier_features_missing_extractor_gives_none(tmp_path):
    assert feature_extractor.classifier_features(tmp_path / "nothing") is None


def test_reference_features_in_batches_equal_features_of_all_images():
    arr = np.random.RandomState(2).randint(0, 255, (10, 28, 28, 1), dtype=np.uint8)
    batched = neighbours.reference_features(arr, 16, neighbours.pixel_features, batch_size=3)
    whole = neighbours.pixel_features(neighbours.resize_to_model(arr, 16))
    np.testing.assert_allclose(batched, whole, atol=1e-6)
