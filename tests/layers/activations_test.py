"""Activation helpers: fused leaky ReLU and apply_activation."""
import math

import numpy as np
import pytest

from cips_tf.layers import activations


def test_fused_leaky_relu_with_bias_matches_numpy_oracle():
    x = np.linspace(-3, 3, 13, dtype=np.float32).reshape(13, 1) * np.ones((1, 2), np.float32)
    bias = np.array([0.5, -1.0], np.float32)
    y = x + bias
    want = np.where(y >= 0, y, 0.2 * y) * math.sqrt(2)
    np.testing.assert_allclose(np.asarray(activations.fused_leaky_relu(x, bias)), want, atol=1e-6)


@pytest.mark.parametrize("name,fn", [("sin", np.sin), ("linear", lambda v: v)])
def test_apply_activation_adds_bias_then_activates(name, fn):
    x = np.linspace(-2, 2, 5, dtype=np.float32)
    np.testing.assert_allclose(np.asarray(activations.apply_activation(x, name, 0.3)), fn(x + 0.3), atol=1e-6)


def test_check_activation_unknown_name_raises_naming_caller():
    with pytest.raises(ValueError, match="Where: activation"):
        activations.check_activation("gelu", "Where")
