"""`cips-train --config=configs/<name>.py --workdir=DIR [--config.<field>=value ...]`.

Flags live only here. Re-running with the same workdir resumes from its latest checkpoint.
"""
import os
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from absl import app, flags, logging  # noqa: E402

from cips_tf import entry_point  # noqa: E402
from ml_collections import config_flags  # noqa: E402

_CONFIG = config_flags.DEFINE_config_file("config", None, "Training config file.", lock_config=True)
_WORKDIR = flags.DEFINE_string("workdir", None, "Run directory (checkpoints, TensorBoard, samples).")
flags.mark_flags_as_required(["config", "workdir"])


def main(argv):
    if len(argv) > 1:
        raise app.UsageError(f"unexpected arguments: {argv[1:]}")
    from cips_tf.metrics import training_hook  # TensorFlow: loaded after the flags are checked
    from cips_tf.training import train_lib

    logging.set_verbosity(logging.INFO)
    result = train_lib.train_and_evaluate(_CONFIG.value, _WORKDIR.value, make_eval_hook=training_hook.FidHook)
    logging.info("done at step %d; checkpoint %s", result["step"], result["checkpoint"])
    # Everything is saved and flushed. Exit now, with result["data_iterator"] still alive, rather than
    # wait while TensorFlow winds down the input pipeline's worker threads: after long runs that
    # teardown took up to a minute (py-spy: the main thread in ~IteratorResource, waiting on tf.data's
    # UnboundedThreadPool).
    logging.flush()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(0)


def run():
    entry_point.run(main)


if __name__ == "__main__":
    run()
