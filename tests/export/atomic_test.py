"""A killed exporter never leaves a partial version directory, and the next export cleans up.

Leftovers are removed by age, not by PID (see `clean_stale_tmp_dirs`). The exporter runs in a subprocess whose commit step (the final `os.rename`) is replaced by one that
signals readiness and blocks: at that moment everything has been written into the temporary
directory. The process is then SIGKILLed, the worst case for an export in progress.
"""
import os
import pathlib
import signal
import subprocess
import sys
import time

import pytest

from cips_tf.export import saved_model as sm
from export_test_utils import subprocess_env, tiny_generator, tiny_w_avg

_BLOCKING_EXPORTER = r"""
import pathlib, sys, time
import numpy as np
from cips_tf.export import saved_model as sm
from cips_tf.models.generator import CIPSGenerator

export_base, ready = sys.argv[1:3]

def blocked_commit(tmp_dir, final_dir):
    pathlib.Path(ready).write_text(str(tmp_dir))
    time.sleep(600)

sm._commit = blocked_commit
g = CIPSGenerator(size=16, hidden_size=16, style_dim=16, n_mlp=2, widths=[32, 32, 16])
sm.export_generator(g, np.zeros(16, np.float32), export_base, "cips")
"""


def _assert_complete(version_dir):
    for rel in ["saved_model.pb", "variables/variables.index", "assets.extra/cips_generator.keras",
                "assets.extra/w_avg.npy", sm.WARMUP_FILE]:
        assert (version_dir / rel).exists(), f"{version_dir} lacks {rel}"


@pytest.mark.slow  # a fault loop: a child process killed mid-export (54 s on an AVX2 machine)
def test_export_sigkilled_before_commit_leaves_no_partial_version(tmp_path):
    generator, w_avg = tiny_generator(), tiny_w_avg()
    model_dir = tmp_path / "cips"
    sm.export_generator(generator, w_avg, tmp_path, "cips")  # version 1, complete
    ready = tmp_path / "ready"
    proc = subprocess.Popen(
        [sys.executable, "-c", _BLOCKING_EXPORTER, str(tmp_path), str(ready)],
        env=subprocess_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    try:
        deadline = time.time() + 900  # a hang guard, generous for a loaded machine
        while not ready.exists():
            assert proc.poll() is None, proc.stdout.read().decode()
            assert time.time() < deadline, "exporter never reached its commit step"
            time.sleep(0.2)
        tmp_dir = pathlib.Path(ready.read_text())
        assert tmp_dir.parent == model_dir and tmp_dir.name.startswith(".tmp-2-")
        assert str(proc.pid) not in tmp_dir.name  # a uuid, not a PID (PIDs repeat across pods)
        assert (tmp_dir / "saved_model.pb").exists()
        os.kill(proc.pid, signal.SIGKILL)
        assert proc.wait(timeout=60) == -signal.SIGKILL
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        proc.stdout.close()

    # What TF Serving would see: only complete numeric versions (it ignores ".tmp-*").
    assert sm.existing_versions(model_dir) == [1]
    _assert_complete(model_dir / "1")
    assert tmp_dir.exists()  # the killed exporter's leftovers

    # Fresh leftovers may be a live exporter in another pod: the next export keeps them.
    path = sm.export_generator(generator, w_avg, tmp_path, "cips")
    assert path.name == "2" and tmp_dir.exists()
    _assert_complete(path)
    # Untouched for longer than STALE_TMP_SECONDS: abandoned, removed by the next export.
    old = time.time() - sm.STALE_TMP_SECONDS - 60
    for dirpath, dirnames, filenames in os.walk(tmp_dir):
        for name in dirnames + filenames + [""]:
            os.utime(os.path.join(dirpath, name), (old, old))
    path = sm.export_generator(generator, w_avg, tmp_path, "cips")
    assert path.name == "3"
    assert sorted(p.name for p in model_dir.iterdir()) == ["1", "2", "3", sm.BATCHING_FILE]
