"""A quiet TensorFlow start on machines without a GPU driver.

The CUDA build of TensorFlow probes for a GPU when it starts and, on a CPU-only machine, writes
`failed call to cuInit: ... UNKNOWN ERROR (303)` (an ERROR line) and a few INFO lines to stderr
before any of our output, even with `TF_CPP_MIN_LOG_LEVEL` set: they are written before absl
logging is initialised. `quiet_start()` runs the import and the device probe with file
descriptor 2 redirected to a temporary file, then writes back every captured line except the known
start-up lines listed in `STARTUP_NOISE`. Nothing later is touched, so errors after start-up show
as usual. It does nothing when an NVIDIA driver is present (GPU diagnostics matter there), when
TensorFlow is already imported, or when `CIPS_TF_VERBOSE_START=1`.

`quiet_console()` (the CLIs call it once their flags are parsed) keeps TensorFlow's known harmless
run-time lines off the console for the rest of the process (`RUNTIME_NOISE`: Grappler's
`remapper failed` ERROR, `Optimization loop failed: CANCELLED`, tf.data's `will not be optimized`
notice, the SavedModel writer's `unsupported characters` notices, checkpoint `Sharding callback
duration` INFO lines ...). TensorFlow's Python INFO logging is lowered to WARNING, and fd 2 is routed
through a small filter process that drops exactly those lines and passes every other byte on. The
filter is a separate process so that a C++ abort of ours still gets its last lines out: it reads
until the pipe closes, ignores SIGINT/SIGTERM, and exits after us. Off with `--verbosity=1` (any
value >= 1) or `CIPS_TF_VERBOSE_START=1`.
"""
import logging
import os
import re
import subprocess
import sys
import tempfile

STARTUP_NOISE = re.compile(
    r"failed call to cuInit"
    r"|cudart_stub\.cc.*Could not find cuda drivers"
    r"|All log messages before absl::InitializeLog\(\) is called are written to STDERR"
    r"|port\.cc.*oneDNN custom operations are on"
    r"|cpu_feature_guard\.cc.*This TensorFlow binary is optimized"
    r"|^To enable the following instructions: .*rebuild TensorFlow with the appropriate compiler flags"
)


def _has_nvidia_driver():
    return os.path.exists("/proc/driver/nvidia/version")


def quiet_start():
    if "tensorflow" in sys.modules or os.environ.get("CIPS_TF_VERBOSE_START") == "1" or _has_nvidia_driver():
        return
    try:
        sys.stderr.flush()
        saved = os.dup(2)
    except (OSError, ValueError):  # no usable fd 2 (embedded interpreters)
        return
    with tempfile.TemporaryFile(mode="w+b") as captured:
        os.dup2(captured.fileno(), 2)
        try:
            import tensorflow as tf  # here: its start-up lines must go to the captured fd 2

            tf.config.list_physical_devices()  # the CUDA probe (cuInit) happens here
        finally:
            sys.stderr.flush()
            os.dup2(saved, 2)
            os.close(saved)
            captured.seek(0)
            kept = [
                line
                for line in captured.read().decode("utf-8", "replace").splitlines(keepends=True)
                if not STARTUP_NOISE.search(line)
            ]
            if kept:
                sys.stderr.write("".join(kept))
                sys.stderr.flush()


RUNTIME_NOISE = (
    r"meta_optimizer\.cc.*(remapper failed|Optimization loop failed: CANCELLED)"
    r"|GeneratorDatasetOp.*will not be optimized"
    r"|generator_dataset_op\.cc.*Memory patch applied"
    r"|unsupported characters which will be renamed"
    r"|fingerprinting_utils\.py.*Writing fingerprint"
    r"|Sharding callback duration"
    r"|gpu_device\.cc.*Cannot dlopen some GPU libraries"
)

_FILTER = """
import re, signal, sys
signal.signal(signal.SIGINT, signal.SIG_IGN)
signal.signal(signal.SIGTERM, signal.SIG_IGN)
noise = re.compile(sys.argv[1].encode())
out = sys.stdout.buffer
for line in sys.stdin.buffer:
    if not noise.search(line):
        out.write(line)
        out.flush()
"""
_STATE = {"filter": None}


def quiet_console(verbose=False):
    """Drops `RUNTIME_NOISE` lines from fd 2 from now on (see the module docstring); idempotent."""
    if verbose or os.environ.get("CIPS_TF_VERBOSE_START") == "1" or _STATE["filter"] is not None:
        return
    logging.getLogger("tensorflow").setLevel(logging.WARNING)
    try:
        sys.stderr.flush()
        target = os.dup(2)
        child = subprocess.Popen([sys.executable, "-S", "-c", _FILTER, RUNTIME_NOISE], stdin=subprocess.PIPE,
                                 stdout=target, stderr=target, close_fds=True, start_new_session=True)
    except (OSError, ValueError):  # no usable fd 2 or no way to start the filter: leave the console as is
        return
    os.close(target)
    os.dup2(child.stdin.fileno(), 2)
    child.stdin.close()  # fd 2 now holds the only write end: the filter ends when this process does
    _STATE["filter"] = child
