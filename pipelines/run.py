"""`cips-pipeline --config=configs/<name>.py --pipeline_root=DIR [--config.<field>=value ...]`.

Runs ExampleGen -> Trainer -> Evaluator -> Pusher locally (see docs/pipeline.md). Any training
config works: the `pipeline` section (pipelines/config.py) is added with its defaults when the
config has none, before the `--config.*` overrides apply, so e.g.

    cips-pipeline --config=configs/smoke.py --pipeline_root=/tmp/pipe \
        --config.pipeline.input_source=folder --config.pipeline.input_path=/data/images \
        --config.pipeline.fid_threshold=200

`--compile=kubeflow --shared_root=PATH --output=pipeline.yaml [--image=...] [--pvc=...]` writes a Kubeflow
Pipelines v2 spec instead of running (pipelines/kubeflow.py; the [kfp] extra).

Re-running with the same root reuses every stage whose inputs, config and code are unchanged,
and retries (the Trainer: resumes) a stage that failed. Flags live only here.
"""
import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from absl import app, flags, logging  # noqa: E402
from ml_collections import config_flags  # noqa: E402

from cips_tf import entry_point  # noqa: E402
from pipelines import config as config_lib  # noqa: E402
from pipelines import runner  # noqa: E402


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
_COMPILE = flags.DEFINE_enum("compile", None, ["kubeflow"], "Instead of running: compile the pipeline for this "
                             "orchestrator (kubeflow: a KFP v2 spec; needs the [kfp] extra).")
_OUTPUT = flags.DEFINE_string("output", "pipeline.yaml", "With --compile: where the spec is written.")
_IMAGE = flags.DEFINE_string("image", "cips-tf:latest", "With --compile: the cips-tf image every task runs in "
                             "(built from the repo's Dockerfile).")
_SHARED_ROOT = flags.DEFINE_string("shared_root", None, "With --compile (required): default of the spec's "
                                   "shared_root parameter, a path every task can read and write (extractor cache; "
                                   "serving base unless pipeline.serving_base is set). No default: a fixed /tmp "
                                   "path could be pre-created by another user.")
_PVC = flags.DEFINE_string("pvc", None, "With --compile: a PersistentVolumeClaim mounted at --shared_root in every "
                           "task (self-hosted Kubeflow).")
flags.mark_flags_as_required(["config"])


def main(argv):
    if len(argv) > 1:
        raise app.UsageError(f"unexpected arguments: {argv[1:]}")
    from pipelines import pipeline  # TensorFlow: loaded after the flags are checked

    logging.set_verbosity(logging.INFO)
    if _COMPILE.value == "kubeflow":
        try:
            from pipelines import kubeflow  # pylint: disable=g-import-not-at-top  (needs the [kfp] extra)
        except ImportError as e:
            logging.error("--compile=kubeflow needs Kubeflow Pipelines: pip install 'cips-tf[kfp]' (%s)", e)
            return 1

        if not _SHARED_ROOT.value:
            raise app.UsageError("--compile=kubeflow needs --shared_root: a path every task can read and write "
                                 "(Vertex AI: /gcs/BUCKET/DIR; Kubeflow: a volume mounted with --pvc)")
        config_lib.validate(_CONFIG.value)
        kubeflow.compile_pipeline(_CONFIG.value, _OUTPUT.value, image=_IMAGE.value, shared_root=_SHARED_ROOT.value,
                                 pvc=_PVC.value)
        print(f"wrote the Kubeflow Pipelines v2 spec to {_OUTPUT.value} (image {_IMAGE.value})")
        return 0
    if not _PIPELINE_ROOT.value:
        raise app.UsageError("--pipeline_root is required (unless --compile)")
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
    entry_point.run(main)


if __name__ == "__main__":
    run()
