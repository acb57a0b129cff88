"""Coordinate sets beyond the plain grid: cylinders (panoramas) and foveation.

Everything here is numpy (float32 coordinates, int32 pixel indices), deterministic given a seed,
and uses the `cips_tf.coords` convention: channel 0 is x (along the width), channel 1 is y, the
training grid is `linspace(-1, 1, size)` on both axes.

Cylindrical coordinates (paper Sec. 4.8, Figs 11, 17)
------------------------------------------------------
The generator takes 2-D coordinates, and a 360-degree panorama needs the column at angle `theta`
and the one at `theta + 2 pi` to be the same input. Mapping theta linearly onto x (and hoping the
generator learns to match the two ends) is only seamless after training, and only approximately.
Instead we embed the cylinder `S^1 x [top, bottom]` in the plane as an annulus:

    x = r cos(theta),   y = r sin(theta),   r = r_outer + (r_inner - r_outer) * v,

with `theta = 2 pi j / W` for panorama column `j` (so column `W` *is* column 0: the wrap is exact
for any weights, trained or not) and `v = i / (H - 1)` for row `i` (row 0, the top of the
panorama, lies on the outer circle). The annulus lies inside the unit disk, i.e. inside the
`[-1, 1]^2` square of the Fourier features and of the coordinate-embedding table (whose corners go
unused). With the defaults `r_outer = 1`, `r_inner = 0.25`, a panorama of height H has square
pixels at mid radius for `W = 2 pi r_mid (H - 1) / (r_outer - r_inner)`, about 5.2 H
(`panorama_width`). A training crop (`cips_tf.models.samplers.CylindricalSampler`) is a
`size x size` window of that grid at a uniformly random column offset taken modulo W; crops at
different offsets are rotations of one another about the origin, so every angle is trained equally
and the model never sees a seam. Dilated training patches (App. C) are drawn by
`cips_tf.models.samplers.PatchSampler`.
"""
import math

import numpy as np

DEFAULT_R_OUTER = 1.0
DEFAULT_R_INNER = 0.25


def _rng(seed):
    return seed if isinstance(seed, np.random.RandomState) else np.random.RandomState(seed)


# ---------------------------------------------------------------------------------------------
# Cylinder
# ---------------------------------------------------------------------------------------------


def panorama_width(height, r_inner=DEFAULT_R_INNER, r_outer=DEFAULT_R_OUTER):
    """Columns of a 360-degree panorama of `height` rows with square pixels at mid radius."""
    _check_radii(r_inner, r_outer)
    r_mid = 0.5 * (r_inner + r_outer)
    step = abs(r_outer - r_inner) / max(height - 1, 1)  # radial distance between rows
    return max(1, int(round(2 * math.pi * r_mid / step)))


def _check_radii(r_inner, r_outer):
    if not (0.0 <= r_inner <= 1.0 and 0.0 <= r_outer <= 1.0) or r_inner == r_outer:
        raise ValueError(f"need distinct radii in [0, 1], got r_inner={r_inner}, r_outer={r_outer}")


def cylinder_to_plane(theta, v, r_inner=DEFAULT_R_INNER, r_outer=DEFAULT_R_OUTER):
    """Generator coordinates `[..., 2]` of cylinder points: angle `theta` (radians), height `v` in [0, 1]
    (0 = top row, on the outer circle). Periodic in theta with period 2 pi."""
    _check_radii(r_inner, r_outer)
    theta = np.asarray(theta, np.float64)
    r = r_outer + (r_inner - r_outer) * np.asarray(v, np.float64)
    return np.stack(np.broadcast_arrays(r * np.cos(theta), r * np.sin(theta)), axis=-1).astype(np.float32)


def cylindrical_grid_np(height, width=None, r_inner=DEFAULT_R_INNER, r_outer=DEFAULT_R_OUTER,
                        column_offset=0, num_columns=None):
    """`[H, C, 2]` coordinates of panorama columns `column_offset .. column_offset + C - 1` (mod W).

    `width` is the full panorama width W (default `panorama_width(height)`); `num_columns` C
    defaults to W (the whole panorama). Column j sits at `theta = 2 pi j / W`.
    """
    width = panorama_width(height, r_inner, r_outer) if width is None else int(width)
    num_columns = width if num_columns is None else int(num_columns)
    cols = (column_offset + np.arange(num_columns)) % width
    theta = 2 * np.pi * cols / width  # [C]
    v = np.linspace(0.0, 1.0, height) if height > 1 else np.zeros(1)  # [H]
    return cylinder_to_plane(theta[None, :], v[:, None], r_inner, r_outer)


# ---------------------------------------------------------------------------------------------
# Foveation (Sec. 4.7, Fig. 8)
# ---------------------------------------------------------------------------------------------


def foveated_pixels(fraction, height, width=None, gaze=(0.0, 0.0), std_frac=0.4, seed=None):
    """Distinct pixels `[N, 2]` int32 (x, y), drawn without replacement from a 2-D Gaussian.

    Args:
        fraction: share p of the `H x W` pixels to draw, in (0, 1]; `N = round(p H W)`.
        height, width: image size (width defaults to height).
        gaze: Gaussian centre in normalised coordinates (x, y) in [-1, 1] (0, 0 = image centre).
        std_frac: standard deviation as a fraction of the image size (paper: 0.4).
        seed: int, None or a `np.random.RandomState`.

    Returns:
        `[N, 2]` int32 pixel indices, sorted in raster order. `fraction=1` returns every pixel.
    """
    width = height if width is None else width
    if not 0.0 < fraction <= 1.0:
        raise ValueError(f"fraction must be in (0, 1], got {fraction}")
    total = height * width
    n = max(1, min(total, int(round(fraction * total))))
    ys, xs = np.mgrid[0:height, 0:width]
    cx = (gaze[0] + 1.0) * 0.5 * (width - 1)
    cy = (gaze[1] + 1.0) * 0.5 * (height - 1)
    sx, sy = std_frac * width, std_frac * height
    logp = -0.5 * (((xs - cx) / sx) ** 2 + ((ys - cy) / sy) ** 2)
    p = np.exp(logp - logp.max()).ravel()
    p /= p.sum()
    if n == total:
        flat = np.arange(total)
    else:
        flat = np.sort(_rng(seed).choice(total, size=n, replace=False, p=p))
    return np.stack([flat % width, flat // width], axis=-1).astype(np.int32)
