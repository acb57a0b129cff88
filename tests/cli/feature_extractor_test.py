"""Tests of the `python -m cips_tf.cli.feature_extractor` entry point (run as a subprocess)."""
import json
import os
import pathlib
import subprocess
import sys

REPO_ROOT = pathlib.Path(__file__).resolve().parents[2]


def _run(*args):
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2", PYTHONPATH=str(REPO_ROOT))
    return subprocess.run(
        [sys.executable, "-m", "cips_tf.cli.feature_extractor", *args],
        cwd=REPO_ROOT, env=env, capture_output=True, text=True, timeout=900,
    )


def test_feature_extractor_cli_tiny_run_saves_model_and_prints_metadata(tmp_path):
    out = tmp_path / "extractor"
    proc = _run(f"--out={out}", "--epochs=1", "--num_train=128", "--num_test=64", "--batch_size=64", "--verbose=0")
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert (out / "fashion_mnist_cnn.keras").exists()
    printed = json.loads(proc.stdout[proc.stdout.index("{") :])
    assert printed == json.loads((out / "fashion_mnist_cnn.json").read_text())
    assert printed["standard"] is False and printed["epochs"] == 1 and printed["train_images"] == 128


def test_feature_extractor_cli_without_out_flag_fails_naming_it():
    proc = _run("--epochs=1")
    assert proc.returncode != 0
    assert "--out" in proc.stderr
