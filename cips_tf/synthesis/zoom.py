"""Continuous zoom into a point: the paper's super-resolution (Sec. 4.4) as a video.

CIPS renders any coordinate, so zooming needs no upsampling: frame i renders an `H x W` grid over
a window that shrinks toward the point `p = (px, py)` (normalized coordinates in [-1, 1]):

    x_range_i = (px + (-1 - px) / z_i,  px + (1 - px) / z_i)      (likewise for y)

with the zoom `z_i` growing geometrically from 1 to `max_zoom`. The point stays where it is on the
screen, and frame i samples the image `z_i` times more densely than the training grid. Frames are
rendered through the shared `ChunkedRenderer`, one at a time, so memory is bounded whatever the
frame size and the number of frames.
"""
import numpy as np
from absl import logging

from cips_tf import rendering


def zoom_factors(num_frames, max_zoom):
    """`[num_frames]` zoom factors growing geometrically from 1 to `max_zoom` (both included)."""
    if num_frames < 2:
        raise ValueError(f"a zoom needs at least 2 frames, got {num_frames}")
    if max_zoom < 1:
        raise ValueError(f"max_zoom must be >= 1, got {max_zoom}")
    return np.geomspace(1.0, float(max_zoom), int(num_frames))


def zoom_windows(center, num_frames, max_zoom):
    """`[(x_range, y_range)]` of the frames: windows shrinking toward `center` (x, y) in [-1, 1]."""
    px, py = (float(c) for c in center)
    if not (-1.0 <= px <= 1.0 and -1.0 <= py <= 1.0):
        raise ValueError(f"the zoom centre must lie in [-1, 1] x [-1, 1], got {center}")
    windows = []
    for z in zoom_factors(num_frames, max_zoom):
        windows.append(((px + (-1.0 - px) / z, px + (1.0 - px) / z), (py + (-1.0 - py) / z, py + (1.0 - py) / z)))
    return windows


def zoom_frames(generator, w, center=(0.0, 0.0), num_frames=48, max_zoom=16.0, height=None, width=None,
                per_layer=False, chunk_pixels=rendering.DEFAULT_CHUNK_PIXELS, log_every=0):
    """Yields uint8 `[H, W, 3]` frames zooming into `center` for ONE style `w` (`[S]`, `[1, S]`,
    or `[num_ws, S]` / `[1, num_ws, S]` with `per_layer`). Frame 0 is the ordinary render."""
    height = int(generator.size if height is None else height)
    width = height if width is None else int(width)
    w = np.asarray(w, np.float32)
    if w.ndim == (2 if per_layer else 1):
        w = w[None]
    renderer = rendering.renderer(generator, chunk_pixels)
    windows = zoom_windows(center, num_frames, max_zoom)
    for i, (x_range, y_range) in enumerate(windows):
        image = renderer.render(w, height, width, per_layer=per_layer, x_range=x_range, y_range=y_range)
        yield rendering.to_uint8(image)[0]
        if log_every and ((i + 1) % log_every == 0 or i + 1 == len(windows)):
            logging.info("zoom: rendered %d/%d frames", i + 1, len(windows))
