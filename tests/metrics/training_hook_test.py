"""Tests of the in-training FID hook (cips_tf/metrics/training_hook.py)."""
import math
import re
import shutil

import pytest

from cips_tf.metrics import metric_log, protocol
from cips_tf.metrics import training_hook as eval_hook
from cips_tf.models.generator import CIPSGenerator
from cips_tf.training.defaults import default_config
from tiny_models import TINY



@pytest.fixture(scope="module")
def generator():
    return CIPSGenerator(size=16, **TINY)


def tiny_config(extractor_path, eval_every=10, num_samples=40):
    config = default_config()
    config.resolution = 16
    config.data.source = "fashion_mnist"
    config.data.split = "test"
    config.training.eval_every = eval_every
    config.training.eval_num_samples = num_samples
    config.eval = dict(extractor_path=str(extractor_path), batch_size=16)
    return config


def _forbid_real_data(*args, **kwargs):
    raise AssertionError("real data read although its statistics are cached")


def test_fid_hook_returns_finite_scalars_and_caches_real_statistics(tiny_extractor, generator, tmp_path, monkeypatch):
    hook = eval_hook.FidHook(tiny_config(tiny_extractor), tmp_path)
    assert hook.enabled and hook.should_run(20) and not hook.should_run(15) and not hook.should_run(0)
    first = hook(generator, step=10)
    assert set(first) == {"eval/fid40_offline", "eval/seconds"}  # StyleGAN name: 40 generated, 40 real
    assert all(math.isfinite(v) for v in first.values())
    cached = list((tmp_path / "eval" / "real_stats").glob("*.npz"))
    assert len(cached) == 1
    assert re.fullmatch(r"fashion_mnist-[0-9a-f]{10}-test-16px-fashion_mnist_cnn_v1\.npz", cached[0].name)
    mtime = cached[0].stat().st_mtime_ns

    monkeypatch.setattr(protocol, "real_image_batches", _forbid_real_data)
    second = hook(generator, step=20)  # same seeds, same weights, cached real stats: same FID
    assert second["eval/fid40_offline"] == pytest.approx(first["eval/fid40_offline"], rel=1e-9)
    resumed = eval_hook.FidHook(tiny_config(tiny_extractor), tmp_path)(generator, step=30)  # a resumed run
    assert resumed["eval/fid40_offline"] == pytest.approx(first["eval/fid40_offline"], rel=1e-9)
    assert cached[0].stat().st_mtime_ns == mtime
    log = metric_log.read_metric_log(tmp_path / "metric-fid40_offline.jsonl")  # one line per evaluation
    assert [r["step"] for r in log] == [10, 20, 30]
    assert log[0]["value"] == pytest.approx(first["eval/fid40_offline"]) and log[0]["num_samples"] == 40
    assert log[0]["num_real"] == 40 and log[0]["standard"] is False
    assert log[0]["extractor"] == "fashion_mnist_cnn_v1"


def test_fid_hook_kid_and_pr_scalars_skip_undefined_values(tiny_extractor, generator, tmp_path):
    config = tiny_config(tiny_extractor, num_samples=32)
    config.eval.metrics = "fid,kid,pr"
    scalars = eval_hook.FidHook(config, tmp_path)(generator, step=1)
    assert {"eval/fid32_offline", "eval/kid32_offline", "eval/pr32_3_offline_precision",
            "eval/pr32_3_offline_recall"} <= set(scalars)
    assert "eval/kid32_offline_std" not in scalars  # NaN with one KID block: not logged
    assert all(math.isfinite(v) for v in scalars.values())


def test_fid_hook_disabled_when_eval_every_is_zero(tmp_path):
    hook = eval_hook.FidHook(tiny_config("unused", eval_every=0), tmp_path)
    assert not hook.enabled and not hook.should_run(1000)


def test_fid_hook_cache_key_changes_with_extractor_weights(tiny_extractor, tmp_path):
    other = tmp_path / "other_extractor"
    shutil.copytree(tiny_extractor, other)
    model_file = next(other.glob("*.keras"))
    model_file.write_bytes(model_file.read_bytes() + b"\0")  # different weights file, same name
    key_a = eval_hook.FidHook(tiny_config(tiny_extractor), tmp_path).cache_key
    key_b = eval_hook.FidHook(tiny_config(other), tmp_path).cache_key
    assert key_a != key_b and key_a[1:] == key_b[1:]
