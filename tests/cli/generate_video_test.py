"""`cips-generate --task=video,zoom`, seed ranges and --trunc, in a subprocess on a tiny workdir."""
import json

import numpy as np
import pytest

from cips_tf.models.generator import CIPSGenerator
from cips_tf.synthesis import video
import extras
import tiny_models
from tiny_models import TINY, assert_same_pixels, make_workdir, png


def run_cli(*args):
    return tiny_models.run_cli("cips_tf.cli.generate", *args)


@pytest.fixture(scope="module")
def workdir(tmp_path_factory):
    return make_workdir(tmp_path_factory.mktemp("workdir"), CIPSGenerator(size=16, **TINY))


def test_video_zoom_and_samples_with_seed_ranges_and_trunc(workdir, tmp_path):
    out = tmp_path / "out"
    result = run_cli(f"--model={workdir}", f"--out={out}", "--task=sample,video,zoom", "--seeds=0-2,5",
                     "--trunc=0.7", "--w_avg_samples=64", "--frames_per_seed=3", "--zoom_frames=5", "--zoom=8",
                     "--zoom_center=0.25,-0.5", "--video_format=gif", "--chunk_pixels=100")
    assert result.returncode == 0, result.stderr[-3000:]
    assert np.load(out / "sample" / "seeds.npy").tolist() == [0, 1, 2, 5]
    assert json.loads((out / "sample" / "flags.json").read_text())["flags"]["psi"] == 0.7  # --trunc is --psi
    frames = video.read_video(out / "video" / "video.gif")
    assert frames.shape == (12, 16, 16, 3)  # a loop: 4 seeds x 3 frames
    for i, seed in enumerate([0, 1, 2, 5]):  # every 3rd frame is a seed's (truncated) sample
        assert_same_pixels(frames[3 * i], png(out / "sample" / f"seed{seed:04d}.png"))
    assert png(out / "video" / "strip.png").shape == (16, 4 * 16 + 3 * 2, 3)
    zoom_frames = video.read_video(out / "zoom" / "seed0005.gif")
    assert zoom_frames.shape == (5, 16, 16, 3)
    assert_same_pixels(zoom_frames[0], png(out / "sample" / "seed0005.png"))  # zoom 1 = the sample
    np.testing.assert_array_equal(zoom_frames[-1], png(out / "zoom" / "seed0005_last.png"))
    meta = json.loads((out / "zoom" / "zoom.json").read_text())
    assert meta["windows"][-1]["x_range"] == pytest.approx([0.25 - 1.25 / 8, 0.25 + 0.75 / 8])
    assert png(out / "zoom" / "seed0000_strip.png").shape == (16, 5 * 16 + 4 * 2, 3)


def test_video_auto_format_writes_mp4(workdir, tmp_path):
    extras.require("video")
    result = run_cli(f"--model={workdir}", f"--out={tmp_path}", "--task=video", "--seeds=3,4",
                     "--frames_per_seed=4", "--noloop", "--video_size=24")
    assert result.returncode == 0, result.stderr[-3000:]
    frames = video.read_video(tmp_path / "video" / "video.mp4")
    assert frames.shape == (5, 24, 24, 3)


@pytest.mark.parametrize("args, message", [
    (["--task=sample", "--seeds=3-x"], "--seeds='3-x'"),
    (["--task=video", "--seeds=1"], "at least 2 seeds"),
    (["--task=zoom", "--seeds=1", "--zoom_center=2,0"], "centre"),
])
def test_bad_seed_lists_and_zoom_centres_fail_clearly(workdir, tmp_path, args, message):
    result = run_cli(f"--model={workdir}", f"--out={tmp_path}", *args)
    assert result.returncode != 0
    assert message in result.stderr, result.stderr[-2000:]


def test_video_and_zoom_tasks_run_on_plain_options(tmp_path):
    from cips_tf.synthesis import tasks  # in-process: video and zoom read their options, not the flags
    from cips_tf.loading import LoadedGenerator
    from cips_tf import latents, rendering

    g = CIPSGenerator(size=16, **TINY)
    opts = tasks.options(seeds="2,6", frames_per_seed=2, zoom_frames=3, zoom=4.0, video_format="gif",
                            chunk_pixels=128)
    ctx = tasks.Context(LoadedGenerator(g, None, None, "memory"), tmp_path, opts)
    tasks.task_video(ctx)
    frames = video.read_video(tmp_path / "video.gif")
    assert frames.shape == (4, 16, 16, 3)  # a loop: 2 seeds x 2 frames
    samples = rendering.to_uint8(rendering.render(g, latents.styles_from_seeds(g, [2, 6])))
    assert_same_pixels(frames[::2], samples)  # each seed's frame
    tasks.task_zoom(ctx)
    zoomed = video.read_video(tmp_path / "seed0006.gif")
    assert zoomed.shape == (3, 16, 16, 3)
    assert_same_pixels(zoomed[0], samples[1])  # zoom 1 = the sample
    assert json.loads((tmp_path / "zoom.json").read_text())["seeds"] == [2, 6]
