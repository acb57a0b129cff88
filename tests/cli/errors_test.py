"""Tests for cips_tf.entry_point, the CLIs' error policy: user errors -> one line and exit code 2; run
failures -> one line and exit code 1; bugs keep their traceback."""
import pathlib

import pytest
import tensorflow as tf
from absl import app

from cips_tf import entry_point as errors
from cips_tf.errors import ConfigError, RunError
from tiny_models import run_cli

REPO = pathlib.Path(__file__).resolve().parents[2]
SMOKE = str(REPO / "configs" / "smoke.py")


def test_classify_user_errors_run_failures_and_bugs():
    assert errors.classify(ConfigError("resolution", "must be a power of two")) == (
        2, "config.resolution: must be a power of two")
    assert errors.classify(app.UsageError("--task: unknown")) == (2, "--task: unknown")
    code, message = errors.classify(FileNotFoundError(2, "No such file or directory", "/no/model"))
    assert code == 2 and message == "/no/model: No such file or directory"
    assert errors.classify(RunError("diverged")) == (1, "diverged")
    bad_image = tf.errors.InvalidArgumentError(
        None, None, "{{function_node x}} assertion failed: [/d/x.png: bad image: cannot be decoded (truncated) "
                    "(data.skip_bad_images=True skips such files)]\n\t [[{{node Assert}}]]")
    assert errors.classify(bad_image) == (
        1, "/d/x.png: bad image: cannot be decoded (truncated) (data.skip_bad_images=True skips such files)")
    assert errors.classify(ValueError("a bug")) is None
    assert errors.classify(tf.errors.InvalidArgumentError(None, None, "shape mismatch")) is None


def test_flag_error_message_unknown_config_field_names_the_flag_and_suggests():
    error = AttributeError("'\\'learnin_rate\\'\\nDid you mean \"learning_rate\" instead of \"learnin_rate\"?'")
    argv = ["cips-train", "--config=c.py", "--config.optimizer.learnin_rate=1"]
    assert errors._flag_error_message(error, argv) == (
        "--config.optimizer.learnin_rate: no such config field (did you mean learning_rate?)")


def _stderr_errors(stderr):
    return [line for line in stderr.splitlines() if ": error: " in line]


@pytest.mark.parametrize("flags, code, needle", [
    (["--config.resolution=24"], 2, "train.py: error: config.resolution: must be a power of two >= 4, got 24"),
    (["--config.optimizer.learnin_rate=1"], 2, "--config.optimizer.learnin_rate: no such config field"),
    (["--config.data.source=folder", "--config.data.path=/nonexistent/images"], 2,
     "config.data.path: /nonexistent/images: image folder not found"),
])
def test_cips_train_user_error_one_line_exit_2_no_traceback(tmp_path, flags, code, needle):
    proc = run_cli("cips_tf.cli.train", f"--config={SMOKE}", f"--workdir={tmp_path}", *flags, timeout=900)
    assert proc.returncode == code, proc.stderr[-2000:]
    lines = _stderr_errors(proc.stderr)
    assert len(lines) == 1 and needle in lines[0], proc.stderr[-2000:]
    assert "Traceback" not in proc.stderr
    assert not (tmp_path / "checkpoints").exists()


def test_cips_train_verbosity_1_adds_the_traceback(tmp_path):
    proc = run_cli("cips_tf.cli.train", f"--config={SMOKE}", f"--workdir={tmp_path}", "--config.resolution=0",
                   "--verbosity=1", timeout=900)
    assert proc.returncode == 2
    assert "Traceback" in proc.stderr and "validate_config" in proc.stderr
    assert len(_stderr_errors(proc.stderr)) == 1


MISSING = "/nonexistent/cips"


@pytest.mark.parametrize("module, args, needle", [
    ("cips_tf.cli.export", [f"--model={MISSING}", "--export_base={tmp}"], MISSING),
    ("cips_tf.cli.generate", ["--task=sample", f"--model={MISSING}", "--out={tmp}"], MISSING),
    ("cips_tf.cli.evaluate", [f"--model={MISSING}", "--out={tmp}"], MISSING),
    ("cips_tf.cli.project", [f"--model={MISSING}", f"--target={MISSING}.png", "--out={tmp}"], f"{MISSING}.png"),
    ("cips_tf.cli.convert", [f"--checkpoint={MISSING}.npz", "--out={tmp}"], f"{MISSING}.npz"),
    ("cips_tf.cli.dataset", [f"--source={MISSING}", "--dest={tmp}"], MISSING),
    ("cips_tf.cli.feature_extractor", [f"--data_dir={MISSING}", "--out={tmp}"], MISSING),
    ("pipelines.run", [f"--config={MISSING}.py"], f"{MISSING}.py"),
])
def test_every_cli_missing_input_path_one_line_exit_2(tmp_path, module, args, needle):
    """One error policy for every entry point: a path that does not exist is a user error."""
    proc = run_cli(module, *[a.format(tmp=tmp_path) for a in args], timeout=900)
    assert proc.returncode == 2, proc.stderr[-2000:]
    lines = _stderr_errors(proc.stderr)
    assert len(lines) == 1 and needle in lines[0], proc.stderr[-2000:]
    assert "Traceback" not in proc.stderr
