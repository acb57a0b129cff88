"""Tests of cips_tf/synthesis/projection.py: schedules, penalties, and projections with a known answer."""
import math

import keras
import numpy as np
import pytest
import tensorflow as tf

from cips_tf import latents, rendering
from cips_tf.metrics.feature_extractor import build_classifier
from cips_tf.models.discriminator import Discriminator
from cips_tf.models.generator import CIPSGenerator
from cips_tf.synthesis import projection
from tiny_models import TINY, TINY_SIZE


@pytest.fixture(scope="module")
def tiny():
    keras.utils.set_random_seed(0)
    g = CIPSGenerator(size=TINY_SIZE, **TINY)
    w_avg, w_std = projection.w_statistics(g, 2000)
    target = rendering.render(g, latents.styles_from_seeds(g, [3]))  # a render with a known latent
    return g, w_avg, w_std, target


def test_learning_rate_at_follows_the_stylegan2_ramps():
    n = 1000
    assert projection.learning_rate_at(0, n) == 0.0
    assert projection.learning_rate_at(25, n) == pytest.approx(0.05)  # linear ramp-up over 5%
    assert projection.learning_rate_at(400, n) == pytest.approx(0.1)  # plateau
    want = 0.1 * (0.5 - 0.5 * math.cos(min(1.0, 0.1 / 0.25) * math.pi))  # cosine ramp-down, t = 0.9
    assert projection.learning_rate_at(900, n) == pytest.approx(want)
    assert projection.learning_rate_at(999, n) < 1e-3


def test_latent_noise_scale_decays_quadratically_to_zero():
    assert projection.latent_noise_scale(0, 100, 2.0) == pytest.approx(0.1)
    assert projection.latent_noise_scale(375, 1000, 2.0) == pytest.approx(0.1 * 0.25)
    assert projection.latent_noise_scale(750, 1000, 2.0) == 0.0
    assert projection.latent_noise_scale(900, 1000, 2.0) == 0.0


def test_w_statistics_match_numpy(tiny):
    g = tiny[0]
    rng = np.random.RandomState(0)
    w = g.mapping(tf.constant(rng.randn(500, g.style_dim).astype(np.float32))).numpy().astype(np.float64)
    w_avg, w_std = projection.w_statistics(g, 500, batch_size=128)
    np.testing.assert_allclose(w_avg, w.mean(0), rtol=1e-5, atol=1e-6)
    assert w_std == pytest.approx(np.sqrt(((w - w.mean(0)) ** 2).sum() / 500), rel=1e-6)


def test_noise_regularization_penalizes_correlated_noise_only():
    rng = np.random.RandomState(0)
    white = tf.constant(rng.randn(2, 32, 32, 1).astype(np.float32))
    smooth = tf.constant(np.cumsum(rng.randn(2, 32, 32, 1), axis=2).astype(np.float32))
    smooth = (smooth - tf.reduce_mean(smooth)) / tf.math.reduce_std(smooth)
    assert float(projection.noise_regularization([white])) < 0.02
    assert float(projection.noise_regularization([smooth])) > 0.5
    # one scale of a 8x8 map: (mean x * roll_x(x))^2 + (mean x * roll_y(x))^2, summed over the batch
    x = rng.randn(3, 8, 8, 1)
    want = sum(np.mean(x[i] * np.roll(x[i], 1, axis=1)) ** 2 + np.mean(x[i] * np.roll(x[i], 1, axis=0)) ** 2
               for i in range(3))
    assert float(projection.noise_regularization([tf.constant(x, tf.float32)])) == pytest.approx(want, rel=1e-5)


def test_perceptual_distance_is_zero_for_equal_and_scale_invariant():
    rng = np.random.RandomState(1)
    a = [tf.constant(rng.randn(2, 4, 4, 8).astype(np.float32))]
    b = [tf.constant(rng.randn(2, 4, 4, 8).astype(np.float32))]
    np.testing.assert_allclose(projection.perceptual_distance(a, a).numpy(), 0.0, atol=1e-6)
    np.testing.assert_allclose(projection.perceptual_distance(a, [3.0 * a[0]]).numpy(), 0.0, atol=1e-5)
    assert np.all(projection.perceptual_distance(a, b).numpy() > 0.5)


def test_project_generated_target_beats_w_avg_by_a_wide_margin(tiny):
    g, w_avg, w_std, target = tiny
    result = projection.project(g, target, num_steps=150, w_avg=w_avg, w_std=w_std, log_every=0)
    baseline = projection.psnr(target, rendering.render(g, w_avg[None]))[0]
    got = projection.psnr(target, result.images)[0]
    assert got > baseline + 25.0, (got, baseline)
    assert result.w.shape == (1, g.style_dim)
    # the reconstruction is what the chunked renderer draws from the returned w
    np.testing.assert_allclose(rendering.render(g, result.w), result.images, atol=1e-5)
    steps = [s for s, _ in result.snapshots]
    assert steps[0] == 0 and steps[-1] == 150 and steps == sorted(steps)
    assert len(result.history) == 150 and result.history[-1]["lr"] < 1e-3


def test_project_w_plus_with_discriminator_features(tiny):
    g, w_avg, w_std, target = tiny
    d = Discriminator(size=TINY_SIZE, widths=[32, 32, 32])
    feats = projection.discriminator_features(d)
    assert [f.shape[1] for f in feats(tf.constant(target))] == [16, 8, 4]  # from-RGB + every block
    result = projection.project(g, target, num_steps=60, space="w+", w_avg=w_avg, w_std=w_std, features=feats,
                                log_every=0)
    assert result.w.shape == (1, g.num_ws, g.style_dim) and result.per_layer
    np.testing.assert_allclose(rendering.render(g, result.w, per_layer=True), result.images, atol=1e-5)
    baseline = projection.psnr(target, rendering.render(g, w_avg[None]))[0]
    assert projection.psnr(target, result.images)[0] > baseline + 5.0


def test_project_with_noise_keeps_noise_normalized(tiny):
    g, w_avg, w_std, target = tiny
    result = projection.project(g, target, num_steps=20, optimize_noise=True, w_avg=w_avg, w_std=w_std, log_every=0)
    assert len(result.noise) == g.num_noise
    for n in result.noise:
        assert n.shape == (1, TINY_SIZE, TINY_SIZE, 1)
        assert abs(n.mean()) < 1e-4 and n.std() == pytest.approx(1.0, abs=1e-3)


def test_keras_features_taps_the_offline_extractor_convolutions():
    model = build_classifier()
    feats = projection.keras_features(model)
    out = feats(tf.zeros([2, 16, 16, 3]))
    assert [tuple(o.shape) for o in out] == [(2, 28, 28, 32), (2, 28, 28, 32), (2, 14, 14, 64), (2, 14, 14, 64)]


def test_project_rejects_targets_of_the_wrong_size(tiny):
    g = tiny[0]
    with pytest.raises(ValueError, match=r"\[B, 16, 16, 3\]"):
        projection.project(g, np.zeros([1, 8, 8, 3], np.float32), num_steps=1, w_avg=tiny[1], w_std=1.0)
    with pytest.raises(ValueError, match="space"):
        projection.project(g, tiny[3], num_steps=1, space="z", w_avg=tiny[1], w_std=1.0)


def test_keras_features_of_a_model_without_convolutions_uses_spatial_layers():
    import keras as k

    inputs = k.Input((8, 8, 3))
    x = k.layers.AveragePooling2D(2, name="pool")(inputs)
    model = k.Model(inputs, k.layers.Flatten(name="flat")(x))
    out = projection.keras_features(model)(tf.ones([1, 8, 8, 3]))
    assert len(out) == 1 and tuple(out[0].shape) == (1, 4, 4, 3)
