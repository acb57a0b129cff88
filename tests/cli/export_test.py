"""End-to-end tests of `cips-export` (cips_tf/cli/export.py) on a tiny training workdir.

The CLI runs in a subprocess: absl flags are process-global, and other CLI modules define flags
with the same names (--model).
"""
import json
import os
import pathlib
import subprocess
import sys

import keras
import numpy as np
import pytest
import tensorflow as tf

from cips_tf.coords import make_grid
from cips_tf.models.generator import CIPSGenerator
from cips_tf.loading import load_generator
from cips_tf.latents import estimate_w_avg
from tiny_models import TINY, make_workdir

REPO_ROOT = pathlib.Path(__file__).resolve().parents[2]


def make_seeded_workdir(path, seed=0):
    """A workdir holding a seeded tiny g_ema (no w_avg: the CLI must estimate it)."""
    keras.utils.set_random_seed(seed)
    generator = CIPSGenerator(size=16, **TINY)
    return make_workdir(path, generator), generator


def run_cli(*args):
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3", CUDA_VISIBLE_DEVICES="",
               PYTHONPATH=str(REPO_ROOT) + os.pathsep + os.environ.get("PYTHONPATH", ""))
    proc = subprocess.run([sys.executable, "-m", "cips_tf.cli.export", *args], cwd=REPO_ROOT, env=env,
                          capture_output=True, text=True, timeout=900)
    assert proc.returncode == 0, f"{proc.stdout}\n{proc.stderr}"
    return pathlib.Path(proc.stdout.strip().splitlines()[-1])


@pytest.fixture(scope="module")
def workdir_export(tmp_path_factory):
    workdir, generator = make_seeded_workdir(tmp_path_factory.mktemp("workdir"))
    base = tmp_path_factory.mktemp("export_base")
    path = run_cli(f"--model={workdir}", f"--export_base={base}", "--version=3", "--w_avg_samples=64")
    return generator, base, path


def test_export_cli_workdir_writes_requested_version(workdir_export):
    _, base, path = workdir_export
    assert path == base / "cips" / "3"
    for rel in ["saved_model.pb", "assets.extra/cips_generator.keras", "assets.extra/w_avg.npy",
                "assets.extra/tf_serving_warmup_requests"]:
        assert (path / rel).exists(), rel
    assert sorted(p.name for p in (base / "cips").iterdir()) == ["3", "batching_parameters.txt"]  # the TF Serving batching file beside the versions


def _render(generator, seed=0):
    z, grid = tf.constant(np.random.RandomState(seed).randn(2, 16).astype(np.float32)), make_grid(2, 16)
    return generator({"z": z, "coords": grid}, training=False, randomize_noise=False).numpy()


def test_export_cli_workdir_without_w_avg_estimates_it(workdir_export):
    _, _, path = workdir_export
    exported = load_generator(path)  # the generator the CLI loaded, via its .keras copy
    expected = estimate_w_avg(exported.generator, num_samples=64, batch_size=64, seed=0)
    np.testing.assert_allclose(exported.w_avg, expected, atol=1e-5)
    assert np.abs(expected).max() > 1e-3


def test_export_cli_exported_generator_matches_checkpointed_generator(workdir_export):
    generator, _, path = workdir_export
    np.testing.assert_allclose(_render(load_generator(path).generator), _render(generator), atol=1e-6)


def test_export_cli_reexport_from_saved_model_keeps_w_avg_and_options(workdir_export, tmp_path):
    _, _, path = workdir_export
    new = run_cli(f"--model={path}", f"--export_base={tmp_path}", "--model_name=other", "--nowarmup",
                  "--max_pixels=1000", "--max_batch=7")
    assert new == tmp_path / "other" / "1"
    np.testing.assert_array_equal(np.load(new / "assets.extra/w_avg.npy"), np.load(path / "assets.extra/w_avg.npy"))
    assert not (new / "assets.extra/tf_serving_warmup_requests").exists()
    metadata = json.loads((new / "assets.extra/cips_export.json").read_text())
    assert metadata["max_pixels"] == 1000 and metadata["max_batch"] == 7
    assert "max_batch_size { value: 3 }" in (tmp_path / "other" / "batching_parameters.txt").read_text()  # 1000 // 16^2
