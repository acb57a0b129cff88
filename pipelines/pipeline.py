"""The CIPS pipeline: ExampleGen -> Trainer -> Evaluator -> Pusher, and `run(config, pipeline_root)`.

    from pipelines import pipeline
    result = pipeline.run(config, "/tmp/cips_pipeline")   # config: any configs/*.py get_config()
    result.statuses   # {"ExampleGen": "executed" | "cached", ...}
    result.artifacts["Pusher"]["pushed_model"].properties  # {"pushed": True, "version": 1, ...}
"""
from pipelines import config as config_lib
from pipelines import evaluator
from pipelines import example_gen
from pipelines import pusher
from pipelines import runner
from pipelines import trainer


def create_pipeline():
    """The components in execution order (each one's inputs come from earlier ones)."""
    return (example_gen.COMPONENT, trainer.COMPONENT, evaluator.COMPONENT, pusher.COMPONENT)


def run(config, pipeline_root):
    """Runs the pipeline on `config` (a `pipeline` section is added when absent) under `pipeline_root`.

    Returns a `runner.PipelineResult`; raises `runner.StageFailedError` when a component fails.
    """
    config = config_lib.with_pipeline_defaults(config)
    config_lib.validate(config)
    return runner.run_pipeline(create_pipeline(), config, pipeline_root)
