"""Discriminator (StyleGAN2 residual discriminator)."""
import keras
import numpy as np
import pytest

from cips_tf.models.discriminator import Discriminator, official_discriminator_widths


def _x(batch=4, size=16, seed=0):
    return np.random.default_rng(seed).standard_normal((batch, size, size, 3)).astype(np.float32)


def test_discriminator_official_widths_table_matches():
    assert official_discriminator_widths(256) == [128, 256, 512, 512, 512, 512, 512]
    assert official_discriminator_widths(16, channel_multiplier=1) == [512, 512, 512]


def test_discriminator_config_round_trip_equal():
    d = Discriminator(size=16, widths=[8, 12, 6], input_channels=1, stddev_group=2)
    clone = Discriminator.from_config(d.get_config())
    assert clone.get_config() == d.get_config() and clone.count_params() == d.count_params()


def test_discriminator_call_returns_float32_logits():
    out = Discriminator(size=16, widths=[8, 12, 6])(_x())
    assert out.shape == (4, 1) and out.dtype == "float32"


def test_discriminator_symbolic_call_infers_shape():
    out = Discriminator(size=8, widths=[4, 6])(keras.Input((8, 8, 3), batch_size=2))
    assert isinstance(out, keras.KerasTensor) and tuple(out.shape) == (2, 1)


def test_discriminator_keras_save_load_round_trip_equal(tmp_path):
    d = Discriminator(size=16, widths=[8, 12, 6])
    for v in d.weights:
        if "bias" in v.path:
            v.assign(np.full(v.shape, 0.1, np.float32))
    x = _x()
    want = np.asarray(d(x))
    d.save(tmp_path / "d.keras")
    loaded = keras.saving.load_model(tmp_path / "d.keras")
    np.testing.assert_allclose(np.asarray(loaded(x)), want, atol=1e-6)


def test_discriminator_minibatch_groups_interleave_samples():
    d = Discriminator(size=8, widths=[4, 6])
    x = _x(batch=4, size=8)
    out = np.asarray(d(x))
    # Groups are {i, i + B/g}: with B = 4 and g = 4 all share one group, so any permutation keeps logits
    # aligned with their images.
    perm = [2, 0, 3, 1]
    np.testing.assert_allclose(np.asarray(d(x[perm])), out[perm], atol=1e-5)


@pytest.mark.parametrize("kwargs,match", [(dict(size=12), "power of two"), (dict(size=16, widths=[8, 8]), "widths"),
                                          (dict(size=2048), "1024")])
def test_discriminator_bad_arguments_raise(kwargs, match):
    with pytest.raises(ValueError, match=match):
        Discriminator(**kwargs)


# Non-square inputs (training at H x W): the same blocks down to 4 x 4k, a wider first dense layer.


def test_discriminator_non_square_32x64_reduces_to_4x8_and_widens_dense():
    widths = [8, 8, 8, 8]
    square = Discriminator(size=32, widths=widths)
    wide = Discriminator(size=32, widths=widths, height=32, width=64)
    assert wide.final_shape == (4, 8) and square.final_shape == (4, 4)
    assert tuple(wide.final_dense.kernel.shape) == (8 * 4 * 8, 8)
    # Only the first dense layer grows: 8 channels x 16 more final pixels, times its 8 units.
    assert wide.count_params() - square.count_params() == 8 * 16 * 8
    out = wide(np.random.default_rng(0).normal(size=(4, 32, 64, 3)).astype(np.float32))
    assert out.shape == (4, 1) and np.all(np.isfinite(np.asarray(out)))
    tall = Discriminator(size=32, widths=widths, height=64, width=32)
    assert tall.final_shape == (8, 4) and tall(np.zeros((4, 64, 32, 3), np.float32)).shape == (4, 1)
    clone = Discriminator.from_config(wide.get_config())
    assert (clone.height, clone.width) == (32, 64)
    assert "height" not in square.get_config()  # square configs unchanged


def test_discriminator_non_square_flatten_is_official_nchw_order():
    """The dense layer sees the final [4, 8, C] map flattened channel-major (NCHW), like the square D."""
    d = Discriminator(size=16, widths=[4, 4, 4], height=16, width=32)
    x = np.random.default_rng(1).normal(size=(4, 16, 32, 3)).astype(np.float32)
    feat = d.from_rgb(x)
    for block in d.blocks:
        feat = block(feat)
    feat = np.asarray(d.final_conv(d.stddev(feat)))  # [4, 4, 8, 4]
    flat = feat.transpose(0, 3, 1, 2).reshape(4, -1)
    want = np.asarray(d.final_out(d.final_dense(flat)))
    np.testing.assert_allclose(np.asarray(d(x)), want, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("height, width", [(32, 36), (24, 32), (30, 60)])
def test_discriminator_non_square_sizes_it_cannot_reduce_raise(height, width):
    with pytest.raises(ValueError, match="size / 4"):
        Discriminator(size=32, widths=[8, 8, 8, 8], height=height, width=width)
