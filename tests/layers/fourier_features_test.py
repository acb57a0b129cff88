"""FourierFeatures: sin(B_fo (x', y') + b), paper eq. 3."""
import math

import keras
import numpy as np
import pytest

import layer_test_utils as utils
from cips_tf.layers.fourier_features import FourierFeatures


def test_fourier_features_config_round_trip_equal():
    assert utils.assert_config_round_trip(FourierFeatures(12, name="f")).units == 12


def test_fourier_features_build_weight_count_matches():
    layer = FourierFeatures(12)
    layer.build((None, 4, 4, 2))
    assert layer.count_params() == 2 * 12 + 12


def test_fourier_features_init_within_official_bounds():
    layer = FourierFeatures(256)
    layer.build((None, 2))
    assert np.abs(layer.kernel.numpy()).max() <= math.sqrt(9 / 2)
    assert np.abs(layer.bias.numpy()).max() <= 1 / math.sqrt(2)


def test_fourier_features_symbolic_call_infers_shape():
    out = FourierFeatures(5)(keras.Input((None, None, 2)))
    assert isinstance(out, keras.KerasTensor) and tuple(out.shape) == (None, None, None, 5)


def test_fourier_features_eager_call_matches_numpy_oracle():
    layer = FourierFeatures(7)
    coords = np.random.default_rng(0).uniform(-1, 1, (2, 3, 4, 2)).astype(np.float32)
    got = np.asarray(layer(coords))
    want = np.sin(coords.astype(np.float64) @ layer.kernel.numpy() + layer.bias.numpy())
    np.testing.assert_allclose(got, want, atol=1e-5)


def test_fourier_features_three_channels_raises():
    with pytest.raises(ValueError, match="2 channels"):
        FourierFeatures(4)(np.zeros((1, 3), np.float32))


def test_fourier_features_keras_save_load_round_trip_equal(tmp_path):
    inputs = keras.Input((None, 2))
    model = keras.Model(inputs, FourierFeatures(6)(inputs))
    coords = np.random.default_rng(1).uniform(-1, 1, (2, 5, 2)).astype(np.float32)
    utils.assert_keras_save_load_round_trip(tmp_path, model, coords)
