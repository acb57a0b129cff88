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


# ---------------------------------------------------------------------------------------------
# Non-square canvases (square pixels at any aspect ratio)
# ---------------------------------------------------------------------------------------------
#
# A canvas of H x W pixels keeps the pixels square: its SHORTER side spans linspace(-1, 1) exactly
# as the square grid does, and the longer side extends at the same pixel pitch, to
# +-(long - 1) / (short - 1). So the square case is `make_grid` bit for bit, and a wide canvas is
# the square grid of its height with columns added on both sides (for W - H even, its central H
# columns ARE the square grid's columns): the panorama-style extension of paper Sec. 4.8 / Fig. 11.
# `resolution` always names the shorter side; an aspect "W:H" sets the longer one.


def parse_aspect(aspect, field="aspect"):
    """"W:H" (or "WxH", or a (W, H) pair) -> (W, H) positive ints; None or "" is 1:1.

    Raises ValueError naming `field` on anything else.
    """
    if aspect is None or aspect == "":
        return 1, 1
    if isinstance(aspect, str):
        parts = aspect.replace("x", ":").replace("/", ":").split(":")
    else:
        parts = list(aspect)
    try:
        if len(parts) != 2:
            raise ValueError
        values = [float(p) for p in parts]
        w, h = (int(v) for v in values)
        if [w, h] != values:
            raise ValueError
    except (TypeError, ValueError):
        raise ValueError(f"{field} must be 'W:H' with positive integers (e.g. '2:1' for images twice as wide as "
                         f"tall), got {aspect!r}") from None
    if w < 1 or h < 1:
        raise ValueError(f"{field} must be 'W:H' with positive integers, got {aspect!r}")
    return w, h


def canvas_size(resolution, aspect=None, field="aspect"):
    """(height, width) of the canvas whose SHORTER side is `resolution` and whose width:height is
    `aspect` ("W:H"): `canvas_size(32, "2:1") == (32, 64)`, `canvas_size(32, "1:2") == (64, 32)`.

    Raises ValueError naming `field` when the longer side is not a whole number of pixels.
    """
    resolution = int(resolution)
    w, h = parse_aspect(aspect, field)
    if w == h:
        return resolution, resolution
    short, long_ = min(w, h), max(w, h)
    if (resolution * long_) % short:
        raise ValueError(f"{field}={aspect!r} at resolution {resolution} (the shorter side) gives a longer side of "
                         f"{resolution * long_ / short:g} pixels, not a whole number; pick an aspect or resolution "
                         f"that divide")
    other = resolution * long_ // short
    return (resolution, other) if w > h else (other, resolution)


def canvas_extent(height, width):
    """(x_max, y_max): the canvas grid spans x in [-x_max, x_max], y in [-y_max, y_max] with square
    pixels; the shorter side's is 1 (both are 1.0 for a square)."""
    height, width = int(height), int(width)
    short = min(height, width)
    if height == width or short < 2:
        return 1.0, 1.0
    return (width - 1) / (short - 1), (height - 1) / (short - 1)


def canvas_grid_np(height, width):
    """`[H, W, 2]` float32 grid of an H x W canvas with square pixels (see above); `make_grid_np(n, n)`
    for a square."""
    x_max, y_max = canvas_extent(height, width)
    return make_grid_np(height, width, (-x_max, x_max), (-y_max, y_max))


def canvas_grid(batch, height, width=None):
    """`[B, H, W, 2]` float32 tensor of `canvas_grid_np`: the native grid of a model trained at H x W
    (`make_grid(batch, n)` for an n x n model, bit for bit)."""
    width = height if width is None else width
    return tf.tile(tf.constant(canvas_grid_np(height, width))[None], [batch, 1, 1, 1])


def render_extent(height, width, native_height, native_width):
    """(x_max, y_max) of an H x W render of a model trained on a `native_height x native_width` canvas.

    The model's own aspect (any density: super-resolution) spans its training canvas exactly; any
    other aspect is the H x W canvas (`canvas_extent`: square pixels, the shorter side [-1, 1]), so
    a square model rendered wide extends x at its pixel pitch. Both are (1, 1) for a square render
    of a square model.
    """
    if int(height) * int(native_width) == int(width) * int(native_height):
        return canvas_extent(native_height, native_width)
    return canvas_extent(height, width)
