"""Tests of cips_tf.metrics.evaluate.evaluate_generator with a fixed random-projection extractor."""
import numpy as np
import pytest

from cips_tf.metrics import evaluate
from cips_tf.metrics import fid


class _ProjectionExtractor:
    """Deterministic stand-in extractor: flattens quantized images and projects them to 6 dims."""

    name = "projection"
    standard = False
    metric_suffix = "_offline"

    def __init__(self, pixels=8 * 8 * 3, dim=6):
        self.projection = np.random.default_rng(0).normal(size=[pixels, dim]) / np.sqrt(pixels)
        self.calls = 0

    def __call__(self, images):
        self.calls += 1
        x = fid.dequantize_images(fid.quantize_images(images)).numpy().reshape(len(images), -1)
        return (x @ self.projection).astype(np.float32)


def _real_batches(n=120, batch=32, seed=0):
    rng = np.random.default_rng(seed)
    images = np.tanh(rng.normal(size=[n, 8, 8, 3])).astype(np.float32)
    return [images[i : i + batch] for i in range(0, n, batch)]


def _sample_fn(shift=0.0):
    def sample(batch_size, seed):
        rng = np.random.default_rng(1000 + seed)
        return np.tanh(rng.normal(size=[batch_size, 8, 8, 3]) + shift).astype(np.float32)

    return sample


def test_evaluate_generator_same_distribution_scores_better_than_shifted():
    extractor = _ProjectionExtractor()
    good = evaluate.evaluate_generator(_real_batches(), _sample_fn(), extractor, num_samples=100, batch_size=25, progress=False)
    bad = evaluate.evaluate_generator(_real_batches(), _sample_fn(1.0), extractor, num_samples=100, batch_size=25, progress=False)
    assert good["fid_offline"] < bad["fid_offline"]
    assert good["kid_offline"] < bad["kid_offline"]
    assert good["precision_offline"] > bad["precision_offline"]
    assert good["standard"] is False and good["extractor"] == "projection"
    assert good["num_real"] == 100 and good["num_fake"] == 100


def test_evaluate_generator_fid_equals_direct_computation():
    extractor = _ProjectionExtractor()
    results = evaluate.evaluate_generator(
        _real_batches(), _sample_fn(0.3), extractor, num_samples=60, batch_size=20, num_real=90,
        metrics=("fid",), seed=5, progress=False,
    )
    real = np.concatenate(_real_batches())[:90]
    fake = np.concatenate([_sample_fn(0.3)(20, 5 + i) for i in range(3)])
    want = fid.frechet_distance_from_activations(extractor(real), extractor(fake))
    assert results["fid_offline"] == pytest.approx(want, rel=1e-9)
    assert "kid_offline" not in results and "precision_offline" not in results


def test_evaluate_generator_same_seed_is_reproducible():
    kwargs = dict(num_samples=50, batch_size=10, metrics=("fid", "kid"), seed=3, progress=False)
    first = evaluate.evaluate_generator(_real_batches(), _sample_fn(0.5), _ProjectionExtractor(), **kwargs)
    second = evaluate.evaluate_generator(_real_batches(), _sample_fn(0.5), _ProjectionExtractor(), **kwargs)
    assert first["fid_offline"] == second["fid_offline"] and first["kid_offline"] == second["kid_offline"]


def test_evaluate_generator_real_cache_skips_real_data_second_time(tmp_path):
    cache = fid.RealStatisticsCache(tmp_path)
    key = ("toy", "train", 8)
    kwargs = dict(num_samples=64, batch_size=32, real_cache=cache, real_cache_key=key, progress=False)
    first = evaluate.evaluate_generator(_real_batches(), _sample_fn(), _ProjectionExtractor(), **kwargs)
    assert cache.path(*key, "projection").exists()
    extractor = _ProjectionExtractor()
    second = evaluate.evaluate_generator([], _sample_fn(), extractor, **kwargs)  # no real data needed
    assert extractor.calls == 2  # the two generated batches only
    for name in ("fid_offline", "kid_offline", "precision_offline", "recall_offline"):
        assert second[name] == pytest.approx(first[name], rel=1e-6)


def test_evaluate_generator_grey_uint8_real_tuples_are_accepted():
    rng = np.random.default_rng(4)
    grey = rng.integers(0, 256, size=[40, 8, 8, 1], dtype=np.uint8)
    labelled = [(grey[:20], np.zeros(20)), (grey[20:], np.zeros(20))]
    results = evaluate.evaluate_generator(labelled, _sample_fn(), _ProjectionExtractor(), num_samples=40, batch_size=20,
                                          metrics=("fid",), progress=False)
    assert np.isfinite(results["fid_offline"])


def test_evaluate_generator_too_little_real_data_raises():
    with pytest.raises(ValueError, match="ran out after 120"):
        evaluate.evaluate_generator(_real_batches(), _sample_fn(), _ProjectionExtractor(), num_samples=200, progress=False)


def test_evaluate_generator_unknown_metric_raises():
    with pytest.raises(ValueError, match="unknown metrics"):
        evaluate.evaluate_generator(_real_batches(), _sample_fn(), _ProjectionExtractor(), metrics=("is",), progress=False)
