"""FID / KID / precision-recall of a generator against a real dataset, in one call.

`evaluate_generator(real_batches, sample_fn, extractor, num_samples=...)` streams real images and
generated images through a feature extractor, keeps float64 running statistics for FID and the
raw features needed by KID and precision/recall, shows a `keras.utils.Progbar`, and returns a
flat dict of Python floats that the trainer and the evaluate CLI log as they are.

Extractors: `inception.load_inception(path)` (standard FID network; results "fid", "kid", ...) or
`feature_extractor.load_feature_extractor(dir)` (offline Fashion-MNIST CNN; results "fid_offline",
"kid_offline", ... and `standard: False`). Any object works that is callable on [B, H, W, 3] float
images in [-1, 1] returning [B, D] features, with attributes `name`, `standard`, `metric_suffix`.
"""
import time

import keras
import numpy as np
import tensorflow as tf

from cips_tf.metrics import fid as fid_lib
from cips_tf.metrics import kid as kid_lib
from cips_tf.metrics import precision_recall as pr_lib

__all__ = ["ALL_METRICS", "evaluate_generator", "extract_features"]

ALL_METRICS = ("fid", "kid", "pr")
from cips_tf.metrics.metric_log import FULL  # num_real=FULL: every real image (StyleGAN's "_full" metrics)


def _as_images(batch):
    """Accepts an image batch, an (images, labels) tuple or a {"image": ...} dict."""
    if isinstance(batch, dict):
        batch = batch["image"]
    elif isinstance(batch, (tuple, list)):
        batch = batch[0]
    batch = tf.convert_to_tensor(batch)
    if batch.shape.rank == 3:  # [B, H, W] grey
        batch = batch[..., None]
    if batch.shape[-1] == 1:
        batch = tf.tile(batch, [1, 1, 1, 3])
    return batch


def extract_features(batches, extractor, limit, progbar=None, keep_features=True):
    """Runs `extractor` over an iterable of image batches until `limit` images are seen (None: all).

    Real batches may be uint8 pixels or floats in [-1, 1]; both are quantized to uint8 by the
    extractor, so real and generated images get identical preprocessing.

    Returns:
      `(ActivationStatistics, features float32 [limit, D] or None)`.

    Raises:
      ValueError: the iterable ran out before `limit` images.
    """
    stats = fid_lib.ActivationStatistics()
    kept = []
    iterator = iter(batches)
    while limit is None or stats.count < limit:  # test before pulling: never generates or reads a batch it will not use
        batch = next(iterator, None)
        if batch is None:
            break
        images = _as_images(batch)[: None if limit is None else limit - stats.count]
        features = np.asarray(extractor(images), np.float32)  # [B, D]
        stats.update(features)
        if keep_features:
            kept.append(features)
        if progbar is not None:
            progbar.add(len(features))
    if limit is not None and stats.count < limit:
        raise ValueError(f"the real dataset ran out after {stats.count} images; {limit} were requested")
    return stats, (np.concatenate(kept) if keep_features else None)


def _generated_batches(sample_fn, batch_size, seed):
    index = 0
    while True:
        yield sample_fn(batch_size, seed + index)
        index += 1


def evaluate_generator(
    real_batches,
    sample_fn,
    extractor,
    num_samples=10000,
    batch_size=64,
    num_real=None,
    metrics=ALL_METRICS,
    seed=0,
    real_cache=None,
    real_cache_key=None,
    pr_k=3,
    progress=True,
):
    """Compares generated samples with real images in `extractor`'s feature space.

    Args:
      real_batches: iterable of real image batches [B, H, W, C] (uint8 pixels or floats in
        [-1, 1]; a tf.data.Dataset works; (images, labels) tuples and {"image": ...} dicts too).
        Read until `num_real` images are taken; give it in random order for KID.
      sample_fn: `sample_fn(batch_size, seed) -> float images [batch_size, H, W, 3] in [-1, 1]`;
        batch i is drawn with seed `seed + i`, so a run is reproducible.
      extractor: feature extractor (see the module docstring).
      num_samples: number of generated images.
      batch_size: generated images per `sample_fn` call.
      num_real: number of real images (None: `num_samples`; `FULL`: the whole real dataset).
      metrics: any of "fid", "kid", "pr" (precision/recall, Kynkaanniemi et al. with k = `pr_k`).
      seed: first generator seed.
      real_cache: optional `fid.RealStatisticsCache`; with `real_cache_key` =
        (dataset, split, resolution), real statistics and features are read from it when present
        (skipping `real_batches`) and written to it otherwise.
      real_cache_key: the (dataset, split, resolution) triple naming the real data.
      pr_k: neighbourhood size of precision/recall.
      progress: show a Keras progress bar.

    Returns:
      A dict with, for suffix s = `extractor.metric_suffix` ("" or "_offline"):
      `fid{s}`, `kid{s}`, `kid{s}_std`, `precision{s}`, `recall{s}` (those requested), plus
      `standard` (bool), `extractor` (name), `num_real`, `num_fake`, `seconds`.
    """
    unknown = set(metrics) - set(ALL_METRICS)
    if unknown:
        raise ValueError(f"unknown metrics {sorted(unknown)}; choose from {ALL_METRICS}")
    num_real = num_samples if num_real is None else num_real
    real_limit = None if num_real == FULL else int(num_real)
    keep = "kid" in metrics or "pr" in metrics
    start = time.time()

    cached = None
    if real_cache is not None and real_cache_key is not None:
        cached = real_cache.get(*real_cache_key, extractor.name)
        if cached is not None and ((real_limit is not None and cached[0].count != real_limit) or (keep and cached[1] is None)):
            cached = None  # made with other settings: recompute
    todo = None if (real_limit is None and not cached) else num_samples + (0 if cached else real_limit)
    progbar = keras.utils.Progbar(todo, verbose=1 if progress else 0, unit_name="image")

    if cached:
        real_stats, real_features = cached
    else:
        real_stats, real_features = extract_features(real_batches, extractor, real_limit, progbar, keep)
        if real_cache is not None and real_cache_key is not None:
            real_cache.put(*real_cache_key, extractor.name, real_stats, real_features)
    fake_stats, fake_features = extract_features(
        _generated_batches(sample_fn, batch_size, seed), extractor, num_samples, progbar, keep
    )

    s = extractor.metric_suffix
    results = {}
    if "fid" in metrics:
        results[f"fid{s}"] = fid_lib.frechet_distance(
            real_stats.mean, real_stats.covariance, fake_stats.mean, fake_stats.covariance
        )
    if "kid" in metrics:
        results[f"kid{s}"], results[f"kid{s}_std"] = kid_lib.kernel_distance(
            real_features, fake_features, shuffle_seed=seed
        )
    if "pr" in metrics:
        results[f"precision{s}"], results[f"recall{s}"] = pr_lib.precision_recall(
            real_features, fake_features, k=pr_k
        )
    results.update(
        standard=bool(extractor.standard),
        extractor=extractor.name,
        num_real=int(real_stats.count),
        num_fake=int(fake_stats.count),
        seconds=round(time.time() - start, 3),
    )
    return results
