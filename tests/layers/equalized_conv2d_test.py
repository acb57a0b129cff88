"""EqualizedConv2D (StyleGAN2 ConvLayer) and blur_kernel_2d."""
import keras
import numpy as np
import pytest

import layer_test_utils as utils
from cips_tf.layers.equalized_conv2d import EqualizedConv2D, blur_kernel_2d


def test_blur_kernel_2d_default_is_normalised_outer_product():
    k = blur_kernel_2d()
    np.testing.assert_allclose(k, np.outer([1, 3, 3, 1], [1, 3, 3, 1]) / 64.0)
    assert k.shape == (4, 4) and abs(k.sum() - 1) < 1e-7


def test_equalized_conv2d_config_round_trip_equal():
    layer = EqualizedConv2D(5, 3, downsample=True, use_bias=False, activate=False, blur_taps=(1, 2, 1), name="c")
    clone = utils.assert_config_round_trip(layer)
    assert (clone.filters, clone.kernel_size, clone.downsample, clone.use_bias, clone.activate, clone.blur_taps) == (
        5, 3, True, False, False, (1, 2, 1))


@pytest.mark.parametrize("use_bias,activate,expected", [(True, True, 3 * 3 * 4 * 5 + 5), (False, False, 3 * 3 * 4 * 5),
                                                         (True, False, 3 * 3 * 4 * 5)])
def test_equalized_conv2d_build_weight_count_matches(use_bias, activate, expected):
    layer = EqualizedConv2D(5, 3, use_bias=use_bias, activate=activate)
    layer.build((None, 8, 8, 4))
    assert layer.count_params() == expected


@pytest.mark.parametrize("downsample,shape", [(False, (None, 8, 8, 5)), (True, (None, 4, 4, 5))])
def test_equalized_conv2d_symbolic_call_infers_shape(downsample, shape):
    out = EqualizedConv2D(5, 3, downsample=downsample)(keras.Input((8, 8, 4)))
    assert isinstance(out, keras.KerasTensor) and tuple(out.shape) == shape


@pytest.mark.parametrize("kernel_size,downsample,activate", [(3, False, True), (1, False, True), (3, True, True),
                                                             (1, True, False)])
def test_equalized_conv2d_eager_call_matches_numpy_oracle(kernel_size, downsample, activate):
    layer = EqualizedConv2D(5, kernel_size, downsample=downsample, activate=activate, use_bias=activate)
    layer.build((None, 8, 8, 4))
    utils.randomize_weights(layer)
    x = np.random.default_rng(0).standard_normal((2, 8, 8, 4)).astype(np.float32)
    np.testing.assert_allclose(np.asarray(layer(x)), utils.equalized_conv2d(x, layer), atol=1e-5)


def test_equalized_conv2d_keras_save_load_round_trip_equal(tmp_path):
    inputs = keras.Input((8, 8, 3))
    layer = EqualizedConv2D(4, 3, downsample=True)
    model = keras.Model(inputs, layer(inputs))
    utils.randomize_weights(layer)
    x = np.random.default_rng(1).standard_normal((2, 8, 8, 3)).astype(np.float32)
    utils.assert_keras_save_load_round_trip(tmp_path, model, x)
