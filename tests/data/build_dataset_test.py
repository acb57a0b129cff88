"""Tests for cips_tf.data.build_dataset over the folder, tfrecord and tfds sources."""
import pathlib
import re

import numpy as np
import pytest
import tensorflow as tf
import tensorflow_datasets as tfds
from PIL import Image

from cips_tf import data
from cips_tf.data import graph_decode, tfrecord
from data_test_utils import constant_image, gradient_image, png_declaring, save, to_uint8


def _config(**overrides):
    config = data.default_config()
    config.shuffle_buffer = 8  # small: the block shuffle fills its block before the first batch
    config.update(overrides)
    return config


def _take(ds, n):
    return [b.numpy() for b in ds.take(n)]


def _values(batches):
    """The constant value of each image in the batches (images built with constant_image)."""
    return [int(v) for b in batches for v in to_uint8(b)[:, 0, 0, 0]]


@pytest.fixture
def numbered_shards(tmp_path):
    """12 constant 8x8 images with values 0, 10, ..., 110 in 3 TFRecord shards."""
    tfrecord.write_tfrecords([constant_image(10 * i) for i in range(12)], tmp_path / "shards", num_shards=3)
    return str(tmp_path / "shards")


@pytest.fixture
def gradient_shard(tmp_path):
    """One asymmetric 8x8 image in one shard."""
    tfrecord.write_tfrecords([gradient_image(8, 8)], tmp_path / "one", num_shards=1)
    return str(tmp_path / "one")


class CipsTinyImages(tfds.core.GeneratorBasedBuilder):
    """A tiny local TFDS dataset: 6 grayscale 10x14 images, values 0, 40, ..., 200."""

    VERSION = tfds.core.Version("1.0.0")

    def _info(self):
        return tfds.core.DatasetInfo(
            builder=self, features=tfds.features.FeaturesDict({"image": tfds.features.Image(shape=(10, 14, 1))})
        )

    def _split_generators(self, dl_manager):
        return {"train": self._generate_examples()}

    def _generate_examples(self):
        for i in range(6):
            yield i, {"image": np.full((10, 14, 1), 40 * i, np.uint8)}


@pytest.fixture(scope="module")
def tiny_tfds_dir(tmp_path_factory):
    data_dir = tmp_path_factory.mktemp("tfds")
    CipsTinyImages(data_dir=str(data_dir)).download_and_prepare(download_dir=str(data_dir / "downloads"))
    return str(data_dir)


def test_default_config_has_contract_fields():
    config = data.default_config()
    for field in ("source", "name", "split", "data_dir", "path", "random_flip", "random_rotation",
                  "skip_bad_images", "shuffle_buffer", "cache"):
        assert field in config, field
    assert config.skip_bad_images is False and config.source == "fashion_mnist"


def test_build_dataset_tfrecord_training_shapes_range_dtype(numbered_shards):
    ds = data.build_dataset(_config(source="tfrecord", path=numbered_shards, random_rotation=True),
                            resolution=4, batch_size=5, seed=0)
    assert ds.element_spec.shape.as_list() == [5, 4, 4, 3] and ds.element_spec.dtype == tf.float32
    for batch in _take(ds, 4):  # repeats past the 12 images
        assert batch.shape == (5, 4, 4, 3) and batch.min() >= -1.0 and batch.max() <= 1.0


def test_build_dataset_same_seed_same_batches_other_seed_differs(numbered_shards):
    config = _config(source="tfrecord", path=numbered_shards, random_rotation=True, shuffle_buffer=4)

    def batches(seed):
        return _take(data.build_dataset(config, resolution=8, batch_size=4, seed=seed), 6)

    first, again, other = batches(1), batches(1), batches(2)
    for a, b in zip(first, again):
        np.testing.assert_array_equal(a, b)
    assert any(not np.array_equal(a, c) for a, c in zip(first, other))


def test_build_dataset_training_without_block_shuffle_each_epoch_is_a_new_permutation(tmp_path):
    for i in range(12):
        save(constant_image(10 * i), tmp_path / f"{i:02d}.png")
    config = _config(source="folder", path=str(tmp_path), shuffle_buffer=1)
    epochs = [_values([b]) for b in _take(data.build_dataset(config, resolution=8, batch_size=12, seed=0), 3)]
    for epoch in epochs:
        assert sorted(epoch) == [10 * i for i in range(12)]
    assert len({tuple(e) for e in epochs}) == 3


def test_build_dataset_training_block_shuffle_mixes_and_covers_all_images(numbered_shards):
    ds = data.build_dataset(_config(source="tfrecord", path=numbered_shards, shuffle_buffer=6),
                            resolution=8, batch_size=12, seed=0)
    values = _values(_take(ds, 4))
    assert set(values) == {10 * i for i in range(12)}
    assert values[:12] != sorted(values[:12])


def test_build_dataset_eval_one_deterministic_pass_in_file_order(numbered_shards):
    config = _config(source="tfrecord", path=numbered_shards, random_flip=True, random_rotation=True)
    ds = data.build_dataset(config, resolution=8, batch_size=5, seed=0, training=False)
    batches = list(ds.as_numpy_iterator())
    assert [b.shape[0] for b in batches] == [5, 5, 2]
    # Round-robin writing: shard 0 holds images 0, 3, 6, 9; shard 1 holds 1, 4, 7, 10; ...
    assert _values(batches) == [0, 30, 60, 90, 10, 40, 70, 100, 20, 50, 80, 110]
    config.drop_remainder_eval = True
    assert len(list(data.build_dataset(config, resolution=8, batch_size=5, seed=0, training=False))) == 2


def test_build_dataset_random_flip_gives_image_or_mirror_and_both_occur(gradient_shard):
    image = gradient_image(8, 8)
    ds = data.build_dataset(_config(source="tfrecord", path=gradient_shard, random_flip=True),
                            resolution=8, batch_size=16, seed=0)
    out = to_uint8(_take(ds, 1)[0])
    flipped = [np.array_equal(o, image[:, ::-1]) for o in out]
    assert all(f or np.array_equal(o, image) for f, o in zip(flipped, out))
    assert 0 < sum(flipped) < 16


def test_build_dataset_without_augmentation_returns_image_unchanged(gradient_shard):
    ds = data.build_dataset(_config(source="tfrecord", path=gradient_shard, random_flip=False),
                            resolution=8, batch_size=4, seed=0)
    for o in to_uint8(_take(ds, 1)[0]):
        np.testing.assert_array_equal(o, gradient_image(8, 8))


def test_build_dataset_random_rotation_varies_and_keeps_constant_images_constant(tmp_path, gradient_shard):
    config = _config(source="tfrecord", path=gradient_shard, random_flip=False, random_rotation=True)
    out = _take(data.build_dataset(config, resolution=8, batch_size=8, seed=0), 1)[0]
    assert len({o.tobytes() for o in out}) == 8  # a different angle per element
    tfrecord.write_tfrecords([constant_image(90)], tmp_path / "flat", num_shards=1)
    config.path = str(tmp_path / "flat")
    flat = _take(data.build_dataset(config, resolution=8, batch_size=8, seed=0), 1)[0]
    np.testing.assert_allclose(flat, 90 / 127.5 - 1.0, atol=1e-5)  # reflect fill: no black corners


def test_build_dataset_rotation_recipe_rotates_native_image_then_center_crops(tmp_path):
    source = gradient_image(12, 12)
    tfrecord.write_tfrecords([source], tmp_path / "native", num_shards=1)
    config = _config(source="tfrecord", path=str(tmp_path / "native"), random_flip=False,
                     random_rotation=True, resize_shorter_side=False)
    train = _take(data.build_dataset(config, resolution=8, batch_size=2, seed=0), 1)[0]
    assert train.shape == (2, 8, 8, 3)
    evaluation = next(iter(data.build_dataset(config, resolution=8, batch_size=1, seed=0, training=False)))
    np.testing.assert_array_equal(to_uint8(evaluation)[0], source[2:10, 2:10])  # no resize, no rotation


def test_build_dataset_folder_mixed_formats_and_modes(tmp_path):
    rgb = gradient_image(10, 16)
    rgba = np.concatenate([rgb, np.zeros((10, 16, 1), np.uint8)], -1)  # fully transparent
    save(Image.fromarray(rgba, "RGBA"), tmp_path / "a_rgba.png")
    save(Image.fromarray(rgb[..., 1], "L"), tmp_path / "b_gray.jpg")
    save(Image.fromarray(rgb).convert("P"), tmp_path / "nested" / "c_palette.bmp")
    save(rgb, tmp_path / "nested" / "deeper" / "d_rgb.webp", lossless=True)
    (tmp_path / "readme.txt").write_text("not an image")
    ds = data.build_dataset(_config(source="folder", path=str(tmp_path)), resolution=6, batch_size=4, seed=0,
                            training=False)
    (batch,) = list(ds.as_numpy_iterator())
    assert batch.shape == (4, 6, 6, 3) and batch.dtype == np.float32
    np.testing.assert_array_equal(batch[0], 1.0)  # transparent -> white
    assert np.array_equal(batch[1][..., 0], batch[1][..., 2])  # gray -> R = G = B
    assert np.abs(batch[3] - batch[2]).max() < 0.2  # palette bmp ~ lossless webp of the same picture


def test_build_dataset_folder_corrupt_file_error_names_file(tmp_path):
    save(gradient_image(8, 8), tmp_path / "ok.png")
    (tmp_path / "corrupt_one.jpg").write_bytes(b"\xff\xd8\xff\xe0 definitely not a jpeg")
    ds = data.build_dataset(_config(source="folder", path=str(tmp_path)), resolution=8, batch_size=2, seed=0)
    with pytest.raises(tf.errors.OpError, match="corrupt_one.jpg"):
        _take(ds, 1)


def test_build_dataset_folder_truncated_file_skipped_counted_and_logged(tmp_path, caplog):
    for i in range(3):
        save(gradient_image(8, 8, seed=i), tmp_path / f"ok{i}.png")
    good = save(gradient_image(32, 32), tmp_path / "full.png").read_bytes()
    (tmp_path / "full.png").unlink()
    (tmp_path / "truncated.png").write_bytes(good[: len(good) // 2])
    config = _config(source="folder", path=str(tmp_path), skip_bad_images=True)
    with caplog.at_level("WARNING"):
        batches = list(data.build_dataset(config, resolution=8, batch_size=2, seed=0, training=False))
        _take(data.build_dataset(config, resolution=8, batch_size=2, seed=0), 4)  # two more epochs
    assert sum(b.shape[0] for b in batches) == 3
    bad = str(tmp_path / "truncated.png")
    assert bad in data.skipped_images()
    assert bad in caplog.text and "skipped so far" in caplog.text
    assert caplog.text.count(f"Skipped bad image {bad}") == 1  # counted once, not once per epoch


def test_build_dataset_tfrecord_corrupt_record_error_names_shard_and_source(tmp_path):
    example = tf.train.Example(features=tf.train.Features(feature={
        "image": tf.train.Feature(bytes_list=tf.train.BytesList(value=[b"not a png"])),
        "height": tf.train.Feature(int64_list=tf.train.Int64List(value=[8])),
        "width": tf.train.Feature(int64_list=tf.train.Int64List(value=[8])),
        "source": tf.train.Feature(bytes_list=tf.train.BytesList(value=[b"cats/broken.png"])),
    }))
    path = str(tmp_path / "bad-00000-of-00001.tfrecord")
    with tf.io.TFRecordWriter(path) as w:
        w.write(example.SerializeToString())
    ds = data.build_dataset(_config(source="tfrecord", path=path), resolution=8, batch_size=1, seed=0,
                            training=False)
    with pytest.raises(tf.errors.OpError, match=r"bad-00000-of-00001.tfrecord\[record 0\] \(cats/broken.png\)"):
        list(ds)


@pytest.mark.parametrize("num_shards", [1, 3])  # by record (1 file < 2 pipelines) and by file
def test_build_dataset_input_context_shards_disjoint_and_per_replica_batch(tmp_path, num_shards):
    tfrecord.write_tfrecords([constant_image(10 * i) for i in range(12)], tmp_path, num_shards=num_shards)
    config = _config(source="tfrecord", path=str(tmp_path))
    seen = []
    for pipeline in range(2):
        context = tf.distribute.InputContext(num_input_pipelines=2, input_pipeline_id=pipeline,
                                             num_replicas_in_sync=2)
        evaluation = data.build_dataset(config, resolution=8, batch_size=4, seed=0, training=False,
                                        input_context=context)
        seen.append(_values(evaluation))
        training = data.build_dataset(config, resolution=8, batch_size=4, seed=0, input_context=context)
        assert training.element_spec.shape.as_list() == [2, 8, 8, 3]
    assert not set(seen[0]) & set(seen[1])
    assert sorted(seen[0] + seen[1]) == [10 * i for i in range(12)]


def test_build_dataset_mirrored_strategy_distributes_global_batch(numbered_shards):
    strategy = tf.distribute.MirroredStrategy(["/cpu:0", "/cpu:1"])
    config = _config(source="tfrecord", path=numbered_shards)
    dist = strategy.distribute_datasets_from_function(
        lambda ctx: data.build_dataset(config, resolution=8, batch_size=4, seed=0, input_context=ctx)
    )
    per_replica = strategy.experimental_local_results(next(iter(dist)))
    assert [tuple(t.shape) for t in per_replica] == [(2, 8, 8, 3)] * strategy.num_replicas_in_sync


def test_build_dataset_cache_gives_same_batches_as_no_cache(numbered_shards):
    config = _config(source="tfrecord", path=numbered_shards, shuffle_buffer=1)
    plain = _take(data.build_dataset(config, resolution=8, batch_size=4, seed=3, training=False), 3)
    config.cache = True
    cached = _take(data.build_dataset(config, resolution=8, batch_size=4, seed=3, training=False), 3)
    for a, b in zip(plain, cached):
        np.testing.assert_array_equal(a, b)


def test_build_dataset_tfds_local_dataset_gray_to_rgb_and_resized(tiny_tfds_dir):
    config = _config(source="tfds", name="cips_tiny_images", data_dir=tiny_tfds_dir, split="train")
    batches = list(data.build_dataset(config, resolution=4, batch_size=4, seed=0, training=False))
    values = sorted(_values(batches))
    assert values == [40 * i for i in range(6)] and batches[0].shape == (4, 4, 4, 3)
    train = _take(data.build_dataset(config, resolution=4, batch_size=3, seed=0), 2)
    assert all(b.shape == (3, 4, 4, 3) for b in train)


def test_build_dataset_tfds_input_context_falls_back_to_element_sharding(tiny_tfds_dir):
    config = _config(source="tfds", name="cips_tiny_images", data_dir=tiny_tfds_dir)
    seen = []
    for pipeline in range(2):
        context = tf.distribute.InputContext(2, pipeline, 2)
        seen += _values(data.build_dataset(config, resolution=4, batch_size=2, seed=0, training=False,
                                           input_context=context))
    assert sorted(seen) == [40 * i for i in range(6)]


@pytest.mark.parametrize("overrides, message", [
    (dict(source="lmdb"), "data.source"),
    (dict(source="folder", path=""), "needs data.path"),
    (dict(source="tfds", name=""), "needs data.name"),
    (dict(source="tfrecord", path="x", max_images=10), "max_images works with"),
    (dict(max_images=0), "positive integer"),
])
def test_build_dataset_bad_config_raises(overrides, message):
    with pytest.raises(ValueError, match=message):
        data.build_dataset(_config(**overrides), resolution=8, batch_size=2, seed=0)


def test_build_dataset_same_seed_different_global_seed_same_batches(numbered_shards):
    config = _config(source="tfrecord", path=numbered_shards, random_rotation=True, shuffle_buffer=5)
    tf.random.set_seed(1)
    first = _take(data.build_dataset(config, resolution=8, batch_size=4, seed=7), 8)
    tf.random.set_seed(2)
    second = _take(data.build_dataset(config, resolution=8, batch_size=4, seed=7), 8)
    for a, b in zip(first, second):
        np.testing.assert_array_equal(a, b)


def test_build_dataset_cache_training_still_reshuffles_every_epoch(numbered_shards):
    config = _config(source="tfrecord", path=numbered_shards, cache=True, shuffle_buffer=12, random_flip=False)
    epochs = [_values([b]) for b in _take(data.build_dataset(config, resolution=8, batch_size=12, seed=0), 3)]
    assert all(sorted(e) == [10 * i for i in range(12)] for e in epochs)
    assert len({tuple(e) for e in epochs}) == 3


def test_build_dataset_native_sizes_block_shuffle_handles_ragged_images(tmp_path):
    images = [gradient_image(8 + i, 10 + 2 * i, seed=i) for i in range(4)]
    tfrecord.write_tfrecords(images, tmp_path, num_shards=1)
    config = _config(source="tfrecord", path=str(tmp_path), resize_shorter_side=False, shuffle_buffer=3)
    (batch,) = _take(data.build_dataset(config, resolution=6, batch_size=8, seed=0), 1)
    assert batch.shape == (8, 6, 6, 3)


def test_build_dataset_from_converted_folder_matches_folder_source(tmp_path):
    for i in range(3):
        save(gradient_image(10 + i, 16, seed=i), tmp_path / "images" / f"{i}.png")
    data.convert_image_folder(tmp_path / "images", tmp_path / "shards", num_shards=1, resolution=8)
    from_folder = list(data.build_dataset(_config(source="folder", path=str(tmp_path / "images")),
                                          resolution=8, batch_size=3, seed=0, training=False))
    from_shards = list(data.build_dataset(_config(source="tfrecord", path=str(tmp_path / "shards")),
                                          resolution=8, batch_size=3, seed=0, training=False))
    np.testing.assert_array_equal(from_folder[0], from_shards[0])


def test_iterate_numpy_yields_numpy_batches(numbered_shards):
    batches = list(data.iterate_numpy(_config(source="tfrecord", path=numbered_shards), resolution=8,
                                      batch_size=4, num_batches=2))
    assert len(batches) == 2 and all(isinstance(b, np.ndarray) and b.shape == (4, 8, 8, 3) for b in batches)


def _many_with_bad(folder, count, bad_positions):
    """`count` files in name order: constant 8x8 PNGs of value 2 * i, except bad ones at `bad_positions`
    (truncated, empty, garbage and missing-after-listing kinds in turn). Returns (good values, bad paths)."""
    good_bytes = save(constant_image(0), folder / "template.png").read_bytes()
    (folder / "template.png").unlink()
    kinds = [good_bytes[: len(good_bytes) // 2], b"", b"\x89PNG\r\n\x1a\n" + b"\x00" * 40]
    values, bad = [], []
    for i in range(count):
        path = folder / f"{i:04d}.png"
        if i in bad_positions:
            path.write_bytes(kinds[len(bad) % len(kinds)])
            bad.append(str(path))
        else:
            save(constant_image(2 * i % 256), path)
            values.append(2 * i % 256)
    return values, bad


# Bad files first, last, on both sides of the 32-element chunk boundaries, and a whole chunk in a row.
_BAD_POSITIONS = [0, 5, 31, 32, 63, 64, 65] + list(range(96, 128)) + [149]


@pytest.mark.parametrize("parallel", [3, -1])
def test_build_dataset_folder_skip_gives_exactly_the_good_images_in_order_and_counts_the_bad(tmp_path, parallel):
    data.reset_skipped_images()
    values, bad = _many_with_bad(tmp_path, 150, _BAD_POSITIONS)
    config = _config(source="folder", path=str(tmp_path), skip_bad_images=True, num_parallel_calls=parallel)
    batches = list(data.build_dataset(config, resolution=8, batch_size=7, seed=0, training=False))
    assert _values(batches) == values
    assert sorted(data.skipped_images()) == sorted(bad)
    data.reset_skipped_images()


def test_build_dataset_folder_without_skip_names_the_first_bad_file(tmp_path):
    _, bad = _many_with_bad(tmp_path, 80, [40, 41, 70])
    config = _config(source="folder", path=str(tmp_path), num_parallel_calls=3)
    with pytest.raises(tf.errors.InvalidArgumentError) as info:
        list(data.build_dataset(config, resolution=8, batch_size=4, seed=0, training=False))
    message = graph_decode.bad_image_message(info.value)
    assert message.startswith(bad[0] + ": bad image") and message.endswith("skips such files)")


def test_build_dataset_folder_bad_last_file_is_still_caught(tmp_path):
    _, bad = _many_with_bad(tmp_path, 33, [32])  # alone in the last chunk
    config = _config(source="folder", path=str(tmp_path))
    with pytest.raises(tf.errors.InvalidArgumentError, match=re.escape(bad[0]) + ": bad image"):
        list(data.build_dataset(config, resolution=8, batch_size=4, seed=0, training=False))


def test_build_dataset_tfrecord_skip_leaves_out_exactly_the_bad_records(tmp_path):
    data.reset_skipped_images()
    good = [tfrecord.make_example(constant_image(3 * i), source=f"{i}.png") for i in range(60)]
    broken = tf.train.Example(features=tf.train.Features(feature={
        "image": tf.train.Feature(bytes_list=tf.train.BytesList(value=[b"not a png"])),
        "height": tf.train.Feature(int64_list=tf.train.Int64List(value=[8])),
        "width": tf.train.Feature(int64_list=tf.train.Int64List(value=[8])),
    })).SerializeToString()
    records = list(good)
    for position in (50, 33, 31, 0):
        records.insert(position, broken)
    tfrecord.write_records(records, tmp_path, num_shards=1)
    config = _config(source="tfrecord", path=str(tmp_path), skip_bad_images=True, num_parallel_calls=2)
    batches = list(data.build_dataset(config, resolution=8, batch_size=8, seed=0, training=False))
    assert _values(batches) == [3 * i for i in range(60)]
    shard = tfrecord.shard_path(tmp_path, "data", 0, 1)
    assert sorted(data.skipped_images()) == sorted(f"{shard}[record {r}]" for r in (0, 32, 35, 53))
    data.reset_skipped_images()


def test_build_dataset_skip_does_not_swallow_a_corrupt_shard(tmp_path):
    """Only decoding errors are skipped: a shard that fails its checksum still ends the pipeline."""
    tfrecord.write_tfrecords([constant_image(6 * i) for i in range(40)], tmp_path, num_shards=1)
    (shard,) = tfrecord.list_tfrecord_files(str(tmp_path))
    raw = bytearray(pathlib.Path(shard).read_bytes())
    raw[len(raw) // 2] ^= 0xFF
    pathlib.Path(shard).write_bytes(bytes(raw))
    config = _config(source="tfrecord", path=str(tmp_path), skip_bad_images=True)
    with pytest.raises(tf.errors.DataLossError):
        list(data.build_dataset(config, resolution=8, batch_size=4, seed=0, training=False))


# --- untrusted inputs (issue 17) -------------------------------------------------------------------


def _limit_folder(folder):
    """8 good constant PNGs (values 0, 10, ... 70) around a 1 x 20000 strip and a PNG declaring 2**28 pixels."""
    for i in range(8):
        save(constant_image(10 * i), folder / f"{i:02d}.png")
    save(np.zeros((1, 20000, 3), np.uint8), folder / "03a_strip.png")
    (folder / "05a_huge.png").write_bytes(png_declaring(16384, 16384))
    return [str(folder / "03a_strip.png"), str(folder / "05a_huge.png")]


def test_build_dataset_folder_refuses_oversized_headers_before_decoding_and_counts_them(tmp_path):
    data.reset_skipped_images()
    bad = _limit_folder(tmp_path)
    config = _config(source="folder", path=str(tmp_path), skip_bad_images=True, num_parallel_calls=2)
    batches = list(data.build_dataset(config, resolution=8, batch_size=3, seed=0, training=False))
    assert _values(batches) == [10 * i for i in range(8)]
    skipped = data.skipped_images()
    assert sorted(skipped) == bad
    assert "aspect ratio above the limit of 16:1" in skipped[bad[0]] and "data.max_aspect_ratio" in skipped[bad[0]]
    assert "16384x16384 image (268435456 pixels)" in skipped[bad[1]] and "data.max_image_pixels" in skipped[bad[1]]
    data.reset_skipped_images()


def test_build_dataset_folder_oversized_without_skip_fails_naming_file_and_limit(tmp_path):
    bad = _limit_folder(tmp_path)
    (tmp_path / "03a_strip.png").unlink()
    config = _config(source="folder", path=str(tmp_path), num_parallel_calls=2)
    with pytest.raises(tf.errors.InvalidArgumentError) as info:
        list(data.build_dataset(config, resolution=8, batch_size=3, seed=0, training=False))
    message = graph_decode.bad_image_message(info.value)
    assert message.startswith(f"{bad[1]}: bad image: 16384x16384 image (268435456 pixels) is above the limit of "
                              "67108864 pixels"), message
    assert "data.max_image_pixels" in message and message.endswith("skips such files)")


def test_build_dataset_limits_come_from_the_config(tmp_path):
    data.reset_skipped_images()
    for i in range(4):
        save(constant_image(10 * i, 8, 8 + 4 * i), tmp_path / f"{i}.png")  # aspect 1, 1.5, 2, 2.5
    config = _config(source="folder", path=str(tmp_path), skip_bad_images=True, max_aspect_ratio=2.2,
                     max_image_pixels=127)
    batches = list(data.build_dataset(config, resolution=8, batch_size=4, seed=0, training=False))
    assert _values(batches) == [0, 10]
    skipped = data.skipped_images()
    assert sorted(skipped) == [str(tmp_path / "2.png"), str(tmp_path / "3.png")]
    assert "16x8 image (128 pixels) is above the limit of 127 pixels" in skipped[str(tmp_path / "2.png")]
    data.reset_skipped_images()
    with pytest.raises(ValueError, match="data.max_aspect_ratio must be a finite number >= 1"):
        data.build_dataset(_config(source="folder", path=str(tmp_path), max_aspect_ratio=0.5), resolution=8,
                           batch_size=2, seed=0)


def _malformed_records(tmp_path):
    """60 good records (values 3 i) with a non-Example at 10 and an Example without `height` at 40."""
    records = [tfrecord.make_example(constant_image(3 * i), source=f"{i}.png") for i in range(60)]
    no_height = tf.train.Example(features=tf.train.Features(feature={
        "image": tf.train.Feature(bytes_list=tf.train.BytesList(value=[tfrecord.encode_png(constant_image(1))])),
        "width": tf.train.Feature(int64_list=tf.train.Int64List(value=[8])),
        "source": tf.train.Feature(bytes_list=tf.train.BytesList(value=[b"no_height.png"])),
    })).SerializeToString()
    records.insert(40, no_height)
    records.insert(10, b"\x0a\xff\xff garbage, not an Example")
    tfrecord.write_records(records, tmp_path, num_shards=1)
    return tfrecord.shard_path(tmp_path, "data", 0, 1)


def test_build_dataset_tfrecord_malformed_examples_are_skipped_and_counted(tmp_path):
    data.reset_skipped_images()
    shard = _malformed_records(tmp_path)
    config = _config(source="tfrecord", path=str(tmp_path), skip_bad_images=True, num_parallel_calls=2)
    batches = list(data.build_dataset(config, resolution=8, batch_size=8, seed=0, training=False))
    assert _values(batches) == [3 * i for i in range(60)]
    assert sorted(data.skipped_images()) == [f"{shard}[record 10]", f"{shard}[record 41]"]
    data.reset_skipped_images()


def test_build_dataset_tfrecord_malformed_example_without_skip_fails_naming_the_record(tmp_path):
    shard = _malformed_records(tmp_path)
    config = _config(source="tfrecord", path=str(tmp_path), num_parallel_calls=2)
    with pytest.raises(tf.errors.InvalidArgumentError) as info:
        list(data.build_dataset(config, resolution=8, batch_size=8, seed=0, training=False))
    assert f"{shard}[record 10]: bad image: " in info.value.message and "skip_bad_images" in info.value.message


def test_build_dataset_max_images_is_a_fixed_random_subset_in_source_order(tmp_path):
    for i in range(20):
        save(constant_image(10 * i), tmp_path / f"{i:02d}.png")
    config = _config(source="folder", path=str(tmp_path), random_flip=False, max_images=6)
    ds = data.build_dataset(config, resolution=8, batch_size=6, seed=0, training=False)
    subset = _values(_take(ds, 1))
    assert subset == [10 * int(i) for i in data.pipeline.subset_indices(20, 6)]  # source order
    assert len(set(subset)) == 6 and subset != [10 * i for i in range(6)]  # random, not the first six
    for seed in (0, 1):  # training sees exactly the subset, whatever the training seed
        ds = data.build_dataset(config, resolution=8, batch_size=6, seed=seed, training=True)
        assert set(_values(_take(ds, 4))) == set(subset)
