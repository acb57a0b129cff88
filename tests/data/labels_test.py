"""data.labels: class labels from folder names, StyleGAN's dataset.json and Fashion-MNIST, carried
with their images through the input pipeline."""
import json

import numpy as np
import pytest

from cips_tf import data
from cips_tf.data import fashion_mnist
from cips_tf.data import labels as labels_lib
from cips_tf.data.pipeline import build_dataset

from data_test_utils import constant_image, save, to_uint8

VALUES = {"cat": 40, "dog": 120, "emu": 200}  # class -> the grey level of its images


def _class_folder(root, per_class=3):
    for name, value in VALUES.items():
        for i in range(per_class):
            save(constant_image(value + i), root / name / f"img{i}.png")
    return root


def _cfg(path, labels, **kw):
    cfg = data.default_config()
    cfg.source, cfg.path, cfg.labels = "folder", str(path), labels
    cfg.random_flip = False
    cfg.shuffle_buffer = 4
    for k, v in kw.items():
        cfg[k] = v
    return cfg


def _check_pairs(ds, names, batches):
    seen = set()
    for images, labels in ds.take(batches).as_numpy_iterator():
        assert labels.dtype == np.int32 and images.shape[0] == labels.shape[0]
        for image, label in zip(to_uint8(images), labels):
            value = int(image[0, 0, 0])
            assert VALUES[names[label]] <= value < VALUES[names[label]] + 3, (value, names[label])
            seen.add(int(label))
    return seen


def test_folder_labels_come_from_class_subfolders_and_travel_with_their_images(tmp_path):
    root = _class_folder(tmp_path / "set")
    labeled = labels_lib.folder_labels(root)
    assert labeled.class_names == ["cat", "dog", "emu"] and sorted(set(labeled.labels)) == [0, 1, 2]
    cfg = _cfg(root, "folder")
    assert labels_lib.class_names(cfg) == ["cat", "dog", "emu"]
    for training in (True, False):
        ds = build_dataset(cfg, resolution=8, batch_size=4, seed=1, training=training)
        assert _check_pairs(ds, labeled.class_names, 6 if training else 3) == {0, 1, 2}


def test_labels_stay_aligned_when_bad_images_are_skipped(tmp_path):
    root = _class_folder(tmp_path / "set")
    (root / "dog" / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n not really")
    cfg = _cfg(root, "folder", skip_bad_images=True)
    ds = build_dataset(cfg, resolution=8, batch_size=3, seed=0, training=False)
    assert sum(len(l) for _, l in ds.as_numpy_iterator()) == 9
    _check_pairs(ds, ["cat", "dog", "emu"], 3)


def test_loose_images_are_refused_naming_the_file(tmp_path):
    root = _class_folder(tmp_path / "set")
    save(constant_image(1), root / "stray.png")
    with pytest.raises(labels_lib.LabelError, match="stray.png.*class subfolder"):
        labels_lib.folder_labels(root)


def _json_folder(root, entries, **extra):
    for name, value in (("a.png", 40), ("b/c.png", 120), ("d.png", 200)):
        save(constant_image(value), root / name)
    (root / "dataset.json").write_text(json.dumps({"labels": entries, **extra}))
    return root


def test_dataset_json_labels_in_stylegan_format(tmp_path):
    root = _json_folder(tmp_path / "set", [["a.png", 0], ["b/c.png", 1], ["d.png", 2]],
                        class_names=["cat", "dog", "emu"])
    labeled = labels_lib.dataset_json_labels(root)
    assert labeled.labels == [0, 1, 2] and labeled.class_names == ["cat", "dog", "emu"]
    _check_pairs(build_dataset(_cfg(root, "dataset.json"), resolution=8, batch_size=3, seed=0, training=True),
                 labeled.class_names, 4)
    plain = _json_folder(tmp_path / "plain", [["a.png", 0], ["b/c.png", 4], ["d.png", 2]])
    assert labels_lib.dataset_json_labels(plain).class_names == ["0", "1", "2", "3", "4"]


@pytest.mark.parametrize("entries, message", [
    ([["a.png", 0], ["b/c.png", 1], ["d.png", 2], ["gone.png", 1]], r"dataset.json: the entry for gone.png names a "
                                                                     r"missing image \(file not found"),
    ([["a.png", 0], ["b/c.png", "dog"], ["d.png", 2]], r"dataset.json: labels\[1\] .*non-negative integer"),
    ([["a.png", 0], ["b/c.png", -1], ["d.png", 2]], r"dataset.json: labels\[1\] .*non-negative integer"),
    ([["a.png", 0], ["b/c.png", 1.5], ["d.png", 2]], r"dataset.json: labels\[1\] .*non-negative integer"),
    ([["a.png", 0], ["d.png", 2]], r"dataset.json: no label for 1 image\(s\).*b/c.png"),
    ([["a.png", 0], "b/c.png"], r"dataset.json: labels\[1\]"),
    ([], r"dataset.json: .*found no labels"),
])
def test_dataset_json_errors_name_the_file_and_entry(tmp_path, entries, message):
    root = _json_folder(tmp_path / "set", entries)
    with pytest.raises(labels_lib.LabelError, match=message):
        labels_lib.dataset_json_labels(root)
    with pytest.raises(labels_lib.LabelError, match=str(root)):
        labels_lib.dataset_json_labels(root)


def test_fashion_mnist_labels_are_the_idx_labels_with_the_ten_class_names():
    cfg = data.default_config()
    cfg.source, cfg.split, cfg.labels = "fashion_mnist", "test", "fashion_mnist"
    assert labels_lib.class_names(cfg)[9] == "Ankle boot" and len(labels_lib.class_names(cfg)) == 10
    images, labels = next(build_dataset(cfg, resolution=28, batch_size=8, seed=0, training=False)
                          .as_numpy_iterator())
    raw_images, raw_labels = fashion_mnist.load_fashion_mnist("test")
    np.testing.assert_array_equal(labels, raw_labels[:8])
    np.testing.assert_array_equal(to_uint8(images)[..., 0], raw_images[:8])


def test_labels_need_a_matching_source():
    cfg = data.default_config()
    cfg.labels = "folder"  # with the default fashion_mnist source
    with pytest.raises(ValueError, match="data.labels='folder' needs data.source='folder'"):
        build_dataset(cfg, resolution=8, batch_size=2, seed=0)
    cfg.labels = "colour"
    with pytest.raises(ValueError, match="data.labels must be one of"):
        build_dataset(cfg, resolution=8, batch_size=2, seed=0)


def test_cips_dataset_labels_go_into_the_records_and_the_report(tmp_path):
    from cips_tf.data import prepare
    from cips_tf.data import processing
    from cips_tf.data import report as report_lib
    from cips_tf.data import sources

    root = _class_folder(tmp_path / "set")
    out = tmp_path / "shards"
    report = prepare.prepare_dataset(sources.FolderSource(str(root), labels="folder"), out,
                                     processing.Options(resolution=8, num_shards=2))
    report_lib.write_report(report, out / report_lib.REPORT_FILE)
    assert report["class_names"] == ["cat", "dog", "emu"]
    cfg = data.default_config()
    cfg.source, cfg.path, cfg.labels, cfg.random_flip = "tfrecord", str(out), "tfrecord", False
    assert labels_lib.class_names(cfg) == ["cat", "dog", "emu"]
    ds = build_dataset(cfg, resolution=8, batch_size=3, seed=0, training=False)
    assert _check_pairs(ds, report["class_names"], 3) == {0, 1, 2}
    # Shards without labels: a clear error when trained with data.labels='tfrecord'.
    plain = tmp_path / "plain"
    report_lib.write_report(prepare.prepare_dataset(sources.FolderSource(str(root)), plain,
                                                    processing.Options(resolution=8)), plain / report_lib.REPORT_FILE)
    cfg.path = str(plain)
    with pytest.raises(labels_lib.LabelError, match="records no class_names"):
        labels_lib.class_names(cfg)
    with pytest.raises(Exception, match="a record has no label feature"):
        next(build_dataset(cfg, resolution=8, batch_size=3, seed=0, training=False).as_numpy_iterator())
    with pytest.raises(ValueError, match="--labels=folder needs an image folder"):
        sources.source_from_spec(str(tmp_path / "x.zip"), labels="folder")
