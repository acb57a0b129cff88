"""Fault injection: repeats each fault scenario of issue 10 N times and prints scenario / runs / passed.

    python3 benchmarks/faults.py --runs=5 [--scenarios=data_error,divergence,...] [--work=/tmp/cips_faults]

Every scenario drives the real entry points (`python -m cips_tf.cli.*`, `pipelines.run`) in fresh
processes on `configs/smoke.py`-sized runs (16 px, 20 steps), and passes only if:

  data_error           a corrupt image in a folder (default settings): cips-train exits with code
                       1 within the timeout (no hang, no abort), its last stderr line names the
                       file and suggests skip_bad_images, and no line of a traceback is printed
  divergence           optimizer.learning_rate=30: either the run finishes, or it stops with
                       NonFiniteLossError naming a checkpoint; every checkpoint holds only finite
                       weights, EMA weights and optimizer slots; the named one resumes (exit 0)
  resume_new_lr        resuming with a new learning rate logs the change and the checkpoint
                       written afterwards holds the new rate
  two_trainers         a second cips-train on a busy workdir exits with code 2 at once naming
                       the first one's PID; the first finishes with its own latest checkpoint
  truncated_checkpoint the newest checkpoint's data file truncated and a stale ckpt-N_temp/ left:
                       the rerun warns naming ckpt-N.index, falls back, removes the temp dir and
                       finishes (exit 0)
  user_mistakes        resolution=24 / 0, a misspelled --config field, a missing data folder, and
                       cips-generate / cips-evaluate / cips-export on a missing model: exit 2 and
                       exactly one non-log line on stderr naming the field or path
  serving_nonfinite    a SavedModel (exported once from a smoke run) loaded in a fresh process
                       refuses NaN z and inf truncation_psi with InvalidArgument naming the input
  pipeline_deps        cips-pipeline with tensorflow_gan made unimportable: exit 2 before any
                       stage runs, naming the Evaluator and tensorflow-gan

Not a test (slow: a few minutes per repetition on 2 CPU cores).
"""
import argparse
import os
import pathlib
import re
import shutil
import signal
import subprocess
import sys
import time

REPO = pathlib.Path(__file__).resolve().parents[1]
SMOKE = str(REPO / "configs" / "smoke.py")
PY = sys.executable
ENV = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2", CUDA_VISIBLE_DEVICES="")


def _run(args, timeout=300, env=None):
    start = time.time()
    try:
        proc = subprocess.run(args, env=env or ENV, capture_output=True, text=True, timeout=timeout, cwd=REPO)
        return proc.returncode, proc.stdout, proc.stderr, time.time() - start
    except subprocess.TimeoutExpired as e:
        return "timeout", e.stdout or "", e.stderr or "", time.time() - start


def _train(workdir, *overrides, timeout=300):
    return _run([PY, "-m", "cips_tf.cli.train", f"--config={SMOKE}", f"--workdir={workdir}",
                 "--config.training.sample_every=0", *overrides], timeout=timeout)


def _error_lines(stderr):
    """The `<program>: error: ...` lines, and whether a traceback was printed."""
    lines = [line for line in str(stderr).splitlines() if re.match(r"^\S+: error: ", line)]
    return lines, "Traceback (most recent call last)" in str(stderr)


def _checkpoints_finite(ckpt_dir):
    import numpy as np
    import tensorflow as tf

    for index in pathlib.Path(ckpt_dir).glob("ckpt-*.index"):
        prefix = str(index)[: -len(".index")]
        for name, _ in tf.train.list_variables(prefix):
            value = tf.train.load_variable(prefix, name)
            if isinstance(value, np.ndarray) and value.dtype.kind == "f" and not np.isfinite(value).all():
                return False, f"{prefix}: {name} holds NaN/inf"
    return True, ""


def _latest(ckpt_dir):
    import tensorflow as tf

    return tf.train.latest_checkpoint(str(ckpt_dir))


# -- scenarios: each returns (passed, detail) ---------------------------------------------------


def data_error(work):
    from PIL import Image
    import numpy as np

    folder = work / "images"
    folder.mkdir(parents=True)
    rng = np.random.default_rng(0)
    for i in range(12):
        Image.fromarray(rng.integers(0, 255, (20, 20, 3), dtype=np.uint8)).save(folder / f"ok{i:02d}.png")
    good = (folder / "ok00.png").read_bytes()
    (folder / "corrupt.png").write_bytes(good[: len(good) // 2])
    rc, _, err, secs = _train(work / "run", "--config.data.source=folder", f"--config.data.path={folder}",
                              "--config.data.shuffle_buffer=4", timeout=240)
    lines, traceback = _error_lines(err)
    ok = rc == 1 and len(lines) == 1 and "corrupt.png" in lines[0] and "skip_bad_images" in lines[0] and not traceback
    return ok, f"rc={rc} {secs:.0f}s traceback={traceback} error={lines[-1][:160] if lines else ''!r}"


def divergence(work):
    run = work / "run"
    rc, _, err, _ = _train(run, "--config.optimizer.learning_rate=30", "--config.training.checkpoint_every=5")
    finite, why = _checkpoints_finite(run / "checkpoints")
    if not finite:
        return False, why
    if rc == 0:
        return True, "finished without diverging; all checkpoints finite"
    lines, _ = _error_lines(err)
    named = re.search(r"last good checkpoint is (\S+?ckpt-(\d+))", lines[-1] if lines else "")
    if rc != 1 or not named:
        return False, f"rc={rc} error={lines[-1][:200] if lines else err[-300:]!r}"
    step = int(named.group(2))
    rc2, _, err2, _ = _train(run, "--config.optimizer.learning_rate=0.002", f"--config.training.restore_step={step}",
                             "--config.num_train_steps=" + str(step + 5), "--config.training.checkpoint_every=5")
    finite, why = _checkpoints_finite(run / "checkpoints")
    return rc2 == 0 and finite, f"stopped naming ckpt-{step}; resumed rc={rc2} {why}"


def resume_new_lr(work):
    import tensorflow as tf

    run = work / "run"
    rc1, *_ = _train(run, "--config.num_train_steps=4", "--config.training.checkpoint_every=2")
    rc2, _, err, _ = _train(run, "--config.num_train_steps=8", "--config.training.checkpoint_every=2",
                            "--config.optimizer.learning_rate=0.0001")
    logged = "optimizer.learning_rate changed from 0.002" in err
    latest = _latest(run / "checkpoints")
    lrs = [float(tf.train.load_variable(latest, n)) for n, _ in tf.train.list_variables(latest)
           if n.startswith("g_optimizer") and "learning_rate" in n]
    new_lr = 0.0001 * 4 / 5  # G's lazy-regularization ratio k / (k + 1), k = 4
    ok = rc1 == 0 and rc2 == 0 and logged and latest.endswith("ckpt-8") and lrs and abs(lrs[0] - new_lr) < 1e-9
    return ok, f"rc={rc1},{rc2} logged={logged} g_lr={lrs}"


def two_trainers(work):
    run = work / "run"
    # The first trainer runs "forever"; after the second one's attempt it gets SIGTERM (preemption):
    # it checkpoints and exits 0, and the latest checkpoint must be its own final step.
    first = subprocess.Popen([PY, "-m", "cips_tf.cli.train", f"--config={SMOKE}", f"--workdir={run}",
                              "--config.training.sample_every=0", "--config.num_train_steps=100000",
                              "--config.training.checkpoint_every=20"],
                             env=ENV, cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    lock = run / ".lock"
    deadline = time.time() + 180
    while time.time() < deadline and not (lock.exists() and lock.read_text().strip()):
        time.sleep(0.2)
    rc2, _, err2, secs = _train(run, "--config.num_train_steps=100000", timeout=120)
    first.send_signal(signal.SIGTERM)
    _, err1 = first.communicate(timeout=600)
    lines, _ = _error_lines(err2)
    named = bool(lines) and f"PID {first.pid}" in lines[-1]
    done = re.search(r"done at step (\d+)", err1)
    latest = _latest(run / "checkpoints") or ""
    ok = rc2 == 2 and named and first.returncode == 0 and done and latest.endswith(f"ckpt-{done.group(1)}")
    return ok, (f"second rc={rc2} in {secs:.0f}s names pid={named}; first rc={first.returncode} "
                f"done={done.group(1) if done else None} latest={latest.rsplit('/', 1)[-1]}")


def truncated_checkpoint(work):
    run = work / "run"
    every = "--config.training.checkpoint_every=2"
    rc1, *_ = _train(run, "--config.num_train_steps=4", every)
    ckpt = run / "checkpoints"
    data = sorted(ckpt.glob("ckpt-4.data-*"))[0]
    data.write_bytes(data.read_bytes()[: data.stat().st_size // 2])
    (ckpt / "ckpt-6_temp").mkdir()
    (ckpt / "ckpt-6_temp" / "part-00000-of-00001.data-00000-of-00001").write_bytes(b"partial")
    rc2, _, err, _ = _train(run, "--config.num_train_steps=6", every)
    warned = "ckpt-4.index" in err and "FAILED TO RESTORE" in err
    fell_back = "resumed from" in err and "ckpt-2 at step 2" in err
    ok = (rc1 == 0 and rc2 == 0 and warned and fell_back and not (ckpt / "ckpt-6_temp").exists()
          and (_latest(ckpt) or "").endswith("ckpt-6"))
    return ok, f"rc={rc1},{rc2} warned={warned} fallback={fell_back}"


def user_mistakes(work):
    missing = str(work / "missing")
    cases = {
        "resolution=24": ([PY, "-m", "cips_tf.cli.train", f"--config={SMOKE}", f"--workdir={work}/a",
                           "--config.resolution=24"], "config.resolution"),
        "resolution=0": ([PY, "-m", "cips_tf.cli.train", f"--config={SMOKE}", f"--workdir={work}/a",
                          "--config.resolution=0"], "config.resolution"),
        "misspelled field": ([PY, "-m", "cips_tf.cli.train", f"--config={SMOKE}", f"--workdir={work}/a",
                              "--config.optimizer.learnin_rate=1"], "--config.optimizer.learnin_rate"),
        "missing data folder": ([PY, "-m", "cips_tf.cli.train", f"--config={SMOKE}", f"--workdir={work}/a",
                                 "--config.data.source=folder", f"--config.data.path={missing}"], missing),
        "generate missing model": ([PY, "-m", "cips_tf.cli.generate", f"--model={missing}", "--task=sample",
                                    f"--out={work}/g"], missing),
        "evaluate missing model": ([PY, "-m", "cips_tf.cli.evaluate", f"--model={missing}", f"--out={work}/e",
                                    "--data=fashion_mnist"], missing),
        "export missing model": ([PY, "-m", "cips_tf.cli.export", f"--model={missing}",
                                  f"--export_base={work}/s"], missing),
    }
    failed = []
    for name, (args, needle) in cases.items():
        rc, _, err, _ = _run(args, timeout=180)
        lines, traceback = _error_lines(err)
        if not (rc == 2 and len(lines) == 1 and needle in lines[0] and not traceback):
            failed.append(f"{name}: rc={rc} traceback={traceback} errors={lines[:3]}")
    return not failed, "; ".join(failed) or f"{len(cases)} mistakes: exit 2, one line each"


_SERVING_CHECK = r"""
import sys, tensorflow as tf
sig = tf.saved_model.load(sys.argv[1]).signatures
bad = {"z": dict(z=tf.fill([1, 16], float("nan")), truncation_psi=tf.ones([1])),
       "truncation_psi": dict(z=tf.zeros([1, 16]), truncation_psi=tf.constant([float("inf")]))}
for name, kwargs in bad.items():
    try:
        sig["serving_default"](**kwargs)
        print("ACCEPTED", name)
    except tf.errors.InvalidArgumentError as e:
        print("REFUSED", name, f"input {name} must be finite" in e.message)
"""


def serving_nonfinite(work, shared):
    rc, out, err, _ = _run([PY, "-c", _SERVING_CHECK, shared["export"]], timeout=180)
    ok = rc == 0 and out.count("REFUSED") == 2 and out.count("True") == 2
    return ok, out.strip().replace("\n", "; ") or err[-200:]


def pipeline_deps(work):
    shim = work / "shim"
    shim.mkdir()
    (shim / "tensorflow_gan.py").write_text("raise ImportError('tensorflow_gan hidden by benchmarks/faults.py')\n")
    env = dict(ENV, PYTHONPATH=f"{shim}{os.pathsep}{ENV.get('PYTHONPATH', '')}")
    root = work / "pipe"
    rc, _, err, secs = _run([PY, "-m", "pipelines.run", f"--config={SMOKE}", f"--pipeline_root={root}"], env=env,
                            timeout=180)
    lines, _ = _error_lines(err)
    ran = root.exists() and any((root / c).exists() for c in ("ExampleGen", "Trainer"))
    ok = rc == 2 and lines and "Evaluator" in lines[-1] and "tensorflow-gan" in lines[-1] and not ran
    return ok, f"rc={rc} {secs:.0f}s stage_ran={ran} last={lines[-1][:160] if lines else ''!r}"


SCENARIOS = {
    "data_error": data_error,
    "divergence": divergence,
    "resume_new_lr": resume_new_lr,
    "two_trainers": two_trainers,
    "truncated_checkpoint": truncated_checkpoint,
    "user_mistakes": user_mistakes,
    "serving_nonfinite": serving_nonfinite,
    "pipeline_deps": pipeline_deps,
}


def _shared_export(work):
    """One smoke run exported once, for the serving scenario."""
    run = work / "shared_run"
    rc, _, err, _ = _train(run, "--config.num_train_steps=2")
    if rc != 0:
        raise RuntimeError(f"shared smoke run failed: {err[-500:]}")
    rc, out, err, _ = _run([PY, "-m", "cips_tf.cli.export", f"--model={run}", f"--export_base={work}/serving",
                            "--w_avg_samples=100", "--nowarmup"])
    if rc != 0:
        raise RuntimeError(f"export failed: {err[-500:]}")
    return {"export": out.strip().splitlines()[-1]}


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--scenarios", default=",".join(SCENARIOS))
    parser.add_argument("--work", default="/tmp/cips_faults")
    args = parser.parse_args()
    names = [s for s in args.scenarios.split(",") if s]
    unknown = [s for s in names if s not in SCENARIOS]
    if unknown:
        parser.error(f"unknown scenarios {unknown}; choose from {', '.join(SCENARIOS)}")
    work = pathlib.Path(args.work)
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    shared = _shared_export(work) if "serving_nonfinite" in names else {}
    table = []
    start = time.time()
    for name in names:
        passed = 0
        for i in range(args.runs):
            run_dir = work / name / str(i)
            run_dir.mkdir(parents=True)
            t0 = time.time()
            try:
                fn = SCENARIOS[name]
                ok, detail = fn(run_dir, shared) if name == "serving_nonfinite" else fn(run_dir)
            except Exception as e:  # noqa: BLE001 - a crash of the harness is a failed run
                ok, detail = False, f"{type(e).__name__}: {e}"
            passed += bool(ok)
            print(f"[{time.time() - start:7.0f}s] {name} run {i + 1}/{args.runs}: {'PASS' if ok else 'FAIL'} "
                  f"({time.time() - t0:.0f}s) {detail}", flush=True)
            shutil.rmtree(run_dir, ignore_errors=True)
        table.append((name, args.runs, passed))
    print()
    print(f"| {'scenario':<22} | runs | passed |")
    print(f"|{'-' * 24}|------|--------|")
    for name, runs, passed in table:
        print(f"| {name:<22} | {runs:>4} | {passed:>6} |")
    return 0 if all(p == r for _, r, p in table) else 1


if __name__ == "__main__":
    sys.exit(main())
