"""StyledResBlock: (ModFC(ModFC(x)) + skip(x)) / sqrt 2."""
import math

import keras
import numpy as np
import pytest

import layer_test_utils as utils
from cips_tf.layers.styled_res_block import StyledResBlock


def _block(units, fan_in, style_dim=4, seed=0):
    block = StyledResBlock(units)
    block.build((None, None, fan_in), (None, style_dim))
    utils.randomize_weights(block, seed)
    return block


def _oracle(block, x, s, s2=None):
    out = utils.modulated_dense(x, s, block.conv1)
    out = utils.modulated_dense(out, s if s2 is None else s2, block.conv2)
    skip = x if block.skip is None else utils.equalized_dense(x, block.skip.kernel.numpy(), None)
    return (out + skip) / math.sqrt(2)


def test_styled_res_block_config_round_trip_equal():
    clone = utils.assert_config_round_trip(StyledResBlock(8, activation="sin", name="r"))
    assert (clone.units, clone.activation) == (8, "sin")


@pytest.mark.parametrize("fan_in,has_skip", [(6, False), (5, True)])
def test_styled_res_block_build_weight_count_matches(fan_in, has_skip):
    block = StyledResBlock(6)
    block.build((None, None, fan_in), (None, 4))
    conv1 = fan_in * 6 + 4 * fan_in + fan_in + 6 + 1
    conv2 = 6 * 6 + 4 * 6 + 6 + 6 + 1
    assert block.count_params() == conv1 + conv2 + (fan_in * 6 if has_skip else 0)
    assert (block.skip is not None) == has_skip


def test_styled_res_block_symbolic_call_infers_shape():
    x = keras.Input((None, 5))
    s = keras.Input((4,))
    out = StyledResBlock(7)(x, s, randomize_noise=False)
    assert isinstance(out, keras.KerasTensor) and tuple(out.shape) == (None, None, 7)


@pytest.mark.parametrize("fan_in", [6, 5])
def test_styled_res_block_eager_call_matches_numpy_oracle(fan_in):
    block = _block(6, fan_in)
    x, s = utils.styled_inputs(fan_in)
    np.testing.assert_allclose(np.asarray(block(x, s, randomize_noise=False)), _oracle(block, x, s), atol=1e-5)


def test_styled_res_block_style_pair_uses_one_style_per_layer():
    block = _block(6, 5)
    x, s = utils.styled_inputs(5)
    s2 = -s
    got = np.asarray(block(x, (s, s2), randomize_noise=False))
    np.testing.assert_allclose(got, _oracle(block, x, s, s2), atol=1e-5)


def test_styled_res_block_keras_save_load_round_trip_equal(tmp_path):
    x = keras.Input((None, 5))
    s = keras.Input((4,))
    block = StyledResBlock(6)
    model = keras.Model([x, s], block(x, s, randomize_noise=False))
    utils.randomize_weights(block)
    utils.assert_keras_save_load_round_trip(tmp_path, model, list(utils.styled_inputs(5)))
