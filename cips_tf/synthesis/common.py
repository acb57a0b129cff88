"""Shared helpers of the synthesis experiments: seeded styles, rendering, image layout.

Every experiment renders in eval mode without noise (`ChunkedRenderer`), so a result depends only
on the weights and the seeds. Images are float32 `[..., 3]` in about [-1, 1]; `to_uint8` and
`tile_images` turn them into what the CLI writes.
"""
import weakref

import numpy as np

from cips_tf.coords import render_extent
from cips_tf.latents import quantize_images, styles_from_seeds, tile_images  # noqa: F401  (public here too)
from cips_tf.synthesis.chunked import ChunkedRenderer

DEFAULT_CHUNK_PIXELS = 32768


def parse_int_list(text):
    """"0,3,5-8" -> [0, 3, 5, 6, 7, 8] (non-negative ints; ranges inclusive)."""
    out = []
    for part in str(text).split(","):
        part = part.strip()
        if not part:
            continue
        if "-" in part:
            lo, hi = part.split("-", 1)
            out.extend(range(int(lo), int(hi) + 1))
        else:
            out.append(int(part))
    return out


_RENDERERS = weakref.WeakKeyDictionary()


def renderer(generator, chunk_pixels=DEFAULT_CHUNK_PIXELS):
    """The `ChunkedRenderer` of `generator` for `chunk_pixels`, created once and reused, so its
    compiled chunk steps are traced once per generator rather than once per render call."""
    per_generator = _RENDERERS.setdefault(generator, {})
    if chunk_pixels not in per_generator:
        # A proxy, so the cached renderer does not keep its (weakly keyed) generator alive.
        per_generator[chunk_pixels] = ChunkedRenderer(weakref.proxy(generator), chunk_pixels=chunk_pixels)
    return per_generator[chunk_pixels]


def native_canvas(generator):
    """(height, width) of the generator's training canvas (`size x size` for a square model, and for
    an export written before non-square models)."""
    size = int(generator.size)
    return int(getattr(generator, "height", size) or size), int(getattr(generator, "width", size) or size)


def render(generator, styles, height=None, width=None, per_layer=False, chunk_pixels=DEFAULT_CHUNK_PIXELS):
    """Renders an H x W image -> `[B, H, W, 3]` numpy. Default: the training canvas; `height` alone
    (width defaults to it) or both. The grid is `cips_tf.coords.render_extent`'s: the model's aspect
    spans its training canvas (denser or coarser), any other aspect has square pixels with the
    shorter side in [-1, 1], so a square model rendered wide extends x (panorama-style; beyond the
    training canvas the learned embedding repeats its edge entries, see CoordinateEmbedding)."""
    native_h, native_w = native_canvas(generator)
    if height is None and width is None:
        height, width = native_h, native_w
    height = native_h if height is None else int(height)
    width = height if width is None else int(width)
    x_max, y_max = render_extent(height, width, native_h, native_w)
    return renderer(generator, chunk_pixels).render(styles, height, width, per_layer=per_layer,
                                                    x_range=(-x_max, x_max), y_range=(-y_max, y_max))


def render_coords(generator, styles, coords, per_layer=False, shared=False, chunk_pixels=DEFAULT_CHUNK_PIXELS):
    """Renders arbitrary coordinates `[B, ..., 2]` (`[..., 2]` with `shared=True`) -> `[B, ..., 3]` numpy.

    `styles` is `[B, S]`, `[B, num_ws, S]` with `per_layer`, or one style per point `[B, ..., S]`.
    """
    styles = np.asarray(styles, np.float32)
    batch = styles.shape[0]
    coords = np.asarray(coords, np.float32)
    per_point = not per_layer and styles.ndim > 2
    if shared:
        coords = np.broadcast_to(coords[None], (batch,) + coords.shape)
    spatial = coords.shape[1:-1]
    points = coords.reshape(batch, -1, 2)
    if per_point:
        styles = styles.reshape(batch, points.shape[1], styles.shape[-1])
    out = renderer(generator, chunk_pixels).render_points(styles, points, per_layer=per_layer)
    return out.reshape((batch,) + tuple(spatial) + (3,))


def to_uint8(images):
    """float images in [-1, 1] -> uint8 numpy in [0, 255] (`cips_tf.latents.quantize_images`, the one
    quantizer of samples, exports and FID), for the files the CLI writes."""
    return quantize_images(images).numpy()
