"""Non-square data end to end (issue 22, part 3): `cips-dataset --crop=none --aspect=2:1` writes 32 x 64
records, a tiny run trains on them at 32 x 64, `cips-generate` and the SavedModel render 32 x 64
(and other shapes), and the config refuses what cannot work, naming the field."""
import json
import pathlib
import sys

import numpy as np
import pytest
import tensorflow as tf
from PIL import Image

REPO = pathlib.Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "tests" / "data"))
from data_test_utils import gradient_image, save  # noqa: E402  pylint: disable=wrong-import-position

import tiny_models  # noqa: E402
from tiny_models import smoke_config  # noqa: E402

# Trains a 32 x 64 model (~2 min on a busy 2-core machine) and runs the CLIs on it: the slow tier (CI).
pytestmark = pytest.mark.slow


def _wide_config(shards, **overrides):
    """configs/smoke.py at resolution 32, aspect 2:1 (32 x 64), on the shards of `shards`."""
    return smoke_config(**{
        "resolution": 32, "aspect": "2:1", "batch_size": 4, "num_train_steps": 2, "model.widths": [16, 16, 16, 16],
        "discriminator.widths": [16, 16, 16, 16], "data.source": "tfrecord", "data.path": str(shards),
        "data.shuffle_buffer": 4, "training.log_every": 1, "training.checkpoint_every": 2,
        "training.sample_every": 2, "training.strategy": "default", **overrides})


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    """Eight images of assorted shapes; two of them have exact oracles at 32 x 64."""
    base = tmp_path_factory.mktemp("non_square")
    shapes = [(32, 64), (32, 96), (50, 50), (40, 100), (90, 60), (33, 70), (64, 128), (20, 30)]
    for i, (h, w) in enumerate(shapes):
        save(gradient_image(h, w, seed=i), base / "images" / f"img{i}.png")
    return base


@pytest.fixture(scope="module")
def shards(folder):
    proc = tiny_models.run_cli("cips_tf.cli.dataset", f"--source={folder / 'images'}", f"--dest={folder / 'shards'}",
                               "--resolution=32", "--crop=none", "--aspect=2:1", "--shards=2")
    assert proc.returncode == 0, proc.stderr[-3000:]
    return folder / "shards"


def _records(path):
    from cips_tf.data import tfrecord

    out = {}
    for raw in tf.data.TFRecordDataset(tfrecord.list_tfrecord_files(str(path))):
        ex = tfrecord.parse_example(raw)
        image = tf.io.decode_png(ex["image"]).numpy()
        out[ex["source"].numpy().decode()] = (int(ex["height"]), int(ex["width"]), image)
    return out


def test_dataset_cli_crop_none_aspect_writes_32x64_records_with_their_size(shards, folder):
    records = _records(shards)
    assert len(records) == 8
    for name, (h, w, image) in records.items():
        assert (h, w) == (32, 64) and image.shape == (32, 64, 3), name
    # Oracles: an image already 32 x 64 is stored as it is; a 32 x 96 one loses 16 columns per side
    # (a centre crop to 2:1, never a letterbox).
    np.testing.assert_array_equal(records["img0.png"][2], gradient_image(32, 64, seed=0))
    np.testing.assert_array_equal(records["img1.png"][2], gradient_image(32, 96, seed=1)[:, 16:80])
    report = json.loads((shards / "dataset_report.json").read_text())
    assert report["options"]["aspect"] == "2:1" and report["sizes"] == {"32x64": 8}


@pytest.mark.parametrize("args, words", [
    (["--crop=center", "--aspect=2:1"], "crop='none'"),
    (["--crop=none", "--aspect=16:9"], "not a whole number"),
    (["--crop=none", "--aspect=wide"], "'W:H'"),
])
def test_dataset_cli_bad_aspect_is_one_line_naming_it(folder, tmp_path, args, words):
    proc = tiny_models.run_cli("cips_tf.cli.dataset", f"--source={folder / 'images'}", f"--dest={tmp_path / 'out'}",
                               "--resolution=32", *args)
    assert proc.returncode == 2 and "aspect" in proc.stderr and words in proc.stderr, proc.stderr[-2000:]
    assert "Traceback" not in proc.stderr


def test_build_dataset_folder_source_fits_images_to_the_canvas(folder):
    """The folder source decodes and fits in-graph: the same centre crop as the dataset tool."""
    from cips_tf import data as data_lib

    config = data_lib.default_config()
    config.source, config.path = "folder", str(folder / "images")
    batch = next(data_lib.iterate_numpy(config, resolution=32, aspect="2:1", batch_size=8))
    assert batch.shape == (8, 32, 64, 3)
    np.testing.assert_allclose(batch[1], gradient_image(32, 96, seed=1)[:, 16:80] / 127.5 - 1.0, atol=1e-6)


@pytest.fixture(scope="module")
def trained(shards, tmp_path_factory):
    from cips_tf.training import train_lib

    workdir = tmp_path_factory.mktemp("wide_run")
    result = train_lib.train_and_evaluate(_wide_config(shards), workdir)
    return workdir, result


def test_training_at_32x64_builds_the_canvas_models_and_writes_wide_samples(trained):
    workdir, result = trained
    gan = result["gan"]
    assert result["step"] == 2 and np.isfinite(result["metrics"]["d_loss"])
    assert tuple(gan.generator.embedding.table.shape) == (32, 64, 16)
    assert gan.discriminator.final_shape == (4, 8)
    assert json.loads((workdir / "config.json").read_text())["aspect"] == "2:1"
    grid = np.asarray(Image.open(workdir / "samples" / "step_00000002.png"))
    assert grid.shape[1] >= 2 * 64 and grid.shape[1] > 1.5 * grid.shape[0]  # 2 x 2 tiles of 32 x 64


def test_cips_generate_renders_the_training_canvas_and_other_shapes(trained, tmp_path):
    workdir, _ = trained
    proc = tiny_models.run_cli("cips_tf.cli.generate", f"--model={workdir}", "--task=sample", "--seeds=0-1",
                               f"--out={tmp_path / 'native'}")
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert Image.open(tmp_path / "native" / "sample" / "seed0000.png").size == (64, 32)  # (W, H)
    proc = tiny_models.run_cli("cips_tf.cli.generate", f"--model={workdir}", "--task=sample", "--seeds=0",
                               "--aspect=4:1", f"--out={tmp_path / 'wider'}")
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert Image.open(tmp_path / "wider" / "sample" / "seed0000.png").size == (128, 32)


def test_wide_model_render_matches_training_grid_and_extends_at_the_same_pitch(trained):
    from cips_tf.coords import canvas_grid
    from cips_tf.loading import load_generator
    from cips_tf import latents, rendering

    g = load_generator(trained[0]).generator
    assert (g.height, g.width) == (32, 64)
    w = latents.styles_from_seeds(g, [0])
    native = rendering.render(g, w)
    want = g({"w": w, "coords": canvas_grid(1, 32, 64)}, randomize_noise=False).numpy()
    np.testing.assert_allclose(native, want, atol=1e-4)  # float32 sums in another order (chunks)
    wider = rendering.render(g, w, 32, 128)  # 4:1: the 2:1 canvas in the middle, 32 more columns each side
    np.testing.assert_allclose(wider[:, :, 32:96], native, atol=1e-4)


def test_saved_model_serves_the_32x64_canvas(trained, tmp_path):
    from cips_tf.export.saved_model import export_generator
    from cips_tf.loading import load_generator
    from cips_tf import latents, rendering

    loaded = load_generator(trained[0])
    path = export_generator(loaded.generator, loaded.w_avg_or_estimate(64), tmp_path, "wide", warmup=False)
    meta = json.loads((path / "assets.extra" / "cips_export.json").read_text())
    assert (meta["resolution"], meta["height"], meta["width"]) == (32, 32, 64)
    served = tf.saved_model.load(str(path)).signatures["from_seed"](
        seed=tf.constant([0], tf.int64), truncation_psi=tf.constant([1.0]))["images"].numpy()
    assert served.shape == (1, 32, 64, 3)
    keras_render = rendering.to_uint8(rendering.render(loaded.generator,
                                                       latents.styles_from_seeds(loaded.generator, [0])))
    assert np.abs(served.astype(int) - keras_render.astype(int)).max() <= 1


def test_square_model_rendered_wide_extends_x_with_its_square_image_in_the_middle():
    from cips_tf.models.generator import CIPSGenerator
    from cips_tf import latents, rendering

    g = CIPSGenerator(size=tiny_models.TINY_SIZE, **tiny_models.TINY)
    w = latents.styles_from_seeds(g, [0, 1])
    square = rendering.render(g, w)
    wide = rendering.render(g, w, 16, 32)  # 16 x 32: x in +-31/15, the pitch of the 16 px grid
    assert wide.shape == (2, 16, 32, 3)
    np.testing.assert_allclose(wide[:, :, 8:24], square, atol=1e-5)
    np.testing.assert_array_equal(rendering.render(g, w, 32),
                                  rendering.render(g, w, 32, 32))  # super-resolution as before


@pytest.mark.parametrize("overrides, field, words", [
    ({"aspect": "16:9"}, "aspect", "not a whole number"),
    ({"aspect": "9:8"}, "aspect", "multiple of resolution / 4"),
    ({"aspect": "2-1"}, "aspect", "'W:H'"),
    ({"training.mode": "patch", "training.patch_size": 16}, "training.mode", "'full' only"),
    ({"data.resize_shorter_side": False}, "data.resize_shorter_side", "square"),
])
def test_validate_config_refuses_what_a_non_square_run_cannot_do(shards, overrides, field, words):
    from cips_tf.errors import ConfigError
    from cips_tf.training import validation

    with pytest.raises(ConfigError, match=words) as e:
        validation.validate_config(_wide_config(shards, **overrides))
    assert e.value.field == field


def test_resume_refuses_an_aspect_change_and_old_configs_read_as_square(shards):
    from cips_tf.errors import ConfigError
    from cips_tf.training import validation

    square = smoke_config().to_dict()
    del square["aspect"]  # a config.json written before the field: square
    assert validation.resume_changes(square, smoke_config()) == []
    with pytest.raises(ConfigError, match="aspect"):
        validation.resume_changes(square, smoke_config(aspect="2:1"))
