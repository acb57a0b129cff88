"""`cips-pipeline --config=configs/<name>.py --pipeline_root=DIR [--config.<field>=value ...]`.

Runs ExampleGen -> Trainer -> Evaluator -> Pusher locally (see docs/pipeline.md). Any training
config works: the `pipeline` section (pipelines/config.py) is added with its defaults when the
config has none, before the `--config.*` overrides apply, so e.g.

    cips-pipeline --config=configs/smoke.py --pipeline_root=/tmp/pipe \
        --config.pipeline.input_source=folder --config.pipeline.input_path=/data/images \
        --config.pipeline.fid_threshold=200

Re-running with the same root reuses every stage whose inputs, config and code are unchanged,
and retries (the Trainer: resumes) a stage that failed. Flags live only here.
"""
import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from absl import app, flags, logging  # noqa: E402
from ml_collections import config_flags  # noqa: E402

from cips_tf.cli import errors as cli_errors  # noqa: E402
from pipelines import config as config_lib  # noqa: E402


class _WithPipelineDefaults:
    """Wraps the config file flag's parser: after loading the file, adds the pipeline defaults.

    The flag applies `--config.*` overrides to what the parser returns, so overrides of
    `pipeline.*` fields work on config files that have no `pipeline` section.
    """

    def __init__(self, parser):
        self._parser = parser

    def parse(self, argument):
        config = self._parser.parse(argument)
        if hasattr(config, "unlocked"):  # a ConfigDict (not an error placeholder)
            config = config_lib.with_pipeline_defaults(config)
        return config

    def __getattr__(self, name):
        return getattr(self._parser, name)


_CONFIG = config_flags.DEFINE_config_file("config", None, "Training config file (configs/*.py).", lock_config=True)
flags.FLAGS["config"].parser = _WithPipelineDefaults(flags.FLAGS["config"].parser)
_PIPELINE_ROOT = flags.DEFINE_string("pipeline_root", None, "Directory of the pipeline's artifacts and runs.")
flags.mark_flags_as_required(["config", "pipeline_root"])


def main(argv):
    if len(argv) > 1:
        raise app.UsageError(f"unexpected arguments: {argv[1:]}")
    from pipelines import pipeline  # pylint: disable=g-import-not-at-top
    from pipelines import runner  # pylint: disable=g-import-not-at-top

    logging.set_verbosity(logging.INFO)
    try:
        result = pipeline.run(_CONFIG.value, _PIPELINE_ROOT.value)
    except runner.StageFailedError as e:
        logging.error("%s", e)
        return 1
    pushed = result.artifacts["Pusher"]["pushed_model"].properties
    logging.info("pipeline done: %s; %s", ", ".join(f"{k}={v}" for k, v in result.statuses.items()),
                 f"pushed version {pushed['version']} to {pushed['destination']}" if pushed.get("pushed")
                 else f"not pushed ({pushed.get('reason')})")
    return 0


def run():
    """Console-script entry point (`cips-pipeline = pipelines.run:run`)."""
    cli_errors.run(main)


if __name__ == "__main__":
    run()
