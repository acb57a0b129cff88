"""StyleGAN2 residual discriminator block (official `ResBlock`)."""
import math

import keras

from cips_tf.layers.equalized_conv2d import EqualizedConv2D


@keras.saving.register_keras_serializable(package="cips_tf")
class DiscriminatorBlock(keras.layers.Layer):
    """conv3x3 -> (blur, conv3x3 stride 2), plus a (blur, 1x1 stride 2, no bias) skip; `/ sqrt 2`.

    Args:
        filters: output channels (the input keeps its width through the first conv).

    Call arguments:
        inputs: `[B, H, W, C]` -> `[B, H / 2, W / 2, filters]`.

    Example:
        >>> DiscriminatorBlock(8)(keras.ops.ones((2, 8, 8, 4))).shape
        (2, 4, 4, 8)
    """

    def __init__(self, filters, **kwargs):
        super().__init__(**kwargs)
        self.filters = int(filters)
        self.conv1 = None
        self.conv2 = EqualizedConv2D(self.filters, 3, downsample=True, name="conv2", dtype=self.dtype_policy)
        self.skip = EqualizedConv2D(
            self.filters, 1, downsample=True, use_bias=False, activate=False, name="skip", dtype=self.dtype_policy
        )

    def build(self, inputs_shape):
        channels = int(inputs_shape[-1])
        self.conv1 = EqualizedConv2D(channels, 3, name="conv1", dtype=self.dtype_policy)
        self.conv1.build(inputs_shape)
        self.conv2.build(inputs_shape)
        self.skip.build(inputs_shape)

    def call(self, inputs):
        out = self.conv2(self.conv1(inputs))
        return (out + self.skip(inputs)) * (1.0 / math.sqrt(2.0))

    def compute_output_shape(self, inputs_shape):
        return self.conv2.compute_output_shape(inputs_shape)

    def get_config(self):
        config = super().get_config()
        config.update(filters=self.filters)
        return config
