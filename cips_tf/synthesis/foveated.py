"""Foveated synthesis (paper Sec. 4.7, Fig. 8): render a Gaussian-distributed share of the pixels
around a gaze point, fill the rest by scattered-data interpolation."""
import numpy as np
from scipy import interpolate as sp_interpolate

from cips_tf import coords_extra, rendering
from cips_tf.coords import points_from_pixels


def fill_missing(values, known_idx, height, width, method="cubic"):
    """Image `[H, W, C]` from `values` `[N, C]` at pixels `known_idx` `[N, 2]` (x, y).

    Known pixels keep their exact values; the others are interpolated with
    `scipy.interpolate.griddata(method)` and, outside the convex hull of the known pixels (where
    griddata gives NaN), by the nearest known pixel.
    """
    values = np.asarray(values, np.float32)
    known_idx = np.asarray(known_idx)
    channels = values.shape[-1]
    out = np.full((height, width, channels), np.nan, np.float32)
    out[known_idx[:, 1], known_idx[:, 0]] = values
    missing = np.isnan(out[..., 0])
    if not missing.any():
        return out
    my, mx = np.nonzero(missing)
    targets = np.stack([mx, my], axis=-1).astype(np.float64)
    pts = known_idx.astype(np.float64)
    if method != "nearest" and len(pts) >= 4:
        try:
            filled = sp_interpolate.griddata(pts, values, targets, method=method)
        except Exception:  # degenerate (e.g. collinear) point sets: fall back to nearest  # pylint: disable=broad-except
            filled = np.full((len(targets), channels), np.nan)
    else:
        filled = np.full((len(targets), channels), np.nan)
    holes = np.isnan(filled).any(axis=-1)
    if holes.any():
        filled[holes] = sp_interpolate.griddata(pts, values, targets[holes], method="nearest")
    out[my, mx] = filled
    return out


def foveated_render(generator, styles, fraction, gaze=(0.0, 0.0), std_frac=0.4, seed=0, height=None,
                    method="cubic", chunk_pixels=rendering.DEFAULT_CHUNK_PIXELS):
    """Foveated rendering of `styles` `[B, S]` at `height x height` (default: training size).

    Returns `(images [B, H, W, 3], mask [H, W] bool)`: the same sampled pixel pattern (from `seed`)
    for every image; `mask` marks the pixels actually rendered. `fraction=1` is the full render.
    """
    height = generator.size if height is None else int(height)
    styles = np.asarray(styles, np.float32)
    idx = coords_extra.foveated_pixels(fraction, height, height, gaze, std_frac, seed)  # [N, 2]
    pts = points_from_pixels(idx, height, height)  # [N, 2]
    values = rendering.render_coords(generator, styles, pts, shared=True, chunk_pixels=chunk_pixels)  # [B, N, 3]
    images = np.stack([fill_missing(v, idx, height, height, method) for v in values])
    mask = np.zeros((height, height), bool)
    mask[idx[:, 1], idx[:, 0]] = True
    return images, mask
