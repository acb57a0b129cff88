"""EqualizedDense: StyleGAN's equalized-learning-rate dense layer."""
import keras
import numpy as np
import pytest

import layer_test_utils as utils
from cips_tf.layers.equalized_dense import EqualizedDense


def test_equalized_dense_config_round_trip_equal():
    layer = EqualizedDense(7, lr_multiplier=0.01, use_bias=True, bias_init=1.0, activation="lrelu", name="d")
    clone = utils.assert_config_round_trip(layer)
    assert (clone.units, clone.lr_multiplier, clone.bias_init, clone.activation) == (7, 0.01, 1.0, "lrelu")


@pytest.mark.parametrize("use_bias,expected", [(True, 5 * 7 + 7), (False, 5 * 7)])
def test_equalized_dense_build_weight_count_matches(use_bias, expected):
    layer = EqualizedDense(7, use_bias=use_bias)
    layer.build((None, 5))
    assert layer.count_params() == expected
    assert tuple(layer.kernel.shape) == (5, 7)


def test_equalized_dense_init_runtime_bias_equals_bias_init():
    layer = EqualizedDense(4, lr_multiplier=0.01, bias_init=1.0)
    out = layer(np.zeros((2, 3), np.float32))
    np.testing.assert_allclose(np.asarray(out), np.ones((2, 4)), atol=1e-6)


def test_equalized_dense_symbolic_call_infers_shape():
    out = EqualizedDense(6)(keras.Input((4, 5)))
    assert isinstance(out, keras.KerasTensor) and tuple(out.shape) == (None, 4, 6)


@pytest.mark.parametrize("activation,lr", [("linear", 1.0), ("lrelu", 0.01), ("sin", 0.5)])
def test_equalized_dense_eager_call_matches_numpy_oracle(activation, lr):
    layer = EqualizedDense(6, lr_multiplier=lr, activation=activation)
    layer.build((None, 5))
    utils.randomize_weights(layer)
    x = np.random.default_rng(1).standard_normal((3, 5)).astype(np.float32)
    want = utils.equalized_dense(x, layer.kernel.numpy(), layer.bias.numpy(), lr, activation)
    np.testing.assert_allclose(np.asarray(layer(x)), want, atol=1e-5)


def test_equalized_dense_bad_activation_raises():
    with pytest.raises(ValueError, match="activation"):
        EqualizedDense(3, activation="relu")


def test_equalized_dense_keras_save_load_round_trip_equal(tmp_path):
    inputs = keras.Input((5,))
    layer = EqualizedDense(4, lr_multiplier=0.01, activation="lrelu")
    model = keras.Model(inputs, layer(inputs))
    utils.randomize_weights(layer)
    utils.assert_keras_save_load_round_trip(tmp_path, model, np.ones((2, 5), np.float32))
