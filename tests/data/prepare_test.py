"""Tests for cips_tf.data.prepare (the local runner): folder / zip / Fashion-MNIST / TFDS sources ->
TFRecord shards and the report. The Beam runner is compared with it in beam_prepare_test.py."""
import json
import os
import zipfile

import numpy as np
import pytest
import tensorflow as tf
import tensorflow_datasets as tfds

from cips_tf import data
from cips_tf.data import images
from cips_tf.data import prepare
from cips_tf.data import processing
from cips_tf.data import report as report_lib
from cips_tf.data import sources
from cips_tf.data import tfrecord
from data_test_utils import gradient_image, link_farm, make_messy_folder, png_declaring, save


def read_records(out_dir):
    """{source name: uint8 pixels} of every record under `out_dir`."""
    found = {}
    for ex in tfrecord.read_tfrecords(out_dir):
        image = tf.io.decode_png(ex["image"]).numpy()
        assert image.shape == (int(ex["height"]), int(ex["width"]), 3)
        name = ex["source"].numpy().decode()
        assert name not in found, f"{name} written twice"
        found[name] = image
    return found


@pytest.fixture(scope="module")
def messy(tmp_path_factory):
    folder = tmp_path_factory.mktemp("messy")
    expected, bad = make_messy_folder(folder)
    return folder, expected, bad


def test_prepare_messy_folder_writes_every_good_file_and_reports_every_bad_one(messy, tmp_path):
    folder, expected, bad = messy
    report = prepare.prepare_dataset(sources.FolderSource(str(folder)), tmp_path / "out",
                                     processing.Options(resolution=16, num_shards=3))
    written = read_records(tmp_path / "out")
    assert sorted(written) == sorted(expected)
    for name, pixels in expected.items():
        assert written[name].shape == (16, 16, 3), name
        if pixels is not None:
            np.testing.assert_array_equal(written[name], pixels, err_msg=name)
    assert [s["path"] for s in report["skipped"]] == [str(folder / name) for name in bad]
    assert all(s["reason"] for s in report["skipped"])
    reasons = {s["path"].rsplit("/", 1)[-1]: s["reason"] for s in report["skipped"]}
    assert "empty" in reasons["empty.webp"] and "truncated" in reasons["truncated.png"]
    assert (report["num_inputs"], report["num_examples"], report["num_skipped"]) == (len(expected) + len(bad),
                                                                                    len(expected), len(bad))
    assert report["modes"] == {"L": 1, "P": 1, "RGB": 4, "RGBA": 1}
    assert report["formats"] == {"BMP": 1, "GIF": 1, "JPEG": 1, "PNG": 4}
    assert report["input_sizes"] == {"16x16": 5, "16x64": 1, "48x32": 1}
    assert report["sizes"] == {"16x16": len(expected)}
    assert sum(report["examples_per_shard"]) == len(expected) and len(report["files"]) == 3
    json.dumps(report)  # the report is plain JSON


def test_prepare_records_go_to_input_index_modulo_shards(messy, tmp_path):
    folder, expected, _ = messy
    prepare.prepare_dataset(sources.FolderSource(str(folder)), tmp_path,
                            processing.Options(resolution=16, num_shards=4))
    listing = [os.path.relpath(p, folder) for p in images.list_image_files(folder)]
    for shard in range(4):
        names = [ex["source"].numpy().decode() for ex in tfrecord.read_tfrecords(
            tfrecord.shard_path(tmp_path, "data", shard, 4))]
        assert names == [n for i, n in enumerate(listing) if i % 4 == shard and n in expected]


def test_prepare_crop_none_keeps_aspect_ratio_and_no_resolution_keeps_native_size(messy, tmp_path):
    folder, _, _ = messy
    prepare.prepare_dataset(sources.FolderSource(str(folder)), tmp_path / "a",
                            processing.Options(resolution=8, crop="none"))
    a = read_records(tmp_path / "a")
    assert a["wide.png"].shape == (8, 32, 3) and a["big.jpg"].shape == (12, 8, 3) and a["rgb.png"].shape == (8, 8, 3)
    prepare.prepare_dataset(sources.FolderSource(str(folder)), tmp_path / "b", processing.Options(crop="none"))
    b = read_records(tmp_path / "b")
    assert b["wide.png"].shape == (16, 64, 3) and b["big.jpg"].shape == (48, 32, 3)
    prepare.prepare_dataset(sources.FolderSource(str(folder)), tmp_path / "c", processing.Options(crop="center"))
    c = read_records(tmp_path / "c")
    assert c["big.jpg"].shape == (32, 32, 3)
    np.testing.assert_array_equal(c["wide.png"], b["wide.png"][:, 24:40])


def test_prepare_max_images_reads_the_first_inputs_in_sorted_order(messy, tmp_path):
    folder, _, _ = messy
    report = prepare.prepare_dataset(sources.FolderSource(str(folder)), tmp_path,
                                     processing.Options(resolution=16, max_images=4))
    first = images.list_image_files(folder)[:4]
    assert report["num_inputs"] == 4
    assert {str(folder / n) for n in read_records(tmp_path)} | {s["path"] for s in report["skipped"]} == set(first)


def test_prepare_zip_source_gives_the_same_records_as_the_folder(messy, tmp_path):
    folder, expected, bad = messy
    archive = tmp_path / "images.zip"
    with zipfile.ZipFile(archive, "w") as z:
        for path in sorted(folder.rglob("*")):
            if path.is_file():
                z.write(path, str(path.relative_to(folder)))
        z.writestr("__MACOSX/._rgb.png", b"resource fork")
    source = sources.source_from_spec(str(archive))
    assert isinstance(source, sources.ZipSource)
    report = prepare.prepare_dataset(source, tmp_path / "zip", processing.Options(resolution=16, num_shards=2))
    prepare.prepare_dataset(sources.FolderSource(str(folder)), tmp_path / "dir", processing.Options(resolution=16,
                                                                                               num_shards=2))
    from_zip, from_dir = read_records(tmp_path / "zip"), read_records(tmp_path / "dir")
    assert sorted(from_zip) == sorted(from_dir) == sorted(expected)
    for name in expected:
        np.testing.assert_array_equal(from_zip[name], from_dir[name])
    assert [s["path"] for s in report["skipped"]] == [f"{archive}:{n}" for n in bad]


def test_prepare_without_skip_fails_naming_the_first_bad_file_and_keeps_no_shard(messy, tmp_path):
    folder, _, bad = messy
    with pytest.raises(images.BadImageError, match=bad[0]):
        prepare.prepare_dataset(sources.FolderSource(str(folder)), tmp_path,
                                processing.Options(resolution=16, skip_bad_images=False))
    assert not list(tmp_path.glob("*.tfrecord*"))


def test_prepare_refuses_existing_shards_unless_overwrite(tmp_path):
    save(gradient_image(8, 8), tmp_path / "images" / "a.png")
    source, options = sources.FolderSource(str(tmp_path / "images")), processing.Options(num_shards=2)
    prepare.prepare_dataset(source, tmp_path / "out", options)
    with pytest.raises(FileExistsError, match="already holds 2 shard"):
        prepare.prepare_dataset(source, tmp_path / "out", processing.Options(num_shards=3))
    prepare.prepare_dataset(source, tmp_path / "out", processing.Options(num_shards=3), overwrite=True)
    assert sorted(p.name for p in (tmp_path / "out").glob("*.tfrecord")) == [
        f"data-0000{i}-of-00003.tfrecord" for i in range(3)]


@pytest.mark.parametrize("options, field", [
    (processing.Options(crop="left"), "crop"),
    (processing.Options(num_shards=0), "num_shards"),
    (processing.Options(resolution=0), "resolution"),
    (processing.Options(max_images=-1), "max_images"),
])
def test_prepare_bad_options_raise_naming_the_field(options, field, tmp_path):
    with pytest.raises(ValueError, match=field):
        prepare.prepare_dataset(sources.FolderSource(str(tmp_path)), tmp_path, options)


def test_source_from_spec_errors_name_the_source(tmp_path):
    with pytest.raises(FileNotFoundError, match="missing.zip"):
        sources.source_from_spec(str(tmp_path / "missing.zip"))
    with pytest.raises(FileNotFoundError, match="nowhere"):
        sources.source_from_spec(str(tmp_path / "nowhere"))
    (tmp_path / "empty").mkdir()
    with pytest.raises(FileNotFoundError, match="no image files"):
        prepare.prepare_dataset(sources.source_from_spec(str(tmp_path / "empty")), tmp_path / "out",
                                processing.Options())
    with pytest.raises(FileNotFoundError, match="not prepared.*never downloads"):
        prepare.prepare_dataset(sources.source_from_spec("mnist", data_dir=str(tmp_path / "tfds")), tmp_path / "o",
                                processing.Options())
    for name, content in [("short.zip", b"not a zip"), ("long.zip", b"not a zip " * 100)]:  # < / > a zip's end record
        (tmp_path / name).write_bytes(content)
        with pytest.raises(ValueError, match=f"{name}: not a readable zip file"):
            prepare.prepare_dataset(sources.source_from_spec(str(tmp_path / name)), tmp_path / "z",
                                    processing.Options())


def test_prepare_fashion_mnist_source_matches_the_idx_pixels(tmp_path):
    report = prepare.prepare_dataset(sources.FashionMnistSource("test"), tmp_path,
                                     processing.Options(resolution=28, max_images=2500, num_shards=3))
    assert report["num_inputs"] == report["num_examples"] == 2500 and report["modes"] == {"L": 2500}
    assert report["examples_per_shard"] == [834, 833, 833]
    pixels = data.load_fashion_mnist("test")[0]
    written = read_records(tmp_path)
    for i in (0, 1023, 1024, 2499):
        np.testing.assert_array_equal(written[f"fashion_mnist/test[{i}]"], np.repeat(pixels[i][..., None], 3, -1))


# --- the old convert_image_folder entry point (now a thin wrapper) ------------------------------

def test_convert_image_folder_reports_count_and_skipped_with_reasons(tmp_path):
    folder = tmp_path / "images"
    save(gradient_image(10, 20), folder / "a.png")
    save(gradient_image(12, 12).mean(-1).astype(np.uint8), folder / "sub" / "b.jpg")
    (folder / "broken.webp").write_bytes(b"RIFF0000WEBPjunk")
    stats = data.convert_image_folder(folder, tmp_path / "out", num_shards=2, resolution=8)
    assert stats["num_files"] == 3 and stats["num_examples"] == 2
    assert [s["path"] for s in stats["skipped"]] == [str(folder / "broken.webp")]
    assert stats["skipped"][0]["reason"]
    assert stats["sizes"] == {"8x8": 2}
    sources = sorted(ex["source"].numpy().decode() for ex in tfrecord.read_tfrecords(tmp_path / "out"))
    assert sources == ["a.png", "sub/b.jpg"]


def test_convert_image_folder_no_resolution_keeps_native_size(tmp_path):
    save(gradient_image(10, 14), tmp_path / "images" / "a.png")
    stats = data.convert_image_folder(tmp_path / "images", tmp_path / "out", num_shards=1)
    assert stats["sizes"] == {"10x14": 1}


class CipsPrepareTinyImages(tfds.core.GeneratorBasedBuilder, skip_registration=True):
    """A tiny TFDS dataset prepared offline in the test (no download): 7 RGB images of mixed sizes.

    Not registered: `tfds.builder(name, data_dir)` must find it from its prepared files alone, as for
    a dataset prepared on another machine.
    """

    VERSION = tfds.core.Version("1.0.0")

    def _info(self):
        return tfds.core.DatasetInfo(builder=self, features=tfds.features.FeaturesDict(
            {"picture": tfds.features.Image(shape=(None, None, 3)), "label": tfds.features.ClassLabel(num_classes=2)}))

    def _split_generators(self, dl_manager):
        return {"train": self._generate_examples()}

    def _generate_examples(self):
        for i in range(7):
            yield i, {"picture": gradient_image(12 + i, 16, seed=i), "label": i % 2}


def test_prepare_tfds_source_reads_a_prepared_dataset_undecoded_without_downloading(tmp_path):
    builder = CipsPrepareTinyImages(data_dir=str(tmp_path / "tfds"))
    builder.download_and_prepare(file_format="tfrecord")
    source = sources.source_from_spec("cips_prepare_tiny_images", data_dir=str(tmp_path / "tfds"), image_key="picture")
    assert isinstance(source, sources.TfdsSource)
    report = prepare.prepare_dataset(source, tmp_path / "out", processing.Options(resolution=12, max_images=5,
                                                                               num_shards=2))
    assert (report["num_inputs"], report["num_examples"], report["formats"]) == (5, 5, {"PNG": 5})
    written = read_records(tmp_path / "out")
    originals = {}
    for index, example in enumerate(builder.as_dataset(split="train", shuffle_files=False)):
        originals[f"cips_prepare_tiny_images/train[{index}]"] = example["picture"].numpy()
    assert sorted(written) == sorted(list(originals)[:5])
    for name, pixels in written.items():
        expected = processing.fit_image(originals[name], processing.Options(resolution=12))
        np.testing.assert_array_equal(pixels, expected, err_msg=name)
    with pytest.raises(ValueError, match="no feature 'image'"):
        prepare.prepare_dataset(sources.TfdsSource("cips_prepare_tiny_images", data_dir=str(tmp_path / "tfds")),
                                tmp_path / "o2", processing.Options())
    with pytest.raises(ValueError, match="no split 'test'"):
        prepare.prepare_dataset(sources.TfdsSource("cips_prepare_tiny_images", split="test", data_dir=str(tmp_path / "tfds"),
                                                   image_key="picture"), tmp_path / "o3", processing.Options())


# --- untrusted inputs (issue 17) -------------------------------------------------------------------


def test_prepare_refuses_elongated_and_oversized_images_as_bad_files_and_writes_the_rest(tmp_path):
    folder = tmp_path / "images"
    for i in range(3):
        save(gradient_image(20, 24, seed=i), folder / f"ok{i}.png")
    save(np.zeros((1, 20000, 3), np.uint8), folder / "strip.png")  # resized, it would be 16 x 320000
    (folder / "huge.png").write_bytes(png_declaring(16384, 16384))  # 2**28 pixels declared, a few hundred bytes
    report = prepare.prepare_dataset(sources.FolderSource(str(folder)), tmp_path / "out",
                                     processing.Options(resolution=16, num_shards=2))
    assert (report["num_inputs"], report["num_examples"], report["num_skipped"]) == (5, 3, 2)
    reasons = {os.path.basename(s["path"]): s["reason"] for s in report["skipped"]}
    assert "aspect ratio above the limit of 16:1" in reasons["strip.png"] and "--max_aspect_ratio" in reasons["strip.png"]
    assert "268435456 pixels" in reasons["huge.png"] and "--max_image_pixels" in reasons["huge.png"]
    assert sorted(read_records(tmp_path / "out")) == ["ok0.png", "ok1.png", "ok2.png"]
    with pytest.raises(images.BadImageError, match=r"huge.png: bad image: .*max_image_pixels"):
        prepare.prepare_dataset(sources.FolderSource(str(folder)), tmp_path / "strict",
                                processing.Options(resolution=16, skip_bad_images=False))
    lifted = prepare.prepare_dataset(sources.FolderSource(str(folder)), tmp_path / "lifted",
                                     processing.Options(resolution=16, max_aspect_ratio=20000))
    assert [os.path.basename(s["path"]) for s in lifted["skipped"]] == ["huge.png"]
    assert read_records(tmp_path / "lifted")["strip.png"].shape == (16, 16, 3)


def test_prepare_a_file_that_fails_to_fit_is_reported_not_the_end_of_the_run(tmp_path, monkeypatch):
    folder = tmp_path / "images"
    for i in range(4):
        save(gradient_image(8, 8 + i, seed=i), folder / f"{i}.png")
    real_fit = processing.fit_image

    def fit(image, options):
        if image.shape[1] == 10:
            raise RuntimeError("OOM when allocating tensor with shape[1,64,64000000,3]")
        return real_fit(image, options)

    monkeypatch.setattr(processing, "fit_image", fit)
    report = prepare.prepare_dataset(sources.FolderSource(str(folder)), tmp_path / "out",
                                     processing.Options(resolution=8))
    assert (report["num_examples"], report["num_skipped"]) == (3, 1)
    assert report["skipped"][0]["path"].endswith("2.png") and "OOM when allocating" in report["skipped"][0]["reason"]


def test_prepare_zip_member_above_the_cap_is_refused_from_its_header_and_named(tmp_path):
    archive = tmp_path / "images.zip"
    small = save(gradient_image(8, 8), tmp_path / "small.png").read_bytes()
    with zipfile.ZipFile(archive, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr("a.png", small)
        z.writestr("zeros.png", b"\0" * 50_000)  # compresses to ~100 bytes
    source = sources.source_from_spec(str(archive), max_member_bytes=10_000)
    report = prepare.prepare_dataset(source, tmp_path / "out", processing.Options())
    assert (report["num_examples"], report["num_skipped"]) == (1, 1)
    assert report["skipped"][0]["path"] == f"{archive}:zeros.png"
    assert "50000 bytes uncompressed, above the limit of 10000 (cips-dataset --max_member_bytes" in \
        report["skipped"][0]["reason"]
    with pytest.raises(ValueError, match=r"images.zip: its 2 image members hold 50\d+ bytes .*--max_zip_bytes"):
        prepare.prepare_dataset(sources.source_from_spec(str(archive), max_zip_bytes=20_000), tmp_path / "o2",
                                processing.Options())


def test_prepare_zip_member_whose_header_lies_is_read_only_up_to_the_cap(tmp_path, monkeypatch):
    archive = tmp_path / "images.zip"
    with zipfile.ZipFile(archive, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr("zeros.png", b"\0" * 50_000)
    source = sources.ZipSource(str(archive), max_member_bytes=10_000)
    source._archive().getinfo("zeros.png").file_size = 100  # the central directory lies
    sizes = []
    real_open = zipfile.ZipFile.open

    def spy_open(self, name, *args, **kwargs):
        handle = real_open(self, name, *args, **kwargs)
        real_read = handle.read
        handle.read = lambda n=-1: sizes.append(n) or real_read(n)
        return handle

    monkeypatch.setattr(zipfile.ZipFile, "open", spy_open)
    (item,) = source.read((0, "zeros.png"))
    assert item.error and item.data is None
    assert sizes == [10_001]  # one bounded read, never read(-1)


def test_prepare_folder_never_leaves_the_source_and_reports_the_links_left_out(tmp_path):
    folder, names = link_farm(tmp_path / "images")
    report = prepare.prepare_dataset(sources.FolderSource(str(folder)), tmp_path / "out", processing.Options())
    assert sorted(read_records(tmp_path / "out")) == names
    assert report["num_inputs"] == 3 and report["num_left_out"] == 5
    assert sorted(os.path.relpath(s["path"], folder) for s in report["left_out"]) == [
        "again.png", "ext", "loop", "stolen.png", "sub/loop"]


def test_write_report_temporary_name_is_unique_not_a_pid(tmp_path, monkeypatch):
    seen = []
    real = tf.io.gfile.rename
    monkeypatch.setattr(tf.io.gfile, "rename", lambda src, dst, overwrite=False: seen.append(src) or real(src, dst,
                                                                                                         overwrite))
    report_lib.write_report({"a": 1}, tmp_path / "r.json")
    report_lib.write_report({"a": 2}, tmp_path / "r.json")
    assert len(set(seen)) == 2 and not any(str(os.getpid()) in s for s in seen)
    assert json.loads((tmp_path / "r.json").read_text()) == {"a": 2}
