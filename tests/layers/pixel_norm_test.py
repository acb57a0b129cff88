"""PixelNorm: unit root-mean-square normalisation of latent vectors."""
import keras
import numpy as np

import layer_test_utils as utils
from cips_tf.layers.pixel_norm import PixelNorm


def test_pixel_norm_config_round_trip_equal():
    clone = utils.assert_config_round_trip(PixelNorm(axis=1, epsilon=1e-6))
    assert (clone.axis, clone.epsilon) == (1, 1e-6)


def test_pixel_norm_build_has_no_weights():
    layer = PixelNorm()
    layer.build((None, 8))
    assert layer.count_params() == 0


def test_pixel_norm_symbolic_call_keeps_shape():
    out = PixelNorm()(keras.Input((3, 8)))
    assert isinstance(out, keras.KerasTensor) and tuple(out.shape) == (None, 3, 8)


def test_pixel_norm_eager_call_matches_numpy_oracle():
    x = np.random.default_rng(0).standard_normal((4, 9)).astype(np.float32) * 3
    want = x / np.sqrt(np.mean(x.astype(np.float64) ** 2, axis=-1, keepdims=True) + 1e-8)
    got = np.asarray(PixelNorm()(x))
    np.testing.assert_allclose(got, want, atol=1e-5)
    np.testing.assert_allclose(np.mean(got ** 2, axis=-1), 1.0, atol=1e-5)


def test_pixel_norm_zero_input_stays_finite():
    assert np.all(np.isfinite(np.asarray(PixelNorm()(np.zeros((2, 4), np.float32)))))


def test_pixel_norm_keras_save_load_round_trip_equal(tmp_path):
    inputs = keras.Input((6,))
    model = keras.Model(inputs, PixelNorm()(inputs))
    utils.assert_keras_save_load_round_trip(tmp_path, model, np.arange(12, dtype=np.float32).reshape(2, 6))
