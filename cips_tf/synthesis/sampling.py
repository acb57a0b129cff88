"""Samples and latent morphing (paper Sec. 4.6, Fig. 10)."""
import numpy as np

from cips_tf import latents, rendering


def sample(generator, seeds, psi=1.0, w_avg=None, height=None, width=None, chunk_pixels=rendering.DEFAULT_CHUNK_PIXELS,
           labels=None):
    """One image per seed, truncated toward `w_avg` by `psi` -> `[N, H, W, 3]` float32 numpy
    (`labels`: the class of a conditional generator, one int or `[N]`)."""
    w = latents.styles_from_seeds(generator, seeds, psi, w_avg, labels)
    return rendering.render(generator, w, height, width, chunk_pixels=chunk_pixels)


def interpolation_styles(generator, seeds, steps, space="w", psi=1.0, w_avg=None, labels=None):
    """`[F, style_dim]` styles morphing linearly through the latents of `seeds` (in order).

    Each consecutive pair gets `steps` frames, endpoints included (shared endpoints are not
    repeated), so `F = (len(seeds) - 1) * (steps - 1) + 1`. `space="w"` interpolates the styles
    `w = M(z)`; `space="z"` interpolates z and maps each frame. Truncation applies after mapping.
    `labels`: one class (an int) for a conditional generator.
    """
    seeds = list(seeds)
    if len(seeds) < 2 or steps < 2:
        raise ValueError(f"interpolation needs >= 2 seeds and >= 2 steps, got {seeds} and {steps}")
    if space not in ("w", "z"):
        raise ValueError(f"space must be 'w' or 'z', got {space!r}")
    t = np.linspace(0.0, 1.0, steps, dtype=np.float32)[:, None]  # [steps, 1]
    if space == "w":
        keys = latents.styles_from_seeds(generator, seeds, labels=labels).numpy()
    else:
        keys = latents.z_from_seed(np.asarray(seeds, np.int64), generator.style_dim).numpy()
    frames = [keys[0:1]]
    for a, b in zip(keys[:-1], keys[1:]):
        seg = (1.0 - t) * a[None] + t * b[None]
        seg[-1] = b  # exact endpoint
        frames.append(seg[1:])
    lat = np.concatenate(frames).astype(np.float32)
    if space == "z":
        return latents.styles(generator, lat, psi, w_avg, labels)
    if psi == 1.0:
        return lat
    if w_avg is None:
        raise ValueError("truncation (psi != 1) needs w_avg")
    return latents.truncate(lat, np.asarray(w_avg, np.float32), psi)


def interpolate(generator, seeds, steps=8, space="w", psi=1.0, w_avg=None, height=None,
                chunk_pixels=rendering.DEFAULT_CHUNK_PIXELS):
    """Frames `[F, H, W, 3]` of the morph through `seeds` (see `interpolation_styles`)."""
    w = interpolation_styles(generator, seeds, steps, space, psi, w_avg)
    return rendering.render(generator, w, height, chunk_pixels=chunk_pixels)
