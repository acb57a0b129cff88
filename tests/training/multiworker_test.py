"""Two-process MultiWorkerMirroredStrategy run on localhost: the workers stay in sync."""
import json
import os
import pathlib
import socket
import subprocess
import sys

import numpy as np
import pytest

REPO = pathlib.Path(__file__).resolve().parents[2]

WORKER = r"""
import sys, json, numpy as np
sys.path.insert(0, {configs!r})
import smoke
from absl import logging
from cips_tf.training import train_lib
logging.set_verbosity(logging.INFO)
c = smoke.get_config()
c.num_train_steps = 3
c.training.sample_every = 0
c.training.checkpoint_every = 3
result = train_lib.train_and_evaluate(c, {workdir!r})
gan = result["gan"]
weights = [v.numpy() for m in (gan.generator, gan.discriminator, gan.g_ema) for v in m.trainable_variables]
np.savez({out!r}, *weights)

"""


def _free_ports(n):
    socks = [socket.socket() for _ in range(n)]
    for s in socks:
        s.bind(("127.0.0.1", 0))
    ports = [s.getsockname()[1] for s in socks]
    for s in socks:
        s.close()
    return ports


@pytest.mark.slow
def test_multiworker_two_processes_on_localhost_stay_in_sync(tmp_path):
    ports = _free_ports(2)
    cluster = {"worker": [f"127.0.0.1:{p}" for p in ports]}
    procs = []
    for index in range(2):
        env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2", CUDA_VISIBLE_DEVICES="",
                   TF_CONFIG=json.dumps({"cluster": cluster, "task": {"type": "worker", "index": index}}))
        code = WORKER.format(configs=str(REPO / "configs"), workdir=str(tmp_path / "run"),
                             out=str(tmp_path / f"weights_{index}.npz"))
        procs.append(subprocess.Popen([sys.executable, "-c", code], env=env, stdout=subprocess.PIPE,
                                      stderr=subprocess.PIPE, text=True))
    outs = [p.communicate(timeout=900) for p in procs]
    for p, (out, err) in zip(procs, outs):
        assert p.returncode == 0, err[-3000:]
    a, b = np.load(tmp_path / "weights_0.npz"), np.load(tmp_path / "weights_1.npz")
    assert len(a.files) == len(b.files) > 0
    for key in a.files:
        np.testing.assert_array_equal(a[key], b[key])
    # Only the chief (worker 0) writes the workdir's checkpoints and config.
    assert (tmp_path / "run" / "config.json").exists()
    assert (tmp_path / "run" / "checkpoints" / "checkpoint").exists()
    assert "with 2 replicas" in outs[0][1] and "with 2 replicas" in outs[1][1]
