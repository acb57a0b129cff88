"""Acceptance tests of the TFX-style pipeline: image folder -> pushed SavedModel, caching, gate, retries.

One shared pipeline root (module fixture) keeps the whole file to a couple of minutes: its first run
is preempted in the Trainer (a retry must resume it), its second run pushes version 1; later tests
rerun it with changed or broken configs.
"""
import json
import os
import pathlib
import subprocess
import sys

import numpy as np
import pytest
import tensorflow as tf
from PIL import Image

from cips_tf.export.saved_model import existing_versions
from pipelines import config as config_lib
from pipelines import pipeline
from pipelines import pusher_record
from pipelines import runner
from tiny_models import smoke_config

# The slow tier (whole pipeline runs); one xdist worker runs the file in order, since later tests
# rerun the shared pipeline root of earlier ones.
pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("pipeline_test")]

REPO = pathlib.Path(__file__).resolve().parents[2]
NUM_IMAGES = 40
# The overrides of configs/smoke.py used here, as `--config.<field>=value` flags (the CLI test
# reruns the same config through cips-pipeline).
OVERRIDES = {
    "num_train_steps": 4,
    "training.checkpoint_every": 2,
    "training.log_every": 2,
    "training.strategy": "default",
    "pipeline.input_source": "folder",
    "pipeline.num_shards": 2,
    "pipeline.extractor_train_epochs": 1,
    "pipeline.extractor_train_images": 512,
    "pipeline.eval_num_samples": 16,
    "pipeline.eval_batch_size": 8,
    "pipeline.w_avg_samples": 64,
    "pipeline.fid_threshold": 1e9,
}


def _set(config, key, value):
    node = config
    *parents, leaf = key.split(".")
    for p in parents:
        node = node[p]
    node[leaf] = value


def make_config(paths, **overrides):
    config = config_lib.with_pipeline_defaults(smoke_config())
    values = dict(OVERRIDES, **{"pipeline.input_path": str(paths["images"]),
                                "pipeline.extractor_cache_dir": str(paths["extractor"])})
    values.update({k.replace("__", "."): v for k, v in overrides.items()})
    for key, value in values.items():
        _set(config, key, value)
    return config


def make_image_folder(folder):
    """NUM_IMAGES tiny PNGs of assorted sizes and modes, plus one corrupt file."""
    rng = np.random.default_rng(0)
    (folder / "sub").mkdir(parents=True)
    for i in range(NUM_IMAGES):
        h, w = (20, 24) if i % 2 else (18, 18)
        pixels = rng.integers(0, 256, (h, w, 3), dtype=np.uint8)
        image = Image.fromarray(pixels) if i % 3 else Image.fromarray(pixels[..., 0], mode="L")
        image.save(folder / ("sub" if i % 4 == 0 else "") / f"img_{i:02d}.png")
    (folder / "corrupt.png").write_bytes(b"\x89PNG\r\n\x1a\n not really a png")


@pytest.fixture(scope="module")
def shared(tmp_path_factory):
    base = tmp_path_factory.mktemp("pipeline")
    paths = {"images": base / "images", "extractor": base / "extractor_cache", "root": base / "root"}
    make_image_folder(paths["images"])
    config = make_config(paths)

    # Run 1: the Trainer is preempted after 2 of its 4 steps (train_and_evaluate's max_steps).
    from cips_tf.training import train_lib

    real_train = train_lib.train_and_evaluate
    train_lib.train_and_evaluate = lambda cfg, workdir, max_steps=None, **kw: real_train(cfg, workdir, max_steps=2,
                                                                                         **kw)
    try:
        with pytest.raises(runner.StageFailedError) as failed:
            pipeline.run(config, paths["root"])
    finally:
        train_lib.train_and_evaluate = real_train
    after_failure = {
        "error": failed.value,
        "runs": runner.read_runs(paths["root"]),
        "example_dirs": sorted(p.name for p in (paths["root"] / "ExampleGen").iterdir()),
        "trainer_dirs": sorted(p.name for p in (paths["root"] / "Trainer").iterdir()),
    }
    # Run 2: the retry.
    result = pipeline.run(make_config(paths), paths["root"])
    return {"paths": paths, "after_failure": after_failure, "result": result}


def test_pipeline_preempted_trainer_keeps_example_gen_and_fails_the_run(shared):
    after = shared["after_failure"]
    assert after["error"].component == "Trainer"
    (record,) = after["runs"]
    assert record["status"] == "failed"
    assert {k: v["status"] for k, v in record["components"].items()} == {
        "ExampleGen": "executed", "Trainer": "failed", "Evaluator": "not_run", "Pusher": "not_run"}
    assert len(after["example_dirs"]) == 1 and not after["example_dirs"][0].startswith(".")  # committed
    assert len(after["trainer_dirs"]) == 1 and after["trainer_dirs"][0].startswith(".tmp-")  # not committed


def test_pipeline_retry_reuses_example_gen_and_resumes_trainer(shared):
    result = shared["result"]
    assert result.statuses == {"ExampleGen": "cached", "Trainer": "executed", "Evaluator": "executed",
                               "Pusher": "executed"}
    model = result.artifacts["Trainer"]["model"]
    assert model.properties["step"] == 4
    execution = json.loads((model.path.parent / runner.EXECUTION_FILE).read_text())
    assert execution["attempt"] == 2 and execution["status"] == "succeeded"
    assert "step 2 of 4" in execution["previous_attempts"][0]["error"]
    checkpoints = sorted(p.name for p in (model.path / "workdir" / "checkpoints").glob("ckpt-*.index"))
    assert checkpoints == ["ckpt-2.index", "ckpt-4.index"]  # 2 from the first attempt, then resumed


def test_pipeline_example_gen_reports_count_and_skipped_corrupt_file(shared):
    examples = shared["result"].artifacts["ExampleGen"]["examples"]
    props = examples.properties
    assert examples.type == "Examples" and examples.producer == "ExampleGen"
    assert props["num_examples"] == NUM_IMAGES and props["num_inputs"] == NUM_IMAGES + 1
    assert props["num_skipped"] == 1
    assert props["skipped"][0]["path"].endswith("corrupt.png") and props["skipped"][0]["reason"]
    assert props["sizes"] == {"16x16": NUM_IMAGES}
    assert len(list((examples.path / "Split-train").glob("*.tfrecord"))) == 2
    on_disk = json.loads((examples.path / "artifact.json").read_text())
    assert on_disk["fingerprint"] == examples.fingerprint and on_disk["type"] == "Examples"


def test_pipeline_pushes_a_loadable_version_with_its_metrics(shared):
    result = shared["result"]
    blessing = result.artifacts["Evaluator"]["blessing"]
    assert blessing.properties["blessed"] is True
    assert (blessing.path / "BLESSED").exists()
    assert blessing.properties["metrics"]["standard"] is False  # the offline extractor is labelled
    assert any("NON-STANDARD" in r for r in blessing.properties["reasons"])
    pushed = result.artifacts["Pusher"]["pushed_model"].properties
    assert pushed["pushed"] is True and pushed["version"] == 1
    version_dir = shared["paths"]["root"] / "serving" / "cips" / "1"
    assert pathlib.Path(pushed["destination"]) == version_dir
    record = pusher_record.read_record(version_dir)
    assert record["metrics"]["fid_offline"] == pytest.approx(blessing.properties["value"])
    assert record["model"] == result.artifacts["Trainer"]["model"].fingerprint
    loaded = tf.saved_model.load(str(version_dir))
    images = loaded.signatures["from_seed"](seed=tf.constant([1, 2], tf.int64),
                                            truncation_psi=tf.constant([1.0, 1.0]))["images"]
    assert images.shape == (2, 16, 16, 3) and images.dtype == tf.uint8
    assert not [p for p in version_dir.parent.parent.iterdir() if p.name.startswith(".")]  # no staging left


def test_pipeline_rerun_is_served_from_cache(shared):
    paths = shared["paths"]
    result = pipeline.run(make_config(paths), paths["root"])
    assert set(result.statuses.values()) == {"cached"}
    assert runner.read_runs(paths["root"])[-1]["status"] == "succeeded"
    assert existing_versions(paths["root"] / "serving" / "cips") == [1]
    assert result.artifacts["Pusher"]["pushed_model"].uri == shared["result"].artifacts["Pusher"]["pushed_model"].uri


def test_pipeline_cli_rerun_is_served_from_cache(shared):
    paths = shared["paths"]
    overrides = dict(OVERRIDES, **{"pipeline.input_path": str(paths["images"]),
                                   "pipeline.extractor_cache_dir": str(paths["extractor"])})
    args = [f"--config.{k}={v}" for k, v in overrides.items()]
    proc = subprocess.run(
        [sys.executable, "-m", "pipelines.run", f"--config={REPO / 'configs' / 'smoke.py'}",
         f"--pipeline_root={paths['root']}", *args],
        cwd=REPO, capture_output=True, text=True, timeout=900,
        env=dict(os.environ, CUDA_VISIBLE_DEVICES="-1"),
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    for name in ("ExampleGen", "Trainer", "Evaluator", "Pusher"):
        assert f"[{name}] cached" in proc.stderr
    assert "executing" not in proc.stderr
    assert runner.read_runs(paths["root"])[-1]["components"]["Trainer"]["status"] == "cached"


def test_pipeline_impossible_threshold_is_not_blessed_and_not_pushed(shared):
    paths = shared["paths"]
    result = pipeline.run(make_config(paths, pipeline__fid_threshold=-1.0), paths["root"])
    assert result.statuses == {"ExampleGen": "cached", "Trainer": "cached", "Evaluator": "executed",
                               "Pusher": "executed"}
    blessing = result.artifacts["Evaluator"]["blessing"]
    assert blessing.properties["blessed"] is False and (blessing.path / "NOT_BLESSED").exists()
    assert any("> fid_threshold -1.0" in r for r in blessing.properties["reasons"])
    pushed = result.artifacts["Pusher"]["pushed_model"].properties
    assert pushed["pushed"] is False and "not blessed" in pushed["reason"]
    assert existing_versions(paths["root"] / "serving" / "cips") == [1]


def test_pipeline_bad_trainer_config_fails_and_is_retried_on_rerun(shared):
    paths = shared["paths"]
    bad = make_config(paths, model__variant="no_such_variant")
    for attempt in (1, 2):
        with pytest.raises(runner.StageFailedError, match="Trainer"):
            pipeline.run(bad, paths["root"])
        record = runner.read_runs(paths["root"])[-1]
        assert record["components"]["ExampleGen"]["status"] == "cached"
        assert record["components"]["Trainer"]["status"] == "failed"  # retried, not served from cache
        status = json.loads((pathlib.Path(record["components"]["Trainer"]["dir"]) / runner.EXECUTION_FILE).read_text())
        assert status["status"] == "failed" and status["attempt"] == attempt
    examples = shared["result"].artifacts["ExampleGen"]["examples"]
    assert (examples.path / "artifact.json").exists()  # the earlier artifact is still usable
    good = pipeline.run(make_config(paths), paths["root"])
    assert set(good.statuses.values()) == {"cached"}


def test_pipeline_deleted_push_is_pushed_again(tmp_path, shared):
    paths = shared["paths"]
    version_dir = paths["root"] / "serving" / "cips" / "1"
    moved = tmp_path / "moved"
    os.rename(version_dir, moved)
    try:
        result = pipeline.run(make_config(paths), paths["root"])
        assert result.statuses["Pusher"] == "executed" and result.statuses["Evaluator"] == "cached"
        assert result.artifacts["Pusher"]["pushed_model"].properties["version"] == 1
        assert pusher_record.read_record(version_dir)["model"] == result.artifacts["Trainer"]["model"].fingerprint
    finally:
        if not version_dir.exists():
            os.rename(moved, version_dir)
