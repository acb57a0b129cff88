"""Videos: a latent walk through seeds, and the writer every video of cips-tf goes through.

`latent_walk_styles` gives the styles of a smooth walk through the w of the given seeds (a
periodic cubic spline in W by default, like StyleGAN3's `gen_video.py`, or piecewise linear);
`render_frames` renders styles one small batch at a time through the shared `ChunkedRenderer`, so
memory is bounded by the chunk size and the batch, never by the video length; `write_video`
streams uint8 frames into an MP4 (imageio + imageio-ffmpeg, which ships its own ffmpeg binary:
`pip install 'cips-tf[video]'`) or, when those are missing or a `.gif` is asked for, a GIF
written by Pillow.
"""
import pathlib

import numpy as np
from absl import logging
from PIL import Image
from scipy import interpolate

from cips_tf import rendering
from cips_tf.latents import styles_from_seeds, truncate

FORMATS = ("auto", "mp4", "gif")


def mp4_available():
    """True when imageio and its bundled ffmpeg (imageio-ffmpeg) can be imported."""
    try:
        import imageio  # noqa: F401  (optional: the [video] extra)
        import imageio_ffmpeg  # noqa: F401  (optional: the [video] extra)
    except ImportError:
        return False
    return True


def video_path(stem, video_format="auto"):
    """`stem` with the suffix of the format that will be written: ".mp4" when `video_format` is
    "mp4", or "auto" with imageio-ffmpeg installed; ".gif" otherwise.

    Raises:
      RuntimeError: "mp4" was asked for and imageio / imageio-ffmpeg are not installed.
    """
    if video_format not in FORMATS:
        raise ValueError(f"video format must be one of {FORMATS}, got {video_format!r}")
    if video_format == "mp4" and not mp4_available():
        raise RuntimeError("MP4 output needs imageio and imageio-ffmpeg: pip install 'cips-tf[video]' "
                           "(or choose the GIF format)")
    use_mp4 = video_format == "mp4" or (video_format == "auto" and mp4_available())
    return pathlib.Path(stem).with_suffix(".mp4" if use_mp4 else ".gif")


def _even(frame):
    """H.264 in yuv420p needs even sizes: pad the last row / column by edge replication."""
    h, w = frame.shape[:2]
    if h % 2 or w % 2:
        frame = np.pad(frame, ((0, h % 2), (0, w % 2), (0, 0)), mode="edge")
    return frame


def write_video(frames, path, fps=24):
    """Writes an iterable of uint8 `[H, W, 3]` frames to `path` (.mp4 or .gif), streaming.

    Returns the number of frames written. An MP4 is H.264 (yuv420p, odd sizes padded to even);
    a GIF loops forever with `1000 / fps` ms per frame.
    """
    path = pathlib.Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    count = 0
    if path.suffix == ".mp4":
        import imageio.v2 as imageio  # optional: the [video] extra

        writer = imageio.get_writer(str(path), fps=fps, codec="libx264", quality=8, macro_block_size=1,
                                    ffmpeg_log_level="error", pixelformat="yuv420p")
        try:
            for frame in frames:
                writer.append_data(_even(np.asarray(frame, np.uint8)))
                count += 1
        finally:
            writer.close()
    elif path.suffix == ".gif":
        images = [Image.fromarray(np.asarray(f, np.uint8)) for f in frames]  # GIF needs all frames at once
        count = len(images)
        if not images:
            raise ValueError("write_video: no frames")
        images[0].save(path, save_all=True, append_images=images[1:], duration=max(1, round(1000 / fps)), loop=0)
    else:
        raise ValueError(f"{path}: video files must end in .mp4 or .gif")
    if count == 0:
        raise ValueError("write_video: no frames")
    return count


def read_video(path):
    """Reads a video written by `write_video` back as uint8 `[N, H, W, 3]` (tests, strips)."""
    path = pathlib.Path(path)
    if path.suffix == ".gif":
        with Image.open(path) as im:
            frames = []
            for i in range(im.n_frames):
                im.seek(i)
                frames.append(np.asarray(im.convert("RGB")))
        return np.stack(frames)
    import imageio.v2 as imageio  # optional: the [video] extra

    return np.stack(imageio.mimread(str(path), memtest=False))


def latent_walk_styles(generator, seeds, frames_per_seed=24, psi=1.0, w_avg=None, loop=True, kind="cubic",
                       labels=None):
    """`[F, style_dim]` styles of a walk through the w of `seeds` (in order), `frames_per_seed`
    frames from one seed to the next; frame `i * frames_per_seed` is exactly seed i's w.

    `loop=True` returns to the first seed (periodic spline, F = len(seeds) * frames_per_seed, the
    last frame just before the first again); otherwise F = (len(seeds) - 1) * frames_per_seed + 1.
    `kind` is "cubic" (C2-smooth) or "linear". Truncation toward `w_avg` applies after the walk.
    `labels`: one class (an int) for a conditional generator.
    """
    seeds = list(seeds)
    if len(seeds) < 2:
        raise ValueError(f"a latent walk needs at least 2 seeds, got {seeds}")
    if frames_per_seed < 1:
        raise ValueError(f"frames_per_seed must be >= 1, got {frames_per_seed}")
    if kind not in ("cubic", "linear"):
        raise ValueError(f"kind must be 'cubic' or 'linear', got {kind!r}")
    keys = np.asarray(styles_from_seeds(generator, seeds, labels=labels), np.float64)  # [K, S]; the spline is SciPy's
    knots = np.arange(len(seeds), dtype=np.float64)
    if loop:
        keys = np.concatenate([keys, keys[:1]])
        knots = np.arange(len(seeds) + 1, dtype=np.float64)
        t = np.arange(len(seeds) * frames_per_seed) / frames_per_seed
    else:
        t = np.arange((len(seeds) - 1) * frames_per_seed + 1) / frames_per_seed
    if kind == "cubic" and len(knots) >= 3:
        spline = interpolate.CubicSpline(knots, keys, axis=0, bc_type="periodic" if loop else "not-a-knot")
        w = spline(t)
    else:
        w = interpolate.interp1d(knots, keys, axis=0)(t)
    w = w.astype(np.float32)
    if psi != 1.0:
        if w_avg is None:
            raise ValueError("truncation (psi != 1) needs w_avg")
        w = np.asarray(truncate(w, np.asarray(w_avg, np.float32), psi), np.float32)
    return w


def render_frames(generator, styles, height=None, width=None, batch=4, chunk_pixels=rendering.DEFAULT_CHUNK_PIXELS,
                  per_layer=False, log_every=0):
    """Yields uint8 `[H, W, 3]` frames of `styles` (`[F, S]`, or `[F, num_ws, S]` with `per_layer`),
    rendered `batch` at a time through the generator's `ChunkedRenderer` (bounded memory)."""
    styles = np.asarray(styles, np.float32)
    total = len(styles)
    for lo in range(0, total, batch):
        images = rendering.render(generator, styles[lo : lo + batch], height, width, per_layer=per_layer,
                               chunk_pixels=chunk_pixels)
        for frame in rendering.to_uint8(images):
            yield frame
        if log_every and ((lo // batch + 1) % log_every == 0 or lo + batch >= total):
            logging.info("rendered %d/%d frames", min(lo + batch, total), total)
