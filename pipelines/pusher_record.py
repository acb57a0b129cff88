"""The Pusher's record of a pushed version, and the baseline the Evaluator reads from it.

Each version the Pusher writes carries `assets.extra/cips_pipeline_push.json` (TF Serving ignores
`assets.extra/`'s other files): the metrics it was blessed with, the extractor that measured them,
and the fingerprints of the model and examples it came from. It is written into the version
before the version's atomic rename, so a served version always has its record.
"""
import json
import pathlib

from cips_tf.export.saved_model import existing_versions

RECORD_FILE = "assets.extra/cips_pipeline_push.json"


def serving_base(config, pipeline_root):
    base = config.pipeline.serving_base
    return pathlib.Path(base) if base else pathlib.Path(pipeline_root) / "serving"


def model_dir(config, pipeline_root):
    """`<serving_base>/<model_name>`: TF Serving's model base path."""
    return serving_base(config, pipeline_root) / config.pipeline.model_name


def read_record(version_dir):
    path = pathlib.Path(version_dir) / RECORD_FILE
    try:
        return json.loads(path.read_text())
    except (FileNotFoundError, json.JSONDecodeError):
        return None


def latest_pushed(config, pipeline_root):
    """(version, record or None) of the version TF Serving serves (the newest), or None."""
    directory = model_dir(config, pipeline_root)
    found = existing_versions(directory)
    if not found:
        return None
    return found[-1], read_record(directory / str(found[-1]))


def current_baseline(config, pipeline_root, exclude_model=None):
    """The served version to compare a candidate with, as a small JSON dict, or None.

    The newest version, unless it was pushed from `exclude_model` (the candidate itself: then the
    version served before it). `metrics` is empty and `why_not_comparable` set when the version
    has no pipeline record.
    """
    directory = model_dir(config, pipeline_root)
    for version in reversed(existing_versions(directory)):  # newest first
        record = read_record(directory / str(version))
        if record is None:
            return {"version": version, "path": str(directory / str(version)), "metrics": {},
                    "why_not_comparable": "no pipeline record (exported outside the pipeline)"}
        if exclude_model is not None and record.get("model") == exclude_model:
            continue
        return {
            "version": version,
            "path": str(directory / str(version)),
            "metrics": record.get("metrics", {}),
            "model": record.get("model"),
            "extractor": record.get("extractor"),
        }
    return None
