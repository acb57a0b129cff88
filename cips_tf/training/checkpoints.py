"""Workdir safety for training: one trainer per workdir, checkpoints that restore, only finite state saved.

- `WorkdirLock(workdir)`: an exclusive `fcntl.flock` on `DIR/.lock` (the kernel drops it when the
  process dies, even on SIGKILL); a second trainer fails at once with `WorkdirLockedError` naming
  the PID that holds it. The lock file is opened with `O_NOFOLLOW`: a `.lock` symlink planted in a
  shared workdir (a /tmp path) is refused, never followed and truncated.
- `remove_stale_temp_dirs(ckpt_dir)`: `ckpt-N_temp/` directories left by a kill during a save.
- `restore_with_fallback(checkpoint, ckpt_dir, restore_step=None)`: restores the newest
  checkpoint that restores and holds only finite values; a failing one gets a loud warning naming
  its file, is renamed `corrupt-ckpt-N.*`, and the next older one is tried. `restore_step` picks
  one explicitly. The checkpoint state file is rewritten to name the restored checkpoint.
- `nonfinite_tensors(named_variables)` / `count_nonfinite(variables)`: the finiteness checks the
  training loop runs after every step and before every save.
"""
import errno
import fcntl
import os
import pathlib
import re
import shutil

import tensorflow as tf
from absl import logging

from cips_tf.errors import ConfigError, UserError

LOCK_FILE = ".lock"
_CKPT_RE = re.compile(r"^ckpt-(\d+)\.index$")


class WorkdirLockedError(UserError, RuntimeError):
    """Another trainer holds the workdir's lock."""


class WorkdirLock:
    """`with WorkdirLock(workdir):` holds an exclusive lock on `workdir/.lock` (and writes our PID in it)."""

    def __init__(self, workdir):
        self.path = pathlib.Path(workdir) / LOCK_FILE
        self._file = None

    def __enter__(self):
        self.path.parent.mkdir(parents=True, exist_ok=True)
        try:
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC, 0o644)
        except OSError as e:
            if e.errno != errno.ELOOP:
                raise
            raise WorkdirLockedError(
                f"{self.path} is a symlink; the workdir lock never follows one (it would truncate the link's "
                "target): remove it, or use a workdir only you can write"
            ) from None
        f = os.fdopen(fd, "r+")
        try:
            fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            f.seek(0)
            holder = f.read().strip() or "unknown"
            f.close()
            raise WorkdirLockedError(
                f"{self.path.parent} is in use by another trainer (PID {holder} holds {self.path}); "
                "wait for it or stop it first"
            ) from None
        f.seek(0)
        f.truncate()
        f.write(f"{os.getpid()}\n")
        f.flush()
        self._file = f
        return self

    def __exit__(self, *exc):
        if self._file is not None:
            fcntl.flock(self._file, fcntl.LOCK_UN)
            self._file.close()
            self._file = None


def remove_stale_temp_dirs(ckpt_dir):
    """Removes `*_temp` directories (unfinished saves) from `ckpt_dir`; returns their paths."""
    removed = []
    ckpt_dir = pathlib.Path(ckpt_dir)
    if not ckpt_dir.is_dir():
        return removed
    for path in sorted(ckpt_dir.glob("*_temp")):
        if path.is_dir():
            shutil.rmtree(path, ignore_errors=True)
            removed.append(str(path))
            logging.warning("removed %s, an unfinished checkpoint save of an earlier run", path)
    return removed


def count_nonfinite(variables):
    """Number of NaN / inf entries in the floating-point `variables` (a scalar int64 tensor)."""
    counts = [tf.reduce_sum(tf.cast(tf.logical_not(tf.math.is_finite(tf.convert_to_tensor(v))), tf.int64))
              for v in variables if tf.as_dtype(v.dtype).is_floating]
    return tf.add_n(counts) if counts else tf.constant(0, tf.int64)


def nonfinite_tensors(named_variables):
    """`{name: number of non-finite entries}` of the floating-point variables that hold any."""
    bad = {}
    for name, v in named_variables:
        if not tf.as_dtype(v.dtype).is_floating:
            continue
        n = int(count_nonfinite([v]).numpy())
        if n:
            bad[name] = n
    return bad


def checkpoint_steps(ckpt_dir):
    """Steps of the `ckpt-N` checkpoints in `ckpt_dir` (by their index files), newest first."""
    ckpt_dir = pathlib.Path(ckpt_dir)
    if not ckpt_dir.is_dir():
        return []
    steps = [int(m.group(1)) for m in (_CKPT_RE.match(p.name) for p in ckpt_dir.iterdir()) if m]
    return sorted(steps, reverse=True)


def _candidates(ckpt_dir):
    """Checkpoint prefixes to try, newest first: the state file's latest, then older ones on disk."""
    steps = checkpoint_steps(ckpt_dir)
    latest = None
    try:
        latest = tf.train.latest_checkpoint(str(ckpt_dir))
    except Exception as e:  # an unreadable state file: fall back to the files on disk
        logging.warning("checkpoint state file in %s unreadable (%s); using the checkpoint files", ckpt_dir, e)
    if latest:
        m = re.search(r"ckpt-(\d+)$", latest)
        if m:  # checkpoints newer than the state's latest belong to an abandoned branch (restore_step)
            steps = [s for s in steps if s <= int(m.group(1))]
    return [str(pathlib.Path(ckpt_dir) / f"ckpt-{s}") for s in steps]


def _set_aside(prefix):
    """Renames a checkpoint's files `ckpt-N.*` -> `corrupt-ckpt-N.*` (kept for inspection)."""
    prefix = pathlib.Path(prefix)
    for path in prefix.parent.glob(prefix.name + ".*"):
        path.rename(path.with_name("corrupt-" + path.name))


def _write_state(ckpt_dir, prefix):
    keep = [str(pathlib.Path(ckpt_dir) / f"ckpt-{s}") for s in sorted(checkpoint_steps(ckpt_dir))
            if s <= int(prefix.rsplit("-", 1)[1])]
    tf.compat.v1.train.update_checkpoint_state(str(ckpt_dir), prefix, all_model_checkpoint_paths=keep)


def restore_with_fallback(checkpoint, ckpt_dir, named_variables=(), restore_step=None, read_only=False):
    """Restores the newest good checkpoint of `ckpt_dir` into `checkpoint`; returns its prefix or None.

    A checkpoint is good when it restores every object and `named_variables` (name, variable)
    hold only finite values afterwards. `restore_step`: restore `ckpt-<restore_step>` or fail.
    `read_only` (non-chief workers): never rename files or rewrite the state file.
    """
    ckpt_dir = pathlib.Path(ckpt_dir)
    if restore_step is not None:
        prefix = str(ckpt_dir / f"ckpt-{int(restore_step)}")
        if not tf.io.gfile.exists(prefix + ".index"):
            available = ", ".join(str(s) for s in checkpoint_steps(ckpt_dir)) or "none"
            raise ConfigError("training.restore_step", f"no checkpoint ckpt-{restore_step} in {ckpt_dir} "
                                                      f"(available steps: {available})")
        try:
            _restore_one(checkpoint, prefix, named_variables)
        except Exception as e:  # noqa: BLE001
            raise ConfigError("training.restore_step", f"{prefix}.index failed to restore: {type(e).__name__}: "
                                                      f"{str(e).splitlines()[0] if str(e) else ''}") from e
        if not read_only:
            _write_state(ckpt_dir, prefix)
        return prefix
    candidates = _candidates(ckpt_dir)
    for i, prefix in enumerate(candidates):
        try:
            _restore_one(checkpoint, prefix, named_variables)
        except Exception as e:  # noqa: BLE001 - any failure to read is a reason to fall back
            older = candidates[i + 1] if i + 1 < len(candidates) else None
            logging.error("=" * 80)
            logging.error("CHECKPOINT %s FAILED TO RESTORE: %s: %s", prefix + ".index", type(e).__name__,
                          str(e).splitlines()[0] if str(e) else "")
            logging.error("set aside as corrupt-%s.*; %s", pathlib.Path(prefix).name,
                          f"falling back to {older}" if older else "no older checkpoint: starting from scratch")
            logging.error("=" * 80)
            if not read_only:
                _set_aside(prefix)
            continue
        if i and not read_only:
            _write_state(ckpt_dir, prefix)
        return prefix
    return None


def _restore_one(checkpoint, prefix, named_variables):
    status = checkpoint.restore(prefix)
    status.assert_existing_objects_matched()
    bad = nonfinite_tensors(named_variables)
    if bad:
        listed = ", ".join(f"{k} ({n})" for k, n in sorted(bad.items())[:5])
        raise ValueError(f"{len(bad)} tensors hold NaN/inf values: {listed}{' ...' if len(bad) > 5 else ''}")
