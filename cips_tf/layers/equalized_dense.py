"""Equalized-learning-rate dense layer (StyleGAN's `EqualLinear`)."""
import math

import keras
from keras import ops

from cips_tf.layers.activations import apply_activation, check_activation


@keras.saving.register_keras_serializable(package="cips_tf")
class EqualizedDense(keras.layers.Layer):
    """Dense layer with the equalized learning rate of Karras et al. (StyleGAN / StyleGAN2).

    The stored kernel is drawn from N(0, 1 / lr_multiplier^2) and scaled at run time by
    `lr_multiplier / sqrt(fan_in)`; the stored bias is scaled by `lr_multiplier`. This is the
    official parameterisation, so official `EqualLinear` weights load unchanged (transposed).

        y = act(x @ (W * lr_multiplier / sqrt(fan_in)) + b * lr_multiplier)

    Args:
        units: output width.
        lr_multiplier: learning-rate multiplier (0.01 in the mapping network).
        use_bias: whether to add a bias.
        bias_init: initial value of the (run-time) bias.
        activation: "linear" or "lrelu" (fused leaky ReLU, slope 0.2, gain sqrt 2).

    Call arguments:
        inputs: `[..., fan_in]` tensor.

    Example:
        >>> layer = EqualizedDense(8, lr_multiplier=0.01, activation="lrelu")
        >>> layer(keras.ops.ones((2, 4))).shape
        (2, 8)
    """

    def __init__(self, units, lr_multiplier=1.0, use_bias=True, bias_init=0.0, activation="linear", **kwargs):
        super().__init__(**kwargs)
        self.units = int(units)
        self.lr_multiplier = float(lr_multiplier)
        self.use_bias = bool(use_bias)
        self.bias_init = float(bias_init)
        self.activation = check_activation(activation, type(self).__name__)

    def build(self, inputs_shape):
        fan_in = int(inputs_shape[-1])
        self.kernel = self.add_weight(
            name="kernel",
            shape=(fan_in, self.units),
            initializer=keras.initializers.RandomNormal(stddev=1.0 / self.lr_multiplier),
        )
        self.bias = None
        if self.use_bias:
            self.bias = self.add_weight(
                name="bias",
                shape=(self.units,),
                initializer=keras.initializers.Constant(self.bias_init / self.lr_multiplier),
            )
        self.weight_gain = self.lr_multiplier / math.sqrt(fan_in)

    def call(self, inputs):
        x = ops.matmul(inputs, ops.cast(self.kernel, self.compute_dtype) * self.weight_gain)  # [..., units]
        bias = None if self.bias is None else ops.cast(self.bias, self.compute_dtype) * self.lr_multiplier
        return apply_activation(x, self.activation, bias)

    def compute_output_shape(self, inputs_shape):
        return tuple(inputs_shape[:-1]) + (self.units,)

    def get_config(self):
        config = super().get_config()
        config.update(
            units=self.units,
            lr_multiplier=self.lr_multiplier,
            use_bias=self.use_bias,
            bias_init=self.bias_init,
            activation=self.activation,
        )
        return config
