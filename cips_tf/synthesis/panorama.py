"""360-degree cylindrical panoramas (paper Sec. 4.8, Figs 11, 17).

The panorama grid is the annulus embedding of a cylinder (`cips_tf.coords_extra`): column `j` of a
`W`-column panorama sits at angle `2 pi j / W`, so the column after the last is column 0 and the
panorama is seamless by construction. A model trained in "cylindrical" mode has seen random
`size x size` crops of this grid; any other model renders too (it just was not trained for it).
"""
import numpy as np

from cips_tf import coords_extra, rendering


def panorama_coords(height, width=None, r_inner=coords_extra.DEFAULT_R_INNER, r_outer=coords_extra.DEFAULT_R_OUTER):
    """`[H, W, 2]` coordinates of the full panorama (width defaults to square pixels)."""
    return coords_extra.cylindrical_grid_np(height, width, r_inner, r_outer)


def render_panorama(generator, styles, height=None, width=None, r_inner=coords_extra.DEFAULT_R_INNER,
                    r_outer=coords_extra.DEFAULT_R_OUTER, chunk_pixels=rendering.DEFAULT_CHUNK_PIXELS):
    """`[B, H, W, 3]` panoramas; `styles` `[B, S]` or per pixel `[B, H, W, S]` (panorama blending)."""
    height = generator.size if height is None else int(height)
    coords = panorama_coords(height, width, r_inner, r_outer)
    return rendering.render_coords(generator, styles, coords, shared=True, chunk_pixels=chunk_pixels)


def wrap_columns(panorama, extra):
    """Appends the first `extra` columns after the last: shows the seam (`[..., H, W + extra, C]`)."""
    panorama = np.asarray(panorama)
    return np.concatenate([panorama, panorama[..., :, :extra, :]], axis=-2)
