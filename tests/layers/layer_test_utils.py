"""Shared checks and NumPy oracles for the layer tests (float64 oracles, NHWC)."""
import math

import keras
import numpy as np

SQRT2 = math.sqrt(2.0)


def randomize_weights(layer, seed=0, scale=0.5):
    """Gives every weight a random non-trivial value (biases and noise strengths included)."""
    rng = np.random.default_rng(seed)
    for v in layer.weights:
        v.assign((scale * rng.standard_normal(v.shape)).astype(v.dtype) + (0.1 if len(v.shape) <= 1 else 0.0))


def styled_inputs(fan_in, batch=2, n=5, style_dim=4, seed=1):
    """Random `x` `[batch, n, fan_in]` and styles `[batch, style_dim]` for the styled block tests."""
    rng = np.random.default_rng(seed)
    return (rng.standard_normal((batch, n, fan_in)).astype(np.float32),
            rng.standard_normal((batch, style_dim)).astype(np.float32))


def assert_config_round_trip(layer):
    config = layer.get_config()
    clone = type(layer).from_config(config)
    assert clone.get_config() == config
    return clone


def assert_keras_save_load_round_trip(tmp_path, model, inputs, atol=1e-6):
    """Saves `model` to .keras, loads it, and compares outputs on `inputs`."""
    path = tmp_path / "model.keras"
    want = np.asarray(model(inputs))
    model.save(path)
    loaded = keras.saving.load_model(path)
    np.testing.assert_allclose(np.asarray(loaded(inputs)), want, atol=atol)
    assert len(loaded.weights) == len(model.weights)
    return loaded


def lrelu(x):
    return np.where(x >= 0, x, 0.2 * x) * SQRT2


def equalized_dense(x, kernel, bias, lr=1.0, activation="linear"):
    """`x @ (W * lr / sqrt(fan_in)) + b * lr`, then the activation."""
    x = np.asarray(x, np.float64)
    out = x @ (np.asarray(kernel, np.float64) * lr / math.sqrt(kernel.shape[0]))
    if bias is not None:
        out = out + np.asarray(bias, np.float64) * lr
    return {"linear": lambda v: v, "lrelu": lrelu, "sin": np.sin}[activation](out)


def modulated_dense(x, style, layer, noise=None):
    """ModFC by explicit per-sample kernels: `x` [B, N, in], `style` [B, S] -> [B, N, out]."""
    kernel = np.asarray(layer.kernel, np.float64)  # [in, out]
    fan_in = kernel.shape[0]
    s = equalized_dense(style, layer.modulation.kernel.numpy(), layer.modulation.bias.numpy())  # [B, in]
    out = []
    for b in range(x.shape[0]):
        w = kernel / math.sqrt(fan_in) * s[b][:, None]  # [in, out]
        if layer.demodulate:
            w = w / np.sqrt(np.sum(w ** 2, axis=0, keepdims=True) + layer.epsilon)
        out.append(np.asarray(x[b], np.float64) @ w)
    out = np.stack(out)
    if noise is not None:
        out = out + float(layer.noise_strength.numpy()) * noise
    out = out + np.asarray(layer.bias, np.float64)
    return {"linear": lambda v: v, "lrelu": lrelu, "sin": np.sin}[layer.activation](out)


def conv2d_nhwc(x, kernel, stride=1, padding=0):
    """Cross-correlation, `x` [B, H, W, C], `kernel` [kh, kw, C, O], zero padding on both sides."""
    x = np.asarray(x, np.float64)
    if padding:
        p0, p1 = padding if isinstance(padding, tuple) else (padding, padding)
        x = np.pad(x, ((0, 0), (p0, p1), (p0, p1), (0, 0)))
    kh, kw = kernel.shape[:2]
    win = np.lib.stride_tricks.sliding_window_view(x, (kh, kw), axis=(1, 2))  # [B, Ho, Wo, C, kh, kw]
    win = win[:, ::stride, ::stride]
    return np.einsum("bhwcij,ijco->bhwo", win, np.asarray(kernel, np.float64))


def blur_nhwc(x, pad):
    """Depthwise [1, 3, 3, 1] FIR blur (sum 1) after zero padding `pad` = (before, after)."""
    taps = np.array([1.0, 3.0, 3.0, 1.0])
    k = np.outer(taps, taps) / 64.0
    c = x.shape[-1]
    kernel = np.zeros((4, 4, c, c))
    kernel[:, :, np.arange(c), np.arange(c)] = k[:, :, None]
    return conv2d_nhwc(x, kernel, padding=pad)


def equalized_conv2d(x, layer):
    """StyleGAN2 ConvLayer oracle for an `EqualizedConv2D` layer's current weights."""
    kernel = np.asarray(layer.kernel, np.float64)
    k = kernel.shape[0]
    gain = 1.0 / math.sqrt(kernel.shape[2] * k * k)
    if layer.downsample:
        p = 2 + (k - 1)
        x = blur_nhwc(x, ((p + 1) // 2, p // 2))
        out = conv2d_nhwc(x, kernel * gain, stride=2)
    else:
        out = conv2d_nhwc(x, kernel * gain, padding=(k - 1) // 2)
    if layer.activate:
        out = lrelu(out + (0.0 if layer.bias is None else np.asarray(layer.bias, np.float64)))
    return out
