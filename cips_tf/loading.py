"""Loads a trained generator from a training workdir or an exported SavedModel directory.

- Training workdir (`DIR/config.json` + `DIR/checkpoints/`): the EMA generator of the latest
  checkpoint (or of `step`), built from the run's resolved config.
- Exported SavedModel (`BASE/<name>/<version>/`): the Keras generator stored beside the serving
  graph in `assets.extra/cips_generator.keras` (TF Serving ignores that directory's other files),
  with `assets.extra/w_avg.npy`.
- `cips-convert` output directory (`DIR/generator.keras`): the converted official generator
  (no w_avg: estimated where needed).

Class-conditional models carry their class names: `DIR/class_names.json` of a training workdir,
`assets.extra/class_names.json` of an export (`LoadedGenerator.class_names`; None when unknown or
unconditional).

Reading files is this module's job, not the models' (`cips_tf.models` builds Keras models and reads
no files); `cips_tf.export.saved_model` writes the files named here.
"""
import dataclasses
import json
import pathlib

import keras
import ml_collections
import numpy as np
import tensorflow as tf
from absl import logging

from cips_tf.latents import estimate_w_avg
from cips_tf.models.factory import generator_from_config

SAVEDMODEL_KERAS = "assets.extra/cips_generator.keras"
SAVEDMODEL_W_AVG = "assets.extra/w_avg.npy"
SAVEDMODEL_CLASS_NAMES = "assets.extra/class_names.json"
WORKDIR_CLASS_NAMES = "class_names.json"


@dataclasses.dataclass
class LoadedGenerator:
    generator: object  # CIPSGenerator
    w_avg: object  # np.ndarray [style_dim] or None when unknown
    config: object  # ml_collections.ConfigDict of the run, or None
    source: str
    class_names: object = None  # list of str (index i -> name) of a conditional model, or None

    def w_avg_or_estimate(self, num_samples=10000, seed=0):
        """The stored `w_avg`, or (for checkpoints and exports without one) the mean of the
        mapping over `num_samples` seeded z (`estimate_w_avg`)."""
        if self.w_avg is not None:
            return self.w_avg
        logging.info("no w_avg in %s: estimating it from %d latents", self.source, num_samples)
        return estimate_w_avg(self.generator, num_samples=int(num_samples), seed=seed)


def read_config(workdir):
    path = pathlib.Path(workdir) / "config.json"
    if not path.exists():
        raise FileNotFoundError(f"{path} not found: not a cips_tf training workdir")
    return ml_collections.ConfigDict(json.loads(path.read_text()))


def checkpoint_path(workdir, step=None):
    """The checkpoint prefix of a training workdir: `checkpoints/ckpt-<step>`, or the latest one."""
    ckpt_dir = pathlib.Path(workdir) / "checkpoints"
    if step is not None:
        return str(ckpt_dir / f"ckpt-{int(step)}")
    ckpt_path = tf.train.latest_checkpoint(str(ckpt_dir))
    if ckpt_path is None:
        raise FileNotFoundError(f"{ckpt_dir}: no checkpoint found")
    return ckpt_path


def load_generator(path, step=None):
    """Returns a `LoadedGenerator` for a training workdir or an exported SavedModel directory."""
    path = pathlib.Path(path)
    if (path / "generator.keras").exists() and not (path / "config.json").exists():  # cips-convert output
        return LoadedGenerator(keras.saving.load_model(path / "generator.keras", compile=False), None, None, str(path))
    if (path / "saved_model.pb").exists():
        keras_path = path / SAVEDMODEL_KERAS
        if not keras_path.exists():
            raise FileNotFoundError(f"{keras_path} not found: {path} was not exported by cips_tf")
        generator = keras.saving.load_model(keras_path, compile=False)
        w_avg_path = path / SAVEDMODEL_W_AVG
        w_avg = np.load(w_avg_path) if w_avg_path.exists() else None
        return LoadedGenerator(generator, w_avg, None, str(path), _class_names(path / SAVEDMODEL_CLASS_NAMES))
    config = read_config(path)
    generator = generator_from_config(config)
    ckpt_path = checkpoint_path(path, step)
    w_avg = tf.Variable(tf.zeros([generator.style_dim]), trainable=False)
    tf.train.Checkpoint(g_ema=generator, w_avg=w_avg).read(ckpt_path).expect_partial()
    w_avg_value = w_avg.numpy()
    return LoadedGenerator(generator, w_avg_value if np.any(w_avg_value) else None, config, ckpt_path,
                           _class_names(path / WORKDIR_CLASS_NAMES))


def _class_names(path):
    """The class names stored at `path` (a JSON list), or None when there is no such file."""
    path = pathlib.Path(path)
    if not path.exists():
        return None
    names = json.loads(path.read_text())
    if not isinstance(names, list):
        raise ValueError(f"{path}: want a JSON list of class names")
    return [str(n) for n in names]
