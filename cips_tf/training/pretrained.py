"""Pretrained models for fine-tuning (`config.init_from`) and for tools that need a run's D.

`load_pretrained(path)` reads G, G_ema and, when present, D from any of:

- a training workdir (`config.json` + `checkpoints/`): the latest checkpoint (or `step`);
  G falls back to G_ema when the checkpoint holds only G_ema;
- a `cips-convert` output directory (`generator.keras`, optional `discriminator.keras`): the
  official checkpoint's g_ema becomes both G and G_ema (the official code fine-tunes the same way);
- an exported SavedModel version directory (`assets.extra/cips_generator.keras`): G and G_ema,
  no D;
- a generator `.keras` file: G and G_ema, no D.

`initialize_gan(gan, path)` copies them into a freshly built `CIPSGAN` after checking that every
architecture field matches (`ArchitectureMismatchError` lists each difference); training then
starts at step 0 with the fresh optimizers `build_gan` made. A missing D keeps the fresh one.
"""
import dataclasses
import pathlib

import keras
import tensorflow as tf
from absl import logging
from tensorflow.core.protobuf import trackable_object_graph_pb2

from cips_tf import loading
from cips_tf.models.factory import discriminator_from_config, discriminator_size, generator_from_config

# Fields of get_config() that define the weights and the function they compute. `variant` and
# `channel_multiplier` are left out: they only choose defaults of the fields listed here.
GENERATOR_FIELDS = ("size", "height", "width", "num_classes", "hidden_size", "style_dim", "n_mlp", "lr_mlp", "widths",
                    "architecture", "use_fourier", "use_embedding", "activation")
DISCRIMINATOR_FIELDS = ("size", "height", "width", "num_classes", "input_channels", "widths", "stddev_group")
# Square and unconditional models leave these out of get_config() (their configs stay as they were
# before non-square and class-conditional models); the attributes always hold them.
_ATTRIBUTE_FIELDS = ("height", "width", "num_classes")


class ArchitectureMismatchError(ValueError):
    """The pretrained models do not have the architecture the config builds."""


@dataclasses.dataclass
class Pretrained:
    generator: object
    g_ema: object
    discriminator: object  # None when the source has none
    kind: str  # "workdir", "converted", "savedmodel" or "keras"
    source: str


def _checkpoint_objects(ckpt_path):
    """Names of the checkpoint's top-level objects ("generator", "discriminator", "g_ema", ...).

    Read from the object graph: a variable is listed under the first path that reached it (often an
    optimizer's), so variable names do not tell which models were saved."""
    graph = trackable_object_graph_pb2.TrackableObjectGraph()
    graph.ParseFromString(tf.train.load_checkpoint(ckpt_path).get_tensor("_CHECKPOINTABLE_OBJECT_GRAPH"))
    return {child.local_name for child in graph.nodes[0].children}


def _from_workdir(path, step):
    config = loading.read_config(path)
    ckpt = loading.checkpoint_path(path, step)
    present = _checkpoint_objects(ckpt)
    if "g_ema" not in present and "generator" not in present:
        raise ValueError(f"{ckpt}: holds no generator (objects: {sorted(present)})")
    g = generator_from_config(config)
    g_ema = generator_from_config(config)
    d = discriminator_from_config(config, size=discriminator_size(config)) if "discriminator" in present else None
    objects = {"generator": g, "g_ema": g_ema}
    if d is not None:
        objects["discriminator"] = d
    objects = {k: v for k, v in objects.items() if k in present}
    tf.train.Checkpoint(**objects).read(ckpt).expect_partial().assert_existing_objects_matched()
    if "generator" not in present:
        g.set_weights(g_ema.get_weights())
    if "g_ema" not in present:
        g_ema.set_weights(g.get_weights())
    return Pretrained(g, g_ema, d, "workdir", ckpt)


def _load_keras(path):
    return keras.saving.load_model(path, compile=False)


def load_pretrained(path, step=None):
    """Loads G, G_ema and D (or None) from `path` (see the module docstring) -> `Pretrained`.

    Raises:
      FileNotFoundError: `path` is none of the supported kinds (the message lists them).
    """
    path = pathlib.Path(path).expanduser()
    if (path / "config.json").exists() and (path / "checkpoints").is_dir():
        return _from_workdir(path, step)
    if (path / "generator.keras").exists():
        g = _load_keras(path / "generator.keras")
        d_path = path / "discriminator.keras"
        d = _load_keras(d_path) if d_path.exists() else None
        return Pretrained(g, _load_keras(path / "generator.keras"), d, "converted", str(path))
    if (path / "saved_model.pb").exists():
        keras_path = path / loading.SAVEDMODEL_KERAS
        if not keras_path.exists():
            raise FileNotFoundError(f"{keras_path} not found: {path} was not exported by cips_tf")
        return Pretrained(_load_keras(keras_path), _load_keras(keras_path), None, "savedmodel", str(path))
    if path.is_file() and path.suffix == ".keras":
        return Pretrained(_load_keras(path), _load_keras(path), None, "keras", str(path))
    raise FileNotFoundError(
        f"{path}: not a pretrained model; expected a training workdir (config.json + checkpoints/), a "
        "cips-convert output directory (generator.keras [+ discriminator.keras]), an exported SavedModel "
        "version directory (saved_model.pb + assets.extra/cips_generator.keras) or a generator .keras file"
    )


def architecture_differences(expected, found, fields, label):
    """`["label.field: config builds X, pretrained has Y", ...]` for every differing field."""
    a, b = expected.get_config(), found.get_config()
    for config, model in ((a, expected), (b, found)):
        config.update({field: getattr(model, field) for field in _ATTRIBUTE_FIELDS if hasattr(model, field)})
    diffs = []
    for field in fields:
        if a.get(field) != b.get(field):
            diffs.append(f"{label}.{field}: the config builds {a.get(field)!r}, the pretrained model has "
                         f"{b.get(field)!r}")
    return diffs


def _copy(target, source, label):
    source_weights = source.get_weights()
    target_weights = target.weights
    if len(source_weights) != len(target_weights):
        raise ArchitectureMismatchError(f"{label}: {len(target_weights)} weights in the config's model, "
                                        f"{len(source_weights)} in the pretrained one")
    for variable, value in zip(target_weights, source_weights):
        if tuple(variable.shape) != tuple(value.shape):
            raise ArchitectureMismatchError(f"{label}: weight {variable.path} is {tuple(variable.shape)} in the "
                                            f"config's model, {tuple(value.shape)} in the pretrained one")
        variable.assign(value)


def initialize_gan(gan, path, step=None):
    """Copies a pretrained G, G_ema and (when present) D into `gan`; returns the `Pretrained`.

    Raises:
      ArchitectureMismatchError: listing every architecture field that differs.
    """
    pretrained = load_pretrained(path, step)
    diffs = architecture_differences(gan.generator, pretrained.g_ema, GENERATOR_FIELDS, "generator")
    if pretrained.discriminator is not None:
        diffs += architecture_differences(gan.discriminator, pretrained.discriminator, DISCRIMINATOR_FIELDS,
                                          "discriminator")
    if diffs:
        raise ArchitectureMismatchError(
            f"config.init_from={path}: the pretrained models do not match the config's architecture:\n  "
            + "\n  ".join(diffs)
            + "\nSet the config's model / discriminator / resolution / aspect fields to the pretrained values "
            "(height and width come from resolution and aspect; num_classes from model.num_classes)."
        )
    _copy(gan.generator, pretrained.generator, "generator")
    _copy(gan.g_ema, pretrained.g_ema, "g_ema")
    if pretrained.discriminator is not None:
        _copy(gan.discriminator, pretrained.discriminator, "discriminator")
    else:
        logging.warning("init_from %s: no discriminator there; D starts from fresh weights", pretrained.source)
    logging.info("initialized G, G_ema%s from %s (%s); step 0, fresh optimizers",
                 ", D" if pretrained.discriminator is not None else "", pretrained.source, pretrained.kind)
    return pretrained
