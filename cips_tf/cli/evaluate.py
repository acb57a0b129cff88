"""Evaluates a trained generator: FID, KID, precision/recall and spectra against real data.

Usage:
  cips-evaluate --model=PATH --out=DIR [--data=SPEC] [--metrics=fid,kid,precision_recall,spectrum]
                [--num_samples=10000] [--num_real=N] [--extractor=offline|inception]
                [--extractor_path=...] [--truncation_psi=1.0] [--seed=0] [--batch_size=50]

PATH is a training workdir (the EMA generator of its latest checkpoint, or of --step) or an
exported SavedModel version directory. Images are generated at the generator's own resolution
and the real images are brought to that resolution by the data pipeline (evaluation mode: source
order, no augmentation; the first --num_real images are used).

--data names the real images (default for a workdir: the run's own `config.data`):
  fashion_mnist[:train|test|all]   the offline Fashion-MNIST (Debian's dataset-fashion-mnist)
  folder:/path/to/images           a directory of image files
  tfrecord:/path/or/glob           cips-tf TFRecord shards
  tfds:NAME[:SPLIT]                a prepared TFDS dataset, e.g. tfds:celeb_a_hq/256:train,
                                   tfds:my_dataset:1.0.0:train[:5000] (--data_dir: TFDS data_dir)

--extractor:
  offline    (default) the small Fashion-MNIST CNN. Its numbers are NON-STANDARD: they are named
             fid_offline, kid_offline, ... and labelled so in metrics.json; they are not comparable
             with any published FID. With --extractor_path the extractor is loaded from there
             (and must exist). Without it, the default cache directory is used
             ($CIPS_EXTRACTOR_DIR or ~/.cache/cips_tf/extractors/fashion_mnist_cnn_v1); if absent
             the extractor is trained there once (about 2 minutes on 2 CPU cores; a log line says
             so), unless --notrain_extractor, which fails with the command that creates it.
  inception  the standard FID Inception network (inception-2015-12-05) from --extractor_path or
             $CIPS_INCEPTION_PATH; without local weights the command fails at once and says how
             to get them.

Metric names follow StyleGAN (cips_tf.metrics.metric_log): fid50k_full, kid50k_full, pr50k3_full
(--num_real=0: every real image), fid2k (as many real as generated images), fid2k_real10k, and an
`_offline` suffix for the non-standard extractor. Each run appends one line per metric to
DIR/metric-<name>.jsonl (step, value, sample counts, extractor, standard).

Writes DIR/metrics.json (every number with a description and whether it is standard) and, with
`spectrum` in --metrics, DIR/spectrum_real.png and DIR/spectrum_generated.png (mean log-magnitude
spectra on one colour scale, paper Fig. 7a) and DIR/spectrum_profile.png (azimuthal integration
of the power spectrum, real vs generated, Fig. 7b).

Class-conditional models (trained with data.labels): the overall metrics generate each image with
the class of a real image compared (the real labels in evaluation order, cycled), and FID is also
measured per class, class c's renders against the real images of class c (up to --num_samples
each): metrics.json's "per_class" {class name: {class, fid..., num_real, num_fake}}, printed one line
per class. The --data must then carry labels (the run's own config.data does).

Generated image k uses z = z_from_seed(--seed + k) (the seed of `cips-generate --seeds`), is
truncated toward w_avg by --truncation_psi, and is rendered on the native grid in eval mode with
reproducible per-pixel noise (see cips_tf.metrics.protocol; --nonoise renders without noise).
"""
import json
import math
import pathlib
import re
import sys
import time

from absl import app, flags, logging

from cips_tf.cli import errors as cli_errors
from cips_tf.cli import outputs

FLAGS = flags.FLAGS
flags.DEFINE_string("model", None, "Training workdir or exported SavedModel directory.", required=True)
flags.DEFINE_string("out", None, "Output directory for metrics.json and the plots.", required=True)
flags.DEFINE_boolean("overwrite", False, "Replace metrics.json and the plots already in --out (the metric-*.jsonl "
                     "logs are appended to either way, as StyleGAN's are).")
flags.DEFINE_string("data", None, "Real data: fashion_mnist[:split], folder:PATH, tfrecord:PATH, "
                    "tfds:NAME[:SPLIT]. Default: the workdir's config.data.")
flags.DEFINE_string("data_dir", None, "TFDS data_dir (tfds:) or Fashion-MNIST IDX directory (fashion_mnist).")
flags.DEFINE_list("metrics", ["fid", "kid", "precision_recall", "spectrum"],
                  "Any of fid, kid, precision_recall (or pr), spectrum.")
flags.DEFINE_integer("num_samples", 10000, "Generated images.", lower_bound=2)
flags.DEFINE_integer("num_real", None, "Real images (default: --num_samples; 0: the whole dataset, StyleGAN's "
                     "'_full' metrics such as fid50k_full).", lower_bound=0)
flags.DEFINE_string("real_stats_cache", "~/.cache/cips_tf/real_stats",
                    "Directory of cached real-image statistics, keyed by a dataset fingerprint ('' disables).")
flags.DEFINE_enum("extractor", "offline", ["offline", "inception"],
                  "Feature network: offline (NON-STANDARD Fashion-MNIST CNN) or inception (standard FID).")
flags.DEFINE_string("extractor_path", None, "Offline extractor directory, or the Inception weights.")
flags.DEFINE_boolean("allow_unknown_extractor", False, "--extractor=inception: accept weights whose SHA-256 is not "
                     "a known inception-2015-12-05 file; the numbers are then labelled NON-STANDARD.")
flags.DEFINE_boolean("train_extractor", True,
                     "Train the offline extractor into its default cache directory if it is absent there.")
flags.DEFINE_float("truncation_psi", 1.0, "Truncation psi toward w_avg (1 = none, the standard for FID).")
flags.DEFINE_integer("w_avg_samples", 10000, "z samples to estimate w_avg when psi != 1 and the model has none.")
flags.DEFINE_integer("seed", 0, "First latent seed (image k uses seed + k).")
flags.DEFINE_boolean("noise", True, "Per-pixel noise when rendering (seeded; the official protocol).")
flags.DEFINE_integer("batch_size", 50, "Images per generator / extractor call.", lower_bound=1)
flags.DEFINE_integer("pr_k", 3, "Neighbourhood size k of precision/recall.", lower_bound=1)
flags.DEFINE_integer("step", None, "Checkpoint step of a training workdir (default: the latest).")

METRIC_ALIASES = {"fid": "fid", "kid": "kid", "precision_recall": "pr", "pr": "pr", "spectrum": "spectrum"}

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
        import numpy as np  # pylint: disable=g-import-not-at-top

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
    import keras  # pylint: disable=g-import-not-at-top

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
    import numpy as np  # pylint: disable=g-import-not-at-top

    from cips_tf.metrics import spectrum  # pylint: disable=g-import-not-at-top

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


def _requested_metrics(names):
    """--metrics names -> the canonical metrics in order, without repeats (UsageError on unknown names)."""
    requested = []
    for name in names:
        if name not in METRIC_ALIASES:
            raise app.UsageError(f"--metrics: unknown metric {name!r}; choose from fid, kid, precision_recall, spectrum")
        if METRIC_ALIASES[name] not in requested:
            requested.append(METRIC_ALIASES[name])
    return requested


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


def _extractor_summary(extractor, kind, path):
    from cips_tf.metrics import protocol  # pylint: disable=g-import-not-at-top

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
    from cips_tf.metrics import evaluate as evaluate_lib  # pylint: disable=g-import-not-at-top
    from cips_tf.metrics import metric_log  # pylint: disable=g-import-not-at-top
    from cips_tf.metrics import protocol  # pylint: disable=g-import-not-at-top
    from cips_tf.metrics import spectrum  # pylint: disable=g-import-not-at-top
    from cips_tf import latents  # pylint: disable=g-import-not-at-top

    start = time.time()
    generator = loaded.generator
    resolution = int(generator.size)
    feature_metrics = tuple(m for m in requested if m != "spectrum")
    w_avg = loaded.w_avg_or_estimate(w_avg_samples) if truncation_psi != 1.0 else loaded.w_avg
    labels = None
    if latents.num_classes(generator):  # conditional: the generated classes follow the real images compared
        labels = protocol.real_labels(data_config, None if num_real == metric_log.FULL else int(num_real))
    sample_fn = protocol.make_sample_fn(generator, batch_size, seed, truncation_psi, w_avg, noise, labels=labels)
    real = protocol.real_image_batches(data_config, resolution, batch_size)
    want_spectrum = "spectrum" in requested
    requested_real = num_real
    real_tap = _Tap(spectrum.SpectrumAccumulator() if want_spectrum else None,
                    num_samples if num_real == metric_log.FULL else num_real)
    fake_tap = _Tap(spectrum.SpectrumAccumulator() if want_spectrum else None, num_samples)

    real_cache = real_cache_key = None
    if real_stats_cache and feature_metrics and not want_spectrum:  # spectra need the real images
        from cips_tf.metrics import fid as fid_lib  # pylint: disable=g-import-not-at-top

        real_cache = fid_lib.RealStatisticsCache(pathlib.Path(real_stats_cache).expanduser())
        real_cache_key = protocol.real_stats_key(data_config, data_config.get("split"), resolution, extractor_kind,
                                                 extractor_path)
    metrics, report = {}, {}
    if feature_metrics:
        results = evaluate_lib.evaluate_generator(
            real_tap.wrap_batches(real), fake_tap.wrap_sample_fn(sample_fn), extractor, num_samples=num_samples,
            batch_size=batch_size, num_real=num_real, metrics=feature_metrics, seed=seed, pr_k=pr_k,
            real_cache=real_cache, real_cache_key=real_cache_key, progress=True,
        )
        names = metric_log.stylegan_keys(feature_metrics, num_samples, requested_real, extractor.standard, pr_k)
        metrics.update(_feature_entries(results, extractor, names))
        num_real, num_samples = results["num_real"], results["num_fake"]
        report["feature_seconds"] = results["seconds"]
        step = re.search(r"ckpt-(\d+)$", loaded.source)
        _, paths = protocol.log_results(out, results, feature_metrics, num_samples, requested_real,
                                        step=int(step.group(1)) if step else None, pr_k=pr_k,
                                        model=str(model or loaded.source))
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


def main(argv):
    if len(argv) > 1:
        raise app.UsageError(f"unexpected arguments: {argv[1:]}")
    requested = _requested_metrics(FLAGS.metrics)
    model_path = pathlib.Path(FLAGS.model)
    if not model_path.exists():  # before any extractor training or data loading
        raise FileNotFoundError(f"--model={model_path}: not found (a training workdir or an exported SavedModel)")
    if FLAGS.data is None and not (model_path / "config.json").exists():
        raise app.UsageError(f"--data is required: {model_path} is not a training workdir with a config.json")
    if FLAGS.num_real == 1:
        raise app.UsageError("--num_real=1: statistics need at least 2 real images (0 means all of them)")
    outputs.refuse_overwrite(FLAGS.out, OUTPUT_FILES, "cips-evaluate", FLAGS.overwrite)  # before any work

    from cips_tf.metrics import inception as inception_lib  # pylint: disable=g-import-not-at-top
    from cips_tf.metrics import metric_log  # pylint: disable=g-import-not-at-top
    from cips_tf.metrics import protocol  # pylint: disable=g-import-not-at-top
    from cips_tf.models.loading import load_generator  # pylint: disable=g-import-not-at-top

    data_config = None
    if FLAGS.data is not None:
        try:
            data_config = protocol.parse_data_spec(FLAGS.data, FLAGS.data_dir)
        except ValueError as e:
            raise app.UsageError(str(e)) from e

    extractor = None
    if any(m != "spectrum" for m in requested):  # load the extractor first: a missing one fails before any work
        try:
            extractor = protocol.load_extractor(FLAGS.extractor, FLAGS.extractor_path, FLAGS.train_extractor,
                                                allow_unknown=FLAGS.allow_unknown_extractor)
        except (inception_lib.InceptionWeightsNotFoundError, inception_lib.UnknownExtractorError,
                FileNotFoundError) as e:
            sys.exit(f"cips-evaluate: error: {e}")
        logging.info("extractor %s (%s)", extractor.name, "standard" if extractor.standard else "NON-STANDARD")

    start = time.time()  # after any one-off extractor training
    loaded = load_generator(FLAGS.model, step=FLAGS.step)
    logging.info("loaded generator from %s (%d px)", loaded.source, int(loaded.generator.size))
    if data_config is None:
        data_config = loaded.config.data
        if FLAGS.data_dir:
            data_config = data_config.copy_and_resolve_references()
            data_config.data_dir = FLAGS.data_dir
    if getattr(loaded.generator, "num_classes", 0):  # conditional: the real images with their labels
        from cips_tf.data import labels as labels_lib  # pylint: disable=g-import-not-at-top

        data_config = labels_lib.with_labels(data_config)
    num_real = metric_log.FULL if FLAGS.num_real == 0 else (FLAGS.num_real or FLAGS.num_samples)
    summary, path = evaluate(
        loaded, FLAGS.out, data_config, extractor, requested, FLAGS.num_samples, num_real, FLAGS.batch_size,
        FLAGS.seed, FLAGS.truncation_psi, FLAGS.w_avg_samples, FLAGS.noise, FLAGS.pr_k,
        real_stats_cache=FLAGS.real_stats_cache or None, extractor_kind=FLAGS.extractor,
        extractor_path=FLAGS.extractor_path, model=FLAGS.model,
    )
    summary["extractor"] = _extractor_summary(extractor, FLAGS.extractor, FLAGS.extractor_path)
    summary["model"]["path"] = str(FLAGS.model)
    summary["data"]["spec"] = FLAGS.data or "workdir config.data"
    summary["seconds"] = round(time.time() - start, 3)
    path.write_text(json.dumps(summary, indent=2, allow_nan=False) + "\n")
    for key, entry in summary["metrics"].items():
        value = "undefined" if entry["value"] is None else f"{entry['value']:.6g}"
        print(f"{key} = {value}{'' if entry['standard'] else '  (NON-STANDARD)'}")
    for name, entry in summary.get("per_class", {}).items():  # conditional models: FID per class
        fid_key = next(k for k in entry if k.startswith("fid"))
        print(f"{fid_key} class {entry['class']} ({name}) = {entry[fid_key]:.6g}  ({entry['num_real']} real, "
              f"{entry['num_fake']} generated)")
    print(path)


def run():
    """Console-script entry point."""
    cli_errors.run(main)


if __name__ == "__main__":
    run()
