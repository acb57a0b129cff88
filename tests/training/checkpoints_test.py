"""Tests for cips_tf.training.checkpoints: the workdir lock, stale temp dirs, restore fallback, finiteness."""
import logging
import os
import subprocess
import sys

import numpy as np
import pytest
import tensorflow as tf

from cips_tf.errors import ConfigError
from cips_tf.training import checkpoints
from tiny_models import read_line


def test_workdir_lock_second_holder_fails_naming_pid_and_lock_is_released(tmp_path):
    with checkpoints.WorkdirLock(tmp_path):
        assert (tmp_path / ".lock").read_text().strip() == str(os.getpid())
        with pytest.raises(checkpoints.WorkdirLockedError, match=f"PID {os.getpid()} holds .*\\.lock"):
            checkpoints.WorkdirLock(tmp_path).__enter__()
    with checkpoints.WorkdirLock(tmp_path):  # released on exit
        pass


def test_workdir_lock_held_by_another_process_and_dropped_when_it_dies(tmp_path):
    holder = subprocess.Popen(
        [sys.executable, "-c", "import sys, time\nfrom cips_tf.training.checkpoints import WorkdirLock\n"
         "with WorkdirLock(sys.argv[1]):\n    print('locked', flush=True)\n    time.sleep(600)", str(tmp_path)],
        stdout=subprocess.PIPE, text=True)
    try:
        assert read_line(holder.stdout, timeout=900).strip() == "locked"  # the timeout is a hang guard
        with pytest.raises(checkpoints.WorkdirLockedError, match=f"PID {holder.pid} "):
            checkpoints.WorkdirLock(tmp_path).__enter__()
    finally:
        holder.kill()
        holder.wait()
    with checkpoints.WorkdirLock(tmp_path):  # the kernel dropped the dead process's lock
        pass


def test_remove_stale_temp_dirs_removes_only_temp_dirs(tmp_path):
    (tmp_path / "ckpt-30_temp").mkdir()
    (tmp_path / "ckpt-30_temp" / "part").write_bytes(b"x")
    (tmp_path / "ckpt-20.index").write_bytes(b"keep")
    removed = checkpoints.remove_stale_temp_dirs(tmp_path)
    assert removed == [str(tmp_path / "ckpt-30_temp")]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ckpt-20.index"]
    assert checkpoints.remove_stale_temp_dirs(tmp_path / "absent") == []


def test_count_nonfinite_and_nonfinite_tensors():
    a = tf.Variable([1.0, np.nan, np.inf])
    b = tf.Variable([0.0, 2.0])
    steps = tf.Variable(3, dtype=tf.int64)
    assert int(checkpoints.count_nonfinite([a, b, steps])) == 2
    assert checkpoints.nonfinite_tensors([("a", a), ("b", b), ("steps", steps)]) == {"a": 2}


def _saved_checkpoints(directory, values):
    """Saves one checkpoint per value (steps 1, 2, ...) of a single variable; returns (checkpoint, var)."""
    var = tf.Variable(0.0)
    ckpt = tf.train.Checkpoint(v=var)
    manager = tf.train.CheckpointManager(ckpt, str(directory), max_to_keep=10)
    for step, value in enumerate(values, start=1):
        var.assign(value)
        manager.save(checkpoint_number=step)
    var.assign(-1.0)
    return ckpt, var


def _truncate(directory, step):
    data = sorted(directory.glob(f"ckpt-{step}.data-*"))[0]
    data.write_bytes(data.read_bytes()[: data.stat().st_size // 2])


def test_restore_with_fallback_truncated_newest_warns_sets_aside_and_uses_older(tmp_path, caplog):
    ckpt, var = _saved_checkpoints(tmp_path, [10.0, 20.0, 30.0])
    _truncate(tmp_path, 3)
    with caplog.at_level(logging.ERROR):
        restored = checkpoints.restore_with_fallback(ckpt, tmp_path, [("v", var)])
    assert restored == str(tmp_path / "ckpt-2") and float(var.numpy()) == 20.0
    assert "ckpt-3.index" in caplog.text and "FAILED TO RESTORE" in caplog.text
    assert not list(tmp_path.glob("ckpt-3.*")) and list(tmp_path.glob("corrupt-ckpt-3.*"))
    assert tf.train.latest_checkpoint(str(tmp_path)) == str(tmp_path / "ckpt-2")


def test_restore_with_fallback_skips_checkpoint_holding_nan(tmp_path):
    ckpt, var = _saved_checkpoints(tmp_path, [10.0, float("nan")])
    assert checkpoints.restore_with_fallback(ckpt, tmp_path, [("v", var)]) == str(tmp_path / "ckpt-1")
    assert float(var.numpy()) == 10.0


def test_restore_with_fallback_empty_dir_returns_none(tmp_path):
    ckpt, var = _saved_checkpoints(tmp_path / "other", [1.0])
    assert checkpoints.restore_with_fallback(ckpt, tmp_path / "none", [("v", var)]) is None


def test_restore_step_picks_that_checkpoint_and_newer_ones_are_ignored_afterwards(tmp_path):
    ckpt, var = _saved_checkpoints(tmp_path, [10.0, 20.0, 30.0])
    assert checkpoints.restore_with_fallback(ckpt, tmp_path, [("v", var)], restore_step=1) == str(tmp_path / "ckpt-1")
    assert float(var.numpy()) == 10.0
    var.assign(-1.0)
    assert checkpoints.restore_with_fallback(ckpt, tmp_path, [("v", var)]) == str(tmp_path / "ckpt-1")
    with pytest.raises(ConfigError, match=r"training.restore_step: no checkpoint ckpt-7 .*available steps: 3, 2, 1"):
        checkpoints.restore_with_fallback(ckpt, tmp_path, [("v", var)], restore_step=7)


def test_restore_step_of_a_corrupt_checkpoint_is_an_error_not_a_fallback(tmp_path):
    ckpt, var = _saved_checkpoints(tmp_path, [10.0, 20.0])
    _truncate(tmp_path, 2)
    with pytest.raises(ConfigError, match=r"training.restore_step: .*ckpt-2.index failed to restore"):
        checkpoints.restore_with_fallback(ckpt, tmp_path, [("v", var)], restore_step=2)


def test_workdir_lock_planted_symlink_is_refused_and_target_kept(tmp_path):
    target = tmp_path / "precious.txt"
    target.write_text("do not truncate\n")
    workdir = tmp_path / "run"
    workdir.mkdir()
    (workdir / ".lock").symlink_to(target)  # planted by another user of a shared /tmp
    with pytest.raises(checkpoints.WorkdirLockedError, match=r"\.lock is a symlink"):
        checkpoints.WorkdirLock(workdir).__enter__()
    assert target.read_text() == "do not truncate\n"
