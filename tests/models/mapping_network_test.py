"""MappingNetwork: PixelNorm then n_mlp equalized dense layers with fused leaky ReLU."""
import math

import keras
import numpy as np

from cips_tf.models.mapping_network import MappingNetwork


def _oracle(z, mapping):
    x = np.asarray(z, np.float64)
    x = x / np.sqrt(np.mean(x ** 2, axis=-1, keepdims=True) + 1e-8)
    lr = mapping.lr_multiplier
    for layer in mapping.dense_layers:
        k = layer.kernel.numpy().astype(np.float64)
        x = x @ (k * lr / math.sqrt(k.shape[0])) + layer.bias.numpy() * lr
        x = np.where(x >= 0, x, 0.2 * x) * math.sqrt(2)
    return x


def test_mapping_network_config_round_trip_equal():
    m = MappingNetwork(style_dim=6, n_mlp=3, lr_multiplier=0.1, name="m")
    clone = MappingNetwork.from_config(m.get_config())
    assert clone.get_config() == m.get_config()


def test_mapping_network_build_weight_count_matches():
    m = MappingNetwork(style_dim=6, n_mlp=3)
    m.build((None, 6))
    assert m.count_params() == 3 * (6 * 6 + 6)


def test_mapping_network_symbolic_call_infers_shape():
    out = MappingNetwork(style_dim=6, n_mlp=2)(keras.Input((6,)))
    assert isinstance(out, keras.KerasTensor) and tuple(out.shape) == (None, 6)


def test_mapping_network_eager_call_matches_numpy_oracle():
    m = MappingNetwork(style_dim=6, n_mlp=3, lr_multiplier=0.01)
    m.build((None, 6))
    rng = np.random.default_rng(0)
    for layer in m.dense_layers:
        layer.bias.assign(rng.standard_normal(6).astype(np.float32) * 10)
    z = rng.standard_normal((4, 6)).astype(np.float32)
    np.testing.assert_allclose(np.asarray(m(z)), _oracle(z, m), atol=1e-5, rtol=1e-5)


def test_mapping_network_keras_save_load_round_trip_equal(tmp_path):
    inputs = keras.Input((6,))
    model = keras.Model(inputs, MappingNetwork(style_dim=6, n_mlp=2)(inputs))
    z = np.random.default_rng(1).standard_normal((3, 6)).astype(np.float32)
    want = np.asarray(model(z))
    model.save(tmp_path / "m.keras")
    np.testing.assert_allclose(np.asarray(keras.saving.load_model(tmp_path / "m.keras")(z)), want, atol=1e-6)
