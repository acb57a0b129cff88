"""Class-conditional training end to end: Fashion-MNIST labels, a few steps, the labelled per-class
sample grid, recorded class names, in-training FID with the real labels; config checks."""
import json

import numpy as np
import pytest

from cips_tf.data.labels import FASHION_MNIST_CLASSES
from cips_tf.errors import ConfigError
from cips_tf.metrics import training_hook
from cips_tf.training import train_lib, validation
from tiny_models import assert_labelled_class_grid, png, smoke_config


def _config(**overrides):
    return smoke_config(**{"num_train_steps": 4, "training.checkpoint_every": 4, "training.sample_every": 2,
                           "training.log_every": 2, "training.strategy": "mirrored",
                           "data.labels": "fashion_mnist", "model.num_classes": 10,
                           "discriminator.mapping_layers": 2, "training.num_sample_images": 20, **overrides})


@pytest.mark.slow  # fast tier under 10 min: ~50 s of training
def test_tiny_conditional_run_trains_records_classes_and_writes_a_labelled_grid(tmp_path, tiny_extractor):
    config = _config(**{"training.eval_every": 4, "training.eval_num_samples": 16, "eval.batch_size": 8,
                        "eval.extractor_path": str(tiny_extractor)})
    result = train_lib.train_and_evaluate(config, tmp_path, make_eval_hook=training_hook.FidHook)
    assert result["step"] == 4 and np.isfinite(list(result["metrics"].values())).all()
    assert json.loads((tmp_path / "class_names.json").read_text()) == list(FASHION_MNIST_CLASSES)
    gan = result["gan"]
    assert gan.generator.num_classes == 10 and gan.discriminator.num_classes == 10
    assert_labelled_class_grid(png(tmp_path / "samples" / "step_00000004.png"), 10, 16, 64 // 16)
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
