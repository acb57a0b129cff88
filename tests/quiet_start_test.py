"""A CPU-only machine starts TensorFlow without CUDA error lines, and later errors still show."""
import os
import re
import subprocess
import sys

import pytest

pytestmark = pytest.mark.skipif(
    os.path.exists("/proc/driver/nvidia/version"), reason="an NVIDIA driver is present: start-up lines are kept"
)


def _run(code):
    env = {k: v for k, v in os.environ.items() if k not in ("TF_CPP_MIN_LOG_LEVEL", "CIPS_TF_VERBOSE_START")}
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=900)


def test_import_cips_tf_on_cpu_prints_no_startup_lines():
    proc = _run("import cips_tf.coords, tensorflow as tf; tf.constant(1.0) + 1.0; print('ok')")
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "ok"
    assert "cuInit" not in proc.stderr
    assert proc.stderr.strip() == "", proc.stderr


def test_quiet_start_keeps_errors_that_come_later():
    proc = _run(
        "import cips_tf, os, tensorflow as tf\n"
        "os.write(2, b'a later line\\n')\n"
        "tf.debugging.assert_all_finite(tf.constant(float('nan')), 'poisoned input')\n"
    )
    assert proc.returncode != 0
    assert "a later line" in proc.stderr
    assert "poisoned input" in proc.stderr


def test_verbose_start_keeps_tensorflow_lines():
    env_code = "import os; os.environ['CIPS_TF_VERBOSE_START'] = '1'\nimport cips_tf, tensorflow as tf; tf.constant(1.0)"
    proc = _run(env_code)
    assert proc.returncode == 0
    assert "cuInit" in proc.stderr or "cuda" in proc.stderr.lower()


@pytest.mark.slow  # a benchmark script's output; the quiet start itself is tested above
def test_matmul_peak_benchmark_prints_only_its_result():
    """The benchmark whose figure README prints beside every time starts quietly too."""
    script = os.path.join(os.path.dirname(__file__), "..", "benchmarks", "matmul_peak.py")
    env = {k: v for k, v in os.environ.items() if k not in ("TF_CPP_MIN_LOG_LEVEL", "CIPS_TF_VERBOSE_START")}
    proc = subprocess.run([sys.executable, script, "--runs=1", "--import-time"], capture_output=True, text=True,
                          env=env, timeout=900)
    assert proc.returncode == 0, proc.stderr
    # one line, as scripts/test.sh prints it before and after a tier
    assert re.fullmatch(r"matmul peak: \d+\.\d GFLOP/s \(.*\); import tensorflow: \d+\.\d s of CPU\n", proc.stdout), (
        proc.stdout)
    assert "cuInit" not in proc.stderr and "cudart_stub" not in proc.stderr, proc.stderr


_NOISY = (
    "import cips_tf, os, sys, tensorflow as tf\n"
    "from cips_tf._tf_start import quiet_console\n"
    "quiet_console({verbose})\n"
    "os.write(2, b'E0000 meta_optimizer.cc:967] remapper failed: INVALID_ARGUMENT: Mutation::Apply error\\n')\n"
    "os.write(2, b'W0000 dataset.cc:997] Input of GeneratorDatasetOp::Dataset will not be optimized because\\n')\n"
    "os.write(2, b'a real problem\\n')\n"
    "tf.get_logger().info('Sharding callback duration: 12')\n"
    "os.write(2, b'I1202 signature_serialization.py:156] Function `_render` contains input name(s) resource with "
    "unsupported characters which will be renamed to x in the SavedModel.\\n')\n"
    "tf.debugging.assert_all_finite(tf.constant(float('nan')), 'poisoned input')\n"
)


def test_quiet_console_drops_known_noise_and_keeps_errors():
    proc = _run(_NOISY.format(verbose="False"))
    assert proc.returncode != 0
    assert "remapper failed" not in proc.stderr and "will not be optimized" not in proc.stderr
    assert "Sharding callback" not in proc.stderr and "unsupported characters" not in proc.stderr
    assert "a real problem" in proc.stderr and "poisoned input" in proc.stderr  # the traceback gets out


def test_quiet_console_verbose_keeps_everything():
    proc = _run(_NOISY.format(verbose="True"))
    assert "remapper failed" in proc.stderr and "will not be optimized" in proc.stderr
    assert "a real problem" in proc.stderr


def test_quiet_console_filter_outlives_an_abort():
    proc = _run(_NOISY.split("tf.debugging")[0].format(verbose="False") + "os.write(2, b'last words\\n'); os.abort()\n")
    assert proc.returncode != 0
    assert "last words" in proc.stderr and "remapper failed" not in proc.stderr
