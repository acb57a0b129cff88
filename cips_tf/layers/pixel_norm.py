"""Pixel normalisation of latent vectors (StyleGAN's `PixelNorm`)."""
import keras
from keras import ops


@keras.saving.register_keras_serializable(package="cips_tf")
class PixelNorm(keras.layers.Layer):
    """Normalises each vector to unit root-mean-square: `x / sqrt(mean(x^2, axis) + epsilon)`.

    Args:
        axis: the axis to normalise over (the feature axis).
        epsilon: added inside the square root (1e-8, as official).

    Call arguments:
        inputs: any tensor.

    Example:
        >>> PixelNorm()(keras.ops.ones((2, 4)) * 3.0)  # all ones
    """

    def __init__(self, axis=-1, epsilon=1e-8, **kwargs):
        super().__init__(**kwargs)
        self.axis = int(axis)
        self.epsilon = float(epsilon)

    def call(self, inputs):
        return inputs * ops.rsqrt(ops.mean(ops.square(inputs), axis=self.axis, keepdims=True) + self.epsilon)

    def compute_output_shape(self, inputs_shape):
        return inputs_shape

    def get_config(self):
        config = super().get_config()
        config.update(axis=self.axis, epsilon=self.epsilon)
        return config
