"""Activation helpers shared by the CIPS layers (not layers themselves)."""
import math

from keras import ops

LRELU_SLOPE = 0.2
LRELU_GAIN = math.sqrt(2.0)
ACTIVATIONS = ("lrelu", "sin", "linear")


def check_activation(name, where):
    if name not in ACTIVATIONS:
        raise ValueError(f"{where}: activation must be one of {ACTIVATIONS}, got {name!r}")
    return name


def fused_leaky_relu(x, bias=None):
    """StyleGAN2's fused leaky ReLU: `leaky_relu(x + bias, 0.2) * sqrt(2)`."""
    if bias is not None:
        x = x + bias
    return ops.leaky_relu(x, negative_slope=LRELU_SLOPE) * LRELU_GAIN


def apply_activation(x, name, bias=None):
    """Adds `bias` (if any) then applies `name` in {"lrelu" (fused, gain sqrt 2), "sin", "linear"}."""
    if name == "lrelu":
        return fused_leaky_relu(x, bias)
    if bias is not None:
        x = x + bias
    if name == "sin":
        return ops.sin(x)
    return x
