import json
import os
import pathlib
import signal
import subprocess
import sys
import time

import numpy as np
import pytest
import tensorflow as tf

from cips_tf.metrics import metric_log
from cips_tf.metrics import training_hook
from cips_tf.training import train_lib
from tiny_models import smoke_config

REPO = pathlib.Path(__file__).resolve().parents[2]


# Tests of bookkeeping outside the train step (time budget, timed snapshots, a non-chief's files, a
# resume after SIGKILL) train on one replica: the same code path, at half the two-replica tracing. The
# shared run, the resume, non-finite, ADA and alternative-mode tests keep `_config`'s two replicas.
ONE_REPLICA = {"training.strategy": "default"}


def _config(**overrides):
    return smoke_config(**{"num_train_steps": 6, "training.checkpoint_every": 3, "training.sample_every": 3,
                           "training.log_every": 2, "training.strategy": "mirrored", **overrides})


def _state(gan):
    objs = [gan.generator, gan.discriminator, gan.g_ema]
    values = [v.numpy() for m in objs for v in m.trainable_variables]
    values += [v.numpy() for opt in (gan.g_optimizer, gan.d_optimizer) for v in opt.variables]
    return values


@pytest.fixture(scope="session")
def trained_to_step_3(shared_artifacts):
    """A workdir of `_config()` trained for 3 of its 6 steps (ckpt-3), built once per test run and shared by
    the xdist workers; tests that train on from it (or write into it) work on a `_copy`."""
    with shared_artifacts("train_lib_step_3") as (root, missing):
        if missing:
            first = train_lib.train_and_evaluate(_config(), root / "workdir", max_steps=3)
            assert first["step"] == 3
            np.savez(root / "state.npz", *_state(first["gan"]))  # what the run held in memory at its end
    return root / "workdir"


def _saved_state(workdir):
    with np.load(workdir.parent / "state.npz") as saved:
        return [saved[f"arr_{i}"] for i in range(len(saved.files))]


def _copy(workdir, tmp_path):
    import shutil

    return pathlib.Path(shutil.copytree(workdir, tmp_path / "workdir"))


def test_train_and_evaluate_smoke_writes_workdir(tmp_path):
    result = train_lib.train_and_evaluate(_config(), tmp_path)
    assert result["step"] == 6
    assert json.loads((tmp_path / "config.json").read_text())["resolution"] == 16
    assert tf.train.latest_checkpoint(str(tmp_path / "checkpoints")).endswith("ckpt-6")
    assert sorted(p.name for p in (tmp_path / "samples").iterdir()) == ["step_00000003.png", "step_00000006.png"]
    assert list(tmp_path.glob("events.out.tfevents*"))
    assert np.isfinite(list(result["metrics"].values())).all()


@pytest.mark.slow  # trains on from the shared run
def test_train_and_evaluate_resume_restores_step_weights_and_optimizer_state(trained_to_step_3, tmp_path):
    saved = _saved_state(trained_to_step_3)  # the first run's weights, EMA and optimizer slots after step 3
    tmp_path = _copy(trained_to_step_3, tmp_path)
    resumed = train_lib.train_and_evaluate(_config(), tmp_path, max_steps=0)
    assert int(resumed["gan"].step.numpy()) == 3
    assert int(resumed["gan"].g_optimizer.iterations.numpy()) == 3
    restored = _state(resumed["gan"])
    assert len(restored) == len(saved) > 50
    for a, b in zip(saved, restored):
        np.testing.assert_array_equal(a, b)
    final = train_lib.train_and_evaluate(_config(), tmp_path)
    assert final["step"] == 6


@pytest.mark.slow  # trains twice on a copy of the shared run
def test_train_and_evaluate_nonfinite_loss_stops_and_keeps_last_good_checkpoint(trained_to_step_3, tmp_path):
    tmp_path = _copy(trained_to_step_3, tmp_path)
    good = tf.train.latest_checkpoint(str(tmp_path / "checkpoints"))
    bad = _config(**{"optimizer.learning_rate": 1e30})  # the first update overflows the weights
    with pytest.raises(train_lib.NonFiniteLossError, match="at step 4.*last good checkpoint is .*ckpt-3"):
        train_lib.train_and_evaluate(bad, tmp_path)
    assert tf.train.latest_checkpoint(str(tmp_path / "checkpoints")) == good
    values = [tf.train.load_variable(good, name) for name, _ in tf.train.list_variables(good)]
    floats = [v for v in values if isinstance(v, np.ndarray) and v.dtype.kind == "f"]
    assert len(floats) > 50 and all(np.isfinite(v).all() for v in floats)  # weights, EMA AND optimizer slots
    resumed = train_lib.train_and_evaluate(_config(), tmp_path, max_steps=1)  # the named checkpoint resumes
    assert resumed["step"] == 4 and np.isfinite(list(resumed["metrics"].values())).all()


@pytest.mark.slow  # trains on a copy of the shared run
def test_train_and_evaluate_max_consecutive_nonfinite_rolls_back_then_stops(trained_to_step_3, tmp_path, caplog):
    tmp_path = _copy(trained_to_step_3, tmp_path)
    bad = _config(**{"optimizer.learning_rate": 1e30, "training.max_consecutive_nonfinite": 2})
    with caplog.at_level("WARNING"), pytest.raises(train_lib.NonFiniteLossError, match="ckpt-3"):
        train_lib.train_and_evaluate(bad, tmp_path)
    assert caplog.text.count("rolled back to") == 2 and "2 of 2 consecutive" in caplog.text
    assert tf.train.latest_checkpoint(str(tmp_path / "checkpoints")).endswith("ckpt-3")


@pytest.mark.slow  # builds and restores a copy of the shared run (no step)
def test_train_and_evaluate_resume_config_learning_rate_wins_and_is_logged(trained_to_step_3, tmp_path, caplog):
    tmp_path = _copy(trained_to_step_3, tmp_path)
    with caplog.at_level("WARNING"):
        resumed = train_lib.train_and_evaluate(_config(**{"optimizer.learning_rate": 1e-4}), tmp_path, max_steps=0)
    gan = resumed["gan"]
    assert float(gan.g_optimizer.learning_rate.numpy()) == pytest.approx(1e-4 * 4 / 5)  # lazy-reg ratio, k = 4
    assert float(gan.d_optimizer.learning_rate.numpy()) == pytest.approx(1e-4 * 16 / 17)
    assert "hyperparameter optimizer.learning_rate changed from 0.002 (checkpointed run) to 0.0001" in caplog.text
    assert json.loads((tmp_path / "config.json").read_text())["optimizer"]["learning_rate"] == 1e-4


def test_train_and_evaluate_refuses_architecture_change_and_busy_workdir_before_building(tmp_path):
    from cips_tf.errors import ConfigError
    from cips_tf.training import checkpoints

    (tmp_path / "config.json").write_text(json.dumps(_config().to_dict(), default=str))
    with pytest.raises(ConfigError, match=r"model.hidden_size: 16 -> 32"):
        train_lib.train_and_evaluate(_config(**{"model.hidden_size": 32}), tmp_path)
    with checkpoints.WorkdirLock(tmp_path):
        with pytest.raises(checkpoints.WorkdirLockedError, match=f"PID {os.getpid()}"):
            train_lib.train_and_evaluate(_config(), tmp_path)
    assert not (tmp_path / "checkpoints").exists()


def _cli(workdir, *flags):
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2", CUDA_VISIBLE_DEVICES="")
    return [sys.executable, "-m", "cips_tf.cli.train", f"--config={REPO / 'configs' / 'smoke.py'}",
            f"--workdir={workdir}", *flags], env


def _scalar_steps(workdir, tag):
    steps = []
    for path in sorted(pathlib.Path(workdir).glob("events.out.tfevents*")):
        for event in tf.compat.v1.train.summary_iterator(str(path)):
            steps += [event.step for v in event.summary.value if v.tag == tag]
    return steps


@pytest.mark.slow
def test_cli_rerun_with_more_steps_continues_from_saved_step(tmp_path):
    cmd, env = _cli(tmp_path)
    subprocess.run(cmd, env=env, check=True, capture_output=True, timeout=600)
    assert _scalar_steps(tmp_path, "train/d_loss") == [5, 10, 15, 20]
    cmd, env = _cli(tmp_path, "--config.num_train_steps=30")
    done = subprocess.run(cmd, env=env, check=True, capture_output=True, text=True, timeout=600)
    assert "resumed from" in done.stderr and "at step 20" in done.stderr
    assert _scalar_steps(tmp_path, "train/d_loss") == [5, 10, 15, 20, 25, 30]


def _wait_for_checkpoint(workdir, proc, min_step, timeout=300):
    deadline = time.time() + timeout
    while time.time() < deadline:
        latest = tf.train.latest_checkpoint(str(workdir / "checkpoints"))
        if latest and int(latest.rsplit("-", 1)[1]) >= min_step:
            return latest
        assert proc.poll() is None, proc.stderr.read()
        time.sleep(0.2)
    raise AssertionError("no checkpoint written in time")


@pytest.mark.slow
def test_cli_killed_with_sigkill_resumes_from_latest_checkpoint(tmp_path):
    cmd, env = _cli(tmp_path, "--config.num_train_steps=100000", "--config.training.checkpoint_every=4",
                    "--config.training.sample_every=0")
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        _wait_for_checkpoint(tmp_path, proc, 8)
        time.sleep(0.3)  # land the kill at an arbitrary point, possibly mid-save
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    latest = tf.train.latest_checkpoint(str(tmp_path / "checkpoints"))
    saved_step = int(latest.rsplit("-", 1)[1])
    assert tf.train.load_variable(latest, "step/.ATTRIBUTES/VARIABLE_VALUE") == saved_step
    config = _config(**{"num_train_steps": saved_step + 2, "training.checkpoint_every": 4,
                        "training.sample_every": 0, **ONE_REPLICA})
    result = train_lib.train_and_evaluate(config, tmp_path)
    assert result["step"] == saved_step + 2


@pytest.mark.slow
def test_cli_sigterm_checkpoints_then_exits_cleanly(tmp_path):
    cmd, env = _cli(tmp_path, "--config.num_train_steps=100000", "--config.training.checkpoint_every=1000",
                    "--config.training.sample_every=0", "--config.training.log_every=1")
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    deadline = time.time() + 300
    seen = ""
    while "step 3/" not in seen and time.time() < deadline:
        line = proc.stderr.readline()
        assert line or proc.poll() is None, seen
        seen += line
    proc.send_signal(signal.SIGTERM)
    _, rest = proc.communicate(timeout=300)
    assert proc.returncode == 0, rest
    assert "stopped by SIGTERM" in rest
    latest = tf.train.latest_checkpoint(str(tmp_path / "checkpoints"))
    assert latest is not None and int(latest.rsplit("-", 1)[1]) >= 3


@pytest.mark.slow  # trains two or three times
def test_train_and_evaluate_in_training_fid_reaches_tensorboard(tmp_path, tiny_extractor):
    extractor = tiny_extractor
    c = _config(**{"training.eval_every": 3, "training.eval_num_samples": 32, "eval.batch_size": 16,
                   "eval.extractor_path": str(extractor)})
    train_lib.train_and_evaluate(c, tmp_path / "run", make_eval_hook=training_hook.FidHook)
    assert _scalar_steps(tmp_path / "run", "eval/fid32_offline") == [3, 6]
    assert [r["step"] for r in metric_log.read_metric_log(tmp_path / "run" / "metric-fid32_offline.jsonl")] == [3, 6]


@pytest.mark.slow  # a model load and a w_avg estimate on the shared run
def test_train_and_evaluate_checkpoints_carry_w_avg_of_g_ema(trained_to_step_3):
    from cips_tf.loading import load_generator
    from cips_tf.latents import estimate_w_avg

    loaded = load_generator(trained_to_step_3)  # reads only
    assert loaded.w_avg is not None
    np.testing.assert_allclose(loaded.w_avg, estimate_w_avg(loaded.generator), atol=1e-5)


@pytest.mark.parametrize("mode", ["patch", "cylindrical"])
@pytest.mark.slow  # fast tier under 10 min: ~28 s per mode
def test_train_and_evaluate_alternative_modes_run(tmp_path, mode):
    c = smoke_config(**{"num_train_steps": 3, "training.mode": mode, "training.patch_size": 8,
                        "training.patch_max_dilation": 2, "training.strategy": "mirrored"})
    result = train_lib.train_and_evaluate(c, tmp_path)
    assert result["step"] == 3 and np.isfinite(list(result["metrics"].values())).all()
    expected_d = 8 if mode == "patch" else 16
    assert result["gan"].discriminator.size == expected_d


def _train_seconds(prefix):
    return float(tf.train.load_checkpoint(prefix).get_tensor("train_seconds/.ATTRIBUTES/VARIABLE_VALUE"))


@pytest.mark.slow  # trains two or three times
def test_train_and_evaluate_time_budget_stops_saves_and_counts_across_resumes(tmp_path, caplog):
    config = _config(**{"num_train_steps": 100000, "training.time_budget": "1s", "training.checkpoint_every": 1000,
                        "training.sample_every": 1000, **ONE_REPLICA})
    with caplog.at_level("INFO", logger="absl"):
        first = train_lib.train_and_evaluate(config, tmp_path)
    step = first["step"]
    assert 1 <= step < 100000 and first["budget_reached"]
    assert f"budget reached at step {step}" in caplog.text
    latest = tf.train.latest_checkpoint(str(tmp_path / "checkpoints"))
    assert latest.endswith(f"ckpt-{step}")  # the normal end: a checkpoint and a sample grid
    assert (tmp_path / "samples" / f"step_{step:08d}.png").exists()
    assert _train_seconds(latest) >= 1.0
    # A resume whose budget is spent trains nothing; a larger budget trains on from the saved clock.
    assert train_lib.train_and_evaluate(config, tmp_path)["step"] == step
    more = train_lib.train_and_evaluate(_config(**{"num_train_steps": step + 2, "training.time_budget": "1h",
                                                   **ONE_REPLICA}),
                                        tmp_path)
    assert more["step"] == step + 2 and not more["budget_reached"]
    assert _train_seconds(tf.train.latest_checkpoint(str(tmp_path / "checkpoints"))) > _train_seconds(latest)


@pytest.mark.slow  # ~50 s of real training time between timed snapshots
def test_train_and_evaluate_checkpoint_every_secs_keeps_timed_snapshots(tmp_path):
    config = _config(**{"num_train_steps": 5, "training.checkpoint_every": 1000, "training.keep_checkpoints": 100,
                        "training.checkpoint_every_secs": 1e-6, **ONE_REPLICA})
    train_lib.train_and_evaluate(config, tmp_path)
    steps = sorted(int(p.name.split("-")[1].split(".")[0]) for p in (tmp_path / "checkpoints").glob("ckpt-*.index"))
    assert steps == [1, 2, 3, 4, 5]  # every step passes a (tiny) interval
    seconds = [_train_seconds(str(tmp_path / "checkpoints" / f"ckpt-{s}")) for s in steps]
    assert seconds == sorted(seconds) and seconds[0] > 0


@pytest.mark.slow  # fast tier under 10 min: ~21 s of training
def test_train_and_evaluate_non_chief_removes_its_temporary_checkpoints_at_exit(tmp_path, monkeypatch):
    import tempfile

    made = []
    real_mkdtemp = tempfile.mkdtemp

    def recording_mkdtemp(*args, **kwargs):
        made.append(pathlib.Path(real_mkdtemp(*args, **kwargs)))
        return str(made[-1])

    monkeypatch.setattr(tempfile, "mkdtemp", recording_mkdtemp)
    monkeypatch.setattr(train_lib, "is_chief", lambda strategy: False)  # a non-chief worker
    result = train_lib.train_and_evaluate(_config(**ONE_REPLICA), tmp_path, max_steps=2)
    assert result["step"] == 2
    worker_dirs = [p for p in made if p.name.startswith("cips_worker_ckpt_")]
    assert len(worker_dirs) == 1 and not worker_dirs[0].exists()  # saved into, then removed at exit
    assert not (tmp_path / "checkpoints").exists()  # a worker never writes the chief's checkpoints


def _ckpt_value(prefix, name):
    return tf.train.load_variable(prefix, name)


@pytest.mark.slow  # trains twice with augmentation (~1 min on a busy 2-core machine)
def test_train_and_evaluate_ada_and_freeze_d_log_save_and_restore_p(tmp_path, caplog):
    # batch 8, interval 1, kimg 0.08: p moves by 0.1 per step.
    ada = {"augment.mode": "ada", "augment.pipeline": "bgc", "augment.ada_interval": 1, "augment.ada_kimg": 0.08,
           "training.freeze_d_layers": 1, "num_train_steps": 4, "training.checkpoint_every": 2,
           "training.keep_checkpoints": 5}
    with caplog.at_level("INFO", logger="absl"):
        first = train_lib.train_and_evaluate(_config(**ada), tmp_path)
    p = float(first["gan"].augment.p.numpy())
    assert 0.0 < p <= 0.4 + 1e-6 and "augment_p=" in caplog.text and " rt=" in caplog.text
    assert _scalar_steps(tmp_path, "train/augment_p") == [2, 4] and _scalar_steps(tmp_path, "train/rt") == [2, 4]
    ckpt = str(tmp_path / "checkpoints" / "ckpt-4")
    assert _ckpt_value(ckpt, train_lib.AUGMENT_P_KEY) == pytest.approx(p)
    # FreezeD: from-RGB and the first residual block are the same at steps 2 and 4; the rest trained. A
    # checkpoint names each variable by its first path: D's trainable ones sit under the optimizer
    # ("d_optimizer" sorts before "discriminator"), the frozen ones, which the optimizer never saw,
    # under the discriminator.
    listed = [n for n, _ in tf.train.list_variables(ckpt)]
    frozen = [n for n in listed if n.startswith("discriminator/") and "OPTIMIZER" not in n]
    trained = [n for n in listed if n.startswith("d_optimizer/_trainable_variables/")]
    assert sorted({n.split("/")[1] for n in frozen}) == ["ckpt_block_0", "from_rgb"]
    d = first["gan"].discriminator
    assert len(trained) == len(d.trainable_variables) == len(d.weights) - 7  # from-RGB 2 + block 5 frozen
    step2 = str(tmp_path / "checkpoints" / "ckpt-2")
    for n in frozen:
        np.testing.assert_array_equal(_ckpt_value(step2, n), _ckpt_value(ckpt, n))
    assert any(not np.array_equal(_ckpt_value(step2, n), _ckpt_value(ckpt, n)) for n in trained)

    resumed = train_lib.train_and_evaluate(_config(**ada), tmp_path, max_steps=0)
    assert float(resumed["gan"].augment.p.numpy()) == pytest.approx(p)  # the checkpoint's p wins
    fixed = train_lib.train_and_evaluate(_config(**{**ada, "augment.mode": "fixed", "augment.p": 0.25}), tmp_path,
                                         max_steps=0)
    assert float(fixed["gan"].augment.p.numpy()) == pytest.approx(0.25)  # fixed: the config's p wins


@pytest.mark.slow  # builds and restores the shared run (no step)
def test_train_and_evaluate_without_augment_saves_no_augment_state(trained_to_step_3, tmp_path):
    result = train_lib.train_and_evaluate(_config(), _copy(trained_to_step_3, tmp_path), max_steps=0)
    assert result["gan"].augment is None and result["step"] == 3
    names = [n for n, _ in tf.train.list_variables(result["checkpoint"])]
    assert not any("augment" in n for n in names)
