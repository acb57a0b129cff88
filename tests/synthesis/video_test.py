"""Tests of cips_tf/synthesis/video.py and zoom.py: walks, writers, zoom windows and frames."""
import builtins

import numpy as np
import pytest

from cips_tf import latents, rendering
from cips_tf.synthesis import video, zoom
import extras
from synthesis_test_utils import tiny_generator
from tiny_models import assert_same_pixels


@pytest.fixture(scope="module")
def g():
    return tiny_generator()


def test_latent_walk_passes_through_every_seed(g):
    seeds = [3, 7, 9]
    keys = latents.styles_from_seeds(g, seeds)
    for loop, kind in [(True, "cubic"), (False, "cubic"), (True, "linear")]:
        w = video.latent_walk_styles(g, seeds, frames_per_seed=5, loop=loop, kind=kind)
        assert len(w) == (15 if loop else 11)
        np.testing.assert_allclose(w[::5], keys, rtol=1e-5, atol=1e-5)
    linear = video.latent_walk_styles(g, seeds, frames_per_seed=4, loop=False, kind="linear")
    np.testing.assert_allclose(linear[2], 0.5 * (keys[0] + keys[1]), rtol=1e-5, atol=1e-6)


def test_looped_cubic_walk_is_smooth_across_the_wrap(g):
    w = video.latent_walk_styles(g, [0, 1, 2, 3], frames_per_seed=16, loop=True)
    closed = np.concatenate([w, w[:2]])
    steps = np.linalg.norm(np.diff(closed, axis=0), axis=1)
    # no jump at the wrap: the step into the first frame is like its neighbours
    assert steps[len(w) - 1] < 1.5 * max(steps[len(w) - 2], steps[len(w)])


def test_truncated_walk_is_pulled_toward_w_avg(g):
    w_avg = np.zeros(g.style_dim, np.float32) + 0.3
    full = video.latent_walk_styles(g, [0, 1], 3, loop=False)
    half = video.latent_walk_styles(g, [0, 1], 3, psi=0.5, w_avg=w_avg, loop=False)
    np.testing.assert_allclose(half, w_avg + 0.5 * (full - w_avg), rtol=1e-5, atol=1e-6)


def test_gif_round_trip_and_suffix_choice(tmp_path, monkeypatch):
    frames = np.random.RandomState(0).randint(0, 256, (5, 9, 11, 3)).astype(np.uint8)
    frames[:] = frames[:, :1, :1]  # flat colours: exact through the GIF palette
    assert video.write_video(iter(frames), tmp_path / "a.gif", fps=10) == 5
    np.testing.assert_array_equal(video.read_video(tmp_path / "a.gif"), frames)

    real_import = builtins.__import__

    def no_imageio(name, *args, **kwargs):
        if name.startswith("imageio"):
            raise ImportError(name)
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_imageio)
    assert video.video_path(tmp_path / "v").suffix == ".gif"  # auto falls back to GIF
    with pytest.raises(RuntimeError, match=r"cips-tf\[video\]"):
        video.video_path(tmp_path / "v", "mp4")


def test_mp4_round_trip_pads_odd_sizes(tmp_path):
    extras.require("video")
    frames = np.zeros((6, 15, 17, 3), np.uint8) + np.arange(6, dtype=np.uint8)[:, None, None, None] * 40
    path = video.video_path(tmp_path / "v", "auto")
    assert path.suffix == ".mp4"
    assert video.write_video(frames, path, fps=8) == 6
    back = video.read_video(path)
    assert back.shape == (6, 16, 18, 3)
    np.testing.assert_allclose(back[:, :15, :17].mean(axis=(1, 2, 3)), frames.mean(axis=(1, 2, 3)), atol=3)


def test_render_frames_equal_one_pass_renders(g):
    w = video.latent_walk_styles(g, [0, 1], 3, loop=False)
    frames = np.stack(list(video.render_frames(g, w, batch=2, chunk_pixels=100)))
    # 100-point chunks and batches of 2 vs one pass: the same points through other matmul shapes
    assert_same_pixels(frames, rendering.to_uint8(rendering.render(g, w)))


def test_zoom_windows_shrink_toward_a_fixed_point():
    windows = zoom.zoom_windows((0.5, -0.25), num_frames=5, max_zoom=16)
    assert windows[0] == ((-1.0, 1.0), (-1.0, 1.0))
    widths = [x[1] - x[0] for x, _ in windows]
    np.testing.assert_allclose(widths, 2.0 / np.geomspace(1, 16, 5))
    for (x0, x1), (y0, y1) in windows:  # the point keeps its relative position on the screen
        assert (0.5 - x0) / (x1 - x0) == pytest.approx(0.75)
        assert (-0.25 - y0) / (y1 - y0) == pytest.approx(0.375)
    with pytest.raises(ValueError, match="centre"):
        zoom.zoom_windows((1.5, 0), 4, 2)


def test_zoom_frames_are_denser_renders_of_the_window(g):
    w = latents.styles_from_seeds(g, [4])[0]
    frames = list(zoom.zoom_frames(g, w, center=(0.0, 0.0), num_frames=3, max_zoom=4.0, height=16,
                                   chunk_pixels=64))  # 64-point chunks: 4 per frame
    assert len(frames) == 3 and frames[0].shape == (16, 16, 3)
    assert_same_pixels(frames[0], rendering.to_uint8(rendering.render(g, w[None]))[0])
    # a 3x zoom into the centre samples [-1/3, 1/3] with 16 points: exactly the points 15..30 of
    # the 46-point grid over [-1, 1] (spacing 2/45 both), so it equals that crop of a denser render
    last = list(zoom.zoom_frames(g, w, (0.0, 0.0), num_frames=2, max_zoom=3.0, height=16, chunk_pixels=64))[-1]
    dense = rendering.to_uint8(rendering.render(g, w[None], 46))[0]
    assert_same_pixels(last, dense[15:31, 15:31])
