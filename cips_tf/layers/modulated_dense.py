"""Modulated fully-connected layer, ModFC (paper eq. 2; official `StyledConv` / `ToRGB` with 1x1 kernels)."""
import math

import keras
from keras import ops

from cips_tf.layers.activations import apply_activation, check_activation
from cips_tf.layers.equalized_dense import EqualizedDense


@keras.saving.register_keras_serializable(package="cips_tf")
class ModulatedDense(keras.layers.Layer):
    """A per-pixel dense layer whose weights are modulated by a style vector (StyleGAN2 / CIPS).

    With `s = A(w)` (an equalized dense layer with bias initialised to 1) and the stored kernel `B`
    scaled by `1 / sqrt(fan_in)`, paper eq. 2:

        B_hat[i, j] = s_j B[i, j] / sqrt(eps + sum_k (s_k B[i, k])^2)        (demodulate=True)
        psi = B_hat phi  (+ noise_strength * noise)  then activation(psi + bias)

    The activation is the fused leaky ReLU (slope 0.2, gain sqrt 2), sin (the paper's "sine"
    ablation) or linear (ToRGB: `demodulate=False, use_noise=False, activation="linear"`).

    Speed: no loop over samples. With one style per sample, the modulated and demodulated kernel is
    formed per sample (`[B, in, out]`, cheap) and all pixels of a sample go through one matrix
    multiplication (`[B, N, in] @ [B, in, out]`), so the layer runs at matmul speed. With one style
    per pixel (pixel-wise style blending), activations are scaled by `s` and outputs by the
    demodulation coefficients `rsqrt((s^2) @ (B^2) + eps)`, again two matmuls.

    Args:
        units: output width.
        demodulate: apply weight demodulation.
        use_noise: add per-pixel noise scaled by a learned scalar (initialised to 0).
        activation: "lrelu", "sin" or "linear".
        epsilon: demodulation epsilon (1e-8).

    Call arguments:
        inputs: `[B, ..., in]` per-pixel features.
        style: `[B, style_dim]` (one style per sample) or `[B, ..., style_dim]` with the same leading
            dims as `inputs` (one style per pixel).
        noise: optional `[B, ..., 1]` noise. When absent and `randomize_noise` is true, fresh N(0, 1)
            noise is drawn per pixel (the official behaviour); otherwise no noise is added.
        randomize_noise: Python bool, see `noise`.

    Example:
        >>> layer = ModulatedDense(32)
        >>> layer(keras.ops.ones((2, 64, 16)), keras.ops.ones((2, 8))).shape
        (2, 64, 32)
    """

    def __init__(self, units, demodulate=True, use_noise=True, activation="lrelu", epsilon=1e-8, **kwargs):
        super().__init__(**kwargs)
        self.units = int(units)
        self.demodulate = bool(demodulate)
        self.use_noise = bool(use_noise)
        self.activation = check_activation(activation, type(self).__name__)
        self.epsilon = float(epsilon)
        self.modulation = None  # an EqualizedDense created in build(), once fan_in is known
        if self.use_noise:
            self.seed_generator = keras.random.SeedGenerator(name="noise_seed")

    def build(self, inputs_shape, style_shape, noise_shape=None):
        fan_in = int(inputs_shape[-1])
        self.modulation = EqualizedDense(fan_in, bias_init=1.0, name="modulation", dtype=self.dtype_policy)
        self.modulation.build(style_shape)
        self.kernel = self.add_weight(
            name="kernel", shape=(fan_in, self.units), initializer=keras.initializers.RandomNormal(stddev=1.0)
        )
        self.noise_strength = None
        if self.use_noise:
            self.noise_strength = self.add_weight(name="noise_strength", shape=(), initializer="zeros")
        self.bias = self.add_weight(name="bias", shape=(self.units,), initializer="zeros")
        self.weight_gain = 1.0 / math.sqrt(fan_in)

    def call(self, inputs, style, noise=None, randomize_noise=True):
        x = ops.cast(inputs, self.compute_dtype)
        s = self.modulation(ops.cast(style, self.compute_dtype))  # [B, in] or [B, ..., in]
        kernel = ops.cast(self.kernel, self.compute_dtype) * self.weight_gain  # [in, out]
        if len(s.shape) == 2:
            out = self._per_sample(x, s, kernel)
        else:
            out = self._per_pixel(x, s, kernel)
        if self.use_noise:
            if noise is None and randomize_noise:
                noise = keras.random.normal(
                    tuple(ops.shape(out)[:-1]) + (1,),
                    dtype=self.compute_dtype,
                    seed=self.seed_generator,
                )
            if noise is not None:
                out = out + ops.cast(self.noise_strength, self.compute_dtype) * ops.cast(noise, self.compute_dtype)
        return apply_activation(out, self.activation, ops.cast(self.bias, self.compute_dtype))

    def _per_sample(self, x, s, kernel):
        weight = kernel[None, :, :] * s[:, :, None]  # [B, in, out]
        if self.demodulate:
            weight = weight * ops.rsqrt(ops.sum(ops.square(weight), axis=1, keepdims=True) + self.epsilon)
        shape = ops.shape(x)
        flat = ops.reshape(x, (shape[0], -1, shape[-1]))  # [B, N, in]
        out = ops.matmul(flat, weight)  # [B, N, out]
        return ops.reshape(out, tuple(shape[:-1]) + (self.units,))

    def _per_pixel(self, x, s, kernel):
        out = ops.matmul(x * s, kernel)  # [B, ..., out]
        if self.demodulate:
            out = out * ops.rsqrt(ops.matmul(ops.square(s), ops.square(kernel)) + self.epsilon)
        return out

    def compute_output_shape(self, inputs_shape, style_shape=None, noise_shape=None):
        return tuple(inputs_shape[:-1]) + (self.units,)

    def get_config(self):
        config = super().get_config()
        config.update(
            units=self.units,
            demodulate=self.demodulate,
            use_noise=self.use_noise,
            activation=self.activation,
            epsilon=self.epsilon,
        )
        return config
