"""The CIPS pipeline compiled for Kubeflow Pipelines v2 (and Vertex AI Pipelines): needs the [kfp] extra.

    cips-pipeline --config=configs/quickstart.py --compile=kubeflow --output=pipeline.yaml \
        --image=REGISTRY/cips-tf:TAG --shared_root=/gcs/BUCKET/cips

Four tasks, ExampleGen -> Trainer -> Evaluator -> Pusher, each a KFP component running in the
cips-tf image (the repo's Dockerfile) and calling the same executor as the local runner through
`pipelines.kfp_components.run`. Artifacts pass as KFP artifacts: Examples as `system.Dataset`,
Model as `system.Model`, ModelEvaluation / ModelBlessing / PushedModel as `system.Artifact`; each
artifact directory also holds our `artifact.json`. Pipeline parameters: `config_json` (the whole
config, defaulting to the one compiled in) and `shared_root` (see kfp_components).

The components are KFP "lightweight" Python components with `base_image=<image>` and no KFP
install step: the image already has cips-tf and kfp, so a task starts without network access and
the same spec runs under `kfp.local.SubprocessRunner` (tests/pipelines/kubeflow_test.py).
"""
import json

from kfp import compiler, dsl
from kfp.dsl import Artifact, Dataset, Input, Model, Output

DEFAULT_IMAGE = "cips-tf:latest"
PIPELINE_NAME = "cips-pipeline"
# Task names in the compiled spec (KFP derives them from the component function names).
TASKS = ("example-gen", "trainer", "evaluator", "pusher")


# The component bodies run inside the image; KFP embeds their source in the spec, so each one
# imports what it needs itself.

def example_gen(config_json: str, shared_root: str, examples: Output[Dataset]):
    """ExampleGen: the configured image source -> TFRecord shards (pipelines/example_gen.py)."""
    from pipelines import kfp_components

    properties = kfp_components.run("ExampleGen", config_json, shared_root, {}, {"examples": examples.path})
    examples.metadata.update(kfp_components.metadata(properties["examples"]))


def trainer(config_json: str, shared_root: str, examples: Input[Dataset], model: Output[Model]):
    """Trainer: train_and_evaluate on the Examples (pipelines/trainer.py); multi-worker from TF_CONFIG."""
    from pipelines import kfp_components

    properties = kfp_components.run("Trainer", config_json, shared_root, {"examples": examples.path},
                                    {"model": model.path})
    model.metadata.update(kfp_components.metadata(properties["model"]))


def evaluator(config_json: str, shared_root: str, examples: Input[Dataset], model: Input[Model],
              evaluation: Output[Artifact], blessing: Output[Artifact]):
    """Evaluator: FID / KID / precision-recall and the blessing (pipelines/evaluator.py)."""
    from pipelines import kfp_components

    properties = kfp_components.run("Evaluator", config_json, shared_root,
                                    {"examples": examples.path, "model": model.path},
                                    {"evaluation": evaluation.path, "blessing": blessing.path})
    blessing.metadata.update(kfp_components.metadata(properties["blessing"]))
    evaluation.metadata.update(kfp_components.metadata(properties["evaluation"]["metrics"]))


def pusher(config_json: str, shared_root: str, model: Input[Model], blessing: Input[Artifact],
           pushed_model: Output[Artifact]):
    """Pusher: publishes a blessed model as a TF Serving version (pipelines/pusher.py)."""
    from pipelines import kfp_components

    properties = kfp_components.run("Pusher", config_json, shared_root,
                                    {"model": model.path, "model_blessing": blessing.path},
                                    {"pushed_model": pushed_model.path})
    pushed_model.metadata.update(kfp_components.metadata(properties["pushed_model"]))


def build_pipeline(config, *, shared_root, image=DEFAULT_IMAGE, pvc=None,
                   name=PIPELINE_NAME):
    """A KFP pipeline function (call it under `kfp.local`, or compile it) for `config`.

    Args:
      config: a pipeline config (`pipelines.config.with_pipeline_defaults` applied); compiled in as
        the default of the `config_json` parameter.
      image: the cips-tf image every task runs in (the repo's Dockerfile).
      shared_root: default of the `shared_root` parameter: a path every task can read and write
        (Vertex AI: /gcs/<bucket>/<dir>; Kubeflow: a mounted volume, see `pvc`). No default: a fixed
        path such as /tmp/cips-pipeline-shared could be pre-created by another user of the machine.
      pvc: optional name of a Kubernetes PersistentVolumeClaim (ReadWriteMany) mounted at
        `shared_root` in every task (self-hosted Kubeflow; needs kfp-kubernetes, in the [kfp] extra).
    """
    make = lambda fn: dsl.component(fn, base_image=image, install_kfp_package=False)  # noqa: E731
    ops = {fn.__name__: make(fn) for fn in (example_gen, trainer, evaluator, pusher)}
    default_config = json.dumps(json.loads(config.to_json()), sort_keys=True)
    mount_path = shared_root

    @dsl.pipeline(name=name, description="CIPS: ExampleGen -> Trainer -> Evaluator (FID gate) -> Pusher")
    def cips_pipeline(config_json: str = default_config, shared_root: str = shared_root):
        gen = ops["example_gen"](config_json=config_json, shared_root=shared_root)
        train = ops["trainer"](config_json=config_json, shared_root=shared_root, examples=gen.outputs["examples"])
        evaluate = ops["evaluator"](config_json=config_json, shared_root=shared_root,
                                    examples=gen.outputs["examples"], model=train.outputs["model"])
        push = ops["pusher"](config_json=config_json, shared_root=shared_root, model=train.outputs["model"],
                             blessing=evaluate.outputs["blessing"])
        if pvc:
            from kfp import kubernetes  # pylint: disable=import-outside-toplevel  (kfp-kubernetes)

            for task in (gen, train, evaluate, push):
                kubernetes.mount_pvc(task, pvc_name=pvc, mount_path=mount_path)

    return cips_pipeline


def compile_pipeline(config, output, *, shared_root, image=DEFAULT_IMAGE, pvc=None):
    """Writes the KFP v2 pipeline spec (YAML) of `config` to `output`; returns `output`."""
    compiler.Compiler().compile(build_pipeline(config, image=image, shared_root=shared_root, pvc=pvc),
                                package_path=str(output))
    return output
