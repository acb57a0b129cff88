"""Runs one of our components inside a Kubeflow Pipelines task (no KFP import needed here).

`pipelines/kubeflow.py` compiles ExampleGen -> Trainer -> Evaluator -> Pusher into a KFP v2 spec
whose tasks call `run(name, config_json, shared_root, inputs, outputs)` in the cips-tf image:

- `config_json` is the whole pipeline config (`ConfigDict.to_json()`), a pipeline parameter;
- `inputs` / `outputs` map our artifact keys to the local paths KFP gives the task's input and
  output artifacts (`artifact.path`; on Vertex AI these are /gcs/... FUSE paths). Each output
  directory gets the executor's payload and our `artifact.json`, exactly as under the local
  runner, so a downstream task reads it with `artifacts.read_artifact(path)`;
- `shared_root` plays the local runner's pipeline root for what outlives one run: the trained
  offline feature extractor (`_cache/`) and, unless `pipeline.serving_base` is set, the serving
  base `<shared_root>/serving` the Pusher publishes to and the Evaluator compares against.

Caching and retries are KFP's here (its cache key: the component spec and the input values), not
the local runner's. The executors are the local runner's, unchanged.

Multi-worker Trainer: when TF_CONFIG names several workers (Vertex AI CustomJob replicas, a
Kubeflow TFJob), every replica runs the Trainer; `train_and_evaluate` picks
MultiWorkerMirroredStrategy from TF_CONFIG and only the chief writes checkpoints and summaries;
here too only the chief writes the Model artifact's `artifact.json`.
"""
import json
import math
import os
import pathlib

import ml_collections
from absl import logging

from pipelines import artifacts as artifacts_lib
from pipelines import config as config_lib
from pipelines import pipeline
from pipelines import runner


def components():
    """{name: runner.Component} of the pipeline, in order."""
    return {c.name: c for c in pipeline.create_pipeline()}


def is_chief(tf_config=None):
    """Whether this process is the chief of the TF_CONFIG cluster (True without TF_CONFIG)."""
    raw = tf_config if tf_config is not None else os.environ.get("TF_CONFIG", "")
    tf_config = json.loads(raw or "{}")
    task = tf_config.get("task") or {}
    if not task.get("type"):
        return True
    if task["type"] == "chief":
        return True
    return task["type"] == "worker" and int(task.get("index", 0)) == 0 and "chief" not in tf_config.get("cluster", {})


def config_from_json(config_json):
    """The pipeline config a task receives (with the `pipeline` defaults filled in), validated."""
    config = config_lib.with_pipeline_defaults(ml_collections.ConfigDict(json.loads(config_json)))
    config_lib.validate(config)
    return config


def run(name, config_json, shared_root, inputs, outputs):
    """Executes component `name`, reading `inputs` and filling `outputs` ({key: directory}).

    Returns {output key: properties}; writes each output's `artifact.json` (chief only).
    """
    logging.set_verbosity(logging.INFO)
    component = components()[name]
    config = config_from_json(config_json)
    root = pathlib.Path(shared_root)
    root.mkdir(parents=True, exist_ok=True)
    if set(inputs) != set(component.inputs) or set(outputs) != set(component.outputs):
        raise ValueError(f"{name} takes inputs {sorted(component.inputs)} and outputs {sorted(component.outputs)}, "
                         f"got {sorted(inputs)} and {sorted(outputs)}")
    input_artifacts = {key: artifacts_lib.read_artifact(path) for key, path in inputs.items()}
    external = None
    if component.external_state is not None:
        external = component.external_state(config, root, input_artifacts)
    fingerprint = runner.execution_fingerprint(component, config, root, input_artifacts, external)
    output_dirs = {key: pathlib.Path(path) for key, path in outputs.items()}
    for directory in output_dirs.values():
        directory.mkdir(parents=True, exist_ok=True)
    work_dir = pathlib.Path(os.path.commonpath([str(d) for d in output_dirs.values()]))
    logging.info("[%s] KFP task: fingerprint %s, inputs %s, outputs %s", name, fingerprint[:runner.FP_LEN],
                 {k: a.uri for k, a in input_artifacts.items()}, outputs)
    ctx = runner.ExecutionContext(component=name, config=config, pipeline_root=root, inputs=input_artifacts,
                                  output_dirs=output_dirs, work_dir=work_dir, fingerprint=fingerprint, attempt=1,
                                  external=external)
    properties = component.executor(ctx) or {}
    missing = set(component.outputs) - set(properties)
    if missing:
        raise RuntimeError(f"executor of {name} returned no properties for {sorted(missing)}")
    if is_chief():
        for key, kind in component.outputs.items():
            artifacts_lib.write_artifact(artifacts_lib.Artifact(
                type=kind, uri=str(output_dirs[key]), properties=dict(properties[key]), producer=name,
                execution=fingerprint, fingerprint=artifacts_lib.fingerprint_of([fingerprint, key]),
                created=artifacts_lib.utc_now()))
    return {key: dict(properties[key]) for key in component.outputs}


def metadata(properties):
    """The scalar properties (what KFP shows as artifact metadata); NaN / inf are left out (not JSON)."""
    return {k: v for k, v in properties.items()
            if isinstance(v, (bool, int, str)) or (isinstance(v, float) and math.isfinite(v))}
