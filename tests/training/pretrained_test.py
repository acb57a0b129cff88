"""Fine-tuning (`config.init_from`, cips_tf/training/pretrained.py) from converted official
checkpoints and from training workdirs."""
import pathlib

import keras
import numpy as np
import pytest
import tensorflow as tf

from cips_tf.coords import make_grid
from cips_tf.loading import load_generator
from cips_tf.models.discriminator import Discriminator
from cips_tf.models.generator import CIPSGenerator
from cips_tf.training import pretrained, train_lib
from tiny_models import run_cli, smoke_config

REPO = pathlib.Path(__file__).resolve().parents[2]
GOLDEN = REPO / "tests" / "data_files" / "cips_official_small.npz"


def _convert(out, with_d=False):
    args = [f"--checkpoint={GOLDEN}", "--prefix=CIPSskip/param/", f"--out={out}"]
    result = run_cli("cips_tf.cli.convert", *args, *(["--d_prefix=Discriminator/param/"] if with_d else []), timeout=900)
    assert result.returncode == 0, result.stderr[-3000:]
    return out


@pytest.fixture(scope="module")
def converted(tmp_path_factory):
    """The official-format test checkpoint's CIPS-skips (8 px, hidden 16, widths [32, 32]) converted."""
    return _convert(tmp_path_factory.mktemp("converted"))


def _config(**overrides):
    return smoke_config(**{"num_train_steps": 2, "batch_size": 4, "training.strategy": "mirrored",
                           "training.sample_every": 0, "training.log_every": 1, **overrides})


CONVERTED_ARCH = {"resolution": 8, "model.widths": [32, 32], "discriminator.widths": [32, 32]}

CONFIG_FILE = """
import sys
sys.path.insert(0, {configs!r})
import smoke


def get_config():
    c = smoke.get_config()
    c.resolution = 8
    c.model.widths = [32, 32]
    c.discriminator.widths = [32, 32]
    c.batch_size = 4
    c.num_train_steps = 2
    c.training.sample_every = 0
    c.training.log_every = 1
    return c
"""


def _render(g, seed=0):
    z = tf.random.stateless_normal([2, g.style_dim], seed=[seed, 0])
    return g({"z": z, "coords": make_grid(2, g.size)}, training=False, randomize_noise=False).numpy()


@pytest.mark.slow
def test_init_from_converted_checkpoint_starts_from_its_weights(converted, tmp_path):
    want = _render(keras.saving.load_model(converted / "generator.keras"))
    result = train_lib.train_and_evaluate(_config(init_from=str(converted), **CONVERTED_ARCH), tmp_path / "run",
                                          max_steps=0)
    gan = result["gan"]
    assert result["step"] == 0 and int(gan.step.numpy()) == 0
    assert int(gan.g_optimizer.iterations.numpy()) == 0 and int(gan.d_optimizer.iterations.numpy()) == 0
    np.testing.assert_allclose(_render(gan.g_ema), want, atol=1e-6)  # the render at step 0
    np.testing.assert_allclose(_render(gan.generator), want, atol=1e-6)
    fresh = train_lib.train_and_evaluate(_config(**CONVERTED_ARCH), tmp_path / "fresh", max_steps=0)["gan"]
    assert np.abs(_render(fresh.g_ema) - want).mean() > 0.05  # the comparison can fail


@pytest.mark.slow
def test_cips_train_fine_tunes_a_converted_checkpoint_for_two_steps(converted, tmp_path):
    config_file = tmp_path / "finetune.py"
    config_file.write_text(CONFIG_FILE.format(configs=str(REPO / "configs")))
    workdir = tmp_path / "run"
    result = run_cli("cips_tf.cli.train", f"--config={config_file}", f"--workdir={workdir}",
                     f"--config.init_from={converted}")
    assert result.returncode == 0, result.stderr[-3000:]
    assert "initialized G, G_ema from" in result.stderr and "training from step 0 to 2" in result.stderr
    loaded = load_generator(workdir)
    assert loaded.source.endswith("ckpt-2")
    want = _render(keras.saving.load_model(converted / "generator.keras"))
    got = _render(loaded.generator)
    fresh = _render(train_lib.train_and_evaluate(_config(**CONVERTED_ARCH), tmp_path / "fresh",
                                                 max_steps=0)["gan"].g_ema)
    # two steps of the EMA generator move it a little from the converted weights, nowhere near a fresh init
    assert np.abs(got - want).mean() < 0.1 * np.abs(fresh - want).mean()
    assert not np.allclose(got, want, atol=1e-7)  # it did train


@pytest.mark.slow
def test_init_from_refuses_mismatched_architectures_listing_each_difference(converted, tmp_path):
    config = _config(init_from=str(converted), **{"resolution": 8, "model.hidden_size": 32, "model.widths": [64, 32],
                                                 "discriminator.widths": [32, 32]})
    with pytest.raises(pretrained.ArchitectureMismatchError) as info:
        train_lib.train_and_evaluate(config, tmp_path / "run", max_steps=0)
    message = str(info.value)
    assert "generator.hidden_size: the config builds 32, the pretrained model has 16" in message
    assert "generator.widths: the config builds [64, 32], the pretrained model has [32, 32]" in message
    assert "size" not in message.replace("hidden_size", "")
    with_d = _convert(tmp_path / "with_d", with_d=True)  # its discriminator is 16 px, the generator 8 px
    with pytest.raises(pretrained.ArchitectureMismatchError, match="discriminator.size: the config builds 8"):
        train_lib.train_and_evaluate(_config(init_from=str(with_d), **CONVERTED_ARCH), tmp_path / "run2", max_steps=0)


def test_architecture_differences_name_shape_and_classes_that_get_config_leaves_out():
    # A square, unconditional G or D has no height / width / num_classes in get_config(); a
    # fine-tuning config that is wide or conditional must still be refused by name, not by a weight count.
    small = {"size": 8, "hidden_size": 16, "style_dim": 16, "n_mlp": 1, "widths": [16, 16]}
    square, wide = CIPSGenerator(**small), CIPSGenerator(**small, width=16)
    conditional = CIPSGenerator(**small, num_classes=3)
    fields = pretrained.GENERATOR_FIELDS
    assert pretrained.architecture_differences(square, CIPSGenerator(**small), fields, "generator") == []
    assert pretrained.architecture_differences(wide, square, fields, "generator") == [
        "generator.width: the config builds 16, the pretrained model has 8"]
    assert pretrained.architecture_differences(conditional, square, fields, "generator") == [
        "generator.num_classes: the config builds 3, the pretrained model has 0"]
    d_square = Discriminator(size=8, widths=[16, 16])
    d_wide = Discriminator(size=8, widths=[16, 16], width=16, num_classes=3)
    assert pretrained.architecture_differences(d_wide, d_square, pretrained.DISCRIMINATOR_FIELDS, "discriminator") == [
        "discriminator.width: the config builds 16, the pretrained model has 8",
        "discriminator.num_classes: the config builds 3, the pretrained model has 0"]


@pytest.mark.slow
def test_init_from_workdir_copies_g_gema_and_d_with_fresh_optimizers(tmp_path):
    source = train_lib.train_and_evaluate(_config(), tmp_path / "a", max_steps=1)["gan"]
    target = train_lib.train_and_evaluate(_config(init_from=str(tmp_path / "a")), tmp_path / "b", max_steps=0)["gan"]
    assert int(target.step.numpy()) == 0 and int(target.g_optimizer.iterations.numpy()) == 0
    for a, b in ((source.generator, target.generator), (source.g_ema, target.g_ema),
                 (source.discriminator, target.discriminator)):
        for va, vb in zip(a.weights, b.weights):
            np.testing.assert_array_equal(va.numpy(), vb.numpy())


def test_load_pretrained_kinds_and_unknown_paths(converted, tmp_path):
    assert pretrained.load_pretrained(converted).kind == "converted"
    # cips-generate / cips-project read a converted directory too
    np.testing.assert_array_equal(_render(load_generator(converted).generator),
                                  _render(keras.saving.load_model(converted / "generator.keras")))
    loaded = pretrained.load_pretrained(converted / "generator.keras")
    assert loaded.kind == "keras" and loaded.discriminator is None
    # an export's layout (cips-export writes the Keras generator beside the serving graph)
    export = tmp_path / "serving" / "cips" / "1"
    (export / "assets.extra").mkdir(parents=True)
    (export / "saved_model.pb").write_bytes(b"")
    (export / "assets.extra" / "cips_generator.keras").write_bytes((converted / "generator.keras").read_bytes())
    exported = pretrained.load_pretrained(export)
    assert exported.kind == "savedmodel" and exported.discriminator is None
    np.testing.assert_array_equal(_render(exported.g_ema), _render(loaded.g_ema))
    with pytest.raises(FileNotFoundError, match="cips-convert output directory"):
        pretrained.load_pretrained(tmp_path)
