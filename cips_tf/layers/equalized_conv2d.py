"""Equalized-learning-rate 2D convolution with optional blur (StyleGAN2's `ConvLayer`)."""
import math

import keras
import numpy as np
from keras import ops

from cips_tf.layers.activations import fused_leaky_relu


def blur_kernel_2d(taps=(1, 3, 3, 1)):
    """`outer(taps, taps) / sum`: the StyleGAN2 FIR filter (4 x 4, sums to 1)."""
    k = np.asarray(taps, dtype=np.float32)
    k = np.outer(k, k)
    return k / k.sum()


@keras.saving.register_keras_serializable(package="cips_tf")
class EqualizedConv2D(keras.layers.Layer):
    """StyleGAN2's `ConvLayer`: [blur] -> conv (weights scaled by 1/sqrt(in*k*k)) -> [bias + fused lReLU].

    With `downsample=True` the input is first blurred with the [1, 3, 3, 1] filter (zero padding
    `((len(taps) - 2) + (k - 1))` split as official: (2, 2) before a 3x3, (1, 1) before a 1x1), then
    convolved with stride 2 and no padding. Otherwise the convolution is zero-padded by
    `(k - 1) // 2`. Layout is NHWC.

    Args:
        filters: output channels.
        kernel_size: square kernel size.
        downsample: blur, then stride-2 convolution.
        use_bias: add a bias (only used together with the activation, as official).
        activate: apply the fused leaky ReLU (slope 0.2, gain sqrt 2).
        blur_taps: the 1D filter taps.

    Call arguments:
        inputs: `[B, H, W, C]`.

    Example:
        >>> EqualizedConv2D(8, 3, downsample=True)(keras.ops.ones((1, 16, 16, 4))).shape
        (1, 8, 8, 8)
    """

    def __init__(self, filters, kernel_size, downsample=False, use_bias=True, activate=True,
                 blur_taps=(1, 3, 3, 1), **kwargs):
        super().__init__(**kwargs)
        self.filters = int(filters)
        self.kernel_size = int(kernel_size)
        self.downsample = bool(downsample)
        self.use_bias = bool(use_bias)
        self.activate = bool(activate)
        self.blur_taps = tuple(int(t) for t in blur_taps)

    def build(self, inputs_shape):
        fan_in = int(inputs_shape[-1])
        k = self.kernel_size
        self.kernel = self.add_weight(
            name="kernel", shape=(k, k, fan_in, self.filters), initializer=keras.initializers.RandomNormal(stddev=1.0)
        )
        self.bias = None
        if self.use_bias and self.activate:
            self.bias = self.add_weight(name="bias", shape=(self.filters,), initializer="zeros")
        self.weight_gain = 1.0 / math.sqrt(fan_in * k * k)
        if self.downsample:
            p = (len(self.blur_taps) - 2) + (k - 1)
            self._blur_pad = ((p + 1) // 2, p // 2)
            blur = blur_kernel_2d(self.blur_taps)[:, :, None, None]
            self._blur = np.tile(blur, (1, 1, fan_in, 1))  # [kh, kw, C, 1] depthwise

    def call(self, inputs):
        x = ops.cast(inputs, self.compute_dtype)
        if self.downsample:
            p0, p1 = self._blur_pad
            x = ops.pad(x, ((0, 0), (p0, p1), (p0, p1), (0, 0)))
            x = ops.depthwise_conv(x, ops.cast(self._blur, self.compute_dtype), strides=1, padding="valid")
            strides, padding = 2, 0
        else:
            strides, padding = 1, (self.kernel_size - 1) // 2
        if padding:
            x = ops.pad(x, ((0, 0), (padding, padding), (padding, padding), (0, 0)))
        x = ops.conv(x, ops.cast(self.kernel, self.compute_dtype) * self.weight_gain, strides=strides, padding="valid")
        if self.activate:
            bias = None if self.bias is None else ops.cast(self.bias, self.compute_dtype)
            x = fused_leaky_relu(x, bias)
        return x

    def compute_output_shape(self, inputs_shape):
        b, h, w, _ = inputs_shape
        if self.downsample:
            h = None if h is None else h // 2
            w = None if w is None else w // 2
        return (b, h, w, self.filters)

    def get_config(self):
        config = super().get_config()
        config.update(
            filters=self.filters,
            kernel_size=self.kernel_size,
            downsample=self.downsample,
            use_bias=self.use_bias,
            activate=self.activate,
            blur_taps=list(self.blur_taps),
        )
        return config
