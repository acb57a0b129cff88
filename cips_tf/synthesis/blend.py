"""Pixel-wise style interpolation (paper Sec. 4.8, Fig. 11c): each pixel gets its own
`w(x, y) = m(x, y) w_A + (1 - m(x, y)) w_B`, which CIPS allows because pixels are independent."""
import numpy as np

from cips_tf import rendering


def radial_mask(height, width=None, radius=0.5, softness=0.25):
    """`[H, W]` float32 mask, 1 at the image centre falling to 0 outside (Fig. 11c: A in the centre).

    `radius` and `softness` are in units of half the image width (normalised coordinates).
    """
    width = height if width is None else width
    ys, xs = np.meshgrid(np.linspace(-1, 1, height), np.linspace(-1, 1, width), indexing="ij")
    d = np.sqrt(xs**2 + ys**2)
    return np.clip((radius + softness - d) / max(softness, 1e-6), 0.0, 1.0).astype(np.float32)


def horizontal_mask(height, width=None, center=0.5, half_width=0.25, softness=0.25):
    """`[H, W]` float32 mask: 1 within `half_width` (fraction of the width) of column `center`, falling
    to 0 over `softness`; the distance is cyclic, so the mask suits panoramas."""
    width = height if width is None else width
    u = (np.arange(width) + 0.5) / width
    d = np.abs(u - center)
    d = np.minimum(d, 1.0 - d)  # cyclic distance: panoramas wrap
    m = np.clip((half_width + softness / 2 - d) / max(softness, 1e-6), 0.0, 1.0)
    return np.broadcast_to(m[None, :], (height, width)).astype(np.float32)


def blend_styles(w_a, w_b, mask):
    """`[B, H, W, S]` per-pixel styles: `mask * w_a + (1 - mask) * w_b` (`mask` `[H, W]` or `[B, H, W]`)."""
    w_a = np.asarray(w_a, np.float32)[:, None, None, :]
    w_b = np.asarray(w_b, np.float32)[:, None, None, :]
    mask = np.asarray(mask, np.float32)
    mask = mask[None] if mask.ndim == 2 else mask
    mask = mask[..., None]
    return (mask * w_a + (1.0 - mask) * w_b).astype(np.float32)


def render_blend(generator, w_a, w_b, mask, coords=None, chunk_pixels=rendering.DEFAULT_CHUNK_PIXELS):
    """Renders the blend of `w_a` and `w_b` `[B, S]` under `mask` `[H, W]` -> `[B, H, W, 3]`.

    `coords` `[H, W, 2]` (e.g. a panorama grid) defaults to the `H x W` grid over `[-1, 1]^2`.
    """
    mask = np.asarray(mask, np.float32)
    h, w = mask.shape[-2:]
    styles = blend_styles(w_a, w_b, mask)
    if coords is None:
        return rendering.renderer(generator, chunk_pixels).render(styles, h, w)
    return rendering.render_coords(generator, styles, coords, shared=True, chunk_pixels=chunk_pixels)
