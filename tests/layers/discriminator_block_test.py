"""DiscriminatorBlock (StyleGAN2 ResBlock)."""
import math

import keras
import numpy as np

import layer_test_utils as utils
from cips_tf.layers.discriminator_block import DiscriminatorBlock


def _block(filters=6, channels=4, seed=0):
    block = DiscriminatorBlock(filters)
    block.build((None, 8, 8, channels))
    utils.randomize_weights(block, seed)
    return block


def test_discriminator_block_config_round_trip_equal():
    assert utils.assert_config_round_trip(DiscriminatorBlock(6, name="b")).filters == 6


def test_discriminator_block_build_weight_count_matches():
    block = DiscriminatorBlock(6)
    block.build((None, 8, 8, 4))
    conv1 = 3 * 3 * 4 * 4 + 4
    conv2 = 3 * 3 * 4 * 6 + 6
    skip = 4 * 6
    assert block.count_params() == conv1 + conv2 + skip


def test_discriminator_block_symbolic_call_halves_resolution():
    out = DiscriminatorBlock(6)(keras.Input((8, 8, 4)))
    assert isinstance(out, keras.KerasTensor) and tuple(out.shape) == (None, 4, 4, 6)


def test_discriminator_block_eager_call_matches_numpy_oracle():
    block = _block()
    x = np.random.default_rng(1).standard_normal((2, 8, 8, 4)).astype(np.float32)
    out = utils.equalized_conv2d(utils.equalized_conv2d(x, block.conv1), block.conv2)
    want = (out + utils.equalized_conv2d(x, block.skip)) / math.sqrt(2)
    np.testing.assert_allclose(np.asarray(block(x)), want, atol=1e-5)


def test_discriminator_block_keras_save_load_round_trip_equal(tmp_path):
    inputs = keras.Input((8, 8, 4))
    block = DiscriminatorBlock(6)
    model = keras.Model(inputs, block(inputs))
    utils.randomize_weights(block)
    x = np.random.default_rng(2).standard_normal((2, 8, 8, 4)).astype(np.float32)
    utils.assert_keras_save_load_round_trip(tmp_path, model, x)
