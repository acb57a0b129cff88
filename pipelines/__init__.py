"""TFX-style CIPS pipeline without TFX: ExampleGen -> Trainer -> Evaluator -> Pusher.

Each component is a function from typed input artifacts (directories with an `artifact.json`) to
output artifacts under a pipeline root; `runner.run_pipeline` caches, retries and records them.
Entry points: `pipelines.pipeline.run(config, pipeline_root)` and the `cips-pipeline` CLI
(`pipelines/run.py`). See docs/pipeline.md for the mapping onto TFX / Kubeflow components.
"""
