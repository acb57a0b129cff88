"""Tests for cips_tf.training.validation: whole-config checks naming the field, resume comparisons."""
import json
import pathlib
import sys

import pytest

from cips_tf.errors import ConfigError
from cips_tf.training import validation
from tiny_models import smoke_config

REPO = pathlib.Path(__file__).resolve().parents[2]


def _config(**overrides):
    return smoke_config(**overrides)


@pytest.mark.parametrize("name", ["smoke", "quickstart", "ffhq256", "churches256"])
def test_validate_config_accepts_the_shipped_configs(name, monkeypatch, tmp_path):
    sys.path.insert(0, str(REPO / "configs"))
    config = __import__(name).get_config()
    if config.data.source in ("folder", "tfrecord"):  # the paper configs point at user data
        (tmp_path / "a.png").write_bytes(b"")
        config.data.source, config.data.path = "folder", str(tmp_path)
    validation.validate_config(config, num_replicas=2 if config.batch_size % 2 == 0 else 1)


@pytest.mark.parametrize("overrides, field", [
    ({"resolution": 24}, "resolution"),
    ({"resolution": 0}, "resolution"),
    ({"resolution": 32}, "discriminator.widths"),  # smoke's 3 widths fit 16 px only
    ({"batch_size": 0}, "batch_size"),
    ({"batch_size": 7}, "batch_size"),  # minibatch-stddev groups of 4
    ({"optimizer.learning_rate": float("nan")}, "optimizer.learning_rate"),
    ({"optimizer.learning_rate": -1.0}, "optimizer.learning_rate"),
    ({"optimizer.beta_2": 1.0}, "optimizer.beta_2"),
    ({"loss.r1_gamma": float("inf")}, "loss.r1_gamma"),
    ({"ema.decay": 1.5}, "ema.decay"),
    ({"model.variant": "nope"}, "model.variant"),
    ({"model.widths": [32, -1]}, "model.widths"),
    ({"training.mode": "tiles"}, "training.mode"),
    ({"training.mode": "patch", "training.patch_size": 32}, "training.patch_size"),
    ({"training.checkpoint_every": 0}, "training.checkpoint_every"),
    ({"training.max_consecutive_nonfinite": -1}, "training.max_consecutive_nonfinite"),
    ({"data.source": "folder"}, "data.path"),
    ({"data.source": "folder", "data.path": "/nonexistent/images"}, "data.path"),
    ({"data.source": "tfrecord", "data.path": "/nonexistent/shards"}, "data.path"),
    ({"data.source": "s3"}, "data.source"),
    ({"data.data_dir": "/nonexistent/fmnist"}, "data.data_dir"),
    ({"augment.mode": "adaptive"}, "augment.mode"),
    ({"augment.mode": "ada", "augment.pipeline": "bgx"}, "augment.pipeline"),
    ({"augment.mode": "ada", "augment.p": 1.5}, "augment.p"),
    ({"augment.mode": "ada", "augment.ada_interval": 0}, "augment.ada_interval"),
    ({"augment.mode": "ada", "augment.ada_kimg": 0.0}, "augment.ada_kimg"),
    ({"augment.mode": "fixed", "augment.p": 0.0}, "augment.p"),
    ({"training.freeze_d_layers": 3}, "training.freeze_d_layers"),  # 16 px: 2 residual blocks
    ({"training.freeze_d_layers": -1}, "training.freeze_d_layers"),
])
def test_validate_config_bad_field_raises_config_error_naming_it(overrides, field):
    with pytest.raises(ConfigError, match=rf"^config\.{field}: ") as info:
        validation.validate_config(_config(**overrides))
    assert info.value.field == field and "\n" not in str(info.value)


def test_validate_config_batch_not_divisible_by_replicas():
    with pytest.raises(ConfigError, match="config.batch_size: 8 is not divisible by the 3 replicas"):
        validation.validate_config(_config(), num_replicas=3)


def test_validate_config_folder_of_tiff_refused_unless_skipping(tmp_path):
    (tmp_path / "a.tif").write_bytes(b"II*\x00")
    with pytest.raises(ConfigError, match=r"config.data.path: .*a.tif: TIFF"):
        validation.validate_config(_config(**{"data.source": "folder", "data.path": str(tmp_path)}))
    validation.validate_config(_config(**{"data.source": "folder", "data.path": str(tmp_path),
                                          "data.skip_bad_images": True}))


def _checkpointed(config):
    return json.loads(json.dumps(config.to_dict(), default=str))


def test_resume_changes_lists_changed_hyperparameters_with_old_and_new_values():
    old = _checkpointed(_config())
    new = _config(**{"optimizer.learning_rate": 1e-4, "loss.r1_gamma": 1.0, "num_train_steps": 40})
    changes = validation.resume_changes(old, new)
    assert changes == [("loss.r1_gamma", 10.0, 1.0), ("num_train_steps", 20, 40),
                       ("optimizer.learning_rate", 2e-3, 1e-4)]
    assert [validation.is_hyperparameter(f) for f, _, _ in changes] == [True, False, True]
    assert validation.resume_changes(old, _config()) == []


def test_resume_changes_architecture_change_refused_listing_every_field():
    old = _checkpointed(_config())
    new = _config(**{"model.hidden_size": 32, "model.widths": [32, 32, 32], "optimizer.learning_rate": 1e-4})
    with pytest.raises(ConfigError, match=r"model.hidden_size: 16 -> 32; model.widths: \[32, 32, 16\] -> \[32, 32, 32\]"):
        validation.resume_changes(old, new)


def test_resume_changes_patch_size_matters_only_in_patch_mode():
    old = _checkpointed(_config())
    assert validation.resume_changes(old, _config(**{"training.patch_size": 8})) == [("training.patch_size", 64, 8)]
    with pytest.raises(ConfigError, match="training.mode"):
        validation.resume_changes(old, _config(**{"training.mode": "patch", "training.patch_size": 8}))


def test_resume_changes_augment_may_change_freeze_d_may_not_and_old_configs_read_as_defaults():
    old = _checkpointed(_config())
    changes = validation.resume_changes(old, _config(**{"augment.mode": "ada", "augment.p": 0.2}))
    assert changes == [("augment.mode", "noaug", "ada"), ("augment.p", 0.0, 0.2)]
    assert all(validation.is_hyperparameter(f) for f, _, _ in changes)
    with pytest.raises(ConfigError, match="training.freeze_d_layers: 0 -> 1"):
        validation.resume_changes(old, _config(**{"training.freeze_d_layers": 1}))
    before_ada = {k: v for k, v in old.items() if k != "augment"}  # a run written before these fields
    before_ada["training"] = {k: v for k, v in old["training"].items() if k != "freeze_d_layers"}
    assert validation.resume_changes(before_ada, _config()) == []
