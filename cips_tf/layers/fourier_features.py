"""Learned Fourier features of pixel coordinates (paper eq. 3; official `LFF`)."""
import math

import keras
from keras import ops


@keras.saving.register_keras_serializable(package="cips_tf")
class FourierFeatures(keras.layers.Layer):
    """`e_fo(x, y) = sin(B_fo (x', y')^T + b)` with learned `B_fo` (2 x units) and bias.

    Initialisation follows the official code (a 1x1 conv with SIREN's first-layer init): weights
    uniform in `+-sqrt(9 / 2)`, bias uniform in `+-1 / sqrt(2)` (PyTorch's conv default).

    Args:
        units: number of Fourier features (the paper's hidden size, 512).

    Call arguments:
        inputs: `[..., 2]` coordinates, channel 0 = x (along the width), channel 1 = y, in [-1, 1]
            on the training grid.

    Example:
        >>> FourierFeatures(16)(keras.ops.zeros((1, 8, 8, 2))).shape
        (1, 8, 8, 16)
    """

    def __init__(self, units, **kwargs):
        super().__init__(**kwargs)
        self.units = int(units)

    def build(self, inputs_shape):
        if inputs_shape[-1] != 2:
            raise ValueError(f"FourierFeatures expects coordinates with 2 channels, got shape {inputs_shape}")
        limit = math.sqrt(9.0 / 2.0)
        self.kernel = self.add_weight(
            name="kernel", shape=(2, self.units), initializer=keras.initializers.RandomUniform(-limit, limit)
        )
        bound = 1.0 / math.sqrt(2.0)
        self.bias = self.add_weight(
            name="bias", shape=(self.units,), initializer=keras.initializers.RandomUniform(-bound, bound)
        )

    def call(self, inputs):
        # Computed in float32 even under mixed precision (the phases need the precision), then cast.
        x = ops.cast(inputs, "float32")
        phase = ops.matmul(x, ops.cast(self.kernel, "float32")) + ops.cast(self.bias, "float32")
        return ops.cast(ops.sin(phase), self.compute_dtype)

    def compute_output_shape(self, inputs_shape):
        return tuple(inputs_shape[:-1]) + (self.units,)

    def get_config(self):
        config = super().get_config()
        config.update(units=self.units)
        return config
