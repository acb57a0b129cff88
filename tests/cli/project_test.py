"""End-to-end tests of `cips-project` (cips_tf/cli/project.py) on a tiny workdir, in a subprocess."""
import json
import os
import pathlib
import subprocess
import sys

import numpy as np
import pytest
import tensorflow as tf
from PIL import Image

from cips_tf import latents, rendering
from cips_tf.data.fashion_mnist import load_fashion_mnist
from cips_tf.models.discriminator import Discriminator
from cips_tf.models.generator import CIPSGenerator
from cips_tf.loading import load_generator
from cips_tf.synthesis import projection
from tiny_models import TINY, TINY_SIZE, assert_same_pixels, make_workdir, png

REPO_ROOT = pathlib.Path(__file__).resolve().parents[2]


def run_cli(*args):
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3", CUDA_VISIBLE_DEVICES="",
               PYTHONPATH=str(REPO_ROOT) + os.pathsep + os.environ.get("PYTHONPATH", ""),
               CIPS_EXTRACTOR_DIR=str(REPO_ROOT / "no-such-extractor"))
    return subprocess.run([sys.executable, "-m", "cips_tf.cli.project", *args], cwd=REPO_ROOT, env=env,
                          capture_output=True, text=True, timeout=900)


@pytest.fixture(scope="module")
def run_with_d(tmp_path_factory):
    """A workdir whose checkpoint holds G_ema and D (as a training run's does), and a target PNG the
    model itself generated (seed 3)."""
    tf.keras.utils.set_random_seed(1)
    g = CIPSGenerator(size=TINY_SIZE, **TINY)
    for layer in [block.rgb for block in g.blocks]:  # the ToRGBs of the skips: renders in about [-1, 1]
        # like a trained model's, so uint8 targets are not clipped
        layer.kernel.assign(layer.kernel * 0.25)
    d = Discriminator(size=TINY_SIZE, widths=[32, 32, 32])
    path = make_workdir(tmp_path_factory.mktemp("run"), g)
    config = json.loads((path / "config.json").read_text())
    config["discriminator"]["widths"] = [32, 32, 32]
    (path / "config.json").write_text(json.dumps(config))
    tf.train.Checkpoint(g_ema=g, discriminator=d).save(str(path / "checkpoints" / "ckpt"))
    target = tmp_path_factory.mktemp("targets") / "seed3.png"
    Image.fromarray(rendering.to_uint8(rendering.render(g, latents.styles_from_seeds(g, [3])))[0]).save(target)
    return path, target


def test_project_cli_generated_target_beats_w_avg_and_writes_everything(run_with_d, tmp_path):
    workdir, target = run_with_d
    out = tmp_path / "out"
    result = run_cli(f"--model={workdir}", f"--target={target}", f"--out={out}", "--steps=200", "--scale=3",
                     "--w_avg_samples=500", "--features=auto")
    assert result.returncode == 0, result.stderr[-3000:]
    report = json.loads((out / "projection.json").read_text())
    assert report["features"].startswith("discriminator")  # auto: the run's own D
    # PSNR of the written pixels against the target: far above the average-latent image
    assert report["psnr_db"] > report["psnr_w_avg_db"] + 20.0, report
    recon = png(out / "projection.png")
    assert projection.psnr(png(target)[None], recon[None], 255.0)[0] == pytest.approx(report["psnr_db"], abs=1e-6)
    w = np.load(out / "projected_w.npz")["w"]
    assert w.shape == (1, 16)
    # the dense render is the projected w on a 3x denser grid (+-1 for float rounding at uint8)...
    dense = png(out / "projection_x3.png").astype(int)
    g = load_generator(workdir).generator
    assert_same_pixels(dense, rendering.to_uint8(rendering.render(g, w, 48))[0])
    # ...and the native render where the grids share points: linspace(-1, 1, 16) and (.., 48) share
    # only their corners; elsewhere they differ by a sub-pixel offset
    corners = (np.array([0, 0, -1, -1]), np.array([0, -1, 0, -1]))
    np.testing.assert_allclose(dense[corners], recon.astype(int)[corners], atol=1)
    assert png(out / "progress.png").shape[0] == 16
    assert (out / "progress.mp4").exists() or (out / "progress.gif").exists()
    assert png(out / "compare.png").shape == (16, 32, 3)


@pytest.mark.slow  # the fast tier projects a generated target (w space); w+ on real images is the slow tier's
def test_project_cli_real_fashion_mnist_images_in_w_plus(run_with_d, tmp_path):
    workdir, _ = run_with_d
    images, _ = load_fashion_mnist("test")
    targets = []
    for i in (0, 1):
        path = tmp_path / f"fmnist{i}.png"
        Image.fromarray(images[i]).save(path)  # 28 x 28 grey: resized to 16 and made RGB
        targets.append(str(path))
    out = tmp_path / "out"
    result = run_cli(f"--model={workdir}", f"--target={','.join(targets)}", f"--out={out}", "--steps=30",
                     "--space=w+", "--scale=2", "--w_avg_samples=200", "--features=none", "--novideo")
    assert result.returncode == 0, result.stderr[-3000:]
    for i in (0, 1):
        d = out / f"fmnist{i}"
        assert np.load(d / "projected_ws.npz")["ws"].shape == (1, 10, 16)
        assert png(d / "target.png").shape == (16, 16, 3)
        assert png(d / "projection_x2.png").shape == (32, 32, 3)
        report = json.loads((d / "projection.json").read_text())
        assert report["features"].startswith("none") and np.isfinite(report["psnr_db"])
        assert not (d / "progress.mp4").exists() and not (d / "progress.gif").exists()


@pytest.mark.slow  # the fast tier keeps errors_test's missing-target case for cips-project
def test_project_cli_reports_bad_inputs(run_with_d, tmp_path):
    workdir, target = run_with_d
    result = run_cli(f"--model={workdir}", f"--target={tmp_path / 'missing.png'}", f"--out={tmp_path}")
    assert result.returncode != 0 and "missing.png: no such file" in result.stderr
    bad = tmp_path / "bad.png"
    bad.write_bytes(b"not an image")
    result = run_cli(f"--model={workdir}", f"--target={bad}", f"--out={tmp_path}", "--steps=1")
    assert result.returncode != 0 and "bad.png" in result.stderr
    result = run_cli(f"--model={workdir}", f"--target={target}", f"--out={tmp_path}", "--features=offline",
                     "--steps=1")
    assert result.returncode != 0 and "cips-feature-extractor" in result.stderr


def test_project_cli_target_name_never_leaves_out(tmp_path):
    (tmp_path / "...png").write_bytes(b"x")  # stem '..': DIR/<stem>/ would be the parent of --out
    (tmp_path / "b.png").write_bytes(b"x")
    out = tmp_path / "a" / "out"
    result = run_cli(f"--model={tmp_path / 'no-model'}", f"--target={tmp_path / '...png'},{tmp_path / 'b.png'}",
                     f"--out={out}")
    assert result.returncode != 0
    assert "would leave --out" in result.stderr.strip().splitlines()[-1]
    assert not (tmp_path / "a").exists()


@pytest.mark.slow  # one CLI's --overwrite refusal (generate_test) stays in the fast tier
def test_project_cli_existing_outputs_need_overwrite(tmp_path):
    (tmp_path / "t.png").write_bytes(b"x")
    out = tmp_path / "out"
    out.mkdir()
    (out / "projection.json").write_text("{}")
    result = run_cli(f"--model={tmp_path / 'no-model'}", f"--target={tmp_path / 't.png'}", f"--out={out}")
    assert result.returncode != 0
    assert "cips-project --overwrite" in result.stderr.strip().splitlines()[-1]
    assert (out / "projection.json").read_text() == "{}"
