"""Pusher: exports a blessed model to `<serving_base>/<model_name>/<version>/` for TF Serving.

Inputs `model` (Model) and `model_blessing` (ModelBlessing). Output `pushed_model` (PushedModel)
with properties pushed (bool), version, destination, reason, metrics.

Not blessed -> nothing is written to the serving base (`pushed: false`, TFX's behaviour).
Blessed -> `cips_tf.export.saved_model.export_generator` writes the EMA generator (w_avg from the
checkpoint, else estimated) into a staging directory on the serving base's filesystem; the
Pusher adds its record (`pusher_record.RECORD_FILE`: metrics, extractor, model fingerprint) and
moves the version into `<serving_base>/<model_name>/` with one `os.rename`, so TF Serving never
sees a partial version or one without its record. Versions are integers (the next after the
newest). A model that is already the newest pushed version is not pushed again.

The cached result of a push is only reused while the pushed version directory still exists.
"""
import json
import os
import pathlib
import re
import shutil

from absl import logging

from pipelines import artifacts as artifacts_lib
from pipelines import pusher_record
from pipelines import runner
from pipelines import trainer

STAGING_PREFIX = ".cips-pipeline-staging-"
_STAGING_RE = re.compile(r"^\.cips-pipeline-staging-(\d+)$")


def _config_view(config, pipeline_root):
    p = config.pipeline
    return {
        "destination": pusher_record.model_dir(config, pipeline_root).as_posix(),
        "push_warmup": bool(p.push_warmup),
        "w_avg_samples": int(p.w_avg_samples),
    }


def _pid_alive(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _clean_stale_staging(base):
    if not base.is_dir():
        return
    for p in base.iterdir():
        m = _STAGING_RE.match(p.name)
        if m and int(m.group(1)) != os.getpid() and not _pid_alive(int(m.group(1))):
            shutil.rmtree(p, ignore_errors=True)


def _write_version(staged, version, record):
    """Sets `version` in the staged export's metadata and the pusher record."""
    from cips_tf.export.saved_model import METADATA_FILE

    metadata_path = staged / METADATA_FILE
    if metadata_path.exists():
        metadata = json.loads(metadata_path.read_text())
        metadata["version"] = version
        metadata_path.write_text(json.dumps(metadata, indent=2, default=str))
    record_path = staged / pusher_record.RECORD_FILE
    record_path.parent.mkdir(parents=True, exist_ok=True)
    record_path.write_text(json.dumps(dict(record, version=version), indent=2, sort_keys=True, default=str) + "\n")
    with open(record_path, "rb") as f:
        os.fsync(f.fileno())


def push(generator, w_avg, config, pipeline_root, record, warmup=True):
    """Exports and atomically publishes one version with its `record`; returns its directory."""
    from cips_tf.export.saved_model import export_generator

    base = pusher_record.serving_base(config, pipeline_root)
    model_name = config.pipeline.model_name
    target_dir = base / model_name
    target_dir.mkdir(parents=True, exist_ok=True)
    _clean_stale_staging(base)
    staging = base / f"{STAGING_PREFIX}{os.getpid()}"
    shutil.rmtree(staging, ignore_errors=True)
    try:
        existing = pusher_record.versions(target_dir)
        version = (existing[0] + 1) if existing else 1
        staged = export_generator(generator, w_avg, staging, model_name, version=version, warmup=warmup)
        while True:
            _write_version(staged, version, record)
            final = target_dir / str(version)
            try:
                if final.exists():
                    raise FileExistsError(final)
                os.rename(staged, final)  # the commit: TF Serving sees the complete version at once
                return final
            except OSError:
                if not final.exists():
                    raise
                version += 1  # another pusher took this version number
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def _execute(ctx):
    from cips_tf.models.loading import load_generator

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
    import tensorflow_serving.apis.prediction_log_pb2  # noqa: F401  pylint: disable=unused-import


COMPONENT = runner.Component(
    name="Pusher",
    executor=_execute,
    inputs={"model": ("Trainer", "model"), "model_blessing": ("Evaluator", "blessing")},
    outputs={"pushed_model": artifacts_lib.PUSHED_MODEL},
    config_view=_config_view,
    code=("pipelines.pusher", "pipelines.pusher_record", "cips_tf.export", "cips_tf.models", "cips_tf.layers",
          "cips_tf.synthesis"),
    cache_invalid_reason=_cache_invalid_reason,
    check_dependencies=_check_dependencies,
)
