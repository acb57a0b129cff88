"""Class labels of a training set (`data.labels`): where they come from and the class names.

    data.labels = "none"           unconditional (default)
                  "folder"         data.source='folder': the first subfolder under data.path is the class
                                   (`class/xxx.png`, `class/any/depth/yyy.jpg`); classes sorted by name
                  "dataset.json"   data.source='folder': `<data.path>/dataset.json` in StyleGAN's format,
                                   {"labels": [["relative/path.png", 3], ...]}; optional "class_names":
                                   [name of class 0, ...] (else the names are "0", "1", ...)
                  "fashion_mnist"  data.source='fashion_mnist': the IDX labels, with the 10 class names
                  "tfrecord"       data.source='tfrecord': each record's `label` feature, class names from
                                   the shards' `dataset_report.json` (cips-dataset --labels=...)

A label is an int class index in 0..num_classes-1; the model's `model.num_classes` must equal the
number of classes found (checked by `cips_tf.training.validation`). Bad input (a dataset.json entry
naming a missing file, a label that is not a non-negative int, an image without a class folder or a
dataset.json entry) raises `LabelError` naming the file.
"""
import json
import os
from typing import List, NamedTuple

from cips_tf.data import images as images_lib
from cips_tf.data.report import REPORT_FILE

LABEL_SOURCES = ("none", "folder", "dataset.json", "fashion_mnist", "tfrecord")
# Which data.source each label source works with.
COMPATIBLE_SOURCES = {"folder": "folder", "dataset.json": "folder", "fashion_mnist": "fashion_mnist",
                      "tfrecord": "tfrecord"}
DATASET_JSON = "dataset.json"
# Fashion-MNIST's labels 0..9 (Xiao et al. 2017, the dataset's README).
FASHION_MNIST_CLASSES = ("T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag",
                         "Ankle boot")


class LabelError(ValueError):
    """Labels that cannot be used; the message names the file."""


class LabeledFiles(NamedTuple):
    files: List[str]  # image paths, sorted
    labels: List[int]  # class index per file
    class_names: List[str]  # name of class i


def uses_labels(data_config):
    """True when `data.labels` asks for labels (configs written before the field have none)."""
    return (data_config.get("labels") or "none") != "none"


def folder_labels(folder):
    """Classes from folder names: `folder/<class>/.../image`; every image must be in a class folder."""
    files = images_lib.list_image_files(folder)
    rels = [os.path.relpath(f, folder).replace(os.sep, "/") for f in files]
    loose = [f for f, rel in zip(files, rels) if "/" not in rel]
    if loose:
        raise LabelError(f"{loose[0]}: data.labels='folder' needs every image in a class subfolder "
                         f"(class/xxx.png); {len(loose)} image(s) lie directly in {folder}")
    classes = [rel.split("/", 1)[0] for rel in rels]
    names = sorted(set(classes))
    index = {name: i for i, name in enumerate(names)}
    return LabeledFiles(files, [index[c] for c in classes], names)


def _entry_error(path, i, entry, why):
    return LabelError(f"{path}: labels[{i}] {json.dumps(entry)[:200]}: {why}")


def read_dataset_json(path):
    """`dataset.json` (StyleGAN's format) -> ({relative path: label}, class names or None)."""
    try:
        with open(path, encoding="utf-8") as f:
            data = json.load(f)
    except FileNotFoundError:
        raise LabelError(f"{path}: not found (data.labels='dataset.json' reads it from data.path)") from None
    except (OSError, ValueError) as e:
        raise LabelError(f"{path}: not readable JSON ({e})") from None
    entries = data.get("labels") if isinstance(data, dict) else None
    if not isinstance(entries, list) or not entries:
        raise LabelError(f'{path}: want {{"labels": [["relative/path.png", class index], ...]}} (StyleGAN\'s '
                         "dataset.json), found no labels")
    labels = {}
    for i, entry in enumerate(entries):
        if not (isinstance(entry, (list, tuple)) and len(entry) == 2 and isinstance(entry[0], str)):
            raise _entry_error(path, i, entry, 'want ["relative/path.png", class index]')
        label = entry[1]
        if isinstance(label, bool) or not isinstance(label, int) or label < 0:
            raise _entry_error(path, i, entry, "the label must be a non-negative integer class index")
        name = os.path.normpath(entry[0]).replace(os.sep, "/")
        if name.startswith("../") or os.path.isabs(entry[0]):
            raise _entry_error(path, i, entry, "the path must be relative to the dataset folder")
        if name in labels and labels[name] != label:
            raise _entry_error(path, i, entry, f"{entry[0]} is listed twice with different labels")
        labels[name] = label
    names = data.get("class_names")
    if names is not None:
        if not isinstance(names, list) or not all(isinstance(n, str) for n in names):
            raise LabelError(f"{path}: class_names must be a list of strings")
        if max(labels.values()) >= len(names):
            raise LabelError(f"{path}: label {max(labels.values())} has no entry in class_names ({len(names)} names)")
    return labels, names


def dataset_json_labels(folder):
    """Classes from `<folder>/dataset.json`: its entries' files must exist, every image must be listed."""
    path = os.path.join(os.fspath(folder), DATASET_JSON)
    labels, names = read_dataset_json(path)
    files = images_lib.list_image_files(folder)
    by_rel = {os.path.relpath(f, folder).replace(os.sep, "/"): f for f in files}
    for i, rel in enumerate(labels):
        if rel not in by_rel:
            why = "file not found" if not os.path.exists(os.path.join(folder, rel)) else "not an image file"
            raise LabelError(f"{path}: the entry for {rel} names a missing image ({why} under {folder})")
    unlisted = sorted(set(by_rel) - set(labels))
    if unlisted:
        raise LabelError(f"{path}: no label for {len(unlisted)} image(s) under {folder}, e.g. {unlisted[0]}")
    ordered = sorted(by_rel)
    count = max(labels.values()) + 1
    return LabeledFiles([by_rel[r] for r in ordered], [labels[r] for r in ordered],
                        list(names) if names else [str(i) for i in range(count)])


def tfrecord_class_names(path):
    """Class names recorded by `cips-dataset --labels` in the shards' `dataset_report.json`."""
    directory = os.fspath(path) if os.path.isdir(os.fspath(path)) else os.path.dirname(os.fspath(path))
    report = os.path.join(directory, REPORT_FILE)
    try:
        with open(report, encoding="utf-8") as f:
            names = json.load(f).get("class_names")
    except FileNotFoundError:
        raise LabelError(f"{report}: not found; data.labels='tfrecord' needs shards written by cips-dataset "
                         "--labels=...") from None
    if not names:
        raise LabelError(f"{report}: records no class_names (shards written without cips-dataset --labels)")
    return list(names)


def class_names(data_config):
    """The class names of the config's labels (index i -> name), or None for `data.labels='none'`."""
    kind = data_config.get("labels") or "none"
    if kind == "none":
        return None
    if kind not in LABEL_SOURCES:
        raise LabelError(f"data.labels must be one of {', '.join(LABEL_SOURCES)}, got {kind!r}")
    if COMPATIBLE_SOURCES[kind] != data_config.source:
        raise LabelError(f"data.labels={kind!r} needs data.source={COMPATIBLE_SOURCES[kind]!r}, got "
                         f"{data_config.source!r}")
    if kind == "folder":
        return folder_labels(data_config.path).class_names
    if kind == "dataset.json":
        return dataset_json_labels(data_config.path).class_names
    if kind == "fashion_mnist":
        return list(FASHION_MNIST_CLASSES)
    return tfrecord_class_names(data_config.path)


def with_labels(data_config):
    """`data_config` with `labels` set from its source when it is 'none' (for evaluating a conditional
    model against a `--data` spec): fashion_mnist's labels, a folder's dataset.json when it has one
    (else its class folders), a TFRecord's label feature. Returns a copy; tfds is refused."""
    cfg = data_config.copy_and_resolve_references()
    if uses_labels(cfg):
        return cfg
    if cfg.source == "fashion_mnist":
        cfg.labels = "fashion_mnist"
    elif cfg.source == "folder":
        cfg.labels = "dataset.json" if os.path.exists(os.path.join(cfg.path, DATASET_JSON)) else "folder"
    elif cfg.source == "tfrecord":
        cfg.labels = "tfrecord"
    else:
        raise LabelError(f"data.source={cfg.source!r} carries no class labels for a class-conditional model")
    return cfg
