"""The two positional encodings (paper Sec. 4.4, Figs 4-6, 14).

- `synthesize_from_encoding` runs the generator's layers on a given encoding `e(x, y)`, exactly as
  `CIPSGenerator.synthesis` does after `encode()`; zeroing the Fourier or the embedding half of the
  encoding first gives Fig. 6.
- `pca_image` shows the 3 main principal components of an encoding as RGB (Figs 5, 14).
- `log_spectrum` is the centred log-magnitude spectrum of an encoding, averaged over channels (Fig. 4).
"""
import numpy as np
import tensorflow as tf

from cips_tf import rendering
from cips_tf.coords import make_grid_np

PARTS = ("fourier", "embedding")


def synthesize_from_encoding(generator, encoding, styles, per_layer=False, noise=None, randomize_noise=False):
    """`generator.synthesis` from the encoding on: `encoding` `[B, ..., input_channels]` -> `[B, ..., 3]`.

    Eval-mode defaults (no random noise) for the experiments; see `CIPSGenerator.synthesize_from_encoding`.
    """
    return generator.synthesize_from_encoding(
        encoding, styles, noise=noise, randomize_noise=randomize_noise, per_layer=per_layer
    )


def part_slices(generator):
    """{"fourier": slice, "embedding": slice} of the channels each part occupies in the encoding."""
    out, start, h = {}, 0, generator.hidden_size
    if generator.fourier is not None:
        out["fourier"] = slice(start, start + h)
        start += h
    if generator.embedding is not None:
        out["embedding"] = slice(start, start + h)
    return out


def zero_parts(generator, encoding, parts):
    """The encoding with the channels of `parts` (subset of PARTS) set to 0; unknown or absent parts raise."""
    slices = part_slices(generator)
    parts = tuple(parts)
    for p in parts:
        if p not in PARTS:
            raise ValueError(f"encoding parts are {PARTS}, got {p!r}")
        if p not in slices:
            raise ValueError(f"this generator has no {p} encoding (use_fourier={generator.use_fourier}, "
                             f"use_embedding={generator.use_embedding})")
    if not parts:
        return encoding
    keep = np.ones([generator.input_channels], np.float32)
    for p in parts:
        keep[slices[p]] = 0.0
    return encoding * tf.constant(keep, encoding.dtype)


def render_zeroed(generator, styles, parts, height=None, chunk_pixels=rendering.DEFAULT_CHUNK_PIXELS):
    """Renders `styles` `[B, S]` on the `height` grid with the encoding `parts` zeroed -> `[B, H, H, 3]`.

    Eval mode, no noise, in chunks of `chunk_pixels` points (bounded memory).
    """
    height = generator.size if height is None else int(height)
    styles = tf.convert_to_tensor(np.asarray(styles, np.float32))
    batch = styles.shape[0]
    parts = tuple(parts)

    @tf.function(reduce_retracing=True, autograph=False)
    def step(points):
        enc = generator.encode(points)
        return synthesize_from_encoding(generator, zero_parts(generator, enc, parts), styles)

    points = make_grid_np(height, height).reshape(1, -1, 2)
    n = points.shape[1]
    out = np.empty((batch, n, 3), np.float32)
    c = min(int(chunk_pixels), n)
    for lo in range(0, n, c):
        hi = min(lo + c, n)
        chunk = np.broadcast_to(points[:, lo:hi], (batch, hi - lo, 2))
        if hi - lo < c:  # keep one traced shape
            chunk = np.pad(chunk, ((0, 0), (0, c - (hi - lo)), (0, 0)))
        out[:, lo:hi] = step(tf.constant(chunk)).numpy()[:, : hi - lo]
    return out.reshape(batch, height, height, 3)


def encoding_maps(generator, height=None):
    """{"fourier": [H, H, hidden], "embedding": [H, H, hidden]} numpy, on the `height` grid (eval mode)."""
    height = generator.size if height is None else int(height)
    grid = tf.constant(make_grid_np(height, height)[None])
    out = {}
    if generator.fourier is not None:
        out["fourier"] = generator.fourier(grid).numpy()[0]
    if generator.embedding is not None:
        out["embedding"] = generator.embedding(grid).numpy()[0]
    return out


def embedding_table(generator):
    """The learned coordinate-embedding table `[size, size, hidden]` numpy."""
    if generator.embedding is None:
        raise ValueError("this generator has no coordinate embedding (use_embedding=False)")
    return np.asarray(generator.embedding.table)


def pca_image(features, num_components=3):
    """`[H, W, C]` features -> `[H, W, 3]` float32 in [0, 1]: the top principal components, each min-max scaled.

    Component signs are fixed (largest-magnitude loading positive), so the image is deterministic.
    """
    features = np.asarray(features, np.float64)
    h, w, c = features.shape
    x = features.reshape(-1, c)
    x = x - x.mean(axis=0, keepdims=True)
    _, _, vt = np.linalg.svd(x, full_matrices=False)  # rows of vt: principal axes
    k = min(num_components, vt.shape[0])
    axes = vt[:k]
    signs = np.sign(axes[np.arange(k), np.abs(axes).argmax(axis=1)])
    proj = x @ (axes * signs[:, None]).T  # [HW, k]
    lo, hi = proj.min(axis=0), proj.max(axis=0)
    proj = (proj - lo) / np.where(hi > lo, hi - lo, 1.0)
    if k < 3:
        proj = np.concatenate([proj, np.zeros((proj.shape[0], 3 - k))], axis=1)
    return proj.reshape(h, w, 3).astype(np.float32)


def log_spectrum(features, eps=1e-8):
    """`[H, W, C]` -> `[H, W]` float32: `log(mean_c |FFT2(f_c - mean f_c)| + eps)`, zero frequency centred."""
    features = np.asarray(features, np.float64)
    f = features - features.mean(axis=(0, 1), keepdims=True)
    mag = np.abs(np.fft.fft2(f, axes=(0, 1))).mean(axis=-1)
    return np.log(np.fft.fftshift(mag) + eps).astype(np.float32)


def shared_scale_uint8(maps):
    """Maps `[H, W]` (any number) -> uint8 greyscale with one common min-max scale (Fig. 4: equal colour scale)."""
    maps = [np.asarray(m, np.float32) for m in maps]
    lo = min(float(m.min()) for m in maps)
    hi = max(float(m.max()) for m in maps)
    scale = 255.0 / (hi - lo) if hi > lo else 0.0
    return [np.clip(np.rint((m - lo) * scale), 0, 255).astype(np.uint8) for m in maps]
