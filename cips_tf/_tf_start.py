"""A quiet TensorFlow start on machines without a GPU driver.

The CUDA build of TensorFlow probes for a GPU when it starts and, on a CPU-only machine, writes
`failed call to cuInit: ... UNKNOWN ERROR (303)` (an ERROR line) and a few INFO lines to stderr
before any of our output, even with `TF_CPP_MIN_LOG_LEVEL` set: they are written before absl
logging is initialised. `quiet_start()` runs the import and the device probe with file
descriptor 2 redirected to a temporary file, then writes back every captured line except the known
start-up lines listed in `STARTUP_NOISE`. Nothing later is touched, so errors after start-up show
as usual. It does nothing when an NVIDIA driver is present (GPU diagnostics matter there), when
TensorFlow is already imported, or when `CIPS_TF_VERBOSE_START=1`.
"""
import os
import re
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
            import tensorflow as tf

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
