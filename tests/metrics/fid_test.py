"""Tests of cips_tf.metrics.fid: FID formula, streaming statistics, quantization, resize, cache."""
import numpy as np
import pytest
import scipy.linalg
import tensorflow as tf

from cips_tf.metrics import fid
from cips_tf.metrics import tfgan_compat


def _activations(seed, n, d, shift=0.0, scale=1.0):
    rng = np.random.default_rng(seed)
    mixing = rng.normal(size=[d, d]) / np.sqrt(d)
    return (rng.normal(size=[n, d]) @ mixing) * scale + shift


def _scipy_fid(a1, a2):
    """The TTUR / pytorch-fid reference: np.cov and scipy.linalg.sqrtm."""
    mu1, mu2 = a1.mean(0), a2.mean(0)
    s1, s2 = np.cov(a1, rowvar=False), np.cov(a2, rowvar=False)
    covmean = scipy.linalg.sqrtm(s1 @ s2)
    covmean = covmean.real
    return float(((mu1 - mu2) ** 2).sum() + np.trace(s1) + np.trace(s2) - 2 * np.trace(covmean))


def test_frechet_distance_random_activations_matches_scipy_sqrtm():
    a1, a2 = _activations(0, 300, 16), _activations(1, 250, 16, shift=0.3, scale=1.5)
    got = fid.frechet_distance_from_activations(a1, a2)
    assert got == pytest.approx(_scipy_fid(a1, a2), rel=1e-6)


def test_frechet_distance_random_activations_matches_tfgan():
    tfgan = tfgan_compat.import_tfgan()
    a1, a2 = _activations(2, 300, 32), _activations(3, 200, 32, shift=-0.2, scale=0.7)
    want = float(tfgan.eval.frechet_classifier_distance_from_activations(tf.constant(a1), tf.constant(a2)))
    assert fid.frechet_distance_from_activations(a1, a2) == pytest.approx(want, rel=1e-6)


def test_frechet_distance_more_dims_than_samples_matches_tfgan():
    tfgan = tfgan_compat.import_tfgan()
    a1, a2 = _activations(4, 40, 64), _activations(5, 50, 64, shift=0.1)  # singular covariances
    want = float(tfgan.eval.frechet_classifier_distance_from_activations(tf.constant(a1), tf.constant(a2)))
    assert fid.frechet_distance_from_activations(a1, a2) == pytest.approx(want, rel=1e-6)


def test_frechet_distance_set_vs_itself_is_zero():
    a = _activations(6, 500, 24, shift=3.0)
    assert abs(fid.frechet_distance_from_activations(a, a)) < 1e-9


def test_frechet_distance_known_gaussians_matches_closed_form():
    # Diagonal covariances: FID = |mu1 - mu2|^2 + sum (sqrt(v1) - sqrt(v2))^2.
    mu1, mu2 = np.array([0.0, 1.0, 2.0]), np.array([1.0, 1.0, 0.0])
    v1, v2 = np.array([1.0, 4.0, 9.0]), np.array([4.0, 4.0, 1.0])
    want = 1 + 0 + 4 + (1 - 2) ** 2 + 0 + (3 - 1) ** 2
    assert fid.frechet_distance(mu1, np.diag(v1), mu2, np.diag(v2)) == pytest.approx(want, rel=1e-12)


def test_frechet_distance_shape_mismatch_raises():
    with pytest.raises(ValueError, match="shape mismatch"):
        fid.frechet_distance(np.zeros(3), np.eye(3), np.zeros(4), np.eye(4))


def test_activation_statistics_streaming_matches_batch():
    a = _activations(7, 203, 12, shift=1.0)
    stats = fid.ActivationStatistics()
    for start in range(0, len(a), 17):
        stats.update(a[start : start + 17])
    assert stats.count == 203
    np.testing.assert_allclose(stats.mean, a.mean(0), rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(stats.covariance, np.cov(a, rowvar=False), rtol=1e-10, atol=1e-12)


def test_activation_statistics_merge_halves_matches_whole():
    a = _activations(8, 150, 10, shift=-2.0)
    whole = fid.ActivationStatistics().update(a)
    first, second = fid.ActivationStatistics().update(a[:61]), fid.ActivationStatistics().update(a[61:])
    merged = first.merge(second)
    assert merged.count == whole.count
    np.testing.assert_allclose(merged.mean, whole.mean, rtol=1e-12)
    np.testing.assert_allclose(merged.covariance, whole.covariance, rtol=1e-10, atol=1e-12)


def test_activation_statistics_merge_empty_is_noop():
    a = _activations(9, 20, 4)
    stats = fid.ActivationStatistics().update(a)
    stats.merge(fid.ActivationStatistics())
    fresh = fid.ActivationStatistics().merge(fid.ActivationStatistics().update(a))
    np.testing.assert_allclose(stats.covariance, fresh.covariance, rtol=1e-12)
    assert stats.count == fresh.count == 20


def test_activation_statistics_large_offset_keeps_precision():
    a = _activations(10, 400, 8) + 1e5  # mean far larger than spread
    stats = fid.ActivationStatistics()
    for chunk in np.array_split(a, 9):
        stats.update(chunk)
    centered = a - a.mean(0)
    want = centered.T @ centered / (len(a) - 1)
    np.testing.assert_allclose(stats.covariance, want, rtol=1e-7, atol=1e-9)


def test_activation_statistics_sums_round_trip_matches_original():
    a = _activations(11, 90, 6, shift=0.5)
    stats = fid.ActivationStatistics().update(a)
    count, total, outer = stats.to_sums()
    np.testing.assert_allclose(total, a.sum(0), rtol=1e-12)
    np.testing.assert_allclose(outer, a.T @ a, rtol=1e-12)
    # Sums add across shards (as a cross-replica SUM would).
    halves = [fid.ActivationStatistics().update(h).to_sums() for h in (a[:40], a[40:])]
    rebuilt = fid.ActivationStatistics.from_sums(*(sum(parts) for parts in zip(*halves)))
    assert rebuilt.count == count
    np.testing.assert_allclose(rebuilt.covariance, stats.covariance, rtol=1e-9, atol=1e-12)


def test_activation_statistics_save_load_round_trip(tmp_path):
    stats = fid.ActivationStatistics().update(_activations(12, 30, 5))
    stats.save(tmp_path / "sub" / "stats.npz")
    loaded = fid.ActivationStatistics.load(tmp_path / "sub" / "stats.npz")
    assert loaded.count == 30 and loaded.dim == 5
    np.testing.assert_array_equal(loaded.mean, stats.mean)
    np.testing.assert_array_equal(loaded.covariance, stats.covariance)


def test_activation_statistics_too_few_samples_raises():
    stats = fid.ActivationStatistics().update(np.ones([1, 3]))
    assert stats.mean.shape == (3,)
    with pytest.raises(ValueError, match="at least 2"):
        _ = stats.covariance


def test_activation_statistics_dimension_change_raises():
    stats = fid.ActivationStatistics().update(np.ones([2, 3]))
    with pytest.raises(ValueError, match="dimension"):
        stats.update(np.ones([2, 4]))


def test_quantize_images_known_values_match_stylegan_formula():
    x = np.array([-1.5, -1.0, -0.999, 0.0, 0.5, 0.99, 1.0, 2.0], np.float32)
    got = fid.quantize_images(x).numpy()
    np.testing.assert_array_equal(got, [0, 0, 0, 128, 191, 254, 255, 255])
    rng = np.random.default_rng(0)
    y = rng.uniform(-1.2, 1.2, size=[4, 8, 8, 3]).astype(np.float32)
    want = np.clip(y * 127.5 + 128, 0, 255).astype(np.uint8)  # StyleGAN convert_images_to_uint8
    np.testing.assert_array_equal(fid.quantize_images(y).numpy(), want)
    assert fid.quantize_images(y).dtype == tf.uint8


def test_quantize_images_dequantized_pixels_round_trip():
    pixels = np.arange(256, dtype=np.uint8)
    np.testing.assert_array_equal(fid.quantize_images(fid.dequantize_images(pixels)).numpy(), pixels)
    np.testing.assert_array_equal(fid.quantize_images(pixels).numpy(), pixels)  # uint8 passes through


def test_resize_images_same_size_returns_input():
    x = np.random.default_rng(1).normal(size=[2, 5, 7, 3]).astype(np.float32)
    np.testing.assert_array_equal(fid.resize_images(x, (5, 7)).numpy(), x)


def test_resize_images_other_size_is_tf_bilinear():
    x = np.random.default_rng(2).normal(size=[2, 8, 8, 3]).astype(np.float32)
    got = fid.resize_images(x, (12, 10)).numpy()
    want = tf.image.resize(x, (12, 10), method="bilinear").numpy()
    assert got.shape == (2, 12, 10, 3)
    np.testing.assert_allclose(got, want, rtol=1e-6)


def test_real_statistics_cache_put_get_round_trip(tmp_path):
    cache = fid.RealStatisticsCache(tmp_path)
    assert cache.get("fashion_mnist", "train", 32, "cnn") is None
    features = _activations(13, 25, 4).astype(np.float32)
    stats = fid.ActivationStatistics().update(features)
    path = cache.put("fashion_mnist", "train", 32, "cnn", stats, features)
    assert path.name == "fashion_mnist-train-32px-cnn.npz"
    loaded, loaded_features = cache.get("fashion_mnist", "train", 32, "cnn")
    np.testing.assert_array_equal(loaded.covariance, stats.covariance)
    np.testing.assert_array_equal(loaded_features, features)
    assert cache.get("fashion_mnist", "test", 32, "cnn") is None  # split is part of the key
    assert cache.path("ffhq", "train", (256, 512), "inception/v3").name == "ffhq-train-256x512px-inception-v3.npz"


def test_real_statistics_cache_never_reads_or_writes_through_a_symlink(tmp_path):
    import os

    cache = fid.RealStatisticsCache(tmp_path / "cache")
    stats = fid.ActivationStatistics(dim=2)
    stats.update(np.array([[0.0, 1.0], [2.0, 3.0]]))
    path = cache.put("ds", "train", 8, "x", stats)
    assert [p.name for p in path.parent.iterdir()] == [path.name]  # no temporary left
    assert cache.get("ds", "train", 8, "x")[0].count == 2
    elsewhere = tmp_path / "elsewhere.npz"
    os.replace(path, elsewhere)
    os.symlink(elsewhere, path)  # a planted link in a shared cache directory
    with pytest.raises(OSError):
        cache.get("ds", "train", 8, "x")
