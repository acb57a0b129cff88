"""Tests for cips_tf.data.tfrecord: format, writer, reader (folders: prepare_test.py)."""
import numpy as np
import pytest
import tensorflow as tf

from cips_tf.data import tfrecord
from data_test_utils import gradient_image, save


def test_write_tfrecords_round_trip_preserves_pixels_sizes_and_sources(tmp_path):
    originals = [gradient_image(6, 6, seed=i) for i in range(5)] + [gradient_image(4, 7)]
    items = [(img, f"img{i}") for i, img in enumerate(originals)]
    stats = tfrecord.write_tfrecords(items, tmp_path / "out", num_shards=2, prefix="train")
    assert stats["num_examples"] == 6 and stats["examples_per_shard"] == [3, 3]
    assert stats["sizes"] == {"6x6": 5, "4x7": 1}
    assert [f.split("/")[-1] for f in stats["files"]] == ["train-00000-of-00002.tfrecord", "train-00001-of-00002.tfrecord"]
    assert not list((tmp_path / "out").glob("*.tmp"))
    read = {}
    for ex in tfrecord.read_tfrecords(tmp_path / "out"):
        image = tf.io.decode_png(ex["image"]).numpy()
        assert image.shape == (int(ex["height"]), int(ex["width"]), 3)
        read[ex["source"].numpy().decode()] = image
    assert sorted(read) == [f"img{i}" for i in range(6)]
    for i, img in enumerate(originals):
        np.testing.assert_array_equal(read[f"img{i}"], img)


def test_write_tfrecords_plain_arrays_and_more_shards_than_images_gives_empty_shards(tmp_path):
    stats = tfrecord.write_tfrecords([gradient_image(4, 4)], tmp_path, num_shards=3)
    assert stats["examples_per_shard"] == [1, 0, 0]
    assert sum(1 for _ in tfrecord.read_tfrecords(tmp_path)) == 1


def test_write_tfrecords_wrong_dtype_raises(tmp_path):
    with pytest.raises(ValueError, match="uint8"):
        tfrecord.write_tfrecords([np.zeros((4, 4, 3), np.float32)], tmp_path, num_shards=1)


def test_list_tfrecord_files_glob_dir_and_missing(tmp_path):
    tfrecord.write_tfrecords([gradient_image(4, 4)] * 2, tmp_path, num_shards=2)
    assert len(tfrecord.list_tfrecord_files(tmp_path)) == 2
    assert len(tfrecord.list_tfrecord_files(str(tmp_path / "data-00001-*"))) == 1
    with pytest.raises(FileNotFoundError):
        tfrecord.list_tfrecord_files(tmp_path / "nothing-*")
