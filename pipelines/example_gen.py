"""ExampleGen: an image folder, a TFDS dataset or the offline Fashion-MNIST -> an Examples artifact.

Output `examples` (Examples):

    <uri>/Split-train/train-NNNNN-of-MMMMM.tfrecord   cips-tf TFRecords (cips_tf/data/tfrecord.py),
                                                     PNG images at the training resolution
    <uri>/statistics.json                            the `cips_tf.data.prepare` report: counts, every
                                                     skipped file and why, size / mode histograms

Properties: num_examples, num_inputs (files / source examples read), num_skipped, skipped (the
first 100 {path, reason}), resolution, num_shards, split_dir, input (what was read).

The work is `cips_tf.data.prepare.prepare_dataset` (what `cips-dataset` runs), on the runner
`pipeline.example_gen_runner` names: 'local' (this process) or 'beam' (an Apache Beam pipeline with
`pipeline.example_gen_beam_args`). Both write the same records into the same shards, so the runner
is not part of the cache key.

The cache key includes a fingerprint of the input itself (every file's path, size and mtime for a
folder; the prepared dataset files for TFDS / Fashion-MNIST), so new or changed images re-run it.
"""
import os
import shlex

import tensorflow as tf
from absl import logging

from cips_tf.data import fashion_mnist
from cips_tf.data import prepare
from cips_tf.data import processing
from cips_tf.data import sources
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
        directory = p.input_data_dir or os.environ.get("CIPS_FASHION_MNIST_DIR", fashion_mnist.DEFAULT_DIR)
        return {"fashion_mnist": _file_list_fingerprint(directory) if os.path.isdir(directory) else "missing"}
    import tensorflow_datasets as tfds  # slow to import (seconds): only for TFDS inputs; its files identify it

    builder = tfds.builder(p.input_name, data_dir=p.input_data_dir or None)
    state = {"tfds": p.input_name, "version": str(builder.info.version)}
    if os.path.isdir(builder.data_dir):
        state["files"] = _file_list_fingerprint(builder.data_dir)
    return state


def source_of(config):
    """The `cips_tf.data.sources` source the `pipeline` section names."""
    p = config.pipeline
    if p.input_source == "folder":
        return sources.FolderSource(str(p.input_path))
    if p.input_source == "fashion_mnist":
        return sources.FashionMnistSource(split=p.input_split, data_dir=p.input_data_dir)
    return sources.TfdsSource(p.input_name, split=p.input_split, data_dir=p.input_data_dir,
                              image_key=p.input_image_key)


def options_of(config):
    """The `processing.Options` of ExampleGen: square images at the training resolution."""
    p = config.pipeline
    return processing.Options(resolution=int(config.resolution), crop="center",
                           resize_shorter_side=bool(p.resize_shorter_side), max_images=int(p.max_examples),
                           num_shards=int(p.num_shards), prefix=SPLIT, skip_bad_images=bool(p.skip_bad_images))


def _execute(ctx):
    p = ctx.config.pipeline
    resolution = int(ctx.config.resolution)
    out = ctx.output_dirs["examples"]
    source = source_of(ctx.config)
    logging.info("[ExampleGen] reading %s at %d x %d into %d shards with the %s runner", source.describe(),
                 resolution, resolution, p.num_shards, p.example_gen_runner)
    # The one implementation behind cips-dataset: the same records and report with either runner.
    report = prepare.prepare_dataset(source, out / SPLIT_DIR, options_of(ctx.config), runner=p.example_gen_runner,
                                     beam_pipeline_args=shlex.split(p.example_gen_beam_args or ""), overwrite=True)
    if report["num_examples"] == 0:
        raise ValueError(f"ExampleGen: no usable image in {source.describe()} ({report['num_skipped']} skipped: "
                         f"{report['skipped'][:5]})")
    statistics = dict(report, resolution=resolution, input=source.describe())
    artifacts_lib.write_json_atomic(out / STATISTICS_FILE, statistics)
    logging.info("[ExampleGen] %d examples written, %d of %d inputs skipped", report["num_examples"],
                 report["num_skipped"], report["num_inputs"])
    properties = {k: statistics[k] for k in ("num_examples", "num_inputs", "num_skipped", "resolution", "sizes",
                                            "modes", "num_shards", "input")}
    properties.update(skipped=report["skipped"][:MAX_LISTED_SKIPPED], split_dir=SPLIT_DIR, splits=[SPLIT])
    return {"examples": properties}


COMPONENT = runner.Component(
    name="ExampleGen",
    executor=_execute,
    inputs={},
    outputs={"examples": artifacts_lib.EXAMPLES},
    config_view=_config_view,
    external_state=_external_state,
)
