"""Residual block of two ModFC layers (CIPS-res; official `StyledResBlock` with 1x1 kernels)."""
import math

import keras

from cips_tf.layers.equalized_dense import EqualizedDense
from cips_tf.layers.modulated_dense import ModulatedDense


@keras.saving.register_keras_serializable(package="cips_tf")
class StyledResBlock(keras.layers.Layer):
    """`(ModFC(ModFC(x)) + skip(x)) / sqrt(2)`, as StyleGAN2 adjusts the variance of residual blocks.

    The skip is the identity when the widths agree, else an equalized 1x1 projection without bias.

    Args:
        units: output width.
        activation: activation of both ModFC layers ("lrelu" or "sin").

    Call arguments:
        inputs: `[B, ..., in]`.
        style: `[B, S]`, `[B, ..., S]`, or a pair of those (one per ModFC layer).
        noise: optional pair of noise tensors (or None).
        randomize_noise: see `ModulatedDense`.

    Example:
        >>> StyledResBlock(8)(keras.ops.ones((1, 4, 8)), keras.ops.ones((1, 3))).shape
        (1, 4, 8)
    """

    num_styles = 2
    num_noise = 2

    def __init__(self, units, activation="lrelu", **kwargs):
        super().__init__(**kwargs)
        self.units = int(units)
        self.activation = activation
        self.conv1 = ModulatedDense(self.units, activation=activation, name="conv1", dtype=self.dtype_policy)
        self.conv2 = ModulatedDense(self.units, activation=activation, name="conv2", dtype=self.dtype_policy)
        self.skip = None

    def build(self, inputs_shape, style_shape, noise_shape=None):
        if isinstance(style_shape, (list, tuple)) and style_shape and isinstance(style_shape[0], (list, tuple)):
            style_shape = style_shape[0]
        fan_in = int(inputs_shape[-1])
        self.conv1.build(inputs_shape, style_shape)
        self.conv2.build(tuple(inputs_shape[:-1]) + (self.units,), style_shape)
        if fan_in != self.units:
            self.skip = EqualizedDense(self.units, use_bias=False, name="skip", dtype=self.dtype_policy)
            self.skip.build(inputs_shape)

    def call(self, inputs, style, noise=None, randomize_noise=True):
        styles = style if isinstance(style, (list, tuple)) else (style, style)
        noises = noise if noise is not None else (None, None)
        out = self.conv1(inputs, styles[0], noise=noises[0], randomize_noise=randomize_noise)
        out = self.conv2(out, styles[1], noise=noises[1], randomize_noise=randomize_noise)
        skip = inputs if self.skip is None else self.skip(inputs)
        return (out + skip) * (1.0 / math.sqrt(2.0))

    def compute_output_shape(self, inputs_shape, style_shape=None, noise_shape=None):
        return tuple(inputs_shape[:-1]) + (self.units,)

    def get_config(self):
        config = super().get_config()
        config.update(units=self.units, activation=self.activation)
        return config
