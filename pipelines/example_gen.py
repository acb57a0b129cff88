"""ExampleGen: an image folder, a TFDS dataset or the offline Fashion-MNIST -> an Examples artifact.

Output `examples` (Examples):

    <uri>/Split-train/train-NNNNN-of-MMMMM.tfrecord   cips-tf TFRecords (cips_tf/data/tfrecord.py),
                                                     PNG images at the training resolution
    <uri>/statistics.json                            count, sizes, every skipped file and why

Properties: num_examples, num_inputs (files / source examples read), num_skipped, skipped (the
first 100 {path, reason}), resolution, num_shards, split_dir, input (what was read).

The cache key includes a fingerprint of the input itself (every file's path, size and mtime for a
folder; the prepared dataset files for TFDS / Fashion-MNIST), so new or changed images re-run it.
"""
import os

import numpy as np
from absl import logging

from pipelines import artifacts as artifacts_lib
from pipelines import runner

SPLIT = "train"
SPLIT_DIR = f"Split-{SPLIT}"
STATISTICS_FILE = "statistics.json"
MAX_LISTED_SKIPPED = 100
_CONFIG_FIELDS = ("input_source", "input_path", "input_name", "input_split", "input_data_dir", "input_image_key",
                  "max_examples", "num_shards", "skip_bad_images", "resize_shorter_side")


def split_dir(examples):
    """The shard directory of an Examples artifact (what `data.path` points at)."""
    return examples.path / SPLIT_DIR


def _config_view(config, pipeline_root):
    p = config.pipeline
    view = {k: p[k] for k in _CONFIG_FIELDS}
    view["resolution"] = int(config.resolution)
    return view


def _file_list_fingerprint(directory):
    """(relative path, size, mtime) of every non-hidden file under `directory`, hashed."""
    import tensorflow as tf

    entries = []
    directory = os.fspath(directory)
    for root, dirs, names in tf.io.gfile.walk(directory):
        dirs[:] = sorted(d for d in dirs if not d.startswith("."))
        for name in sorted(names):
            if name.startswith("."):
                continue
            path = os.path.join(root, name)
            stat = tf.io.gfile.stat(path)
            entries.append([os.path.relpath(path, directory), int(stat.length), int(stat.mtime_nsec)])
    return {"files": len(entries), "sha256": artifacts_lib.fingerprint_of(entries)}


def _external_state(config, pipeline_root, inputs):
    p = config.pipeline
    if p.input_source == "folder":
        if not os.path.isdir(p.input_path) and "://" not in p.input_path:
            raise FileNotFoundError(f"pipeline.input_path {p.input_path}: image folder not found")
        return {"folder": _file_list_fingerprint(p.input_path)}
    if p.input_source == "fashion_mnist":
        from cips_tf.data import fashion_mnist

        directory = p.input_data_dir or os.environ.get("CIPS_FASHION_MNIST_DIR", fashion_mnist.DEFAULT_DIR)
        return {"fashion_mnist": _file_list_fingerprint(directory) if os.path.isdir(directory) else "missing"}
    import tensorflow_datasets as tfds  # tfds: the prepared dataset's files identify it

    builder = tfds.builder(p.input_name, data_dir=p.input_data_dir or None)
    state = {"tfds": p.input_name, "version": str(builder.info.version)}
    if os.path.isdir(builder.data_dir):
        state["files"] = _file_list_fingerprint(builder.data_dir)
    return state


def _dataset_images(config):
    """Yields (uint8 [R, R, 3], source name) from a TFDS / Fashion-MNIST source, in source order."""
    from cips_tf import data as data_lib

    p = config.pipeline
    resolution = int(config.resolution)
    cfg = data_lib.default_config()
    cfg.source = p.input_source
    cfg.name = p.input_name
    cfg.split = p.input_split
    cfg.data_dir = p.input_data_dir
    cfg.image_key = p.input_image_key
    cfg.skip_bad_images = bool(p.skip_bad_images)
    cfg.resize_shorter_side = bool(p.resize_shorter_side)
    label = p.input_name if p.input_source == "tfds" else "fashion_mnist"
    index = 0
    for batch in data_lib.iterate_numpy(cfg, resolution=resolution, batch_size=256, training=False):
        # build_dataset maps uint8 to x / 127.5 - 1 in float32; this inverts it exactly.
        pixels = np.clip(np.round((batch + 1.0) * 127.5), 0, 255).astype(np.uint8)
        for image in pixels:
            if p.max_examples and index >= p.max_examples:
                return
            yield image, f"{label}/{p.input_split}[{index}]"
            index += 1


def _execute(ctx):
    from cips_tf import data as data_lib

    p = ctx.config.pipeline
    resolution = int(ctx.config.resolution)
    out = ctx.output_dirs["examples"]
    shards = out / SPLIT_DIR
    logging.info("[ExampleGen] reading %s %s at %d x %d into %d shards", p.input_source,
                 p.input_path or p.input_name or p.input_split, resolution, resolution, p.num_shards)
    if p.input_source == "folder":
        stats = data_lib.convert_image_folder(
            p.input_path,
            shards,
            num_shards=int(p.num_shards),
            resolution=resolution,
            resize_shorter_side=bool(p.resize_shorter_side),
            skip_bad_images=bool(p.skip_bad_images),
            prefix=SPLIT,
        )
        num_inputs = stats["num_files"]
        skipped = stats["skipped"]
        source = {"source": "folder", "path": str(p.input_path)}
    else:
        before = data_lib.skipped_images()  # the process-wide record: take what this run adds
        stats = data_lib.write_tfrecords(_dataset_images(ctx.config), shards, int(p.num_shards), prefix=SPLIT)
        skipped = [{"path": k, "reason": v} for k, v in data_lib.skipped_images().items() if k not in before]
        num_inputs = stats["num_examples"] + len(skipped)
        source = {"source": p.input_source, "name": p.input_name, "split": p.input_split}
    if stats["num_examples"] == 0:
        raise ValueError(f"ExampleGen: no usable image in {source} ({len(skipped)} skipped: {skipped[:5]})")
    for item in skipped:
        logging.warning("[ExampleGen] skipped %s: %s", item["path"], item["reason"])
    statistics = {
        "num_examples": stats["num_examples"],
        "num_inputs": num_inputs,
        "num_skipped": len(skipped),
        "skipped": skipped,
        "resolution": resolution,
        "sizes": stats["sizes"],
        "num_shards": stats["num_shards"],
        "examples_per_shard": stats["examples_per_shard"],
        "files": [os.path.basename(f) for f in stats["files"]],
        "input": source,
    }
    artifacts_lib.write_json_atomic(out / STATISTICS_FILE, statistics)
    logging.info("[ExampleGen] %d examples written, %d of %d inputs skipped", stats["num_examples"], len(skipped),
                 num_inputs)
    properties = {k: v for k, v in statistics.items() if k not in ("skipped", "files", "examples_per_shard")}
    properties.update(skipped=skipped[:MAX_LISTED_SKIPPED], split_dir=SPLIT_DIR, splits=[SPLIT])
    return {"examples": properties}


COMPONENT = runner.Component(
    name="ExampleGen",
    executor=_execute,
    inputs={},
    outputs={"examples": artifacts_lib.EXAMPLES},
    config_view=_config_view,
    external_state=_external_state,
)
