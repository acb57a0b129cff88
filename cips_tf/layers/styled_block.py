"""A block of two ModFC layers, optionally followed by a ToRGB (CIPS-skips; official `CIPSskip`)."""
import keras

from cips_tf.layers.modulated_dense import ModulatedDense


@keras.saving.register_keras_serializable(package="cips_tf")
class StyledBlock(keras.layers.Layer):
    """`x <- ModFC(ModFC(x))`; with `to_rgb`, also `rgb <- rgb + ToRGB(x)` (the skip sum of CIPS-skips).

    The block of the "skips" (with ToRGB) and "base" (without) generators; `StyledResBlock` is the
    "res" one. ToRGB is a ModFC without demodulation, noise or activation, to 3 channels.

    Args:
        units: output width of both ModFC layers.
        activation: activation of both ModFC layers ("lrelu" or "sin").
        to_rgb: add a ToRGB layer whose output is summed into `rgb`.

    Call arguments:
        inputs: `[B, ..., in]`.
        style: `[B, S]` / `[B, ..., S]` for every layer, or a sequence of `num_styles` of those
            (conv1, conv2 and, with `to_rgb`, the ToRGB).
        noise: optional pair of noise tensors (or None).
        randomize_noise: see `ModulatedDense`.
        rgb: the running skip sum `[B, ..., 3]` (None for the first block).

    Returns:
        `(x [B, ..., units], rgb)`: rgb is the new skip sum with `to_rgb`, else the given `rgb`.

    Example:
        >>> x, rgb = StyledBlock(8)(keras.ops.ones((1, 4, 8)), keras.ops.ones((1, 3)))
        >>> x.shape, rgb.shape
        ((1, 4, 8), (1, 4, 3))
    """

    num_noise = 2

    def __init__(self, units, activation="lrelu", to_rgb=True, **kwargs):
        super().__init__(**kwargs)
        self.units = int(units)
        self.activation = activation
        self.to_rgb = bool(to_rgb)
        policy = self.dtype_policy
        self.conv1 = ModulatedDense(self.units, activation=activation, name="conv1", dtype=policy)
        self.conv2 = ModulatedDense(self.units, activation=activation, name="conv2", dtype=policy)
        self.rgb = ToRGB(name="to_rgb", dtype=policy) if self.to_rgb else None

    @property
    def num_styles(self):
        return 3 if self.to_rgb else 2

    def build(self, inputs_shape, style_shape, noise_shape=None, rgb_shape=None):
        if isinstance(style_shape, (list, tuple)) and style_shape and isinstance(style_shape[0], (list, tuple)):
            style_shape = style_shape[0]
        out_shape = tuple(inputs_shape[:-1]) + (self.units,)
        self.conv1.build(inputs_shape, style_shape)
        self.conv2.build(out_shape, style_shape)
        if self.rgb is not None:
            self.rgb.build(out_shape, style_shape)

    def call(self, inputs, style, noise=None, randomize_noise=True, rgb=None):
        styles = style if isinstance(style, (list, tuple)) else (style,) * self.num_styles
        noises = noise if noise is not None else (None, None)
        x = self.conv1(inputs, styles[0], noise=noises[0], randomize_noise=randomize_noise)
        x = self.conv2(x, styles[1], noise=noises[1], randomize_noise=randomize_noise)
        if self.rgb is not None:
            out = self.rgb(x, styles[2])
            rgb = out if rgb is None else out + rgb
        return x, rgb

    def compute_output_shape(self, inputs_shape, style_shape=None, noise_shape=None, rgb_shape=None):
        return tuple(inputs_shape[:-1]) + (self.units,), tuple(inputs_shape[:-1]) + (3,)

    def get_config(self):
        config = super().get_config()
        config.update(units=self.units, activation=self.activation, to_rgb=self.to_rgb)
        return config


def ToRGB(**kwargs):  # noqa: N802 (a layer factory, named like the layer it returns)
    """The ToRGB layer: a ModFC to 3 channels without demodulation, noise or activation."""
    return ModulatedDense(3, demodulate=False, use_noise=False, activation="linear", **kwargs)
