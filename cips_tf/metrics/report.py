"""Evaluation as a library call: `evaluate(loaded, out, data_config, extractor, metrics, ...)` renders
a generator, compares it with real images (FID, KID, precision/recall, spectra; per class for a
class-conditional model) and writes `metrics.json` and the spectra plots into `out`. `cips-evaluate`
parses its flags and calls it. The measuring itself is `protocol.evaluate`, which the in-training
hook and the pipeline's Evaluator call too; what is this module's own is the spectra and the summary.
"""
import math
import pathlib
import re
import time

import keras
import numpy as np

from cips_tf import latents
from cips_tf.metrics import fid as fid_lib
from cips_tf.metrics import metric_log, protocol, spectrum

_DESCRIPTIONS = {
    "fid": "Frechet distance between feature Gaussians of real and generated images (lower is better)",
    "kid": "kernel inception distance: unbiased MMD^2, cubic polynomial kernel, mean over subsets (lower is better)",
    "kid_std": "standard deviation of KID over subsets",
    "precision": "improved precision (Kynkaanniemi et al. 2019): fraction of generated images inside the real "
                 "manifold (higher is better)",
    "recall": "improved recall (Kynkaanniemi et al. 2019): fraction of real images inside the generated "
              "manifold (higher is better)",
}


def describe_data(cfg):
    """A readable summary of a data config for metrics.json."""
    out = {"source": cfg.source}
    if cfg.source in ("fashion_mnist", "tfds"):
        out["split"] = cfg.split
    if cfg.source == "tfds":
        out["name"] = cfg.name
    if cfg.source in ("folder", "tfrecord"):
        out["path"] = str(cfg.path)
    return out


def _label(key, suffix, standard):
    base = key.replace(suffix, "") if suffix else key  # "kid_offline_std" -> "kid_std"
    text = _DESCRIPTIONS.get(base, base)
    if standard:
        return text + "; standard Inception (inception-2015-12-05 pool_3) features, comparable with published numbers"
    return (text + "; NON-STANDARD: offline Fashion-MNIST CNN features, NOT comparable with published "
            "FID/KID/precision/recall")


class _Tap:
    """Feeds the first `limit` images of an iterable of batches to a SpectrumAccumulator on the way."""

    def __init__(self, accumulator, limit):
        self.accumulator, self.limit, self.seen = accumulator, limit, 0

    def add(self, images):
        if self.accumulator is None or self.seen >= self.limit:
            return
        images = np.asarray(images)[: self.limit - self.seen]
        if images.ndim == 3:
            images = images[..., None]
        if images.dtype == np.uint8:
            images = images.astype(np.float32) / 127.5 - 1.0
        self.accumulator.update(images)
        self.seen += len(images)

    def wrap_batches(self, batches):
        for batch in batches:
            image = batch["image"] if isinstance(batch, dict) else batch[0] if isinstance(batch, (tuple, list)) else batch
            self.add(image)
            yield batch

    def wrap_sample_fn(self, sample_fn):
        def sample(n, seed):
            images = sample_fn(n, seed)
            self.add(images)
            return images

        return sample


def _spectrum_only(real, sample_fn, real_tap, fake_tap, num_real, num_samples, batch_size, seed):
    """Streams images into the spectrum taps when no feature metric is requested."""
    progbar = keras.utils.Progbar(num_real + num_samples, unit_name="image")
    for batch in real:
        if real_tap.seen >= num_real:
            break
        before = real_tap.seen
        real_tap.add(batch)
        progbar.add(real_tap.seen - before)
    if real_tap.seen < num_real:
        raise ValueError(f"the real dataset ran out after {real_tap.seen} images; {num_real} were requested")
    index = 0
    while fake_tap.seen < num_samples:
        before = fake_tap.seen
        fake_tap.add(sample_fn(min(batch_size, num_samples - fake_tap.seen), seed + index))
        progbar.add(fake_tap.seen - before)
        index += 1


def _write_spectra(out, real_acc, fake_acc):
    real_mag, fake_mag = real_acc.log_magnitude, fake_acc.log_magnitude
    vmin, vmax = min(real_mag.min(), fake_mag.min()), max(real_mag.max(), fake_mag.max())
    files = {
        "real_png": spectrum.save_spectrum_png(real_mag, out / "spectrum_real.png", vmin, vmax).name,
        "generated_png": spectrum.save_spectrum_png(fake_mag, out / "spectrum_generated.png", vmin, vmax).name,
    }
    real_prof, fake_prof = real_acc.azimuthal_integration, fake_acc.azimuthal_integration
    files["profile_png"] = spectrum.save_profile_png(
        {"real": real_prof, "generated": fake_prof}, out / "spectrum_profile.png"
    ).name
    np.save(out / "spectrum_real.npy", real_mag)
    np.save(out / "spectrum_generated.npy", fake_mag)
    distance = float(np.mean(np.abs(np.log10(np.maximum(fake_prof, 1e-30)) - np.log10(np.maximum(real_prof, 1e-30)))))
    metrics = {
        "spectrum_profile_log10_l1": {
            "value": distance,
            "description": "mean over frequencies r of |log10 P_generated(r) - log10 P_real(r)|, P the azimuthally "
                           "integrated mean power spectrum of the luma (paper Sec. 4.5); lower is closer",
            "standard": True,
        }
    }
    details = {
        "files": files,
        "num_real": int(real_acc.count),
        "num_generated": int(fake_acc.count),
        "azimuthal_integration_real": [float(v) for v in real_prof],
        "azimuthal_integration_generated": [float(v) for v in fake_prof],
    }
    return metrics, details


def _feature_entries(results, extractor, names):
    """`evaluate_generator` results -> metrics.json entries (value, description, standard) under the
    StyleGAN names `names` (`metric_log.stylegan_keys`: result key -> (family, name))."""
    metrics = {}
    for key, value in results.items():
        if key in ("standard", "extractor", "num_real", "num_fake", "seconds"):
            continue
        value, name = float(value), names[key][1]
        metrics[name] = {
            "value": value if math.isfinite(value) else None,
            "description": _label(key, extractor.metric_suffix, extractor.standard),
            "standard": bool(extractor.standard),
        }
        if not math.isfinite(value):
            metrics[name]["note"] = (f"undefined ({value}): e.g. the KID standard error needs more than one block "
                                     "of 1024 samples")
    return metrics


def extractor_summary(extractor, kind, path):
    if extractor is None:
        return None
    return {
        "kind": kind,
        "name": extractor.name,
        "path": path or (str(protocol.default_extractor_dir()) if kind == "offline" else None),
        "standard": bool(extractor.standard),
        "note": ("standard FID network" if extractor.standard else
                 "NON-STANDARD Inception weights of unknown SHA-256 (--allow_unknown_extractor): not comparable "
                 "with any published FID/KID/precision/recall" if kind == "inception" else
                 "NON-STANDARD offline Fashion-MNIST CNN: numbers track sample quality on Fashion-MNIST-like "
                 "data but are not comparable with any published FID/KID/precision/recall"),
    }


def evaluate(loaded, out, data_config, extractor, requested, num_samples, num_real, batch_size, seed=0,
             truncation_psi=1.0, w_avg_samples=10000, noise=True, pr_k=3, real_stats_cache=None,
             extractor_kind="offline", extractor_path=None, model=None):
    """Measures `requested` metrics of `loaded` (a LoadedGenerator) against `data_config`'s real images,
    writes the spectrum files and appends the StyleGAN-named `out/metric-<name>.jsonl` logs; returns
    (summary dict, the path of metrics.json to write).

    `num_real` may be `metric_log.FULL` (every real image). `real_stats_cache`: a directory of cached
    real statistics (None: no cache), keyed by `protocol.real_stats_key` of the data and of the
    extractor `extractor_kind` / `extractor_path`. `model` names the model in the logs.
    """
    start = time.time()
    generator = loaded.generator
    resolution = int(generator.size)
    feature_metrics = tuple(m for m in requested if m != "spectrum")
    w_avg = loaded.w_avg_or_estimate(w_avg_samples) if truncation_psi != 1.0 else loaded.w_avg
    sample_fn = protocol.sampler(generator, data_config, batch_size, num_real, seed=seed, psi=truncation_psi,
                                 w_avg=w_avg, noise=noise)
    real = protocol.real_image_batches(data_config, resolution, batch_size)
    want_spectrum = "spectrum" in requested
    requested_real = num_real
    real_tap = _Tap(spectrum.SpectrumAccumulator() if want_spectrum else None,
                    num_samples if num_real == metric_log.FULL else num_real)
    fake_tap = _Tap(spectrum.SpectrumAccumulator() if want_spectrum else None, num_samples)

    real_cache = real_cache_key = None
    if real_stats_cache and feature_metrics and not want_spectrum:  # spectra need the real images
        real_cache = fid_lib.RealStatisticsCache(pathlib.Path(real_stats_cache).expanduser())
        real_cache_key = protocol.real_stats_key(data_config, data_config.get("split"), resolution, extractor_kind,
                                                 extractor_path)
    metrics, report = {}, {}
    if feature_metrics:
        step = re.search(r"ckpt-(\d+)$", loaded.source)
        results, _, paths = protocol.evaluate(
            generator, data_config, extractor, num_samples=num_samples, num_real=num_real, batch_size=batch_size,
            seed=seed, metrics=feature_metrics, pr_k=pr_k, sample_fn=fake_tap.wrap_sample_fn(sample_fn),
            real=real_tap.wrap_batches(real), real_cache=real_cache, real_cache_key=real_cache_key, log_dir=out,
            step=int(step.group(1)) if step else None, model=str(model or loaded.source), progress=True,
        )
        names = metric_log.stylegan_keys(feature_metrics, num_samples, requested_real, extractor.standard, pr_k)
        metrics.update(_feature_entries(results, extractor, names))
        num_real, num_samples = results["num_real"], results["num_fake"]
        report["feature_seconds"] = results["seconds"]
        report["metric_logs"] = [p.name for p in paths]
        if latents.num_classes(generator) and "fid" in feature_metrics:  # FID per class beside the overall one
            report["per_class"] = protocol.evaluate_per_class(
                generator, data_config, extractor, num_samples, batch_size, seed, truncation_psi, w_avg, noise,
                loaded.class_names)
    else:
        num_real = real_tap.limit  # spectra alone: num_real=FULL means as many real as generated images
        _spectrum_only(real, sample_fn, real_tap, fake_tap, num_real, num_samples, batch_size, seed)

    out = pathlib.Path(out)
    out.mkdir(parents=True, exist_ok=True)
    if want_spectrum:
        spectrum_metrics, report["spectrum"] = _write_spectra(out, real_tap.accumulator, fake_tap.accumulator)
        metrics.update(spectrum_metrics)
    summary = {
        "metrics": metrics,
        "standard": bool(extractor.standard) if extractor is not None else None,
        "model": {"source": loaded.source, "resolution": resolution},
        "data": describe_data(data_config),
        "num_samples": int(num_samples),
        "num_real": int(num_real),
        "seed": seed,
        "truncation_psi": truncation_psi,
        "noise": "seeded per-pixel noise" if noise else "none",
        "batch_size": batch_size,
        "pr_k": pr_k if "pr" in requested else None,
        "seconds": round(time.time() - start, 3),  # load + generate + features + statistics + plots
        **report,
    }
    return summary, out / "metrics.json"


# What an evaluation writes into --out besides the append-only metric logs.
OUTPUT_FILES = ("metrics.json", "spectrum_real.png", "spectrum_generated.png", "spectrum_profile.png",
                "spectrum_real.npy", "spectrum_generated.npy")
