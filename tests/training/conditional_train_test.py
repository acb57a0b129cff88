"""Class-conditional training end to end: Fashion-MNIST labels, a few steps, the labelled per-class
sample grid, recorded class names, in-training FID with the real labels; config checks."""
import importlib.util
import json
import pathlib

import numpy as np
import pytest
from PIL import Image

from cips_tf import showcase
from cips_tf.data.labels import FASHION_MNIST_CLASSES
from cips_tf.errors import ConfigError
from cips_tf.metrics import training_hook
from cips_tf.training import train_lib, validation
from tiny_models import smoke_config

REPO = pathlib.Path(__file__).resolve().parents[2]


def _config(**overrides):
    return smoke_config(**{"num_train_steps": 4, "training.checkpoint_every": 4, "training.sample_every": 2,
                           "training.log_every": 2, "training.strategy": "mirrored",
                           "data.labels": "fashion_mnist", "model.num_classes": 10,
                           "discriminator.mapping_layers": 2, "training.num_sample_images": 20, **overrides})


def _rows_have_text(grid, rows, resolution, scale):
    """Each class row of a `showcase.class_grid` has dark (text) pixels in its label column."""
    row_height = resolution * scale
    for i in range(rows):
        y = showcase.MARGIN + i * (row_height + 2)
        label = grid[y : y + row_height, : showcase.MARGIN + 20]
        assert (label < 100).any(), f"row {i} has no label"


@pytest.mark.slow  # fast tier under 10 min: ~50 s of training
def test_tiny_conditional_run_trains_records_classes_and_writes_a_labelled_grid(tmp_path, tiny_extractor):
    config = _config(**{"training.eval_every": 4, "training.eval_num_samples": 16, "eval.batch_size": 8,
                        "eval.extractor_path": str(tiny_extractor)})
    result = train_lib.train_and_evaluate(config, tmp_path, make_eval_hook=training_hook.FidHook)
    assert result["step"] == 4 and np.isfinite(list(result["metrics"].values())).all()
    assert json.loads((tmp_path / "class_names.json").read_text()) == list(FASHION_MNIST_CLASSES)
    gan = result["gan"]
    assert gan.generator.num_classes == 10 and gan.discriminator.num_classes == 10
    grid = np.asarray(Image.open(tmp_path / "samples" / "step_00000004.png"))
    scale = 64 // 16
    assert grid.shape[0] == 2 * showcase.MARGIN + 10 * (16 * scale + 2)  # one row per class
    _rows_have_text(grid, 10, 16, scale)
    assert (tmp_path / "metric-fid16_offline.jsonl").exists()


def test_num_classes_must_match_the_labels():
    with pytest.raises(ConfigError, match=r"model.num_classes.*gives 10 classes.*set model.num_classes=10"):
        validation.validate_config(_config(**{"model.num_classes": 3}))
    with pytest.raises(ConfigError, match=r"model.num_classes.*set data.labels"):
        validation.validate_config(_config(**{"data.labels": "none"}))
    with pytest.raises(ConfigError, match=r"data.labels.*needs data.source='folder'"):
        validation.validate_config(_config(**{"data.labels": "folder"}))
    with pytest.raises(ConfigError, match=r"data.labels.*gives 10 classes|model.num_classes"):
        validation.validate_config(_config(**{"model.num_classes": 0}))


@pytest.mark.slow  # the 32 px quickstart model for two steps (~1 min on a shared machine)
def test_quickstart_conditional_starts_and_writes_a_grid_with_one_labelled_row_per_class(tmp_path):
    spec = importlib.util.spec_from_file_location("qc", REPO / "configs" / "quickstart_conditional.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    config = module.get_config()
    config.num_train_steps, config.training.sample_every, config.training.time_budget = 2, 2, None
    config.training.strategy = "mirrored"
    train_lib.train_and_evaluate(config, tmp_path)
    grid = np.asarray(Image.open(tmp_path / "samples" / "step_00000002.png"))
    scale = 64 // 32
    assert grid.shape[0] == 2 * showcase.MARGIN + 10 * (32 * scale + 2)
    _rows_have_text(grid, 10, 32, scale)
