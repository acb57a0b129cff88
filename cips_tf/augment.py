"""StyleGAN2-ADA's differentiable augmentations in TensorFlow ops (Karras et al. 2020, "Training
Generative Adversarial Networks with Limited Data"; reference: NVlabs/stylegan2-ada-pytorch
`training/augment.py`).

Every image D sees (real, fake, and the reals of the R1 term) goes through the same pipeline; each
transformation is applied to each image independently with probability `p * multiplier`. All of it
is differentiable w.r.t. the images (gathers, convolutions and matrix products only), so G's
gradient flows back through the augmentation of its images, and R1 is the gradient w.r.t. the
image before augmentation, as in ADA.

    pipe = AugmentPipe.from_name("bgc")
    images = pipe(images, p, seed)                      # [B, H, W, C], C = 1 or 3, about [-1, 1]
    params = pipe.draw(batch, height, width, channels, p, seed)   # or in two steps:
    images = pipe.apply(images, params)

Pipelines (`PIPELINES`, the official `--augpipe` names): `blit` / `b` (x-flip, 90-degree
rotations, integer translation), `geom` / `g` (isotropic scaling, pre-rotation, anisotropic
scaling, post-rotation, fractional translation), `color` / `c` (brightness, contrast, luma flip,
hue rotation, saturation), `filter` / `f` (image-space filtering), `noise` / `n` (additive RGB
noise), `cutout`, and their unions `bg`, `bgc`, `bgcf`, `bgcfn`, `bgcfnc`.

Parameters are drawn exactly as the reference does (same distributions, gates and composition
order), statelessly from a `[2]` seed, for a GLOBAL batch of which this call keeps the slice
`offset : offset + B`; so 1 and N replicas augment every image alike.

One deliberate difference: the blits are executed as exact pixel copies (a gather with reflected
indices), then the general geometric transform runs on the result with ADA's machinery (reflect
padding, 2x upsampling with the orthogonal `sym6` low-pass filter, bilinear sampling, filtered 2x
downsampling). The reference folds the blits into the same warp, so its x-flip and 90-degree
rotations pass the asymmetric `sym6` filter mirrored and come out slightly filtered; here they are
lossless, as the paper's "pixel blitting" intends. The composition (`blit` then `geom`) is the
reference's `G_inv`. The reflect padding is static (the reference's largest, `size - 1` per side)
instead of the batch's data-dependent margin, so shapes stay static under XLA; inside the region
the reference pads, the result is the same.

`tf.keras` / Keras preprocessing layers (RandomFlip, RandomRotation, RandomZoom, ...) were not
used: they are not differentiable w.r.t. their input everywhere (ImageProjectiveTransformV3's
registered gradient is the inverse warp, not the adjoint of bilinear sampling), they draw from
stateful generators (no per-replica slicing of a global draw), and their parameter distributions
are not ADA's.
"""
import math

import numpy as np
import scipy.signal
import tensorflow as tf

# Wavelet low-pass filters of the reference (for the geometric resampling and the filter bank).
SYM2 = [-0.12940952255092145, 0.22414386804185735, 0.836516303737469, 0.48296291314469025]
SYM6 = [0.015404109327027373, 0.0034907120842174702, -0.11799011114819057, -0.048311742585633,
        0.4910559419267466, 0.787641141030194, 0.3379294217276218, -0.07263752278646252,
        -0.021060292512300564, 0.04472490177066578, 0.0017677118642428036, -0.007800708325034148]

BLIT = ("xflip", "rotate90", "xint")
GEOM = ("scale", "rotate", "aniso", "xfrac")
COLOR = ("brightness", "contrast", "lumaflip", "hue", "saturation")
OPS = BLIT + GEOM + COLOR + ("imgfilter", "noise", "cutout")

_b, _g, _c = dict.fromkeys(BLIT, 1), dict.fromkeys(GEOM, 1), dict.fromkeys(COLOR, 1)
PIPELINES = {
    "blit": _b, "geom": _g, "color": _c, "filter": {"imgfilter": 1}, "noise": {"noise": 1}, "cutout": {"cutout": 1},
    "b": _b, "g": _g, "c": _c, "f": {"imgfilter": 1}, "n": {"noise": 1},
    "bg": {**_b, **_g},
    "bgc": {**_b, **_g, **_c},
    "bgcf": {**_b, **_g, **_c, "imgfilter": 1},
    "bgcfn": {**_b, **_g, **_c, "imgfilter": 1, "noise": 1},
    "bgcfnc": {**_b, **_g, **_c, "imgfilter": 1, "noise": 1, "cutout": 1},
}

# Strengths of the reference (`AugmentPipe.__init__` defaults).
DEFAULTS = dict(xint_max=0.125, scale_std=0.2, rotate_max=1.0, aniso_std=0.2, xfrac_std=0.125, brightness_std=0.2,
                contrast_std=0.5, hue_max=1.0, saturation_std=1.0, imgfilter_bands=(1, 1, 1, 1), imgfilter_std=1.0,
                noise_std=0.1, cutout_size=0.5)

# Plain Python control flow on static values only: AutoGraph's conversion of this module took ~1 min
# per trace of the training step, for nothing.
_no_autograph = tf.autograph.experimental.do_not_convert

_LUMA = np.asarray([1, 1, 1, 0], np.float64) / np.sqrt(3)  # the luma axis of the colour transforms


# -- batched homogeneous matrices ([B, n, n]) --------------------------------------------------

def _matrix(rows, batch):
    """`[B, n, m]` from rows of Python numbers and `[B]` tensors: one constant for the numbers plus
    one outer product per tensor entry (few graph ops: these are built in every traced step)."""
    n, m = len(rows), len(rows[0])
    const = np.zeros([n, m], np.float32)
    out = None
    for i, row in enumerate(rows):
        for j, x in enumerate(row):
            if isinstance(x, (int, float)):
                const[i, j] = x
                continue
            unit = np.zeros([n, m], np.float32)
            unit[i, j] = 1
            term = tf.cast(x, tf.float32)[:, None, None] * unit
            out = term if out is None else out + term
    if out is None:
        return tf.broadcast_to(tf.constant(const), [batch, n, m])
    return out + const


def translate2d(tx, ty, batch):
    return _matrix([[1, 0, tx], [0, 1, ty], [0, 0, 1]], batch)


def scale2d(sx, sy, batch):
    return _matrix([[sx, 0, 0], [0, sy, 0], [0, 0, 1]], batch)


def rotate2d(theta, batch):
    return _matrix([[tf.cos(theta), -tf.sin(theta), 0], [tf.sin(theta), tf.cos(theta), 0], [0, 0, 1]], batch)


def translate3d(tx, ty, tz, batch):
    return _matrix([[1, 0, 0, tx], [0, 1, 0, ty], [0, 0, 1, tz], [0, 0, 0, 1]], batch)


def scale3d(sx, sy, sz, batch):
    return _matrix([[sx, 0, 0, 0], [0, sy, 0, 0], [0, 0, sz, 0], [0, 0, 0, 1]], batch)


def rotate3d(v, theta, batch):
    """Rotation by `theta` about the unit axis `v` (Rodrigues), homogeneous 4 x 4."""
    vx, vy, vz = (float(a) for a in v[:3])
    s, c = tf.sin(theta), tf.cos(theta)
    cc = 1 - c
    return _matrix([[vx * vx * cc + c, vx * vy * cc - vz * s, vx * vz * cc + vy * s, 0],
                    [vy * vx * cc + vz * s, vy * vy * cc + c, vy * vz * cc - vx * s, 0],
                    [vz * vx * cc - vy * s, vz * vy * cc + vx * s, vz * vz * cc + c, 0],
                    [0, 0, 0, 1]], batch)


# -- filters -----------------------------------------------------------------------------------

def _filter_bank():
    """The reference's 4-band filter bank `[4, taps]` (sym2-based, bands of an orthogonal split)."""
    lo = np.asarray(SYM2)
    hi = lo * ((-1) ** np.arange(lo.size))
    lo2 = np.convolve(lo, lo[::-1]) / 2
    hi2 = np.convolve(hi, hi[::-1]) / 2
    bank = np.eye(4, 1)
    for i in range(1, bank.shape[0]):
        bank = np.dstack([bank, np.zeros_like(bank)]).reshape(bank.shape[0], -1)[:, :-1]
        bank = scipy.signal.convolve(bank, [lo2])
        bank[i, (bank.shape[1] - hi2.size) // 2: (bank.shape[1] + hi2.size) // 2] += hi2
    return bank.astype(np.float32)


FILTER_BANK = _filter_bank()


def _correlate(x, taps, axis):
    """Depthwise 'VALID' correlation of NHWC `x` with the 1-D `taps` along `axis` (1: H, 2: W)."""
    taps = np.asarray(taps, np.float32)
    channels = x.shape[-1]
    shape = [taps.size, 1] if axis == 1 else [1, taps.size]
    kernel = tf.tile(tf.reshape(taps, shape + [1, 1]), [1, 1, channels, 1])
    return tf.nn.depthwise_conv2d(x, kernel, strides=[1, 1, 1, 1], padding="VALID")


def _pad_axis(x, axis, before, after):
    """Zero-pads (or, for negative amounts, crops) `x` along `axis`."""
    if before < 0 or after < 0:
        size = x.shape[axis]
        begin = [0] * 4
        sizes = [-1] * 4
        begin[axis] = max(-before, 0)
        sizes[axis] = size - max(-before, 0) - max(-after, 0)
        x = tf.slice(x, begin, sizes)
        before, after = max(before, 0), max(after, 0)
    if before or after:
        pads = [[0, 0]] * 4
        pads[axis] = [before, after]
        x = tf.pad(x, pads)
    return x


def _upsample2x(x, f):
    """The reference's `upfirdn2d.upsample2d(x, f, up=2)`: zero insertion, pad, convolve with the
    filter (sum 1, gain 2 per axis)."""
    f = np.asarray(f, np.float64)
    f = f / f.sum() * 2.0
    fw = len(f)
    for axis in (1, 2):
        _, height, width, channels = x.shape
        x = tf.stack([x, tf.zeros_like(x)], axis=axis + 1)  # each sample followed by a zero
        x = tf.reshape(x, [-1, height * 2, width, channels] if axis == 1 else [-1, height, width * 2, channels])
        x = _pad_axis(x, axis, (fw + 1) // 2, (fw - 2) // 2)
        x = _correlate(x, f[::-1], axis)  # a true convolution (flip_filter=False)
    return x


def _downsample2x(x, f, crop):
    """The reference's `upfirdn2d.downsample2d(x, f, down=2, padding=-crop, flip_filter=True)`."""
    f = np.asarray(f, np.float64)
    f = f / f.sum()
    fw = len(f)
    for axis in (1, 2):
        x = _pad_axis(x, axis, -crop + (fw - 1) // 2, -crop + (fw - 2) // 2)
        x = _correlate(x, f, axis)
        x = x[:, ::2] if axis == 1 else x[:, :, ::2]
    return x


def _reflect_index(i, size):
    """Reflect-padding index (no repeated edge, as `np.pad(mode='reflect')`) for any integer `i`."""
    if size == 1:
        return tf.zeros_like(i)
    period = 2 * (size - 1)
    i = tf.math.floormod(i, period)
    return tf.where(i > size - 1, period - i, i)


def _reflect_pad(images, pad):
    """`np.pad(mode='reflect')` of H and W by `pad`, for any image size (repeated reflections when
    `pad` >= size, where `tf.pad(mode='REFLECT')` refuses)."""
    height, width = images.shape[1], images.shape[2]
    rows = _reflect_index(tf.range(-pad, height + pad), height)
    cols = _reflect_index(tf.range(-pad, width + pad), width)
    return tf.gather(tf.gather(images, rows, axis=1), cols, axis=2)


def _bilinear_zeros(images, x, y):
    """Samples `images` `[B, H, W, C]` at pixel coordinates `x`, `y` `[B, h, w]` (pixel centres at
    integers); zero outside, as `grid_sample(padding_mode='zeros')`. Differentiable w.r.t. images."""
    height, width = images.shape[1], images.shape[2]
    x0, y0 = tf.floor(x), tf.floor(y)
    wx, wy = x - x0, y - y0
    x0, y0 = tf.cast(x0, tf.int32), tf.cast(y0, tf.int32)
    out = 0.0
    for dy, wgt_y in ((0, 1 - wy), (1, wy)):
        for dx, wgt_x in ((0, 1 - wx), (1, wx)):
            xi, yi = x0 + dx, y0 + dy
            valid = (xi >= 0) & (xi < width) & (yi >= 0) & (yi < height)
            idx = tf.stack([tf.clip_by_value(yi, 0, height - 1), tf.clip_by_value(xi, 0, width - 1)], axis=-1)
            vals = tf.gather_nd(images, idx, batch_dims=1)  # [B, h, w, C]
            weight = wgt_x * wgt_y * tf.cast(valid, images.dtype)
            out = out + vals * weight[..., None]
    return out


def _centered_grid(height, width):
    """Pixel-centre coordinates relative to the image centre: `(u, v)` `[H, W]` each."""
    u = tf.range(width, dtype=tf.float32) - (width - 1) / 2
    v = tf.range(height, dtype=tf.float32) - (height - 1) / 2
    return tf.meshgrid(u, v)


def blit(images, flip, rot90, shift):
    """Exact pixel blitting: per image, x-flip (`flip` `[B]` in {0, 1}), `rot90` `[B]` in {0..3}
    quarter turns, integer translation `shift` `[B, 2]` (x, y pixels), as the reference's
    `G_inv = scale2d_inv(1 - 2 flip, 1) @ rotate2d_inv(-pi / 2 k) @ translate2d_inv(tx, ty)`
    (output pixel -> input pixel), with reflected borders."""
    batch, height, width = tf.shape(images)[0], images.shape[1], images.shape[2]
    u, v = _centered_grid(height, width)
    u, v = u[None] - tf.cast(shift[:, 0:1, None], tf.float32), v[None] - tf.cast(shift[:, 1:2, None], tf.float32)
    k = tf.math.floormod(tf.cast(rot90, tf.int32), 4)
    cos = tf.gather(tf.constant([1.0, 0.0, -1.0, 0.0]), k)[:, None, None]  # exact cos / sin of k quarter turns
    sin = tf.gather(tf.constant([0.0, 1.0, 0.0, -1.0]), k)[:, None, None]
    ur, vr = cos * u - sin * v, sin * u + cos * v
    ur = ur * (1.0 - 2.0 * tf.cast(flip, tf.float32))[:, None, None]
    xi = tf.cast(tf.round(ur + (width - 1) / 2), tf.int32)
    yi = tf.cast(tf.round(vr + (height - 1) / 2), tf.int32)
    idx = tf.stack([_reflect_index(yi, height), _reflect_index(xi, width)], axis=-1)  # [B, H, W, 2]
    del batch
    return tf.gather_nd(images, idx, batch_dims=1)


def warp(images, g_inv):
    """The reference's general geometric transform: `g_inv` `[B, 3, 3]` maps output pixel -> input
    pixel in centred pixel coordinates; reflect padding, 2x `sym6` upsampling, bilinear sampling,
    filtered 2x downsampling."""
    height, width = images.shape[1], images.shape[2]
    hz_pad = len(SYM6) // 4
    mx, my = width - 1, height - 1  # the reference's largest margins
    if mx or my:
        images = tf.pad(images, [[0, 0], [my, my], [mx, mx], [0, 0]], mode="REFLECT")
    images = _upsample2x(images, SYM6)
    batch = tf.shape(g_inv)[0]
    g = scale2d(2, 2, batch) @ g_inv @ scale2d(0.5, 0.5, batch)
    g = translate2d(-0.5, -0.5, batch) @ g @ translate2d(0.5, 0.5, batch)
    out_h, out_w = (height + hz_pad * 2) * 2, (width + hz_pad * 2) * 2
    in_h, in_w = images.shape[1], images.shape[2]
    u, v = _centered_grid(out_h, out_w)
    u, v = u[None], v[None]
    x = g[:, 0, 0, None, None] * u + g[:, 0, 1, None, None] * v + g[:, 0, 2, None, None] + (in_w - 1) / 2
    y = g[:, 1, 0, None, None] * u + g[:, 1, 1, None, None] * v + g[:, 1, 2, None, None] + (in_h - 1) / 2
    images = _bilinear_zeros(images, x, y)
    return _downsample2x(images, SYM6, crop=hz_pad * 2)


def color_matrix(params, batch):
    """The reference's colour transform `C` `[B, 4, 4]` (colour_out = C @ colour_in) from `params`."""
    c = tf.eye(4, batch_shape=[batch])
    v = tf.constant(_LUMA, tf.float32)
    vv = tf.tensordot(v, v, axes=0)  # [4, 4]
    if "brightness" in params:
        b = params["brightness"]
        c = translate3d(b, b, b, batch) @ c
    if "contrast" in params:
        s = params["contrast"]
        c = scale3d(s, s, s, batch) @ c
    if "lumaflip" in params:
        i = params["lumaflip"][:, None, None]
        c = (tf.eye(4)[None] - 2 * vv[None] * i) @ c  # Householder reflection
    if "hue" in params:
        c = rotate3d(_LUMA, params["hue"], batch) @ c
    if "saturation" in params:
        s = params["saturation"][:, None, None]
        c = (vv[None] + (tf.eye(4)[None] - vv[None]) * s) @ c
    return c


def apply_color(images, c):
    channels = images.shape[-1]
    if channels == 3:
        return tf.einsum("bij,bhwj->bhwi", c[:, :3, :3], images) + c[:, None, None, :3, 3]
    if channels == 1:
        c = tf.reduce_mean(c[:, :3, :], axis=1)  # [B, 4]
        return images * tf.reduce_sum(c[:, :3], axis=1)[:, None, None, None] + c[:, None, None, None, 3]
    raise ValueError(f"colour augmentations need 1 or 3 channels, got {channels}")


def image_filter(images, gains):
    """Amplifies the 4 frequency bands of each image by `gains` `[B, 4]` (reference's imgfilter):
    a separable symmetric filter `gains @ FILTER_BANK` with reflected borders."""
    batch, height, width, channels = tf.shape(images)[0], images.shape[1], images.shape[2], images.shape[3]
    taps = gains @ tf.constant(FILTER_BANK)  # [B, T]
    t = FILTER_BANK.shape[1]
    pad = t // 2
    x = _reflect_pad(images, pad)
    # Per-image filters as depthwise channels of one image: [1, H', W', B * C].
    x = tf.reshape(tf.transpose(x, [1, 2, 0, 3]), [1, height + 2 * pad, width + 2 * pad, -1])
    k = tf.reshape(tf.repeat(tf.transpose(taps), channels, axis=1), [t, -1])  # [T, B * C]
    x = tf.nn.depthwise_conv2d(x, tf.reshape(k, [1, t, -1, 1]), [1, 1, 1, 1], "VALID")
    x = tf.nn.depthwise_conv2d(x, tf.reshape(k, [t, 1, -1, 1]), [1, 1, 1, 1], "VALID")
    return tf.transpose(tf.reshape(x, [height, width, batch, channels]), [2, 0, 1, 3])


class _Draws:
    """Stateless draws for the global batch, sliced to `offset : offset + batch`. All scalar draws of
    a call come from one uniform and one normal table `[global_batch, columns]`, taken column by
    column (two random ops instead of one per parameter); larger fields fold in their own seed."""

    COLUMNS = 48  # more than the 31 uniforms / 12 normals of the largest pipeline (bgcfnc)

    def __init__(self, seed, global_batch, offset, batch):
        self.seed = tf.cast(seed, tf.int64)
        self.n = global_batch if global_batch is not None else batch
        self.offset, self.batch = offset, batch
        self.used = {"uniform": 0, "normal": 0}
        self.tables = {}
        self.k = 0

    def _slice(self, x):
        return x if self.n == self.batch and isinstance(self.offset, int) and self.offset == 0 else \
            x[self.offset: self.offset + self.batch]

    def _take(self, kind, columns):
        if kind not in self.tables:
            op = tf.random.stateless_uniform if kind == "uniform" else tf.random.stateless_normal
            seed = tf.random.experimental.stateless_fold_in(self.seed, 1 if kind == "uniform" else 2)
            self.tables[kind] = self._slice(op([self.n, self.COLUMNS], seed=seed))
        start = self.used[kind]
        self.used[kind] += columns
        if self.used[kind] > self.COLUMNS:
            raise ValueError("more augmentation parameters than _Draws.COLUMNS")
        return self.tables[kind][:, start: start + columns]

    def uniform(self, *tail):
        """`[B]` or `[B, c]` (tail = (c,)) uniform in [0, 1)."""
        return self._take("uniform", tail[0]) if tail else self._take("uniform", 1)[:, 0]

    def normal(self, *tail):
        """`[B]`, `[B, c]`, or a field `[B, *tail]` (rank > 1) standard normal."""
        if len(tail) > 1:
            seed = tf.random.experimental.stateless_fold_in(self.seed, 3)
            return self._slice(tf.random.stateless_normal([self.n, *tail], seed=seed))
        return self._take("normal", tail[0]) if tail else self._take("normal", 1)[:, 0]


class AugmentPipe:
    """ADA's augmentation pipeline: per-transform probability multipliers (0 or 1 in the named
    pipelines) times the overall probability `p`.

    Args:
        **multipliers: probability multiplier per transform (`OPS`); strengths (`DEFAULTS`) may be
            overridden by name, e.g. `AugmentPipe(xflip=1, rotate=1, rotate_max=0.25)`.

    Call arguments:
        images: `[B, H, W, C]` (C = 1 or 3), float, about [-1, 1].
        p: the overall probability (a float or scalar tensor / variable).
        seed: `[2]` integer stateless seed.
        global_batch, offset: draw for `global_batch` images and keep `offset : offset + B`
            (None: draw for B).

    Returns the augmented images in the input dtype; at `p == 0` the input itself (in-graph check).
    """

    def __init__(self, **kwargs):
        unknown = set(kwargs) - set(OPS) - set(DEFAULTS)
        if unknown:
            raise ValueError(f"unknown augmentation settings {sorted(unknown)}; transforms are {', '.join(OPS)}")
        self.multipliers = {op: float(kwargs.get(op, 0.0)) for op in OPS}
        self.settings = {k: kwargs.get(k, v) for k, v in DEFAULTS.items()}

    @classmethod
    def from_name(cls, name, **overrides):
        if name not in PIPELINES:
            raise ValueError(f"unknown augmentation pipeline {name!r}; known: {', '.join(PIPELINES)}")
        return cls(**{**PIPELINES[name], **overrides})

    def enabled(self, *ops):
        return any(self.multipliers[op] > 0 for op in ops)

    @_no_autograph
    def draw(self, batch, height, width, channels, p, seed, global_batch=None, offset=0):
        """The random parameters of the enabled transforms, per image (the reference's draws, gated
        by `uniform < multiplier * p`). Keys: xflip, rotate90, xint [B, 2] (pixels), g_inv [B, 3, 3]
        (the general geometric part), brightness, contrast, lumaflip, hue, saturation, imgfilter
        [B, 4] (band gains), noise (sigma) and noise_field [B, H, W, C], cutout_size, cutout_center [B, 2]."""
        m, s = self.multipliers, self.settings
        p = tf.cast(p, tf.float32)
        d = _Draws(seed, global_batch, offset, batch)

        def gate(prob, value, off, tail=()):
            keep = d.uniform(*tail) < prob
            return tf.where(keep, value, tf.cast(off, value.dtype) * tf.ones_like(value))

        params = {}
        if m["xflip"] > 0:
            params["xflip"] = gate(m["xflip"] * p, tf.floor(d.uniform() * 2), 0)
        if m["rotate90"] > 0:
            params["rotate90"] = gate(m["rotate90"] * p, tf.floor(d.uniform() * 4), 0)
        if m["xint"] > 0:
            t = (d.uniform(2) * 2 - 1) * s["xint_max"]
            t = gate(m["xint"] * p, t, 0, tail=(1,))
            params["xint"] = tf.round(t * tf.constant([width, height], tf.float32))
        if self.enabled(*GEOM):
            g = tf.eye(3, batch_shape=[batch])
            if m["scale"] > 0:
                sc = gate(m["scale"] * p, tf.pow(2.0, d.normal() * s["scale_std"]), 1)
                g = g @ scale2d(1 / sc, 1 / sc, batch)
            p_rot = 1 - tf.sqrt(tf.clip_by_value(1 - m["rotate"] * p, 0, 1))  # P(pre OR post) = p
            if m["rotate"] > 0:
                theta = gate(p_rot, (d.uniform() * 2 - 1) * math.pi * s["rotate_max"], 0)
                g = g @ rotate2d(theta, batch)  # rotate2d_inv(-theta): before anisotropic scaling
            if m["aniso"] > 0:
                an = gate(m["aniso"] * p, tf.pow(2.0, d.normal() * s["aniso_std"]), 1)
                g = g @ scale2d(1 / an, an, batch)
            if m["rotate"] > 0:
                theta = gate(p_rot, (d.uniform() * 2 - 1) * math.pi * s["rotate_max"], 0)
                g = g @ rotate2d(theta, batch)  # after anisotropic scaling
            if m["xfrac"] > 0:
                t = gate(m["xfrac"] * p, d.normal(2) * s["xfrac_std"], 0, tail=(1,))
                g = g @ translate2d(-t[:, 0] * width, -t[:, 1] * height, batch)
            params["g_inv"] = g
        if m["brightness"] > 0:
            params["brightness"] = gate(m["brightness"] * p, d.normal() * s["brightness_std"], 0)
        if m["contrast"] > 0:
            params["contrast"] = gate(m["contrast"] * p, tf.pow(2.0, d.normal() * s["contrast_std"]), 1)
        if m["lumaflip"] > 0:
            params["lumaflip"] = gate(m["lumaflip"] * p, tf.floor(d.uniform() * 2), 0)
        if m["hue"] > 0 and channels > 1:
            params["hue"] = gate(m["hue"] * p, (d.uniform() * 2 - 1) * math.pi * s["hue_max"], 0)
        if m["saturation"] > 0 and channels > 1:
            params["saturation"] = gate(m["saturation"] * p, tf.pow(2.0, d.normal() * s["saturation_std"]), 1)
        if m["imgfilter"] > 0:
            expected_power = tf.constant([10, 1, 1, 1], tf.float32) / 13  # 1/f spectrum
            gains = tf.ones([batch, 4])
            for i, band in enumerate(s["imgfilter_bands"]):
                t_i = gate(m["imgfilter"] * p * band, tf.pow(2.0, d.normal() * s["imgfilter_std"]), 1)
                t = tf.concat([tf.ones([batch, i]), t_i[:, None], tf.ones([batch, 3 - i])], axis=1)
                t = t / tf.sqrt(tf.reduce_sum(expected_power * tf.square(t), axis=-1, keepdims=True))
                gains = gains * t
            params["imgfilter"] = gains
        if m["noise"] > 0:
            params["noise"] = gate(m["noise"] * p, tf.abs(d.normal()) * s["noise_std"], 0)
            params["noise_field"] = d.normal(height, width, channels)
        if m["cutout"] > 0:
            params["cutout_size"] = gate(m["cutout"] * p, tf.fill([batch, 2], float(s["cutout_size"])), 0, tail=(1,))
            params["cutout_center"] = d.uniform(2)
        return params

    @_no_autograph
    def apply(self, images, params):
        """Applies drawn `params` to `images` `[B, H, W, C]` (float32): blit, geometric, colour,
        filter, noise, cutout, in the reference's order."""
        batch = tf.shape(images)[0]
        if any(k in params for k in BLIT):
            zeros = tf.zeros([batch])
            images = blit(images, params.get("xflip", zeros), params.get("rotate90", zeros),
                          params.get("xint", tf.zeros([batch, 2])))
        if "g_inv" in params:
            images = warp(images, params["g_inv"])
        if any(k in params for k in COLOR):
            images = apply_color(images, color_matrix(params, batch))
        if "imgfilter" in params:
            images = image_filter(images, params["imgfilter"])
        if "noise" in params:
            images = images + params["noise_field"] * params["noise"][:, None, None, None]
        if "cutout_size" in params:
            height, width = images.shape[1], images.shape[2]
            size = params["cutout_size"][:, :, None, None]  # [B, 2, 1, 1]
            center = params["cutout_center"][:, :, None, None]
            cx = (tf.range(width, dtype=tf.float32)[None, None, :] + 0.5) / width  # [1, 1, W]
            cy = (tf.range(height, dtype=tf.float32)[None, :, None] + 0.5) / height  # [1, H, 1]
            mask_x = tf.abs(cx - center[:, 0]) >= size[:, 0] / 2  # [B, 1, W]
            mask_y = tf.abs(cy - center[:, 1]) >= size[:, 1] / 2  # [B, H, 1]
            images = images * tf.cast(mask_x | mask_y, images.dtype)[..., None]
        return images

    @_no_autograph
    def __call__(self, images, p, seed, global_batch=None, offset=0):
        dtype = images.dtype
        x = tf.cast(images, tf.float32)
        batch, height, width, channels = x.shape
        if batch is None:
            raise ValueError("AugmentPipe needs a static batch size")
        p = tf.cast(tf.convert_to_tensor(p), tf.float32)

        def augmented():
            params = self.draw(batch, height, width, channels, p, seed, global_batch, offset)
            return self.apply(x, params)

        out = tf.cond(p > 0, augmented, lambda: x)
        return tf.cast(out, dtype)
