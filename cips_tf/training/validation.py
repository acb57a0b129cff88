"""Checks a training config as a whole before anything is built, and compares it with a resumed run's.

    validate_config(config, num_replicas=2)       # raises ConfigError naming the first bad field
    changes = resume_changes(old_config_dict, config)   # raises ConfigError on architecture changes

Every check names the field (`config.<field>: ...`), so `cips-train` reports a mistake in one line
instead of a shape error at the first step.
"""
import json
import math
import os

from cips_tf import augment, hardware
from cips_tf.coords import canvas_size, parse_aspect
from cips_tf.data import config as data_config
from cips_tf.data import fashion_mnist, graph_decode, images, tfrecord
from cips_tf.data import labels as labels_lib
from cips_tf.errors import ConfigError
from cips_tf.models.factory import discriminator_size
from cips_tf.training import budget

# Fields whose change makes the checkpointed weights unusable: refused on resume.
ARCHITECTURE_PREFIXES = ("resolution", "aspect", "model.", "discriminator.", "training.mode", "training.patch_size",
                         "training.freeze_d_layers")
# Hyperparameters the config may change on resume (the new value wins; each change is logged).
HYPERPARAMETER_PREFIXES = ("optimizer.", "loss.", "ema.", "batch_size", "augment.")
# Fields added after runs were written: a checkpointed config.json without them had this value.
ADDED_FIELD_DEFAULTS = {"aspect": "1:1", "model.num_classes": 0, "discriminator.mapping_layers": 8, "data.labels": "none",
                        "training.freeze_d_layers": 0, "augment.mode": "noaug", "augment.pipeline": "bgc",
                        "augment.p": 0.0, "augment.ada_target": 0.6, "augment.ada_interval": 4,
                        "augment.ada_kimg": 500.0}
_AUGMENT_MODES = ("noaug", "ada", "fixed")

_MODES = ("full", "patch", "cylindrical")
_POLICIES = hardware.POLICIES
_VARIANTS = ("skips", "res", "base", "ne", "no_fourier", "sine")


def _is_power_of_two(value):
    return isinstance(value, int) and value >= 4 and value & (value - 1) == 0


def _int(config, field, minimum=None):
    value = _get(config, field)
    if isinstance(value, bool) or not isinstance(value, int):
        raise ConfigError(field, f"must be an integer, got {value!r}")
    if minimum is not None and value < minimum:
        raise ConfigError(field, f"must be >= {minimum}, got {value}")
    return value


def _float(config, field, low=None, high=None, low_open=False, high_open=False):
    value = _get(config, field)
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise ConfigError(field, f"must be a finite number, got {value!r}")
    if low is not None and (value < low or (low_open and value == low)):
        raise ConfigError(field, f"must be {'>' if low_open else '>='} {low}, got {value}")
    if high is not None and (value > high or (high_open and value == high)):
        raise ConfigError(field, f"must be {'<' if high_open else '<='} {high}, got {value}")
    return value


def _get(config, field):
    node = config
    for part in field.split("."):
        if part not in node:
            raise ConfigError(field, "is missing")
        node = node[part]
    return node


def _widths_list(value):
    if value in (None, "official", "paper"):
        return None
    try:
        widths = [int(w) for w in value]
    except (TypeError, ValueError):
        return "bad"
    return widths if widths and min(widths) >= 1 else "bad"


def _validate_model(config, resolution):
    m = config.model
    for field in ("hidden_size", "style_dim", "n_mlp"):
        _int(config, f"model.{field}", minimum=1)
    _float(config, "model.lr_mlp", low=0, low_open=True)
    if m.get("variant", "skips") not in _VARIANTS:
        raise ConfigError("model.variant", f"must be one of {', '.join(_VARIANTS)}, got {m.variant!r}")
    if _widths_list(m.get("widths")) == "bad":
        raise ConfigError("model.widths", f"must be None, 'official', 'paper' or a list of positive ints, got {m.widths!r}")
    if m.get("widths") in (None, "official") and resolution > 1024:
        raise ConfigError("resolution", f"official widths are defined up to 1024, got {resolution}; set model.widths")
    d_widths = _widths_list(config.discriminator.get("widths"))
    if d_widths == "bad" or config.discriminator.get("widths") == "paper":
        raise ConfigError("discriminator.widths", f"must be None or a list of positive ints, got "
                                                  f"{config.discriminator.widths!r}")
    needed = int(math.log2(resolution)) - 1
    if d_widths is not None and len(d_widths) != needed:
        raise ConfigError("discriminator.widths", f"resolution {resolution} needs {needed} widths (one per "
                                                  f"resolution from {resolution} down to 4), got {len(d_widths)}")
    if d_widths is None and resolution > 1024:
        raise ConfigError("resolution", f"official discriminator widths are defined up to 1024, got {resolution}")
    if m.get("num_classes"):
        _int(config, "model.num_classes", minimum=0)
        if "mapping_layers" in config.discriminator:
            _int(config, "discriminator.mapping_layers", minimum=1)


def _validate_labels(config):
    """`model.num_classes` against `data.labels`: both set or both off, and the class counts equal."""
    num_classes = config.model.get("num_classes") or 0
    kind = config.data.get("labels") or "none"
    if kind not in labels_lib.LABEL_SOURCES:
        raise ConfigError("data.labels", f"must be one of {', '.join(labels_lib.LABEL_SOURCES)}, got {kind!r}")
    if kind == "none":
        if num_classes:
            raise ConfigError("model.num_classes", f"{num_classes} classes need labelled data: set data.labels "
                                                   f"({', '.join(labels_lib.LABEL_SOURCES[1:])})")
        return None
    try:
        names = labels_lib.class_names(config.data)
    except (labels_lib.LabelError, FileNotFoundError) as e:
        raise ConfigError("data.labels", str(e)) from None
    if num_classes != len(names):
        raise ConfigError("model.num_classes", f"data.labels={kind!r} gives {len(names)} classes "
                                               f"({', '.join(names[:12])}{' ...' if len(names) > 12 else ''}); "
                                               f"set model.num_classes={len(names)}")
    return names


def _validate_data(config):
    d = config.data
    if d.source not in data_config.SOURCES:
        raise ConfigError("data.source", f"must be one of {', '.join(data_config.SOURCES)}, got {d.source!r}")
    if d.source in ("folder", "tfrecord") and not d.path:
        raise ConfigError("data.path", f"data.source={d.source!r} needs a path")
    try:
        if d.source == "folder":
            graph_decode.check_decodable_files(images.list_image_files(d.path), skip=d.skip_bad_images)
        elif d.source == "tfrecord":
            tfrecord.list_tfrecord_files(d.path)
    except (FileNotFoundError, ValueError) as e:
        raise ConfigError("data.path", str(e)) from None
    if d.source == "fashion_mnist":
        if d.split not in ("train", "test", "all"):
            raise ConfigError("data.split", f"fashion_mnist splits are train, test, all; got {d.split!r}")
        directory = d.get("data_dir") or os.environ.get("CIPS_FASHION_MNIST_DIR", fashion_mnist.DEFAULT_DIR)
        if not os.path.isdir(directory):
            raise ConfigError("data.data_dir", f"{directory}: Fashion-MNIST directory not found (install Debian's "
                                               "dataset-fashion-mnist or set data.data_dir)")
    if d.source == "tfds":
        if not d.name:
            raise ConfigError("data.name", "data.source='tfds' needs a TFDS dataset name")
        if d.get("data_dir") and not os.path.isdir(d.data_dir):
            raise ConfigError("data.data_dir", f"{d.data_dir}: TFDS data_dir not found")
    _int(config, "data.shuffle_buffer", minimum=0)
    if "max_image_pixels" in d:  # configs written before these fields read with the defaults
        _int(config, "data.max_image_pixels", minimum=1)
    if "max_aspect_ratio" in d:
        _float(config, "data.max_aspect_ratio", low=1)


def validate_config(config, num_replicas=1):
    """Raises `ConfigError` naming the first field that cannot work; returns None when all is well."""
    resolution = _get(config, "resolution")
    if isinstance(resolution, bool) or not isinstance(resolution, int) or not _is_power_of_two(resolution):
        raise ConfigError("resolution", f"must be a power of two >= 4, got {resolution!r}")
    batch = _int(config, "batch_size", minimum=1)
    if batch % num_replicas:
        raise ConfigError("batch_size", f"{batch} is not divisible by the {num_replicas} replicas")
    per_replica = batch // num_replicas
    group = min(per_replica, 4)  # the discriminator's minibatch-stddev group, within a replica
    if per_replica % group:
        raise ConfigError("batch_size", f"{batch} gives {per_replica} images per replica, which the discriminator's "
                                        f"minibatch-stddev groups of {group} do not divide; use a multiple of "
                                        f"{group * num_replicas}")
    _int(config, "num_train_steps", minimum=0)
    _int(config, "seed")
    _validate_model(config, resolution)
    _validate_aspect(config, resolution)

    _float(config, "optimizer.learning_rate", low=0, low_open=True)
    _float(config, "optimizer.beta_1", low=0, high=1, high_open=True)
    _float(config, "optimizer.beta_2", low=0, high=1, high_open=True)
    _float(config, "optimizer.epsilon", low=0, low_open=True)
    _int(config, "optimizer.g_reg_every", minimum=0)
    _int(config, "optimizer.d_reg_every", minimum=0)
    _float(config, "loss.r1_gamma", low=0)
    _float(config, "loss.style_mixing_prob", low=0, high=1)
    if config.ema.get("decay") is not None:
        _float(config, "ema.decay", low=0, high=1)
    else:
        _float(config, "ema.half_life_kimg", low=0, low_open=True)
    if config.ema.get("rampup"):
        _float(config, "ema.rampup", low=0)

    t = config.training
    if t.mode not in _MODES:
        raise ConfigError("training.mode", f"must be one of {', '.join(_MODES)}, got {t.mode!r}")
    if t.mode == "patch":
        patch = _int(config, "training.patch_size", minimum=4)
        if not _is_power_of_two(patch) or patch > resolution:
            raise ConfigError("training.patch_size", f"must be a power of two between 4 and the resolution "
                                                     f"{resolution}, got {patch}")
    if (t.get("mixed_precision") or "float32") not in _POLICIES:
        raise ConfigError("training.mixed_precision", f"must be one of {', '.join(_POLICIES)}, got "
                                                      f"{t.mixed_precision!r}")
    for field in ("log_every", "checkpoint_every", "keep_checkpoints"):
        _int(config, f"training.{field}", minimum=1)
    for field in ("sample_every", "num_sample_images", "eval_every", "max_consecutive_nonfinite"):
        _int(config, f"training.{field}", minimum=0)
    budget.parse_duration(t.get("time_budget"), "training.time_budget")
    if t.get("checkpoint_every_secs"):
        _float(config, "training.checkpoint_every_secs", low=0, low_open=True)
    if t.get("restore_step") is not None:
        _int(config, "training.restore_step", minimum=0)
    if t.get("freeze_d_layers"):
        blocks = int(math.log2(discriminator_size(config))) - 2
        frozen = _int(config, "training.freeze_d_layers", minimum=0)
        if frozen > blocks:
            raise ConfigError("training.freeze_d_layers", f"the discriminator has {blocks} blocks at size "
                                                          f"{discriminator_size(config)}, got {frozen}")
    _validate_augment(config)
    _validate_data(config)
    _validate_labels(config)


def _validate_aspect(config, resolution):
    """`aspect` ("W:H"): whole-pixel sides that the discriminator reduces to 4 x 4k, full-grid training."""
    aspect = config.get("aspect")
    try:
        parse_aspect(aspect)
        height, width = canvas_size(resolution, aspect)
    except ValueError as e:
        raise ConfigError("aspect", str(e)) from None
    if height == width:
        return
    reduction = resolution // 4
    long_side = max(height, width)
    if long_side % reduction:
        raise ConfigError("aspect", f"{aspect!r} at resolution {resolution} gives {height} x {width}; the "
                                    f"discriminator halves both sides until the shorter is 4, so the longer side must "
                                    f"be a multiple of resolution / 4 = {reduction} (e.g. '2:1', '3:2', '4:1')")
    if config.training.mode != "full":
        raise ConfigError("training.mode", f"{config.training.mode!r} samples square windows of a square grid; "
                                           f"aspect {aspect!r} ({height} x {width}) trains with 'full' only")
    if config.discriminator.get("size") and int(config.discriminator.size) != resolution:
        raise ConfigError("discriminator.size", f"a non-square run (aspect {aspect!r}) has its discriminator at the "
                                                f"training canvas {height} x {width}; leave discriminator.size unset")
    if not config.data.get("resize_shorter_side", True):
        raise ConfigError("data.resize_shorter_side", f"False (native scale, central square) is for square "
                                                      f"images; aspect {aspect!r} resizes each image to the canvas")


def _validate_augment(config):
    a = config.get("augment")
    if a is None:  # configs written before ADA
        return
    if a.mode not in _AUGMENT_MODES:
        raise ConfigError("augment.mode", f"must be one of {', '.join(_AUGMENT_MODES)}, got {a.mode!r}")
    if a.mode == "noaug":
        return
    if a.pipeline not in augment.PIPELINES:
        raise ConfigError("augment.pipeline", f"must be one of {', '.join(augment.PIPELINES)}, got {a.pipeline!r}")
    _float(config, "augment.p", low=0, high=1)
    if a.mode == "ada":
        _float(config, "augment.ada_target", low=0, high=1)
        _int(config, "augment.ada_interval", minimum=1)
        _float(config, "augment.ada_kimg", low=0, low_open=True)
    elif a.p == 0:
        raise ConfigError("augment.p", "augment.mode='fixed' with p = 0 augments nothing; set augment.p (or "
                                       "augment.mode='noaug')")


def flatten(values, prefix=""):
    """{'a': {'b': 1}} -> {'a.b': 1} (lists kept as values)."""
    out = {}
    for key, value in values.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict):
            out.update(flatten(value, name + "."))
        else:
            out[name] = value
    return out


def config_as_json_values(config):
    """The config as `config.json` stores it (JSON types), flattened."""
    return flatten(json.loads(json.dumps(config.to_dict(), default=str)))


def _matches(field, prefixes):
    return any(field == p or (p.endswith(".") and field.startswith(p)) for p in prefixes)


def resume_changes(checkpointed, config):
    """Differences between a checkpointed run's config (the dict of its `config.json`) and `config`.

    Raises `ConfigError` listing every architecture field that differs (the weights would not fit).
    Returns `[(field, old, new), ...]` for every other changed field, sorted; on resume the new
    value wins.
    """
    old = {**ADDED_FIELD_DEFAULTS, **flatten(checkpointed)}
    new = config_as_json_values(config)
    changed = sorted(k for k in set(old) | set(new) if old.get(k) != new.get(k))
    architecture = [k for k in changed if _matches(k, ARCHITECTURE_PREFIXES)]
    if "patch" not in (old.get("training.mode"), new.get("training.mode")):
        architecture = [k for k in architecture if k != "training.patch_size"]  # unused outside patch mode
    if architecture:
        listed = "; ".join(f"{k}: {old.get(k)!r} -> {new.get(k)!r}" for k in architecture)
        raise ConfigError(architecture[0], f"the checkpointed run has another architecture ({listed}); use a new "
                                           "workdir, or the checkpointed values")
    return [(k, old.get(k), new.get(k)) for k in changed]


def is_hyperparameter(field):
    return _matches(field, HYPERPARAMETER_PREFIXES)
