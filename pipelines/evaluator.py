"""Evaluator: FID / KID / precision-recall of the EMA generator, and the blessing.

Inputs `examples` (Examples, the real images) and `model` (Model). Outputs:

    evaluation (ModelEvaluation)   <uri>/metrics.json: `cips_tf.metrics.protocol.evaluate`'s results
                                   dict (fid_offline, kid_offline, precision_offline ... with the
                                   offline extractor; fid, kid ... with Inception), `standard`
    blessing (ModelBlessing)       <uri>/BLESSED or <uri>/NOT_BLESSED (TFX's marker files) and
                                   <uri>/blessing.json; properties: blessed, reasons, metric, value,
                                   threshold, baseline, metrics

Feature extractor (`pipeline.extractor`):
  'offline'   the Fashion-MNIST CNN of `cips_tf.metrics.feature_extractor`: NON-STANDARD numbers,
              labelled "_offline" and `standard: false`. Loaded from `pipeline.extractor_path`, or
              trained once into `pipeline.extractor_cache_dir` (default
              `<pipeline_root>/_cache/feature_extractor/<settings>/`) and reused.
  'inception' the standard FID network from a local file (`pipeline.extractor_path` or
              $CIPS_INCEPTION_PATH; see `cips_tf.metrics.inception`).
The extractor's weights file is hashed into the cache key.

Blessing (TFX's model validation): blessed when the FID is finite, `<= pipeline.fid_threshold`
(when set), and `<= baseline FID + pipeline.fid_tolerance`, where the baseline is the model TF
Serving currently serves: the newest version under `<serving_base>/<model_name>/`, whose metrics
the Pusher recorded in `assets.extra/cips_pipeline_push.json` (TFX: the LatestBlessedModelResolver
baseline). A version pushed from this very model is not its own baseline, so a rerun stays cached.
A baseline measured with another extractor, or without a record (exported by hand), is not
comparable: the reasons say so and only the threshold applies.
"""
import math
import os
import pathlib

from absl import logging

from cips_tf import data as data_lib
from cips_tf.loading import load_generator
from cips_tf.metrics import feature_extractor as fx
from cips_tf.metrics import inception, protocol, tfgan_compat
from pipelines import artifacts as artifacts_lib
from pipelines import example_gen
from pipelines import pusher_record
from pipelines import runner
from pipelines import trainer

METRICS_FILE = "metrics.json"
BLESSING_FILE = "blessing.json"
BLESSED_FILE = "BLESSED"
NOT_BLESSED_FILE = "NOT_BLESSED"
_CONFIG_FIELDS = ("extractor", "extractor_path", "extractor_train_epochs", "extractor_train_images",
                  "eval_num_samples", "eval_num_real", "eval_batch_size", "eval_seed", "fid_threshold",
                  "fid_tolerance")


def _config_view(config, pipeline_root):
    view = {k: config.pipeline[k] for k in _CONFIG_FIELDS}
    view["serving"] = pusher_record.model_dir(config, pipeline_root).as_posix()
    return view


def extractor_cache_dir(config, pipeline_root):
    p = config.pipeline
    settings = {"epochs": int(p.extractor_train_epochs), "num_train": int(p.extractor_train_images) or None, "seed": 0}
    base = pathlib.Path(p.extractor_cache_dir or pathlib.Path(pipeline_root) / "_cache" / "feature_extractor")
    return base / artifacts_lib.fingerprint_of(settings)[:16], settings


def resolve_extractor(config, pipeline_root):
    """Where the extractor lives (training the offline one first when needed) and its identity."""
    p = config.pipeline
    if p.extractor == "inception":
        path = p.extractor_path or os.environ.get(inception.INCEPTION_ENV_VAR)
        if not path:
            inception.load_inception(None)  # raises InceptionWeightsNotFoundError with instructions
        path = pathlib.Path(path)
        files = sorted(path.rglob("*")) if path.is_dir() else [path]
        stats = [[str(f.relative_to(path)) if path.is_dir() else f.name, f.stat().st_size] for f in files if f.is_file()]
        return {"kind": "inception", "path": str(path), "files": artifacts_lib.fingerprint_of(stats)}
    if p.extractor_path:
        directory = pathlib.Path(p.extractor_path)
        model_file = directory / fx.MODEL_FILENAME if directory.is_dir() else directory
        if not model_file.exists():
            fx.load_feature_extractor(directory)  # raises FileNotFoundError with the training command
    else:
        directory, settings = extractor_cache_dir(config, pipeline_root)
        model_file = directory / fx.MODEL_FILENAME
        if not model_file.exists():
            protocol.train_offline_extractor(directory, epochs=settings["epochs"], num_train=settings["num_train"],
                                             seed=0, verbose=0)
    return {"kind": "offline", "path": str(model_file), "sha256": protocol.sha256_file(model_file)}


def _external_state(config, pipeline_root, inputs):
    extractor = resolve_extractor(config, pipeline_root)
    baseline = pusher_record.current_baseline(config, pipeline_root, exclude_model=inputs["model"].fingerprint)
    if baseline is not None and baseline.get("metrics") and baseline.get("extractor") != extractor:
        # Feature spaces differ (another extractor, or the offline one retrained): FIDs do not compare.
        baseline = dict(baseline, metrics={}, why_not_comparable="measured with another feature extractor")
    return {"extractor": extractor, "baseline": baseline}


def decide_blessing(results, metric, threshold, tolerance, baseline):
    """(blessed, reasons) for evaluation `results` against the threshold and the baseline record."""
    value = results.get(metric)
    reasons = []
    blessed = True
    if value is None or not math.isfinite(value):
        return False, [f"{metric} is {value}: not a finite number"]
    if threshold is None:
        reasons.append(f"no fid_threshold set: {metric} = {value:.4f} is not checked against a limit")
    elif value <= threshold:
        reasons.append(f"{metric} = {value:.4f} <= fid_threshold {threshold}")
    else:
        blessed = False
        reasons.append(f"{metric} = {value:.4f} > fid_threshold {threshold}")
    if baseline is None:
        reasons.append("no model is pushed yet: nothing to compare with")
    elif baseline.get("metrics", {}).get(metric) is None:
        reasons.append(f"the pushed version {baseline['version']} has no recorded {metric} "
                       f"({baseline.get('why_not_comparable') or 'another extractor'}): not compared")
    else:
        base = float(baseline["metrics"][metric])
        if value <= base + tolerance:
            reasons.append(f"{metric} = {value:.4f} is not worse than the pushed version {baseline['version']} "
                           f"({base:.4f}, tolerance {tolerance})")
        else:
            blessed = False
            reasons.append(f"{metric} = {value:.4f} is worse than the pushed version {baseline['version']} "
                           f"({base:.4f}, tolerance {tolerance})")
    if not results.get("standard", False):
        reasons.append(f"metrics use the NON-STANDARD extractor {results.get('extractor')}: "
                       "not comparable with published FIDs")
    return blessed, reasons


def _execute(ctx):
    p = ctx.config.pipeline
    examples, model = ctx.inputs["examples"], ctx.inputs["model"]
    loaded = load_generator(trainer.workdir(model))
    identity = ctx.external["extractor"]
    extractor = protocol.load_extractor(identity["kind"], identity["path"], train_if_missing=False)
    available = int(examples.properties["num_examples"])
    num_real = min(int(p.eval_num_real or p.eval_num_samples), available)
    if num_real < int(p.eval_num_real or p.eval_num_samples):
        logging.warning("[Evaluator] only %d real examples: comparing %d generated images with %d real ones",
                        available, p.eval_num_samples, num_real)
    data_config = data_lib.default_config()
    data_config.source = "tfrecord"
    data_config.path = str(example_gen.split_dir(examples))

    # The evaluation of cips-evaluate and the in-training FID (z_from_seed per image, seeded noise,
    # independent of the batch size), so the three report comparable numbers; no metric logs here.
    logging.info("[Evaluator] %s: %d generated vs %d real images with the %s extractor", loaded.source,
                 p.eval_num_samples, num_real, extractor.name)
    results, _, _ = protocol.evaluate(
        loaded.generator, data_config, extractor, num_samples=int(p.eval_num_samples), num_real=num_real,
        batch_size=int(p.eval_batch_size), seed=int(p.eval_seed),
    )
    metric = f"fid{extractor.metric_suffix}"
    threshold = None if p.fid_threshold is None else float(p.fid_threshold)
    baseline = ctx.external["baseline"]
    blessed, reasons = decide_blessing(results, metric, threshold, float(p.fid_tolerance), baseline)
    logging.info("[Evaluator] %s | %s: %s", " ".join(f"{k}={v:.4f}" for k, v in results.items()
                                                     if isinstance(v, float)),
                 "BLESSED" if blessed else "NOT BLESSED", "; ".join(reasons))

    evaluation_dir, blessing_dir = ctx.output_dirs["evaluation"], ctx.output_dirs["blessing"]
    artifacts_lib.write_json_atomic(evaluation_dir / METRICS_FILE, results)
    blessing = {
        "blessed": blessed,
        "reasons": reasons,
        "metric": metric,
        "value": results.get(metric),
        "threshold": threshold,
        "tolerance": float(p.fid_tolerance),
        "baseline": baseline,
        "metrics": results,
        "model": model.fingerprint,
        "examples": examples.fingerprint,
        "extractor": ctx.external["extractor"],
    }
    artifacts_lib.write_json_atomic(blessing_dir / BLESSING_FILE, blessing)
    (blessing_dir / (BLESSED_FILE if blessed else NOT_BLESSED_FILE)).touch()
    return {
        "evaluation": {"metrics": results, "standard": bool(results.get("standard")), "model": model.fingerprint},
        "blessing": blessing,
    }


def _check_dependencies(config):
    """KID (always computed) needs tensorflow-gan; raises ImportError naming the pip pins."""
    tfgan_compat.import_tfgan()


COMPONENT = runner.Component(
    name="Evaluator",
    executor=_execute,
    inputs={"examples": ("ExampleGen", "examples"), "model": ("Trainer", "model")},
    outputs={"evaluation": artifacts_lib.MODEL_EVALUATION, "blessing": artifacts_lib.MODEL_BLESSING},
    config_view=_config_view,
    external_state=_external_state,
    check_dependencies=_check_dependencies,
)
