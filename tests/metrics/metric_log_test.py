"""Tests of cips_tf/metrics/metric_log.py (StyleGAN metric names, JSONL logs) and of the dataset
fingerprints in the real-statistics cache keys (cips_tf/data/fingerprint.py)."""

import ml_collections
import numpy as np
import pytest
from PIL import Image

from cips_tf import data as data_lib
from cips_tf.data.fingerprint import dataset_fingerprint
from cips_tf.metrics import metric_log
from cips_tf.metrics.evaluate import FULL, extract_features


@pytest.mark.parametrize("args, want", [
    (("fid", 50000, FULL, True), "fid50k_full"),
    (("kid", 50000, FULL, True), "kid50k_full"),
    (("pr", 50000, FULL, True), "pr50k3_full"),
    (("fid", 50000, 50000, True), "fid50k"),
    (("fid", 2000, FULL, False), "fid2k_full_offline"),
    (("fid", 2000, 10000, False), "fid2k_real10k_offline"),
    (("pr", 500, 500, False), "pr500_3_offline"),
    (("fid", 1500, None, True), "fid1500"),
])
def test_metric_names_follow_stylegan(args, want):
    assert metric_log.metric_name(*args) == want


def test_stylegan_results_groups_and_renames():
    results = {"fid_offline": 12.5, "kid_offline": 0.01, "kid_offline_std": float("nan"), "precision_offline": 0.7,
               "recall_offline": 0.6, "standard": False}
    grouped = metric_log.stylegan_results(results, ("fid", "kid", "pr"), 2000, FULL, standard=False)
    assert grouped == {
        "fid2k_full_offline": {"fid2k_full_offline": 12.5},
        "kid2k_full_offline": {"kid2k_full_offline": 0.01, "kid2k_full_offline_std": pytest.approx(float("nan"),
                                                                                                    nan_ok=True)},
        "pr2k3_full_offline": {"pr2k3_full_offline_precision": 0.7, "pr2k3_full_offline_recall": 0.6},
    }


def test_append_metric_logs_appends_one_line_per_evaluation(tmp_path):
    grouped = {"kid1k": {"kid1k": 0.5, "kid1k_std": float("nan")}}
    for step in (10, 20):
        metric_log.append_metric_logs(tmp_path, grouped, step=step, num_samples=1000, num_real=1000,
                                      extractor="x", standard=True)
    records = metric_log.read_metric_log(tmp_path / "metric-kid1k.jsonl")
    assert [r["step"] for r in records] == [10, 20]
    assert records[0]["value"] == 0.5 and records[0]["results"]["kid1k_std"] is None  # NaN -> null (valid JSON)
    assert records[0]["num_samples"] == 1000 and records[0]["standard"] is True and records[0]["extractor"] == "x"


def test_extract_features_reads_every_image_with_no_limit():
    batches = [np.zeros([3, 4, 4, 3], np.float32) + i / 10 for i in range(3)]
    stats, features = extract_features(batches, lambda x: np.asarray(x).reshape(len(x), -1)[:, :2], None)
    assert stats.count == 9 and features.shape == (9, 2)


def _folder_config(path):
    cfg = data_lib.default_config()
    cfg.source, cfg.path = "folder", str(path)
    return cfg


def test_fingerprint_changes_with_the_folder_listing(tmp_path):
    for i in range(3):
        Image.fromarray(np.full([8, 8, 3], 40 * i, np.uint8)).save(tmp_path / f"{i}.png")
    first = dataset_fingerprint(_folder_config(tmp_path))
    assert first == dataset_fingerprint(_folder_config(tmp_path))  # stable
    Image.fromarray(np.zeros([8, 8, 3], np.uint8)).save(tmp_path / "3.png")  # a new file
    second = dataset_fingerprint(_folder_config(tmp_path))
    assert second != first
    (tmp_path / "3.png").unlink()
    Image.fromarray(np.zeros([9, 9, 3], np.uint8)).save(tmp_path / "2.png")  # a changed file
    assert dataset_fingerprint(_folder_config(tmp_path)) not in (first, second)


def test_fingerprint_of_tfrecords_hashes_content_and_fashion_mnist_splits_differ(tmp_path):
    images = np.random.RandomState(0).randint(0, 256, (4, 8, 8, 3)).astype(np.uint8)
    data_lib.write_tfrecords(iter(images), tmp_path / "a", num_shards=2)
    data_lib.write_tfrecords(iter(images[::-1]), tmp_path / "b", num_shards=2)
    cfg_a, cfg_b = (ml_collections.ConfigDict(dict(data_lib.default_config(), source="tfrecord", path=str(p)))
                    for p in (tmp_path / "a", tmp_path / "b"))
    assert dataset_fingerprint(cfg_a) != dataset_fingerprint(cfg_b)
    fm = data_lib.default_config()
    fm.source = "fashion_mnist"
    fm.split = "test"
    test_fp = dataset_fingerprint(fm)
    fm.split = "train"
    assert dataset_fingerprint(fm) != test_fp and len(test_fp) == 16 and int(test_fp, 16) >= 0
