"""End-to-end tests of `cips-evaluate` (cips_tf/cli/evaluate.py) on a tiny saved workdir.

The CLI runs in a subprocess (absl flags are process-global and other CLIs define the same
names). The offline extractor is a tiny one trained here in seconds (1 epoch on 256 images); the
numbers are meaningless, the test checks plumbing and labelling.
"""
import json
import math
import os
import pathlib
import subprocess
import sys

import numpy as np
import pytest
from PIL import Image

from cips_tf.metrics import metric_log
from cips_tf.models.generator import CIPSGenerator
from tiny_models import TINY, make_workdir

REPO_ROOT = pathlib.Path(__file__).resolve().parents[2]



def run_cli(*args, env_extra=None):
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3", CUDA_VISIBLE_DEVICES="",
               PYTHONPATH=str(REPO_ROOT) + os.pathsep + os.environ.get("PYTHONPATH", ""))
    env.pop("CIPS_INCEPTION_PATH", None)
    env.update(env_extra or {})
    return subprocess.run([sys.executable, "-m", "cips_tf.cli.evaluate", *args], cwd=REPO_ROOT, env=env,
                          capture_output=True, text=True, timeout=900)


@pytest.fixture(scope="module")
def tiny_workdir(tmp_path_factory):
    return make_workdir(tmp_path_factory.mktemp("workdir"), CIPSGenerator(size=16, **TINY))


@pytest.fixture(scope="module")
def all_metrics_out(tiny_workdir, tiny_extractor, tmp_path_factory):
    out = tmp_path_factory.mktemp("out")
    result = run_cli(
        f"--model={tiny_workdir}", f"--out={out}", "--metrics=fid,kid,precision_recall,spectrum",
        "--num_samples=48", "--num_real=40", "--batch_size=16", f"--extractor_path={tiny_extractor}",
        "--truncation_psi=0.8", "--w_avg_samples=32", "--seed=5",
    )
    assert result.returncode == 0, result.stderr[-3000:]
    return out, result


def test_evaluate_all_metrics_writes_every_labelled_number(all_metrics_out):
    out, result = all_metrics_out
    report = json.loads((out / "metrics.json").read_text())
    metrics = report["metrics"]
    assert set(metrics) == {"fid48_real40_offline", "kid48_real40_offline", "kid48_real40_offline_std", "pr48_3_real40_offline_precision", "pr48_3_real40_offline_recall",
                            "spectrum_profile_log10_l1"}
    for name, entry in metrics.items():
        assert entry["description"], name
        if name != "kid48_real40_offline_std":  # one KID block of < 1024 samples: undefined, written as null
            assert math.isfinite(entry["value"]), name
    for name in ("fid48_real40_offline", "kid48_real40_offline", "pr48_3_real40_offline_precision", "pr48_3_real40_offline_recall"):
        assert metrics[name]["standard"] is False and "NON-STANDARD" in metrics[name]["description"]
    assert metrics["kid48_real40_offline_std"]["value"] is None and "note" in metrics["kid48_real40_offline_std"]
    assert 0.0 <= metrics["pr48_3_real40_offline_precision"]["value"] <= 1.0
    assert metrics["fid48_real40_offline"]["value"] >= 0.0
    assert report["standard"] is False and report["extractor"]["name"] == "fashion_mnist_cnn_v1"
    assert report["num_samples"] == 48 and report["num_real"] == 40
    assert report["model"]["resolution"] == 16
    assert report["data"] == {"source": "fashion_mnist", "split": "test", "spec": "workdir config.data"}
    assert report["truncation_psi"] == 0.8 and report["seed"] == 5
    assert "fid48_real40_offline = " in result.stdout and "(NON-STANDARD)" in result.stdout
    # one JSONL line per metric family, StyleGAN-named
    for family in ("fid48_real40_offline", "kid48_real40_offline", "pr48_3_real40_offline"):
        (record,) = metric_log.read_metric_log(out / f"metric-{family}.jsonl")
        assert record["num_samples"] == 48 and record["num_real"] == 40 and record["standard"] is False
    assert record["results"]["pr48_3_real40_offline_recall"] == metrics["pr48_3_real40_offline_recall"]["value"]


def test_evaluate_spectrum_writes_real_and_generated_plots(all_metrics_out):
    out, _ = all_metrics_out
    spectrum = json.loads((out / "metrics.json").read_text())["spectrum"]
    assert spectrum["num_real"] == 40 and spectrum["num_generated"] == 48
    for key, name in [("real_png", "spectrum_real.png"), ("generated_png", "spectrum_generated.png"),
                      ("profile_png", "spectrum_profile.png")]:
        assert spectrum["files"][key] == name
        image = np.asarray(Image.open(out / name))
        assert image.ndim == 3 and image.shape[-1] == 3
    assert np.asarray(Image.open(out / "spectrum_real.png")).shape[:2] == (64, 64)  # 16 px x scale 4
    assert len(spectrum["azimuthal_integration_real"]) == len(spectrum["azimuthal_integration_generated"])
    assert np.load(out / "spectrum_generated.npy").shape == (16, 16)


def test_evaluate_spectrum_only_needs_no_extractor_and_explicit_data(tiny_workdir, tmp_path):
    result = run_cli(f"--model={tiny_workdir}", f"--out={tmp_path}", "--metrics=spectrum", "--num_samples=8",
                     "--batch_size=8", "--data=fashion_mnist:train", "--notrain_extractor",
                     env_extra={"CIPS_EXTRACTOR_DIR": str(tmp_path / "no_extractor_here")})
    assert result.returncode == 0, result.stderr[-3000:]
    report = json.loads((tmp_path / "metrics.json").read_text())
    assert set(report["metrics"]) == {"spectrum_profile_log10_l1"}
    assert report["extractor"] is None
    assert report["data"] == {"source": "fashion_mnist", "split": "train", "spec": "fashion_mnist:train"}
    assert (tmp_path / "spectrum_generated.png").exists()


def test_evaluate_inception_without_weights_fails_at_once_with_the_library_message(tiny_workdir, tmp_path):
    result = run_cli(f"--model={tiny_workdir}", f"--out={tmp_path}", "--extractor=inception", "--metrics=fid")
    assert result.returncode != 0
    assert "inception-2015-12-05" in result.stderr and "CIPS_INCEPTION_PATH" in result.stderr
    assert not (tmp_path / "metrics.json").exists()


def test_evaluate_missing_offline_extractor_without_training_says_how_to_create_it(tiny_workdir, tmp_path):
    result = run_cli(f"--model={tiny_workdir}", f"--out={tmp_path}", "--metrics=fid", "--notrain_extractor",
                     env_extra={"CIPS_EXTRACTOR_DIR": str(tmp_path / "missing")})
    assert result.returncode != 0
    assert "python -m cips_tf.cli.feature_extractor" in result.stderr
    assert not (tmp_path / "metrics.json").exists()


def test_evaluate_bad_data_spec_is_a_usage_error(tiny_workdir, tmp_path):
    result = run_cli(f"--model={tiny_workdir}", f"--out={tmp_path}", "--data=imagenet", "--metrics=spectrum")
    assert result.returncode != 0
    assert "fashion_mnist[:train|test|all]" in result.stderr


@pytest.mark.slow  # fast tier under 10 min: ~30 s
def test_evaluate_full_real_set_is_named_full_and_cached_by_dataset_fingerprint(tiny_workdir, tiny_extractor,
                                                                                 tmp_path):
    from cips_tf.data.fashion_mnist import load_fashion_mnist

    images, _ = load_fashion_mnist("test")
    folder = tmp_path / "real"
    folder.mkdir()
    for i in range(30):
        Image.fromarray(images[i]).save(folder / f"{i:03d}.png")
    cache = tmp_path / "cache"

    def evaluate(out, *extra):
        result = run_cli(f"--model={tiny_workdir}", f"--out={out}", "--metrics=fid", f"--data=folder:{folder}",
                         "--num_samples=20", "--num_real=0", "--batch_size=10", f"--extractor_path={tiny_extractor}",
                         f"--real_stats_cache={cache}", *extra)
        assert result.returncode == 0, result.stderr[-3000:]
        return metric_log.read_metric_log(out / "metric-fid20_full_offline.jsonl")[-1]

    first = evaluate(tmp_path / "out")
    assert first["num_real"] == 30 and first["num_samples"] == 20 and first["metric"] == "fid20_full_offline"
    assert len(list(cache.glob("*.npz"))) == 1
    again = evaluate(tmp_path / "out", "--overwrite")  # cached real statistics: the same number, one more log line
    assert again["value"] == pytest.approx(first["value"], rel=1e-9)
    assert len(metric_log.read_metric_log(tmp_path / "out" / "metric-fid20_full_offline.jsonl")) == 2
    Image.fromarray(images[40]).save(folder / "999.png")  # the dataset changed: new statistics
    changed = evaluate(tmp_path / "out2")
    assert changed["num_real"] == 31 and len(list(cache.glob("*.npz"))) == 2


@pytest.mark.slow  # one CLI's --overwrite refusal (generate_test) stays in the fast tier
def test_evaluate_existing_metrics_json_needs_overwrite(tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    (out / "metrics.json").write_text("{}")
    result = run_cli(f"--model={tmp_path}", "--data=fashion_mnist", f"--out={out}", "--metrics=spectrum")
    assert result.returncode != 0
    assert "cips-evaluate --overwrite" in result.stderr.strip().splitlines()[-1]
    assert (out / "metrics.json").read_text() == "{}"


def test_evaluate_unknown_inception_file_is_refused_naming_the_flag(tiny_workdir, tmp_path):
    import tensorflow as tf

    graph = tf.Graph()
    with graph.as_default():  # a look-alike: the node names of the standard graph, other content
        x = tf.compat.v1.placeholder(tf.float32, [None, None, None, 3], name="ExpandDims")
        tf.reshape(tf.reduce_mean(x, axis=[1, 2]), [-1, 1, 1, 3], name="pool_3")
    path = tmp_path / "classify_image_graph_def.pb"
    path.write_bytes(graph.as_graph_def().SerializeToString())
    result = run_cli(f"--model={tiny_workdir}", f"--out={tmp_path / 'out'}", "--extractor=inception",
                     f"--extractor_path={path}", "--metrics=fid")
    assert result.returncode != 0
    last = result.stderr.strip().splitlines()[-1]
    assert "SHA-256" in last and "--allow_unknown_extractor" in last and str(path) in last
    assert not (tmp_path / "out" / "metrics.json").exists()
