"""Coordinate grids: the training grid, denser grids, and arbitrary point sets.

Convention (official `convert_to_coord_format`): channel 0 is x (along the width), channel 1 is y
(along the height), each `linspace(-1, 1, n)` on an n-pixel axis, i.e. `x' = 2x / (W - 1) - 1`.
Grids are `[B, H, W, 2]` float32 (NHWC, like every image tensor in cips_tf).
"""
import numpy as np
import tensorflow as tf


def make_grid_np(height, width, x_range=(-1.0, 1.0), y_range=(-1.0, 1.0)):
    """`[H, W, 2]` float32 numpy grid, x varying along the width."""
    xs = np.linspace(x_range[0], x_range[1], width, dtype=np.float32)
    ys = np.linspace(y_range[0], y_range[1], height, dtype=np.float32)
    gx, gy = np.meshgrid(xs, ys)  # [H, W] each
    return np.stack([gx, gy], axis=-1).astype(np.float32)


def make_grid(batch, height, width=None, x_range=(-1.0, 1.0), y_range=(-1.0, 1.0)):
    """`[B, H, W, 2]` float32 tensor: the standard grid, or a denser one for super-resolution.

    `make_grid(B, size)` is the training grid; `make_grid(B, k * size)` renders the same image
    k times denser (paper Sec. 4.7).
    """
    width = height if width is None else width
    grid = make_grid_np(height, width, x_range, y_range)
    return tf.tile(tf.constant(grid)[None], [batch, 1, 1, 1])


def points_from_pixels(pixel_xy, height, width=None):
    """Normalised coordinates `[..., 2]` float32 of integer (or fractional) pixel positions `[..., 2]`
    (x, y); integer pixels get exactly the `make_grid_np` values (computed in float64 as linspace)."""
    width = height if width is None else width
    pixel_xy = np.asarray(pixel_xy, dtype=np.float64)
    scale = np.array([2.0 / max(width - 1, 1), 2.0 / max(height - 1, 1)])
    return (pixel_xy * scale - 1.0).astype(np.float32)
