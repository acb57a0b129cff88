"""Trainer: `cips_tf.training.train_lib.train_and_evaluate` on an Examples artifact.

Input `examples` (Examples). Output `model` (Model):

    <uri>/workdir/            a cips_tf training workdir: config.json, checkpoints/, samples/,
                              TensorBoard events; `cips_tf.loading.load_generator` reads it

The training config is the pipeline config without its `pipeline` section, with
`data.source = 'tfrecord'` and `data.path = <examples>/Split-train`. The Trainer is resumable: a
failed or interrupted attempt keeps its workdir (in the execution's temporary directory), and the
rerun continues from its latest checkpoint. An attempt that stops before `num_train_steps`
(SIGTERM / preemption) counts as failed, so it is resumed rather than cached; one that stops at its
`training.time_budget` is complete.
"""
import ml_collections
from absl import logging

from cips_tf.metrics import training_hook
from cips_tf.training import train_lib
from pipelines import artifacts as artifacts_lib
from pipelines import example_gen
from pipelines import runner

WORKDIR = "workdir"
_DATA_FIELDS_FROM_EXAMPLES = ("source", "path", "name", "split", "data_dir", "image_key")


def workdir(model):
    """The training workdir of a Model artifact (what `load_generator` takes)."""
    return model.path / WORKDIR


def training_config(config, examples):
    """The trainer's config: `config` minus `pipeline`, reading the Examples artifact."""
    values = config.to_dict()
    values.pop("pipeline", None)
    train_config = ml_collections.ConfigDict(values)
    train_config.data.source = "tfrecord"
    train_config.data.path = str(example_gen.split_dir(examples))
    return train_config


def _config_view(config, pipeline_root):
    values = config.to_dict()
    values.pop("pipeline", None)
    for key in _DATA_FIELDS_FROM_EXAMPLES:  # replaced by the Examples artifact (its fingerprint)
        values["data"].pop(key, None)
    return values


def _execute(ctx):
    examples = ctx.inputs["examples"]
    config = training_config(ctx.config, examples)
    if int(examples.properties["resolution"]) != int(config.resolution):
        raise ValueError(f"Examples are at {examples.properties['resolution']} px but config.resolution is "
                         f"{config.resolution}")
    target = int(config.num_train_steps)
    run_dir = ctx.output_dirs["model"] / WORKDIR
    logging.info("[Trainer] training to step %d on %d examples in %s%s", target,
                 examples.properties["num_examples"], run_dir,
                 f" (attempt {ctx.attempt}: resuming)" if ctx.attempt > 1 else "")
    result = train_lib.train_and_evaluate(config, run_dir, make_eval_hook=training_hook.FidHook)
    step = int(result["step"])
    if step < target and not result.get("budget_reached"):
        raise RuntimeError(f"training stopped at step {step} of {target} (preempted?); rerun to resume")
    final = {k: float(v) for k, v in result.get("metrics", {}).items()}
    logging.info("[Trainer] done at step %d%s; %s", step, " (time budget reached)" if result.get("budget_reached")
                 else "", " ".join(f"{k}={v:.4f}" for k, v in final.items()))
    return {
        "model": {
            "step": step,
            "workdir": WORKDIR,
            "checkpoint": str(result["checkpoint"]).rsplit("/", 1)[-1] if result["checkpoint"] else None,
            "resolution": int(config.resolution),
            "style_dim": int(config.model.style_dim),
            "variant": str(config.model.get("variant", "skips")),
            "final_losses": final,
            "examples": examples.fingerprint,
        }
    }


COMPONENT = runner.Component(
    name="Trainer",
    executor=_execute,
    inputs={"examples": ("ExampleGen", "examples")},
    outputs={"model": artifacts_lib.MODEL},
    config_view=_config_view,
    resumable=True,
)
