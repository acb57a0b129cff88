"""Pusher: exports a blessed model to `<serving_base>/<model_name>/<version>/` for TF Serving.

Inputs `model` (Model) and `model_blessing` (ModelBlessing). Output `pushed_model` (PushedModel)
with properties pushed (bool), version, destination, reason, metrics.

Not blessed -> nothing is written to the serving base (`pushed: false`, TFX's behaviour).
Blessed -> `cips_tf.export.saved_model.export_generator` writes the EMA generator (w_avg from the
checkpoint, else estimated) with the Pusher's record (`pusher_record.RECORD_FILE`: metrics,
extractor, model fingerprint) as one more file of the version, which `publish_version` moves into
`<serving_base>/<model_name>/` with one `os.rename`, so TF Serving never sees a partial version or
one without its record. Versions are integers (the next after the newest). A model that is already
the newest pushed version is not pushed again.

The cached result of a push is only reused while the pushed version directory still exists.
"""
import pathlib

from absl import logging

from cips_tf.export.saved_model import export_generator
from cips_tf.loading import load_generator
from pipelines import artifacts as artifacts_lib
from pipelines import pusher_record
from pipelines import runner
from pipelines import trainer


def _config_view(config, pipeline_root):
    p = config.pipeline
    return {
        "destination": pusher_record.model_dir(config, pipeline_root).as_posix(),
        "push_warmup": bool(p.push_warmup),
        "w_avg_samples": int(p.w_avg_samples),
    }


def push(generator, w_avg, config, pipeline_root, record, warmup=True):
    """Exports and atomically publishes one version with its `record`; returns its directory."""
    return export_generator(generator, w_avg, pusher_record.serving_base(config, pipeline_root),
                            config.pipeline.model_name, warmup=warmup, extra_json={pusher_record.RECORD_FILE: record})


def _execute(ctx):
    p = ctx.config.pipeline
    model, blessing = ctx.inputs["model"], ctx.inputs["model_blessing"]
    destination = pusher_record.model_dir(ctx.config, ctx.pipeline_root)
    if not blessing.properties.get("blessed"):
        reason = "model not blessed: " + "; ".join(blessing.properties.get("reasons", []))
        logging.info("[Pusher] not pushing: %s", reason)
        return {"pushed_model": {"pushed": False, "reason": reason, "destination": str(destination)}}
    latest = pusher_record.latest_pushed(ctx.config, ctx.pipeline_root)
    if latest is not None and latest[1] is not None and latest[1].get("model") == model.fingerprint:
        version = latest[0]
        logging.info("[Pusher] this model is already the served version %d; not pushing it again", version)
        return {"pushed_model": {"pushed": True, "version": version, "destination": str(destination / str(version)),
                                 "reason": "already the newest pushed version", "metrics": latest[1].get("metrics")}}
    loaded = load_generator(trainer.workdir(model))
    w_avg = loaded.w_avg_or_estimate(int(p.w_avg_samples))
    record = {
        "model": model.fingerprint,
        "examples": blessing.properties.get("examples"),
        "metrics": blessing.properties.get("metrics", {}),
        "extractor": blessing.properties.get("extractor"),
        "blessing": {"reasons": blessing.properties.get("reasons", []), "fingerprint": blessing.fingerprint},
        "checkpoint": loaded.source,
        "step": model.properties.get("step"),
        "pipeline_root": str(ctx.pipeline_root),
        "pushed": artifacts_lib.utc_now(),
    }
    final = push(loaded.generator, w_avg, ctx.config, ctx.pipeline_root, record, warmup=bool(p.push_warmup))
    version = int(final.name)
    logging.info("[Pusher] pushed version %d to %s", version, final)
    return {"pushed_model": {"pushed": True, "version": version, "destination": str(final),
                             "reason": "blessed", "metrics": record["metrics"]}}


def _cache_invalid_reason(outputs):
    props = outputs["pushed_model"].properties
    if props.get("pushed") and not pathlib.Path(props["destination"]).is_dir():
        return f"the pushed version {props['destination']} no longer exists"
    return None


def _check_dependencies(config):
    """The export writes TF Serving warmup records (tensorflow-serving-api)."""
    import tensorflow_serving.apis.prediction_log_pb2  # noqa: F401  (a probe: saved_model imports it on use)


COMPONENT = runner.Component(
    name="Pusher",
    executor=_execute,
    inputs={"model": ("Trainer", "model"), "model_blessing": ("Evaluator", "blessing")},
    outputs={"pushed_model": artifacts_lib.PUSHED_MODEL},
    config_view=_config_view,
    cache_invalid_reason=_cache_invalid_reason,
    check_dependencies=_check_dependencies,
)
