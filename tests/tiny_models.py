"""Shared test helpers: the tiny generator configuration, the smoke training config with overrides,
training-workdir-like directories, running a CLI and reading its pipe with a hang guard."""
import importlib.util
import os
import pathlib
import subprocess
import sys
import threading

import numpy as np
from PIL import Image
import tensorflow as tf

from cips_tf import showcase
from cips_tf.training.defaults import default_config

# A 16 px CIPS-skips small enough for fast tests.
TINY = dict(hidden_size=16, style_dim=16, n_mlp=2, widths=[32, 32, 16])
TINY_SIZE = 16

REPO = pathlib.Path(__file__).resolve().parent.parent


def smoke_config(**overrides):
    """`configs/smoke.py`'s config (the 16 px run the training tests use) with dotted-key overrides,
    e.g. `smoke_config(num_train_steps=2, **{"training.mode": "patch"})`."""
    spec = importlib.util.spec_from_file_location("smoke_config_file", REPO / "configs" / "smoke.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    config = module.get_config()
    for key, value in overrides.items():
        node = config
        *parents, leaf = key.split(".")
        for parent in parents:
            node = node[parent]
        node[leaf] = value
    return config


def make_workdir(path, generator, mode="full"):
    """A directory like a training workdir: `config.json` (the TINY model, Fashion-MNIST test
    split) and a checkpoint holding `generator` as `g_ema` (no `w_avg`)."""
    path = pathlib.Path(path)
    config = default_config()
    config.resolution = TINY_SIZE
    for key, value in TINY.items():
        config.model[key] = value
    config.data.source = "fashion_mnist"
    config.data.split = "test"
    config.training.mode = mode
    path.mkdir(parents=True, exist_ok=True)
    (path / "config.json").write_text(config.to_json())
    tf.train.Checkpoint(g_ema=generator).save(str(path / "checkpoints" / "ckpt"))
    return path


def run_cli(module, *args, timeout=900):
    """Runs `python -m <module> args...` from the repo root (absl flags are process-global, so CLIs
    run in a subprocess); returns the CompletedProcess."""
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3", CUDA_VISIBLE_DEVICES="",
               PYTHONPATH=str(REPO) + os.pathsep + os.environ.get("PYTHONPATH", ""))
    return subprocess.run([sys.executable, "-m", module, *args], cwd=REPO, env=env,
                          capture_output=True, text=True, timeout=timeout)


def read_line(stream, timeout):
    """One line of a subprocess's pipe; AssertionError when none comes within `timeout` seconds
    (a hang guard: `stream.readline()` alone waits forever on a child that hangs)."""
    lines = []
    reader = threading.Thread(target=lambda: lines.append(stream.readline()), daemon=True)
    reader.start()
    reader.join(timeout)
    assert lines, f"no line from the subprocess within {timeout} s"
    return lines[0]


def png(path):
    """An image file as a numpy array."""
    return np.asarray(Image.open(path))


def assert_same_pixels(actual, desired, max_flips=0.01):
    """uint8 renders of the same points that went through different matmul shapes (other chunk or
    batch sizes): oneDNN blocks a matmul by its shape, so the float pixels agree to a few ulp, and a
    value within an ulp of a rounding boundary can land one level apart after `to_uint8`. Equal
    shapes, no pixel more than one level apart, and at most `max_flips` of them apart at all (a
    wrong chunk or frame order moves most pixels by far more)."""
    actual, desired = np.asarray(actual), np.asarray(desired)
    assert actual.shape == desired.shape, (actual.shape, desired.shape)
    diff = np.abs(actual.astype(np.int16) - desired.astype(np.int16))
    assert diff.max() <= 1, f"{int((diff > 1).sum())} pixels differ by more than one level (max {diff.max()})"
    assert diff.mean() <= max_flips, f"{diff.mean():.2%} of the pixels one level apart"


def assert_labelled_class_grid(grid, rows, resolution, scale):
    """A `showcase.class_grid` PNG (as an array): one row per class, each with dark (text) pixels in
    its label column."""
    row_height = resolution * scale
    assert grid.shape[0] == 2 * showcase.MARGIN + rows * (row_height + 2), (grid.shape, rows)  # one row per class
    for i in range(rows):
        y = showcase.MARGIN + i * (row_height + 2)
        label = grid[y : y + row_height, : showcase.MARGIN + 20]
        assert (label < 100).any(), f"row {i} has no label"
