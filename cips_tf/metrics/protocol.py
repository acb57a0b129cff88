"""The evaluation protocol shared by `cips-evaluate`, the in-training FID hook and the pipeline's
Evaluator: which feature extractor, which real images, and how generated images are sampled.

Sampling protocol: image k of an evaluation with first seed `s` is rendered from
`z = z_from_seed(s + k)` (the seed `cips-generate --seeds` uses), optionally truncated toward
`w_avg`, on the native grid in eval mode, with per-pixel noise drawn from the stateless seed
`(s + k, 1 + layer)` -- random noise as in the official evaluation, yet reproducible and
independent of the batch size. `noise=False` renders without noise (as the synthesis experiments
do).
"""
import hashlib
import os
import pathlib
import re
import shutil
import tempfile

import numpy as np
import tensorflow as tf
from absl import logging

from cips_tf import data as data_lib
from cips_tf import latents, rendering
from cips_tf.coords import make_grid
from cips_tf.data import fashion_mnist
from cips_tf.data import labels as labels_lib
from cips_tf.data.fingerprint import dataset_fingerprint
from cips_tf.metrics import evaluate as evaluate_lib
from cips_tf.metrics import feature_extractor as fe
from cips_tf.metrics import inception
from cips_tf.metrics import metric_log

DEFAULT_EXTRACTOR_ENV_VAR = "CIPS_EXTRACTOR_DIR"
EXTRACTOR_KINDS = ("offline", "inception")


def default_extractor_dir():
    """Where the offline extractor lives unless a path is given.

    `$CIPS_EXTRACTOR_DIR` if set, else `~/.cache/cips_tf/extractors/fashion_mnist_cnn_v1`.
    """
    env = os.environ.get(DEFAULT_EXTRACTOR_ENV_VAR)
    if env:
        return pathlib.Path(env).expanduser()
    return pathlib.Path("~/.cache/cips_tf/extractors/fashion_mnist_cnn_v1").expanduser()


def train_offline_extractor(directory, **train_kwargs):
    """Trains the offline extractor (default settings: about 2 minutes on 2 cores) into `directory`,
    atomically; `train_kwargs` go to `feature_extractor.train_feature_extractor`."""
    directory = pathlib.Path(directory)
    directory.parent.mkdir(parents=True, exist_ok=True)
    logging.warning(
        "offline feature extractor not found in %s: training it now (%s; done once, later runs reuse it). "
        "To train it yourself: python -m cips_tf.cli.feature_extractor --out=%s", directory,
        train_kwargs or "3 epochs on Fashion-MNIST, about 2 minutes on 2 CPU cores", directory,
    )
    tmp = pathlib.Path(tempfile.mkdtemp(prefix=directory.name + ".tmp-", dir=directory.parent))
    try:
        metadata = fe.train_feature_extractor(tmp, **{"verbose": 2, **train_kwargs})
        try:
            os.replace(tmp, directory)  # atomic; fails if another process finished first
        except OSError:
            if not (directory / fe.MODEL_FILENAME).exists():
                raise
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)
    logging.info("offline feature extractor saved to %s (test accuracy %.4f)", directory, metadata["test_accuracy"])


def sha256_file(path):
    """Hex SHA-256 of a file, read in blocks."""
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def weights_fingerprint(kind, path):
    """A short hash of the extractor's weight file (offline model or Inception file), or its path."""
    if kind == "offline":
        directory = pathlib.Path(path).expanduser() if path else default_extractor_dir()
        target = directory if directory.suffix == ".keras" else directory / fe.MODEL_FILENAME
    else:
        target = pathlib.Path(path or os.environ.get("CIPS_INCEPTION_PATH", "")).expanduser()
    if target.is_file():
        return sha256_file(target)[:16]
    return str(target)


def load_extractor(kind="offline", path=None, train_if_missing=True, allow_unknown=False):
    """Loads a feature extractor for `cips_tf.metrics.evaluate.evaluate_generator`.

    Args:
      kind: "offline" (NON-STANDARD Fashion-MNIST CNN) or "inception" (standard FID network).
      path: offline: the extractor directory (None: `default_extractor_dir()`); inception: the
        weights (None: $CIPS_INCEPTION_PATH).
      train_if_missing: offline only: train the extractor into the default directory when it is
        absent there. An explicitly given `path` is never trained into.
      allow_unknown: inception only: accept weights whose SHA-256 is not a known standard file
        (`inception.KNOWN_SHA256`); the extractor is then labelled non-standard.

    Raises:
      inception.InceptionWeightsNotFoundError: at once, when the Inception weights are missing.
      FileNotFoundError: the offline extractor is missing (message says how to create it).
    """
    if kind == "inception":
        return inception.load_inception(path, allow_unknown=allow_unknown)
    if kind != "offline":
        raise ValueError(f"extractor must be one of {EXTRACTOR_KINDS}, got {kind!r}")
    explicit = path is not None
    directory = pathlib.Path(path).expanduser() if explicit else default_extractor_dir()
    model_file = directory if directory.suffix == ".keras" else directory / fe.MODEL_FILENAME
    if not model_file.exists() and not explicit and train_if_missing:
        train_offline_extractor(directory)
    return fe.load_feature_extractor(directory)


_TFDS_RE = re.compile(r"^(?P<name>[^:]+(?::\d+\.\d+\.\d+)?)(?::(?P<split>.+))?$")
DATA_SPEC_HELP = "fashion_mnist[:train|test|all], folder:PATH, tfrecord:PATH or tfds:NAME[:SPLIT]"


def parse_data_spec(spec, data_dir=None):
    """Parses a short real-data name into a `cips_tf.data.default_config()` ConfigDict.

    Syntax: `fashion_mnist[:SPLIT]` (train, test, all; default train), `folder:PATH`,
    `tfrecord:PATH_OR_GLOB`, `tfds:NAME[:SPLIT]` (NAME may carry a version, `name:1.0.0`, and a
    config, `celeb_a_hq/256`; SPLIT is any TFDS split expression, e.g. `train[:5000]`; default
    train). `data_dir` sets `data_dir` (TFDS data_dir or the Fashion-MNIST IDX directory).

    Raises:
      ValueError: unknown source, bad split, or a missing path / name.
    """
    cfg = data_lib.default_config()
    source, _, rest = str(spec).partition(":")
    if source == "fashion_mnist":
        cfg.source, cfg.split = "fashion_mnist", rest or "train"
        if cfg.split not in ("train", "test", "all"):
            raise ValueError(f"data {spec!r}: the fashion_mnist split must be train, test or all, got {cfg.split!r}")
    elif source in ("folder", "tfrecord"):
        if not rest:
            raise ValueError(f"data {spec!r}: {source}:PATH needs a path")
        cfg.source, cfg.path = source, rest
    elif source == "tfds":
        match = _TFDS_RE.match(rest)
        if not match:
            raise ValueError(f"data {spec!r}: tfds:NAME[:SPLIT] needs a dataset name")
        cfg.source, cfg.name, cfg.split = "tfds", match["name"], match["split"] or "train"
    else:
        raise ValueError(f"data {spec!r}: expected {DATA_SPEC_HELP}")
    if data_dir:
        cfg.data_dir = data_dir
    return cfg


def dataset_id(data_config):
    """A short name of the real data for cache keys: 'fashion_mnist', 'tfds-NAME', 'folder-PATH' ..."""
    source = data_config.source
    if source == "fashion_mnist":
        return "fashion_mnist"
    if source == "tfds":
        return f"tfds-{data_config.name}"
    return f"{source}-{os.path.abspath(str(data_config.path))}"


def real_stats_key(data_config, split, resolution, extractor_kind, extractor_path, fingerprint=None):
    """The (dataset, split, resolution) key of cached real statistics (`fid.RealStatisticsCache`).

    The dataset part hashes the data's content (`dataset_fingerprint`: file listing or shard
    content), the data options and the extractor weights, so a changed dataset, a changed
    `extractor_path` or a retrained extractor never reuses stale statistics. `fingerprint`: a
    `dataset_fingerprint(data_config)` computed before (it reads the data).
    """
    d = data_config
    fingerprint = fingerprint or dataset_fingerprint(d)
    options = [d.get("data_dir"), d.get("resize_shorter_side"), d.get("image_key"),
               extractor_kind, weights_fingerprint(extractor_kind, extractor_path), fingerprint]
    tag = hashlib.sha256(repr(options).encode()).hexdigest()[:10]
    return (f"{dataset_id(d)}-{tag}", split, int(resolution))


def evaluate(generator, data_config, extractor, *, num_samples=10000, num_real=None, batch_size=50, seed=0,
             metrics=evaluate_lib.ALL_METRICS, pr_k=3, sample_fn=None, real=None, real_cache=None,
             real_cache_key=None, log_dir=None, step=None, model=None, progress=False):
    """`generator` against `data_config`'s real images under this protocol: the one evaluation that
    cips-evaluate (`report.evaluate`), the in-training hook and the pipeline's Evaluator run.

    `num_samples` generated images (seeds `seed, seed + 1, ...`) and the first `num_real` real ones
    (None: `num_samples`; `metric_log.FULL`: all) go through `evaluate_generator(..., metrics, pr_k)`.

    Args beyond those of `evaluate_generator`:
      sample_fn: a prepared `sampler(...)` (the hook keeps one per generator; cips-evaluate taps it
        for spectra). None: `sampler(generator, data_config, batch_size, num_real, seed=seed)`.
      real: the real batches (None: `real_image_batches`, built only when read).
      log_dir: append one line per metric family to `log_dir/metric-<name>.jsonl` (`metric_log`),
        with `step` and, when given, `model`. None: no logs.

    Returns:
      (`evaluate_generator`'s results, `{family: {StyleGAN name: value}}`, the log files written).
    """
    num_real = num_samples if num_real is None else num_real
    if sample_fn is None:
        sample_fn = sampler(generator, data_config, batch_size, num_real, seed=seed)
    if real is None:
        real = LazyBatches(lambda: real_image_batches(data_config, generator.size, batch_size))
    results = evaluate_lib.evaluate_generator(
        real, sample_fn, extractor, num_samples=num_samples, batch_size=batch_size, num_real=num_real,
        metrics=metrics, seed=seed, pr_k=pr_k, real_cache=real_cache, real_cache_key=real_cache_key,
        progress=progress,
    )
    # Named from the counts as requested (fid2k_full); the log lines record the counts measured.
    grouped = metric_log.stylegan_results(results, metrics, num_samples, num_real, results["standard"], pr_k)
    paths = []
    if log_dir is not None:
        extra = {} if model is None else {"model": model}
        paths = metric_log.append_metric_logs(
            log_dir, grouped, step=step, num_samples=results["num_fake"], num_real=results["num_real"],
            extractor=results["extractor"], standard=results["standard"], **extra,
        )
    return results, grouped, paths


def sampler(generator, data_config, batch_size, num_real, *, seed=0, psi=1.0, w_avg=None, noise=True):
    """`make_sample_fn(generator, batch_size, seed, psi, w_avg, noise)` for comparing `generator`
    with `data_config`'s first `num_real` real images (`metric_log.FULL`: all of them): a
    class-conditional generator renders the classes of those images (`real_labels`)."""
    labels = None
    if latents.num_classes(generator):  # conditional: the generated classes follow the real images compared
        labels = real_labels(data_config, None if num_real == metric_log.FULL else int(num_real))
    return make_sample_fn(generator, batch_size, seed, psi, w_avg, noise, labels=labels)


def real_image_batches(data_config, resolution, batch_size):
    """One deterministic pass over the real data: float32 [B, R, R, 3] in [-1, 1], in source order.

    Evaluation mode of `cips_tf.data.build_dataset` (no shuffling, no augmentation), so every
    evaluation sees the same first N images and never repeats one.
    """
    cfg = data_config.copy_and_resolve_references()
    return data_lib.build_dataset(cfg, resolution=int(resolution), batch_size=int(batch_size), seed=0, training=False)


def real_labels(data_config, limit=None):
    """The class labels of the real images in evaluation order (`real_image_batches`' order), as an
    int32 array (the first `limit`); read without decoding for the folder and Fashion-MNIST sources."""
    kind = data_config.get("labels") or "none"
    if kind == "fashion_mnist":
        labels = fashion_mnist.load_fashion_mnist(data_config.split, data_config.get("data_dir") or None)[1]
    elif kind == "folder":
        labels = labels_lib.folder_labels(data_config.path).labels
    elif kind == "dataset.json":
        labels = labels_lib.dataset_json_labels(data_config.path).labels
    elif kind == "tfrecord":
        labels = [int(l) for _, l in real_image_batches(data_config, 4, 256).unbatch().as_numpy_iterator()]
    else:
        raise ValueError("real_labels: the data have no labels (data.labels='none')")
    labels = np.asarray(labels, np.int32)
    return labels if limit is None else labels[:limit]


def class_batches(batches, class_index, batch_size):
    """The real images of one class from a dataset of `(images, labels)` batches, rebatched."""
    ds = batches.unbatch().filter(lambda image, label: tf.equal(label, class_index))
    return ds.map(lambda image, label: image).batch(int(batch_size))


def evaluate_per_class(generator, data_config, extractor, num_samples, batch_size, seed=0, psi=1.0, w_avg=None,
                       noise=True, class_names=None, progress=False):
    """FID of a class-conditional generator per class: class c's renders (every image of class c, the
    seeds `seed, seed + 1, ...`) against the real images of class c (the first `num_samples` in
    evaluation order, fewer when the class has fewer).

    Returns `{class name: {"class": c, "fid<suffix>": value, "num_real": n, "num_fake": n}}` (names
    "0", "1", ... when `class_names` is None). The real statistics are not cached (they are per class).
    """
    count = latents.num_classes(generator)
    if not count:
        raise ValueError("per-class FID needs a class-conditional generator")
    names = list(class_names) if class_names else [str(c) for c in range(count)]
    per_class_real = np.bincount(real_labels(data_config), minlength=count)
    results = {}
    for c in range(count):
        n = int(min(num_samples, per_class_real[c]))
        if n < 2:
            logging.warning("per-class FID: class %d (%s) has %d real image(s); skipped", c, names[c], n)
            continue
        real = LazyBatches(lambda c=c: class_batches(real_image_batches(data_config, generator.size, batch_size), c,
                                                     batch_size))
        sample_fn = make_sample_fn(generator, batch_size, seed, psi, w_avg, noise, labels=c)
        r = evaluate_lib.evaluate_generator(real, sample_fn, extractor, num_samples=n, batch_size=batch_size,
                                            num_real=n, metrics=("fid",), seed=seed, progress=progress)
        key = f"fid{extractor.metric_suffix}"
        results[names[c]] = {"class": c, key: float(r[key]), "num_real": r["num_real"], "num_fake": r["num_fake"]}
    return results


class LazyBatches:
    """Builds the real-data pipeline only when iterated (skipped when statistics are cached)."""

    def __init__(self, build):
        self._build = build

    def __iter__(self):
        return iter(self._build())


def make_sample_fn(generator, batch_size, first_seed=0, psi=1.0, w_avg=None, noise=True, labels=None):
    """`sample_fn(n, batch_seed)` for `evaluate_generator(..., seed=first_seed)`.

    Batch `batch_seed` holds images `first_seed + (batch_seed - first_seed) * batch_size + j`,
    j < n (see the module docstring for the sampling protocol): float32 numpy [n, R, R, 3].

    Class-conditional generators need `labels`: one int (every image of that class: per-class FID),
    or a 1-D pool of class indices, image seed s taking `pool[(s - first_seed) % len(pool)]` (the
    overall FID passes the labels of the real images it compares with, so the generated classes
    follow the real ones; `real_labels`).
    """
    size = int(generator.size)
    num_noise = int(generator.num_noise)
    batch_size = int(batch_size)
    if psi != 1.0 and w_avg is None:
        raise ValueError("truncation (psi != 1) needs w_avg")

    conditional = latents.num_classes(generator) > 0
    if conditional and labels is None:
        raise ValueError(f"a class-conditional generator (num_classes={latents.num_classes(generator)}) is "
                         "evaluated with labels: a class, or the real labels")
    pool = None if labels is None else tf.reshape(tf.constant(np.asarray(labels, np.int32)), [-1])

    def seed_labels(seeds):
        if pool is None:
            return None
        return tf.gather(pool, tf.math.floormod(seeds - first_seed, tf.cast(tf.size(pool), tf.int64)))

    def image_noise(seed):  # [num_noise, R, R, 1] for one image seed
        return tf.stack(
            [tf.random.stateless_normal([size, size, 1], seed=tf.stack([seed, tf.constant(1 + i, tf.int64)]))
             for i in range(num_noise)]
        )

    @tf.function(reduce_retracing=True, autograph=False)
    def render(seeds):  # [n] int64 -> [n, R, R, 3]
        w = latents.styles(generator, latents.z_from_seed(seeds, generator.style_dim), psi, w_avg,
                           seed_labels(seeds))  # [n, S]
        coords = make_grid(tf.shape(seeds)[0], size)  # [n, R, R, 2]
        layer_noise = None
        if noise:
            per_image = tf.map_fn(image_noise, seeds, fn_output_signature=tf.TensorSpec([num_noise, size, size, 1]))
            layer_noise = [per_image[:, i] for i in range(num_noise)]  # num_noise x [n, R, R, 1]
        return rendering.synthesize(generator, w, coords, noise=layer_noise)

    def sample_fn(n, batch_seed):
        start = first_seed + (int(batch_seed) - first_seed) * batch_size
        return render(tf.range(start, start + int(n), dtype=tf.int64)).numpy()

    return sample_fn
