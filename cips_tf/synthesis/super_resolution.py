"""Denser-grid synthesis vs Lanczos upsampling (paper Sec. 4.7, Fig. 9)."""
import numpy as np
from PIL import Image

from cips_tf import rendering


def lanczos_upsample(images, factor):
    """`[B, H, W, C]` float images -> `[B, kH, kW, C]` float32, per channel with PIL's Lanczos filter."""
    images = np.asarray(images, np.float32)
    b, h, w, c = images.shape
    if factor == 1:
        return images.copy()
    out = np.empty((b, h * factor, w * factor, c), np.float32)
    for i in range(b):
        for ch in range(c):
            img = Image.fromarray(images[i, :, :, ch], mode="F")
            out[i, :, :, ch] = np.asarray(img.resize((w * factor, h * factor), Image.Resampling.LANCZOS))
    return out


def super_resolve(generator, styles, factor, chunk_pixels=rendering.DEFAULT_CHUNK_PIXELS, progress=None):
    """Renders the training grid and the `factor` times denser grid of the same `[-1, 1]^2` square.

    Returns `(native [B, s, s, 3], dense [B, ks, ks, 3], lanczos [B, ks, ks, 3])` float32 numpy,
    `lanczos` being the native render upsampled. The dense render goes through `ChunkedRenderer`,
    so memory is bounded by `chunk_pixels` (plus the output array), e.g. 4096 x 4096 from a 256 model.
    """
    factor = int(factor)
    if factor < 1:
        raise ValueError(f"factor must be a positive int, got {factor}")
    r = rendering.renderer(generator, chunk_pixels)
    size = generator.size
    native = r.render(styles, size, size)
    dense = r.render(styles, factor * size, factor * size, progress=progress)
    return native, dense, lanczos_upsample(native, factor)
