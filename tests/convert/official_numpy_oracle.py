"""A NumPy re-implementation of the official CIPS forward pass (saic-mdal/CIPS, NCHW).

Written from the official code's documented semantics (shared/DESIGN.md, golden/README.md), not
from cips_tf, so that converter tests compare cips_tf against an independent oracle at sizes and
widths the golden vectors do not cover. Everything takes an official `state_dict`
(name -> array, equalized-lr scales NOT applied) and NCHW tensors, as the PyTorch modules do.
Float64 throughout.
"""
import math
import re

import numpy as np

SQRT2 = math.sqrt(2.0)


def _f64(x):
    return np.asarray(x, dtype=np.float64)


def fused_lrelu(x, bias, axis=1):
    """`leaky_relu(x + bias, 0.2) * sqrt(2)`, bias broadcast along `axis` (channels)."""
    shape = [1] * x.ndim
    shape[axis] = -1
    x = x + _f64(bias).reshape(shape)
    return np.where(x >= 0, x, 0.2 * x) * SQRT2


def equal_linear(x, sd, name, lr_mul=1.0, activation=None):
    """Official `EqualLinear`: weight [out, in] * lr_mul / sqrt(in); bias * lr_mul."""
    w = _f64(sd[f"{name}.weight"])
    out = x @ (w * (lr_mul / math.sqrt(w.shape[1]))).T
    b = _f64(sd[f"{name}.bias"]) * lr_mul if f"{name}.bias" in sd else 0.0
    if activation == "fused_lrelu":
        return fused_lrelu(out, b)
    return out + b


def pixel_norm(x):
    return x / np.sqrt(np.mean(x * x, axis=1, keepdims=True) + 1e-8)


def mapping(z, sd, lr_mlp=0.01):
    """`style`: PixelNorm then `style.1 .. style.n` EqualLinear(fused_lrelu, lr_mul=lr_mlp)."""
    x = pixel_norm(_f64(z))
    n = len([k for k in sd if re.fullmatch(r"style\.\d+\.weight", k)])
    for i in range(1, n + 1):
        x = equal_linear(x, sd, f"style.{i}", lr_mlp, "fused_lrelu")
    return x


def grid_sample_border(inp, grid):
    """`F.grid_sample(inp, grid, mode="bilinear", padding_mode="border", align_corners=False)`.

    `inp` [N, C, H, W]; `grid` [N, Ho, Wo, 2] with (x, y) in the last axis. Follows PyTorch's
    algorithm: unnormalise `((c + 1) * size - 1) / 2`, clip to `[0, size - 1]` (border), then
    bilinear interpolation where out-of-range corners contribute zero.
    """
    inp, grid = _f64(inp), _f64(grid)
    n, c, h, w = inp.shape
    ix = np.clip(((grid[..., 0] + 1) * w - 1) / 2, 0, w - 1)
    iy = np.clip(((grid[..., 1] + 1) * h - 1) / 2, 0, h - 1)
    ix0, iy0 = np.floor(ix).astype(np.int64), np.floor(iy).astype(np.int64)
    out = np.zeros((n, c) + grid.shape[1:3])
    for dy in (0, 1):
        for dx in (0, 1):
            xi, yi = ix0 + dx, iy0 + dy
            weight = (1 - np.abs(ix - xi)) * (1 - np.abs(iy - yi))  # [N, Ho, Wo]
            valid = (xi >= 0) & (xi < w) & (yi >= 0) & (yi < h)
            xc, yc = np.clip(xi, 0, w - 1), np.clip(yi, 0, h - 1)
            vals = inp[np.arange(n)[:, None, None], :, yc, xc]  # [N, Ho, Wo, C]
            out += np.moveaxis(vals * (weight * valid)[..., None], -1, 1)
    return out


def modulated_conv_1x1(x, style, sd, name, demodulate=True):
    """Official `ModulatedConv2d` with a 1x1 kernel: weight [1, out, in, 1, 1] / sqrt(in)."""
    weight = _f64(sd[f"{name}.weight"])[0, :, :, 0, 0]  # [out, in]
    scale = 1.0 / math.sqrt(weight.shape[1])
    s = equal_linear(style, sd, f"{name}.modulation")  # [B, in]
    wmod = scale * weight[None] * s[:, None, :]  # [B, out, in]
    if demodulate:
        wmod = wmod / np.sqrt(np.sum(wmod ** 2, axis=2, keepdims=True) + 1e-8)
    return np.einsum("boi,bihw->bohw", wmod, x)


def styled_conv(x, style, sd, name, noise=None):
    """`StyledConv`: modulated conv, NoiseInjection (`+ weight * noise`), FusedLeakyReLU(bias)."""
    out = modulated_conv_1x1(x, style, sd, f"{name}.conv")
    if noise is not None:
        out = out + _f64(sd[f"{name}.noise.weight"]).reshape(()) * noise
    return fused_lrelu(out, sd[f"{name}.activate.bias"])


def to_rgb(x, style, sd, name, skip=None):
    out = modulated_conv_1x1(x, style, sd, f"{name}.conv", demodulate=False) + _f64(sd[f"{name}.bias"])
    return out if skip is None else out + skip


def encode(coords, sd, training):
    """`cat[LFF(coords), emb]` with the official train/eval embedding rule."""
    coords = _f64(coords)
    w = _f64(sd["lff.ffm.conv.weight"])[:, :, 0, 0]  # [hidden, 2]
    fourier = np.sin(np.einsum("oi,bihw->bohw", w, coords) + _f64(sd["lff.ffm.conv.bias"])[None, :, None, None])
    table = _f64(sd["emb.input"])  # [1, hidden, size, size]
    batch, _, height, width = coords.shape
    if training and height == width == table.shape[-1]:
        emb = np.broadcast_to(table, (batch,) + table.shape[1:])
    else:
        emb = grid_sample_border(np.broadcast_to(table, (batch,) + table.shape[1:]), coords.transpose(0, 2, 3, 1))
    return np.concatenate([fourier, emb], axis=1)


def cips_skip(coords, latent, sd, training=False, input_is_latent=False, lr_mlp=0.01):
    """Official `CIPSskip.forward` (no noise): conv1, pairs of linears, a ToRGB per pair, summed."""
    style = _f64(latent) if input_is_latent else mapping(latent, sd, lr_mlp)
    x = styled_conv(encode(coords, sd, training), style, sd, "conv1")
    n_linear = len([k for k in sd if re.fullmatch(r"linears\.\d+\.conv\.weight", k)])
    rgb = 0.0
    for i in range(n_linear // 2):
        for j in range(2):
            x = styled_conv(x, style, sd, f"linears.{2 * i + j}")
        rgb = to_rgb(x, style, sd, f"to_rgbs.{i}", rgb)
    return rgb


def cips_res(coords, latent, sd, training=False, input_is_latent=False, lr_mlp=0.01):
    """Official `CIPSres.forward`: linears.0 StyledConv, StyledResBlocks, to_rgb_last."""
    style = _f64(latent) if input_is_latent else mapping(latent, sd, lr_mlp)
    x = styled_conv(encode(coords, sd, training), style, sd, "linears.0")
    n = len({int(m.group(1)) for k in sd if (m := re.match(r"linears\.(\d+)\.conv1\.", k))})
    for i in range(1, n + 1):
        p = f"linears.{i}"
        out = styled_conv(styled_conv(x, style, sd, f"{p}.conv1"), style, sd, f"{p}.conv2")
        if f"{p}.skip.0.weight" in sd:
            wk = _f64(sd[f"{p}.skip.0.weight"])[:, :, 0, 0]
            skip = np.einsum("oi,bihw->bohw", wk / math.sqrt(wk.shape[1]), x)
        else:
            skip = x
        x = (out + skip) / SQRT2
    return to_rgb(x, style, sd, "to_rgb_last")


# ------------------------------------------------------------------------------------------
# Discriminator


def conv2d(x, weight, bias=None, stride=1, padding=0):
    """NCHW cross-correlation, weight [out, in, kh, kw], as `F.conv2d`."""
    x, weight = _f64(x), _f64(weight)
    if padding:
        x = np.pad(x, ((0, 0), (0, 0), (padding, padding), (padding, padding)))
    kh, kw = weight.shape[2:]
    win = np.lib.stride_tricks.sliding_window_view(x, (kh, kw), axis=(2, 3))  # [B, C, Ho, Wo, kh, kw]
    win = win[:, :, ::stride, ::stride]
    out = np.einsum("bchwij,ocij->bohw", win, weight)
    if bias is not None:
        out = out + _f64(bias)[None, :, None, None]
    return out


def upfirdn_blur(x, kernel, pad):
    """`upfirdn2d(x, kernel, up=1, down=1, pad=(p0, p1))`: zero-pad, then convolve (flipped kernel)."""
    p0, p1 = pad
    x = np.pad(_f64(x), ((0, 0), (0, 0), (p0, p1), (p0, p1)))
    k = _f64(kernel)[::-1, ::-1]
    c = x.shape[1]
    weight = np.zeros((c, c) + k.shape)
    weight[np.arange(c), np.arange(c)] = k
    return conv2d(x, weight)


def conv_layer(x, sd, name, kernel_size, downsample=False, activate=True, bias=True):
    """StyleGAN2 `ConvLayer` (Sequential): [Blur], EqualConv2d (w / sqrt(in*k*k)), [FusedLeakyReLU]."""
    idx = 0
    if downsample:
        p = (4 - 2) + (kernel_size - 1)
        x = upfirdn_blur(x, sd[f"{name}.{idx}.kernel"], ((p + 1) // 2, p // 2))
        idx += 1
        stride, padding = 2, 0
    else:
        stride, padding = 1, kernel_size // 2
    w = _f64(sd[f"{name}.{idx}.weight"])
    scale = 1.0 / math.sqrt(w.shape[1] * kernel_size * kernel_size)
    x = conv2d(x, w * scale, stride=stride, padding=padding)
    if activate and bias:
        x = fused_lrelu(x, sd[f"{name}.{idx + 1}.bias"])
    return x


def discriminator(images, sd, stddev_group=4):
    """Official StyleGAN2 `Discriminator.forward` on NCHW images -> [B, 1]."""
    x = conv_layer(images, sd, "convs.0", 1)
    n = len({int(m.group(1)) for k in sd if (m := re.match(r"convs\.(\d+)\.conv1\.", k))})
    for i in range(1, n + 1):
        p = f"convs.{i}"
        out = conv_layer(x, sd, f"{p}.conv1", 3)
        out = conv_layer(out, sd, f"{p}.conv2", 3, downsample=True)
        skip = conv_layer(x, sd, f"{p}.skip", 1, downsample=True, activate=False, bias=False)
        x = (out + skip) / SQRT2
    batch, channel, height, width = x.shape
    group = min(batch, stddev_group)
    y = x.reshape(group, -1, 1, channel, height, width)
    std = np.sqrt(y.var(axis=0) + 1e-8)  # biased
    std = std.mean(axis=(2, 3, 4), keepdims=True)[:, :, 0]  # [B/g, 1, 1, 1]
    std = np.tile(std, (group, 1, height, width))
    x = np.concatenate([x, std], axis=1)
    x = conv_layer(x, sd, "final_conv", 3)
    x = x.reshape(batch, -1)
    x = equal_linear(x, sd, "final_linear.0", activation="fused_lrelu")
    return equal_linear(x, sd, "final_linear.1")


# ------------------------------------------------------------------------------------------
# Random official-style state_dicts


def random_generator_state_dict(rng, architecture="skips", size=16, hidden=8, style_dim=12, n_mlp=3,
                                widths=(24, 20, 16), scale=0.3):
    """Parameters with the official names and shapes; noise weights 0 (deterministic outputs).

    `architecture` "skips" gives a CIPSskip, "res" a CIPSres (block `i` has `widths[i]`; the first
    StyledConv has `widths[0]`, so a width change creates `linears.N.skip.0.weight`).
    """
    sd = {}

    def normal(*shape, loc=0.0):
        return (loc + scale * rng.standard_normal(shape)).astype(np.float32)

    def styled(name, cin, cout, to_rgb_layer=False):
        sd[f"{name}.conv.weight"] = normal(1, cout, cin, 1, 1) / scale
        sd[f"{name}.conv.modulation.weight"] = normal(cin, style_dim) / scale
        sd[f"{name}.conv.modulation.bias"] = normal(cin, loc=1.0)
        if to_rgb_layer:
            sd[f"{name}.bias"] = normal(1, 3, 1, 1)
        else:
            sd[f"{name}.noise.weight"] = np.zeros((1,), np.float32)
            sd[f"{name}.activate.bias"] = normal(cout)

    sd["lff.ffm.conv.weight"] = rng.uniform(-1.5, 1.5, (hidden, 2, 1, 1)).astype(np.float32)
    sd["lff.ffm.conv.bias"] = normal(hidden)
    sd["emb.input"] = rng.standard_normal((1, hidden, size, size)).astype(np.float32)
    widths = list(widths)
    if architecture == "skips":
        styled("conv1", 2 * hidden, widths[0])
        cin = widths[0]
        for i, w in enumerate(widths):
            styled(f"linears.{2 * i}", cin, w)
            styled(f"linears.{2 * i + 1}", w, w)
            styled(f"to_rgbs.{i}", w, 3, to_rgb_layer=True)
            cin = w
    else:
        styled("linears.0", 2 * hidden, widths[0])
        cin = widths[0]
        for i, w in enumerate(widths):
            styled(f"linears.{i + 1}.conv1", cin, w)
            styled(f"linears.{i + 1}.conv2", w, w)
            if cin != w:
                sd[f"linears.{i + 1}.skip.0.weight"] = normal(w, cin, 1, 1) / scale
            cin = w
        styled("to_rgb_last", cin, 3, to_rgb_layer=True)
    for i in range(1, n_mlp + 1):
        sd[f"style.{i}.weight"] = normal(style_dim, style_dim) / scale / 0.01  # official init / lr_mul
        sd[f"style.{i}.bias"] = normal(style_dim) / 0.01
    return sd


def random_discriminator_state_dict(rng, size=32, widths=(24, 20, 16, 12), input_channels=3, scale=0.3):
    """StyleGAN2 discriminator parameters; `widths` per resolution from `size` down to 4."""
    from itertools import pairwise

    assert len(widths) == int(math.log2(size)) - 1
    k = np.outer([1, 3, 3, 1], [1, 3, 3, 1]).astype(np.float32)
    k /= k.sum()
    sd = {}

    def normal(*shape):
        return (scale * rng.standard_normal(shape)).astype(np.float32)

    sd["convs.0.0.weight"] = normal(widths[0], input_channels, 1, 1) / scale
    sd["convs.0.1.bias"] = normal(widths[0])
    for i, (cin, cout) in enumerate(pairwise(widths)):
        p = f"convs.{i + 1}"
        sd[f"{p}.conv1.0.weight"] = normal(cin, cin, 3, 3) / scale
        sd[f"{p}.conv1.1.bias"] = normal(cin)
        sd[f"{p}.conv2.0.kernel"] = k.copy()
        sd[f"{p}.conv2.1.weight"] = normal(cout, cin, 3, 3) / scale
        sd[f"{p}.conv2.2.bias"] = normal(cout)
        sd[f"{p}.skip.0.kernel"] = k.copy()
        sd[f"{p}.skip.1.weight"] = normal(cout, cin, 1, 1) / scale
    c = widths[-1]
    sd["final_conv.0.weight"] = normal(c, c + 1, 3, 3) / scale
    sd["final_conv.1.bias"] = normal(c)
    sd["final_linear.0.weight"] = normal(c, c * 16) / scale
    sd["final_linear.0.bias"] = normal(c)
    sd["final_linear.1.weight"] = normal(1, c) / scale
    sd["final_linear.1.bias"] = normal(1)
    return sd
