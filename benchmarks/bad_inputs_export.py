"""Crafted inputs for conversion, serving and shared storage (issue 17 items 1, 5, 6): scenarios
that `benchmarks/bad_inputs.py` runs, each in a fresh process under a memory limit.

`SCENARIOS` is a list of dicts:
    name      the table's row
    build     fn(tmp: pathlib.Path) -> (argv, env): writes the crafted input (small files only) under
              `tmp` and returns the command (without the interpreter) that feeds it to the real CLI / library, and the extra
              environment (PYTHONPATH: this repo)
    check     fn(returncode, output, tmp) -> (ok, why): whether the input stayed harmless
    fast      True: also runs as a test in the fast tier (tests/export/bad_inputs_export_test.py)
    baseline  optional: the scenario whose peak memory this one's is compared with

Rows:
    pt_code_running         a .pt whose unpickling would create a file: cips-convert must refuse it
                            (the file never appears; the one line names the type and --trust_checkpoint)
    serving_1000_seeds      an export (default limits) loaded in a fresh process; from_seed,
                            serving_default and mapping with 1,000 seeds each: InvalidArgument naming
                            max_batch (baseline: serving_4_seeds, the same calls with 4 seeds)
    concurrent_exporters    two exporters publishing the same model directory at once: both
                            versions complete, no temporary directory left
    lock_symlink            a `.lock` symlink planted in a workdir: cips-train refuses it and its
                            target keeps its content

Run one by hand: `python benchmarks/bad_inputs_export.py NAME` builds it in a temp folder, runs it
and prints the check's verdict.
"""
import os
import pathlib
import pickle
import sys
import tempfile

REPO = pathlib.Path(__file__).resolve().parents[1]
MARKER_TEXT = "do not truncate\n"


def _env():
    return {"PYTHONPATH": str(REPO), "TF_CPP_MIN_LOG_LEVEL": "3", "CUDA_VISIBLE_DEVICES": ""}


# --- a .pt file that runs code when fully unpickled ------------------------------------------------

class _OpensFile:
    """Unpickling this calls `open(path, "w")`, creating `path`: a harmless stand-in for any code."""

    def __init__(self, path):
        self.path = str(path)

    def __reduce__(self):
        return (open, (self.path, "w"))


def _build_pt(tmp):
    # torch's legacy format is a plain pickle: no torch needed to write it.
    (tmp / "evil.pt").write_bytes(pickle.dumps({"g_ema": _OpensFile(tmp / "pwned.txt")}, protocol=2))
    argv = ["-m", "cips_tf.cli.convert", f"--checkpoint={tmp / 'evil.pt'}", f"--out={tmp / 'out'}"]
    return argv, _env()


def _check_pt(returncode, output, tmp):
    if (tmp / "pwned.txt").exists():
        return False, "the checkpoint's code ran: pwned.txt was created"
    if returncode == 0:
        return False, "cips-convert accepted the file"
    lines = [line for line in output.splitlines() if "refused to unpickle" in line]
    if not lines or "--trust_checkpoint" not in lines[-1] or "open" not in lines[-1]:
        return False, f"no one-line error naming the type and --trust_checkpoint: {output.strip()[-300:]!r}"
    return True, "refused, nothing ran"


# --- serving: 1,000 seeds in one request -----------------------------------------------------------

_SERVE = r"""
import subprocess, sys, pathlib
import numpy as np
from cips_tf.export import saved_model as sm
from cips_tf.models.generator import CIPSGenerator

base, n = pathlib.Path(sys.argv[1]), int(sys.argv[2])
g = CIPSGenerator(size=16, hidden_size=16, style_dim=16, n_mlp=2, widths=[32, 32, 16])
path = sm.export_generator(g, np.zeros(16, np.float32), base, "cips", warmup=False)  # default limits
# A fresh process with no cips_tf import: what TF Serving sees.
subprocess.run([sys.executable, "-c", sys.argv[3], str(path), str(n)], check=True)
"""

_CALL = r"""
import sys
import tensorflow as tf
path, n = sys.argv[1], int(sys.argv[2])
assert "cips_tf" not in sys.modules
sig = tf.saved_model.load(path).signatures
seeds = tf.range(n, dtype=tf.int64)
z = tf.random.stateless_normal([n, 16], seed=[0, 0])
for name, kwargs in [("from_seed", dict(seed=seeds, truncation_psi=tf.ones([n]))),
                     ("serving_default", dict(z=z, truncation_psi=tf.ones([n]))),
                     ("mapping", dict(z=z))]:
    try:
        out = sig[name](**kwargs)
        print(f"RESULT {name}: OK {[list(v.shape) for v in out.values()]}", flush=True)
    except tf.errors.InvalidArgumentError as e:
        line = [l for l in e.message.splitlines() if l.startswith("assertion failed:")] or [e.message.splitlines()[0]]
        print(f"RESULT {name}: InvalidArgument {line[0]}", flush=True)
"""

SERVING_SIGNATURES = ("from_seed", "serving_default", "mapping")


def _build_serving(n):
    def build(tmp):
        return ["-c", _SERVE, str(tmp / "serving"), str(n), _CALL], _env()

    return build


def _results(output):
    return {line.split()[1].rstrip(":"): line for line in output.splitlines() if line.startswith("RESULT ")}


def _check_serving_refused(returncode, output, tmp):
    results = _results(output)
    for name in SERVING_SIGNATURES:
        line = results.get(name, "")
        if "InvalidArgument" not in line or "max_batch=" not in line or "--max_batch" not in line:
            return False, f"{name}: {line or 'no result'} (rc {returncode})"
    return True, "every signature refused 1,000 seeds naming max_batch"


def _check_serving_ok(returncode, output, tmp):
    results = _results(output)
    bad = [name for name in SERVING_SIGNATURES if ": OK" not in results.get(name, "")]
    return (not bad and returncode == 0), (f"refused: {bad} (rc {returncode})" if bad else "4 seeds served")


# --- two exporters, one model directory ------------------------------------------------------------

_TWO_EXPORTERS = r"""
import json, pathlib, subprocess, sys
base = pathlib.Path(sys.argv[1])
export = (
    "import sys, numpy as np\n"
    "from cips_tf.export import saved_model as sm\n"
    "from cips_tf.models.generator import CIPSGenerator\n"
    "g = CIPSGenerator(size=16, hidden_size=16, style_dim=16, n_mlp=2, widths=[32, 32, 16])\n"
    "print(sm.export_generator(g, np.zeros(16, np.float32), sys.argv[1], 'cips', warmup=False))\n"
)
procs = [subprocess.Popen([sys.executable, "-c", export, str(base)]) for _ in range(2)]
codes = [p.wait(timeout=1800) for p in procs]
model = base / "cips"
names = sorted(p.name for p in model.iterdir())
versions = sorted(int(n) for n in names if n.isdigit())
for v in versions:
    meta = json.loads((model / str(v) / "assets.extra/cips_export.json").read_text())
    complete = all((model / str(v) / rel).exists() for rel in ["saved_model.pb", "variables/variables.index",
                                                              "assets.extra/cips_generator.keras"])
    print(f"VERSION {v} complete={complete} metadata_version={meta['version']}", flush=True)
print(f"EXIT {codes} ENTRIES {names}", flush=True)
"""


def _build_exporters(tmp):
    return ["-c", _TWO_EXPORTERS, str(tmp / "serving")], _env()


def _check_exporters(returncode, output, tmp):
    lines = [line for line in output.splitlines() if line.startswith(("VERSION", "EXIT"))]
    want = ["VERSION 1 complete=True metadata_version=1", "VERSION 2 complete=True metadata_version=2",
            "EXIT [0, 0] ENTRIES ['1', '2', 'batching_parameters.txt']"]
    return (lines == want and returncode == 0), ("both versions intact, no temporary left" if lines == want
                                                 else f"got {lines} (rc {returncode})")


# --- a planted .lock symlink ---------------------------------------------------------------------------

def _build_lock(tmp):
    (tmp / "precious.txt").write_text(MARKER_TEXT)
    (tmp / "run").mkdir()
    (tmp / "run" / ".lock").symlink_to(tmp / "precious.txt")
    argv = ["-m", "cips_tf.cli.train", f"--config={REPO / 'configs' / 'smoke.py'}",
            f"--workdir={tmp / 'run'}"]
    return argv, _env()


def _check_lock(returncode, output, tmp):
    if (tmp / "precious.txt").read_text() != MARKER_TEXT:
        return False, "the lock truncated the symlink's target"
    if returncode == 0 or "is a symlink" not in output:
        return False, f"not refused with one line: {output.strip()[-300:]!r}"
    return True, "refused, target intact"


SCENARIOS = [
    {"name": "pt_code_running", "build": _build_pt, "check": _check_pt, "fast": True},
    {"name": "serving_4_seeds", "build": _build_serving(4), "check": _check_serving_ok, "fast": False},
    {"name": "serving_1000_seeds", "build": _build_serving(1000), "check": _check_serving_refused, "fast": False,
     "baseline": "serving_4_seeds"},
    {"name": "concurrent_exporters", "build": _build_exporters, "check": _check_exporters, "fast": False},
    {"name": "lock_symlink", "build": _build_lock, "check": _check_lock, "fast": True},
]


def run_scenario(scenario, tmp, timeout=1800):
    """Builds and runs one scenario in a fresh process; returns (ok, why, output)."""
    import subprocess  # pylint: disable=import-outside-toplevel

    argv, env = scenario["build"](pathlib.Path(tmp))
    proc = subprocess.run([sys.executable, *argv], env={**os.environ, **env}, cwd=tmp, capture_output=True, text=True,
                          timeout=timeout)
    output = proc.stdout + proc.stderr
    ok, why = scenario["check"](proc.returncode, output, pathlib.Path(tmp))
    return ok, why, output


def main(argv):
    names = argv[1:] or [s["name"] for s in SCENARIOS]
    failed = 0
    for scenario in SCENARIOS:
        if scenario["name"] in names:
            with tempfile.TemporaryDirectory() as tmp:
                ok, why, _ = run_scenario(scenario, tmp)
            failed += not ok
            print(f"{scenario['name']}: {'ok' if ok else 'FAILED'}: {why}", flush=True)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
