"""StyledBlock: two ModFC layers and, for CIPS-skips, a ToRGB summed into the skip output."""
import keras
import numpy as np
import pytest

import layer_test_utils as utils
from cips_tf.layers.styled_block import StyledBlock


def _block(units, fan_in, to_rgb=True, style_dim=4, seed=0):
    block = StyledBlock(units, to_rgb=to_rgb)
    block.build((None, None, fan_in), (None, style_dim))
    utils.randomize_weights(block, seed)
    return block


def test_styled_block_config_round_trip_equal():
    clone = utils.assert_config_round_trip(StyledBlock(8, activation="sin", to_rgb=False, name="b"))
    assert (clone.units, clone.activation, clone.to_rgb) == (8, "sin", False)


@pytest.mark.parametrize("to_rgb", [True, False])
def test_styled_block_build_weight_count_and_styles_match(to_rgb):
    block = StyledBlock(6, to_rgb=to_rgb)
    block.build((None, None, 5), (None, 4))
    conv1 = 5 * 6 + 4 * 5 + 5 + 6 + 1
    conv2 = 6 * 6 + 4 * 6 + 6 + 6 + 1
    rgb = 6 * 3 + 4 * 6 + 6 + 3
    assert block.count_params() == conv1 + conv2 + (rgb if to_rgb else 0)
    assert (block.num_styles, block.num_noise) == (3 if to_rgb else 2, 2)


def test_styled_block_symbolic_call_infers_shapes():
    x, rgb = StyledBlock(7)(keras.Input((None, 5)), keras.Input((4,)), randomize_noise=False)
    assert tuple(x.shape) == (None, None, 7) and tuple(rgb.shape) == (None, None, 3)


@pytest.mark.parametrize("to_rgb", [True, False])
def test_styled_block_eager_call_matches_numpy_oracle(to_rgb):
    block = _block(6, 5, to_rgb=to_rgb)
    x, s = utils.styled_inputs(5)
    skip = np.random.default_rng(2).standard_normal((2, 5, 3)).astype(np.float32)
    out, rgb = block(x, [s, -s, 2 * s], randomize_noise=False, rgb=skip)
    want = utils.modulated_dense(utils.modulated_dense(x, s, block.conv1), -s, block.conv2)
    np.testing.assert_allclose(np.asarray(out), want, atol=1e-5)
    want_rgb = utils.modulated_dense(want, 2 * s, block.rgb) + skip if to_rgb else skip
    np.testing.assert_allclose(np.asarray(rgb), want_rgb, atol=1e-5)


def test_styled_block_keras_save_load_round_trip_equal(tmp_path):
    x = keras.Input((None, 5))
    s = keras.Input((4,))
    block = StyledBlock(6)
    model = keras.Model([x, s], block(x, s, randomize_noise=False)[1])  # rgb depends on every layer
    utils.randomize_weights(block)
    utils.assert_keras_save_load_round_trip(tmp_path, model, list(utils.styled_inputs(5)))
