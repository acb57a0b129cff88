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
