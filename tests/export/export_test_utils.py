"""Shared helpers of the export tests: a tiny generator and fresh-Python-process runs."""
import os
import subprocess
import sys

import numpy as np

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
STYLE_DIM = 16
SIZE = 16


def tiny_generator():
    from cips_tf.models.generator import CIPSGenerator

    return CIPSGenerator(size=SIZE, hidden_size=16, style_dim=STYLE_DIM, n_mlp=2, widths=[32, 32, 16])


def tiny_w_avg():
    """A non-trivial truncation centre, so that truncation_psi matters in the comparisons."""
    return np.random.RandomState(1).randn(STYLE_DIM).astype(np.float32) * 0.5


def quantize_np(images):
    """The reference of the export quantization (`fid.quantize_images`) in NumPy: `clip(x * 127.5 + 128, 0, 255)` truncated to uint8."""
    return np.clip(np.asarray(images, np.float32) * 127.5 + 128.0, 0.0, 255.0).astype(np.uint8)


def subprocess_env():
    env = dict(os.environ)
    env["PYTHONPATH"] = REPO_ROOT + os.pathsep + env.get("PYTHONPATH", "")
    env.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    env["CUDA_VISIBLE_DEVICES"] = ""
    return env


def run_python(code, *args, cwd=None, timeout=900):
    """Runs `code` in a fresh interpreter (`python -c code args...`); raises with its output on failure."""
    proc = subprocess.run(
        [sys.executable, "-c", code, *map(str, args)],
        cwd=cwd,
        env=subprocess_env(),
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    if proc.returncode != 0:
        raise AssertionError(f"subprocess failed ({proc.returncode}):\n{proc.stdout}\n{proc.stderr}")
    return proc
