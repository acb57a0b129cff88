"""Coordinate sets beyond the plain grid: cylinders (panoramas), dilated patches, foveation.

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
(`panorama_width`). A training crop (`cylindrical_crop`) is a `size x size` window of that grid at
a uniformly random column offset taken modulo W; crops at different offsets are rotations of one
another about the origin, so every angle is trained equally and the model never sees a seam.

Note for training: `CoordinateEmbedding` reads its table directly (ignoring the coordinates) for
any `[B, size, size, 2]` input in training mode, so crops and patches of the training size must be
rendered with the embedding sampled (eval-mode embedding), or with a generator without embedding.
"""
import math

import numpy as np

from cips_tf.coords import make_grid_np

DEFAULT_R_OUTER = 1.0
DEFAULT_R_INNER = 0.25


def _rng(seed):
    return seed if isinstance(seed, np.random.RandomState) else np.random.RandomState(seed)


# ---------------------------------------------------------------------------------------------
# Cylinder
# ---------------------------------------------------------------------------------------------


def panorama_width(height, r_inner=DEFAULT_R_INNER, r_outer=DEFAULT_R_OUTER):
    """Columns of a 360-degree panorama of `height` rows with square pixels at mid radius."""
    return _square_pixel_width(height, r_inner, r_outer)


def _square_pixel_width(height, r_inner, r_outer):
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


def cylindrical_grid(batch, height, width=None, r_inner=DEFAULT_R_INNER, r_outer=DEFAULT_R_OUTER):
    """`[B, H, W, 2]` float32 numpy: the full 360-degree panorama grid for a batch."""
    grid = cylindrical_grid_np(height, width, r_inner, r_outer)
    return np.broadcast_to(grid[None], (batch,) + grid.shape).copy()


def cylindrical_crop(batch, size, panorama_width=None, seed=None, r_inner=DEFAULT_R_INNER,
                     r_outer=DEFAULT_R_OUTER, panorama_height=None, return_offsets=False):
    """Random `size x size` crops of the cylindrical panorama grid (training in "cylindrical" mode).

    Args:
        batch: number of crops.
        size: crop side (the training resolution).
        panorama_width: W, the panorama's columns (default `panorama_width(panorama_height)`).
        seed: int, None or a `np.random.RandomState` (advanced in place).
        r_inner, r_outer: annulus radii (see the module docstring).
        panorama_height: rows of the panorama (default `size`: crops span the full height).
        return_offsets: also return the `[B, 2]` int32 (column, row) offsets.

    Returns:
        coords `[B, size, size, 2]` float32 (and offsets when asked). The column offset is uniform
        in `[0, W)` and wraps; the row offset is uniform in `[0, panorama_height - size]`.
    """
    rng = _rng(seed)
    height = size if panorama_height is None else int(panorama_height)
    if height < size:
        raise ValueError(f"panorama_height {height} is smaller than the crop size {size}")
    width = _square_pixel_width(height, r_inner, r_outer) if panorama_width is None else int(panorama_width)
    full = cylindrical_grid_np(height, width, r_inner, r_outer)  # [H, W, 2]
    cols = rng.randint(0, width, size=batch)
    rows = rng.randint(0, height - size + 1, size=batch)
    idx = (cols[:, None] + np.arange(size)[None, :]) % width  # [B, size]
    coords = np.stack([full[r : r + size][:, i] for r, i in zip(rows, idx)]).astype(np.float32)
    if return_offsets:
        return coords, np.stack([cols, rows], axis=-1).astype(np.int32)
    return coords


# ---------------------------------------------------------------------------------------------
# Patches (App. C)
# ---------------------------------------------------------------------------------------------


def patch_coords(batch, full_size, patch_size, dilation=1, seed=None):
    """K x K patches `P_{K, sigma}(u, v) = {(u + i sigma, v + j sigma)}` of the full grid (App. C).

    Args:
        batch: number of patches.
        full_size: H = W of the full image / training grid.
        patch_size: K.
        dilation: sigma, a positive int or an int array `[B]` (one per patch).
        seed: int, None or a `np.random.RandomState` (advanced in place).

    Returns:
        coords `[B, K, K, 2]` float32: exactly the full grid's coordinates at those pixels, and
        pixel_idx `[B, K, K, 2]` int32 (x, y) pixel indices, so a real image batch can be cut with
        the same patch (`gather_patches`). The corner u (and v) is uniform in
        `0 <= u < W - (K - 1) sigma`.
    """
    rng = _rng(seed)
    sigma = np.broadcast_to(np.asarray(dilation, np.int64), (batch,))
    if np.any(sigma < 1):
        raise ValueError(f"dilation must be >= 1, got {dilation}")
    span = (patch_size - 1) * sigma  # [B]
    if np.any(span >= full_size):
        raise ValueError(f"a {patch_size}-pixel patch with dilation {dilation} does not fit in {full_size}")
    u = np.array([rng.randint(0, full_size - s) for s in span])  # [B]
    v = np.array([rng.randint(0, full_size - s) for s in span])
    steps = np.arange(patch_size)
    xs = u[:, None] + steps[None, :] * sigma[:, None]  # [B, K]
    ys = v[:, None] + steps[None, :] * sigma[:, None]
    px = np.broadcast_to(xs[:, None, :], (batch, patch_size, patch_size))
    py = np.broadcast_to(ys[:, :, None], (batch, patch_size, patch_size))
    pixel_idx = np.stack([px, py], axis=-1).astype(np.int32)  # [B, K, K, 2] (x, y)
    grid = make_grid_np(full_size, full_size)
    coords = grid[pixel_idx[..., 1], pixel_idx[..., 0]]  # [B, K, K, 2]
    return coords.astype(np.float32), pixel_idx


def random_dilations(batch, full_size, patch_size, max_dilation, seed=None):
    """`[B]` int dilations uniform in `1 .. max_dilation`, capped so the patch fits."""
    rng = _rng(seed)
    cap = max(1, (full_size - 1) // max(patch_size - 1, 1))
    return rng.randint(1, min(int(max_dilation), cap) + 1, size=batch)


def gather_patches(images, pixel_idx):
    """Cuts `images` `[B, H, W, C]` at `pixel_idx` `[B, K, K, 2]` (x, y) -> `[B, K, K, C]`.

    Works on numpy arrays and on tensors (tf.gather_nd with batch_dims=1), so the discriminator
    sees real and generated patches cut identically.
    """
    import tensorflow as tf  # pylint: disable=g-import-not-at-top

    yx = tf.reverse(tf.convert_to_tensor(pixel_idx, tf.int32), axis=[-1])
    out = tf.gather_nd(tf.convert_to_tensor(images), yx, batch_dims=1)
    return out.numpy() if isinstance(images, np.ndarray) else out


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


def pixel_coords(pixel_idx, height, width=None):
    """Grid coordinates `[..., 2]` of integer pixels `[..., 2]` (x, y), bit-identical to `make_grid_np`."""
    width = height if width is None else width
    pixel_idx = np.asarray(pixel_idx)
    return make_grid_np(height, width)[pixel_idx[..., 1], pixel_idx[..., 0]]
