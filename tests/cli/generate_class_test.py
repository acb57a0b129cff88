"""`cips-generate --class`: a class of a class-conditional model by index or name; clear refusals."""
import json

import numpy as np
import pytest
import tensorflow as tf
from absl import app

from cips_tf import latents
from cips_tf.models.generator import CIPSGenerator
from cips_tf.loading import LoadedGenerator, load_generator
import tiny_models
from tiny_models import TINY, make_workdir, png

NAMES = ["cat", "dog", "emu"]


@pytest.fixture(scope="module")
def conditional_workdir(tmp_path_factory):
    tf.keras.utils.set_random_seed(1)
    g = CIPSGenerator(size=16, num_classes=3, **TINY)
    path = make_workdir(tmp_path_factory.mktemp("cond"), g)
    config = json.loads((path / "config.json").read_text())
    config["model"]["num_classes"] = 3
    (path / "config.json").write_text(json.dumps(config))
    (path / "class_names.json").write_text(json.dumps(NAMES))
    return path


def test_loaded_conditional_workdir_carries_class_names(conditional_workdir):
    loaded = load_generator(conditional_workdir)
    assert loaded.generator.num_classes == 3 and loaded.class_names == NAMES


def test_generate_class_by_name_renders_that_class(conditional_workdir, tmp_path):
    result = tiny_models.run_cli("cips_tf.cli.generate", f"--model={conditional_workdir}", f"--out={tmp_path}",
                                 "--task=sample", "--seeds=0-1", "--class=dog")
    assert result.returncode == 0, result.stderr[-3000:]
    g = load_generator(conditional_workdir).generator
    for label, other in ((1, 2),):
        w = latents.styles_from_seeds(g, [0, 1], labels=label).numpy()
        np.testing.assert_allclose(np.load(tmp_path / "sample" / "w.npy"), w, atol=1e-6)
        w_other = latents.styles_from_seeds(g, [0, 1], labels=other).numpy()
        assert np.abs(w_other - w).max() > 1e-4
    assert png(tmp_path / "sample" / "seed0001.png").shape == (16, 16, 3)
    assert json.loads((tmp_path / "sample" / "flags.json").read_text())["flags"]["class"] == "dog"


def test_generate_refuses_a_class_out_of_range_before_any_output(conditional_workdir, tmp_path):
    result = tiny_models.run_cli("cips_tf.cli.generate", f"--model={conditional_workdir}", f"--out={tmp_path}",
                                 "--task=sample", "--class=7")
    assert result.returncode != 0 and "--class=7: class index out of range 0..2" in result.stderr
    assert not list((tmp_path / "sample").glob("*.png"))


def test_resolve_label_refusals(conditional_workdir):
    from cips_tf.synthesis import tasks

    loaded = load_generator(conditional_workdir)
    assert tasks.resolve_label(loaded, "emu") == 2 and tasks.resolve_label(loaded, "0") == 0
    with pytest.raises(app.UsageError, match=r"class-conditional model \(3 classes \(cat, dog, emu\)\): pass --class"):
        tasks.resolve_label(loaded, None)
    with pytest.raises(app.UsageError, match=r"unknown class name \(classes: cat, dog, emu\)"):
        tasks.resolve_label(loaded, "hat")
    plain = LoadedGenerator(CIPSGenerator(size=16, **TINY), None, None, "memory")
    assert tasks.resolve_label(plain, None) is None
    with pytest.raises(app.UsageError, match="unconditional"):
        tasks.resolve_label(plain, "1")


def test_task_functions_take_the_class(conditional_workdir, tmp_path):
    from cips_tf.synthesis import tasks

    loaded = load_generator(conditional_workdir)
    ctx = tasks.Context(loaded, tmp_path, tasks.options(seeds="3,5", steps=3, **{"class": "cat"}))
    tasks.task_interpolate(ctx)
    w = np.load(tmp_path / "w.npy")
    np.testing.assert_allclose(w[[0, -1]], latents.styles_from_seeds(loaded.generator, [3, 5], labels=0), atol=1e-6)
