"""ModulatedDense (ModFC, paper eq. 2)."""
import keras
import numpy as np
import pytest

import layer_test_utils as utils
from cips_tf.layers.modulated_dense import ModulatedDense


def _layer(units=6, fan_in=5, style_dim=4, seed=0, **kwargs):
    layer = ModulatedDense(units, **kwargs)
    layer.build((None, None, fan_in), (None, style_dim))
    utils.randomize_weights(layer, seed)
    return layer


def _inputs(batch=3, n=7, fan_in=5, style_dim=4, seed=1):
    rng = np.random.default_rng(seed)
    return (rng.standard_normal((batch, n, fan_in)).astype(np.float32),
            rng.standard_normal((batch, style_dim)).astype(np.float32))


def test_modulated_dense_config_round_trip_equal():
    layer = ModulatedDense(6, demodulate=False, use_noise=False, activation="linear", epsilon=1e-6, name="m")
    clone = utils.assert_config_round_trip(layer)
    assert (clone.units, clone.demodulate, clone.use_noise, clone.activation, clone.epsilon) == (
        6, False, False, "linear", 1e-6)


@pytest.mark.parametrize("use_noise", [True, False])
def test_modulated_dense_build_weight_count_matches(use_noise):
    layer = ModulatedDense(6, use_noise=use_noise)
    layer.build((None, None, 5), (None, 4))
    # kernel in*out, modulation (style*in + in), bias out, noise strength 1
    assert layer.count_params() == 5 * 6 + (4 * 5 + 5) + 6 + int(use_noise)


def test_modulated_dense_init_modulation_bias_is_one_noise_zero():
    layer = ModulatedDense(3)
    layer.build((None, None, 5), (None, 4))
    np.testing.assert_array_equal(layer.modulation.bias.numpy(), np.ones(5))
    assert float(layer.noise_strength.numpy()) == 0.0


def test_modulated_dense_symbolic_call_infers_shape():
    x = keras.Input((None, 5))
    s = keras.Input((4,))
    out = ModulatedDense(6)(x, s, randomize_noise=False)
    assert isinstance(out, keras.KerasTensor) and tuple(out.shape) == (None, None, 6)


@pytest.mark.parametrize("demodulate,activation", [(True, "lrelu"), (False, "linear"), (True, "sin")])
def test_modulated_dense_eager_call_matches_numpy_oracle(demodulate, activation):
    layer = _layer(demodulate=demodulate, activation=activation, use_noise=False)
    x, s = _inputs()
    np.testing.assert_allclose(np.asarray(layer(x, s)), utils.modulated_dense(x, s, layer), atol=1e-5)


def test_modulated_dense_explicit_noise_matches_numpy_oracle():
    layer = _layer()
    x, s = _inputs()
    noise = np.random.default_rng(2).standard_normal((3, 7, 1)).astype(np.float32)
    got = np.asarray(layer(x, s, noise=noise))
    np.testing.assert_allclose(got, utils.modulated_dense(x, s, layer, noise=noise), atol=1e-5)


def test_modulated_dense_randomize_noise_false_adds_no_noise():
    layer = _layer()
    x, s = _inputs()
    a = np.asarray(layer(x, s, randomize_noise=False))
    np.testing.assert_allclose(a, utils.modulated_dense(x, s, layer), atol=1e-5)
    b = np.asarray(layer(x, s, randomize_noise=True))
    assert np.abs(a - b).max() > 1e-4  # noise_strength != 0: fresh noise changes the output


def test_modulated_dense_image_shaped_inputs_match_flat():
    layer = _layer(use_noise=False)
    rng = np.random.default_rng(3)
    x = rng.standard_normal((2, 3, 4, 5)).astype(np.float32)
    s = rng.standard_normal((2, 4)).astype(np.float32)
    got = np.asarray(layer(x, s))
    flat = np.asarray(layer(x.reshape(2, 12, 5), s)).reshape(2, 3, 4, 6)
    np.testing.assert_allclose(got, flat, atol=1e-6)


@pytest.mark.parametrize("demodulate", [True, False])
def test_modulated_dense_per_pixel_constant_style_equals_per_sample(demodulate):
    layer = _layer(demodulate=demodulate, use_noise=False)
    x, s = _inputs()
    per_pixel = np.broadcast_to(s[:, None, :], (3, 7, 4)).copy()
    np.testing.assert_allclose(np.asarray(layer(x, per_pixel)), np.asarray(layer(x, s)), atol=1e-5)


def test_modulated_dense_per_pixel_styles_match_pixelwise_per_sample():
    layer = _layer(use_noise=False)
    x, _ = _inputs()
    styles = np.random.default_rng(4).standard_normal((3, 7, 4)).astype(np.float32)
    got = np.asarray(layer(x, styles))
    for n in range(7):  # pixel n rendered alone with its own style as a per-sample style
        np.testing.assert_allclose(got[:, n], np.asarray(layer(x[:, n:n + 1], styles[:, n]))[:, 0], atol=1e-5)


def test_modulated_dense_demodulation_gives_unit_norm_kernel_columns():
    fan_in = 5
    layer = _layer(units=6, fan_in=fan_in, demodulate=True, activation="linear", use_noise=False)
    layer.bias.assign(np.zeros(6, np.float32))
    style = np.random.default_rng(5).standard_normal((2, 4)).astype(np.float32)
    eye = np.broadcast_to(np.eye(fan_in, dtype=np.float32), (2, fan_in, fan_in))
    kernel = np.asarray(layer(eye, style))  # rows of the identity read out the per-sample kernel [B, in, out]
    np.testing.assert_allclose(np.sum(kernel.astype(np.float64) ** 2, axis=1), 1.0, atol=1e-5)


def test_modulated_dense_bad_activation_raises():
    with pytest.raises(ValueError, match="activation"):
        ModulatedDense(3, activation="tanh")


def test_modulated_dense_keras_save_load_round_trip_equal(tmp_path):
    x = keras.Input((None, 5))
    s = keras.Input((4,))
    layer = ModulatedDense(6)
    model = keras.Model([x, s], layer(x, s, randomize_noise=False))
    utils.randomize_weights(layer)
    utils.assert_keras_save_load_round_trip(tmp_path, model, list(_inputs()))
