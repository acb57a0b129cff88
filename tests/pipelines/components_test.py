"""Unit tests of the pipeline pieces: runner caching/retries on toy components, config defaults,
the blessing decision, the pushed-model baseline, and ExampleGen on its sources. No training."""
import json
import pathlib

import numpy as np
import pytest
from PIL import Image

from pipelines import artifacts
from pipelines import config as config_lib
from pipelines import evaluator
from pipelines import example_gen
from pipelines import pusher_record
from pipelines import runner
from tiny_models import smoke_config



def _smoke_config():
    return config_lib.with_pipeline_defaults(smoke_config())


# --- runner -------------------------------------------------------------------------------------

def test_code_version_covers_every_project_module_a_component_imports():
    found = runner.imported_modules("pipelines.pusher")
    # Function-level imports count: the Pusher reaches export, and through it quantization and grids.
    for module in ("pipelines.pusher", "pipelines.pusher_record", "cips_tf.export.saved_model", "cips_tf.coords",
                   "cips_tf.models.generator", "cips_tf.layers.modulated_dense"):
        assert module in found, module
    assert all(name.split(".")[0] in ("cips_tf", "pipelines") for name in found)  # no third-party modules
    assert "cips_tf.cli.generate" not in found  # nor what it does not import
    assert runner.code_version(("pipelines.example_gen",)) != runner.code_version(("pipelines.pusher",))


def _toy_components(calls, fail=None):
    """Source -> Doubler; `fail` names a component whose executor raises."""

    def source(ctx):
        calls.append(("Source", ctx.attempt))
        if fail == "Source":
            raise RuntimeError("boom")
        (ctx.output_dirs["examples"] / "value.txt").write_text(str(ctx.config.pipeline.num_shards))
        return {"examples": {"value": ctx.config.pipeline.num_shards}}

    def doubler(ctx):
        calls.append(("Doubler", ctx.attempt))
        (ctx.work_dir / "scratch.txt").write_text("partial")
        if fail == "Doubler":
            raise RuntimeError("doubler broke")
        return {"model": {"value": 2 * ctx.inputs["examples"].properties["value"]}}

    view = lambda config, root: {"n": config.pipeline.num_shards}  # noqa: E731
    return (
        runner.Component("Source", source, {}, {"examples": artifacts.EXAMPLES}, view, code=("pipelines.runner",)),
        runner.Component("Doubler", doubler, {"examples": ("Source", "examples")}, {"model": artifacts.MODEL},
                         lambda config, root: {}, code=("pipelines.runner",), resumable=True),
    )


def test_runner_rerun_with_same_config_is_cached_and_changed_config_executes(tmp_path):
    calls = []
    config = _smoke_config()
    first = runner.run_pipeline(_toy_components(calls), config, tmp_path)
    assert first.statuses == {"Source": "executed", "Doubler": "executed"}
    assert first.artifacts["Doubler"]["model"].properties == {"value": 8}
    again = runner.run_pipeline(_toy_components(calls), config, tmp_path)
    assert again.statuses == {"Source": "cached", "Doubler": "cached"} and len(calls) == 2
    config.pipeline.num_shards = 5
    changed = runner.run_pipeline(_toy_components(calls), config, tmp_path)
    assert changed.statuses == {"Source": "executed", "Doubler": "executed"}  # new input fingerprint
    assert changed.artifacts["Doubler"]["model"].properties == {"value": 10}
    assert [r["status"] for r in runner.read_runs(tmp_path)] == ["succeeded"] * 3


def test_runner_failure_keeps_upstream_and_resumable_scratch_then_retries(tmp_path):
    calls = []
    config = _smoke_config()
    with pytest.raises(runner.StageFailedError, match="doubler broke") as e:
        runner.run_pipeline(_toy_components(calls, fail="Doubler"), config, tmp_path)
    assert e.value.component == "Doubler"
    (tmp,) = (tmp_path / "Doubler").iterdir()
    assert tmp.name.startswith(".tmp-")
    status = json.loads((tmp / runner.EXECUTION_FILE).read_text())
    assert status["status"] == "failed" and "doubler broke" in status["error"] and status["traceback"]
    source = artifacts.read_artifact(next((tmp_path / "Source").iterdir()) / "examples", artifacts.EXAMPLES)
    assert source.properties == {"value": 4}
    retry = runner.run_pipeline(_toy_components(calls), config, tmp_path)
    assert retry.statuses == {"Source": "cached", "Doubler": "executed"}
    final = retry.artifacts["Doubler"]["model"].path.parent
    assert (final / "scratch.txt").exists()  # resumable: the failed attempt's directory was kept
    status = json.loads((final / runner.EXECUTION_FILE).read_text())
    assert status["attempt"] == 2 and status["previous_attempts"][0]["status"] == "failed"
    assert calls == [("Source", 1), ("Doubler", 1), ("Doubler", 2)]


def test_runner_artifact_json_has_type_uri_producer_fingerprint(tmp_path):
    result = runner.run_pipeline(_toy_components([]), _smoke_config(), tmp_path)
    model = result.artifacts["Doubler"]["model"]
    on_disk = json.loads((model.path / artifacts.ARTIFACT_FILE).read_text())
    assert on_disk["type"] == "Model" and on_disk["producer"] == "Doubler"
    assert pathlib.Path(on_disk["uri"]) == model.path and len(on_disk["fingerprint"]) == 64


# --- config -------------------------------------------------------------------------------------

def test_with_pipeline_defaults_adds_section_keeps_values_and_lock():
    config = _smoke_config()
    assert config.pipeline.input_source == "fashion_mnist" and config.pipeline.fid_threshold is None
    config.pipeline.model_name = "mine"
    del config.pipeline["fid_tolerance"]
    config.lock()
    config_lib.with_pipeline_defaults(config)
    assert config.pipeline.model_name == "mine" and config.pipeline.fid_tolerance == 0.0
    config.pipeline.fid_threshold = 12.5  # a typed placeholder accepts a float
    with pytest.raises(AttributeError):
        config.pipeline.no_such_field = 1


@pytest.mark.parametrize("field,value,match", [
    ("input_source", "csv", "input_source"),
    ("extractor", "clip", "extractor"),
    ("model_name", "../x", "model_name"),
])
def test_validate_rejects_bad_pipeline_fields(field, value, match):
    config = _smoke_config()
    config.pipeline[field] = value
    with pytest.raises(ValueError, match=match):
        config_lib.validate(config)


def test_validate_folder_source_needs_input_path():
    config = _smoke_config()
    config.pipeline.input_source = "folder"
    with pytest.raises(ValueError, match="input_path"):
        config_lib.validate(config)


# --- blessing and baseline ----------------------------------------------------------------------

RESULTS = {"fid_offline": 10.0, "standard": False, "extractor": "fashion_mnist_cnn_v1"}


def test_decide_blessing_worse_than_pushed_model_is_not_blessed():
    baseline = {"version": 3, "metrics": {"fid_offline": 8.0}}
    blessed, reasons = evaluator.decide_blessing(RESULTS, "fid_offline", 20.0, 1.0, baseline)
    assert not blessed and any("worse than the pushed version 3" in r for r in reasons)
    blessed, _ = evaluator.decide_blessing(RESULTS, "fid_offline", 20.0, 2.0, baseline)
    assert blessed  # within the tolerance


def test_decide_blessing_threshold_nan_and_incomparable_baseline():
    assert not evaluator.decide_blessing(RESULTS, "fid_offline", 9.0, 0.0, None)[0]
    assert not evaluator.decide_blessing(dict(RESULTS, fid_offline=float("nan")), "fid_offline", None, 0.0, None)[0]
    baseline = {"version": 1, "metrics": {}, "why_not_comparable": "measured with another feature extractor"}
    blessed, reasons = evaluator.decide_blessing(RESULTS, "fid_offline", None, 0.0, baseline)
    assert blessed and any("not compared" in r for r in reasons)


def _fake_version(model_dir, version, record):
    path = model_dir / str(version) / "assets.extra"
    path.mkdir(parents=True)
    if record is not None:
        (model_dir / str(version) / pusher_record.RECORD_FILE).write_text(json.dumps(record))


def test_current_baseline_is_newest_version_except_the_candidate_itself(tmp_path):
    config = _smoke_config()
    config.pipeline.serving_base = str(tmp_path)
    model_dir = tmp_path / "cips"
    assert pusher_record.current_baseline(config, "/unused") is None
    _fake_version(model_dir, 1, {"model": "a", "metrics": {"fid_offline": 5.0}})
    _fake_version(model_dir, 2, {"model": "b", "metrics": {"fid_offline": 4.0}})
    (model_dir / ".tmp-3-99").mkdir()  # an unfinished export is not a version
    assert pusher_record.current_baseline(config, "/unused", exclude_model="c")["version"] == 2
    assert pusher_record.current_baseline(config, "/unused", exclude_model="b")["version"] == 1
    _fake_version(model_dir, 10, None)
    baseline = pusher_record.current_baseline(config, "/unused", exclude_model="c")
    assert baseline["version"] == 10 and baseline["metrics"] == {} and "outside" in baseline["why_not_comparable"]


# --- ExampleGen ---------------------------------------------------------------------------------

def test_example_gen_fashion_mnist_source_writes_max_examples(tmp_path):
    config = _smoke_config()
    config.pipeline.input_split = "test"
    config.pipeline.max_examples = 24
    config.pipeline.num_shards = 3
    result = runner.run_pipeline((example_gen.COMPONENT,), config, tmp_path)
    props = result.artifacts["ExampleGen"]["examples"].properties
    assert props["num_examples"] == 24 and props["num_skipped"] == 0 and props["sizes"] == {"16x16": 24}
    from cips_tf import data

    records = list(data.read_tfrecords(example_gen.split_dir(result.artifacts["ExampleGen"]["examples"])))
    assert len(records) == 24 and records[0]["source"].numpy().startswith(b"fashion_mnist/test[")


def test_example_gen_reruns_when_the_image_folder_changes(tmp_path):
    folder = tmp_path / "images"
    folder.mkdir()
    for i in range(3):
        Image.fromarray(np.full((8, 8, 3), 40 * i, np.uint8)).save(folder / f"{i}.png")
    config = _smoke_config()
    config.pipeline.input_source, config.pipeline.input_path = "folder", str(folder)
    root = tmp_path / "root"
    assert runner.run_pipeline((example_gen.COMPONENT,), config, root).statuses["ExampleGen"] == "executed"
    assert runner.run_pipeline((example_gen.COMPONENT,), config, root).statuses["ExampleGen"] == "cached"
    Image.fromarray(np.zeros((8, 8, 3), np.uint8)).save(folder / "new.png")
    result = runner.run_pipeline((example_gen.COMPONENT,), config, root)
    assert result.statuses["ExampleGen"] == "executed"
    assert result.artifacts["ExampleGen"]["examples"].properties["num_examples"] == 4


def test_runner_checks_every_components_dependencies_before_the_first_runs(tmp_path):
    import dataclasses

    calls = []
    source, doubler = _toy_components(calls)

    def missing(config):
        raise ImportError("tensorflow_gan is needed for KID: pip install 'tensorflow-gan==2.1.0'")

    doubler = dataclasses.replace(doubler, check_dependencies=missing)
    with pytest.raises(runner.MissingDependencyError, match="pipeline not started: Doubler: tensorflow_gan is needed"):
        runner.run_pipeline((source, doubler), _smoke_config(), tmp_path / "root")
    assert calls == [] and not (tmp_path / "root").exists()  # not even the first component ran


def test_evaluator_and_pusher_dependency_checks_pass_here_and_name_tensorflow_gan_when_missing(monkeypatch):
    from cips_tf.metrics import tfgan_compat
    from pipelines import pipeline

    components = pipeline.create_pipeline()
    runner.check_dependencies(components, _smoke_config())  # installed here: no error

    def hidden():
        raise ImportError("tensorflow_gan is needed for KID and for the TF-GAN FID cross-check: pip install "
                          "'tensorflow-gan==2.1.0'")

    monkeypatch.setattr(tfgan_compat, "import_tfgan", hidden)
    with pytest.raises(runner.MissingDependencyError, match="Evaluator: tensorflow_gan is needed"):
        runner.check_dependencies(components, _smoke_config())


def test_runner_root_lock_never_follows_a_planted_symlink(tmp_path):
    target = tmp_path / "precious.txt"
    target.write_text("keep\n")
    root = tmp_path / "root"
    root.mkdir()
    (root / ".lock").symlink_to(target)
    with pytest.raises(RuntimeError, match=r"\.lock is a symlink"):
        runner.run_pipeline(_toy_components([]), _smoke_config(), root)
    assert target.read_text() == "keep\n"


def test_write_json_atomic_uses_unique_temp_names_not_pids(tmp_path, monkeypatch):
    import os

    names = []
    real_replace = os.replace
    monkeypatch.setattr(os, "replace", lambda a, b: (names.append(pathlib.Path(a).name), real_replace(a, b)))
    for _ in range(2):
        artifacts.write_json_atomic(tmp_path / "x.json", {"a": 1})
    assert len(set(names)) == 2 and all(str(os.getpid()) not in n for n in names)
    assert json.loads((tmp_path / "x.json").read_text()) == {"a": 1}
    assert sorted(p.name for p in tmp_path.iterdir()) == ["x.json"]
