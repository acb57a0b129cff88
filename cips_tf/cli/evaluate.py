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
import pathlib
import sys
import time

from absl import app, flags, logging

from cips_tf import entry_point, outputs

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

def _requested_metrics(names):
    """--metrics names -> the canonical metrics in order, without repeats (UsageError on unknown names)."""
    requested = []
    for name in names:
        if name not in METRIC_ALIASES:
            raise app.UsageError(f"--metrics: unknown metric {name!r}; choose from fid, kid, precision_recall, spectrum")
        if METRIC_ALIASES[name] not in requested:
            requested.append(METRIC_ALIASES[name])
    return requested


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
    # Local: TensorFlow loads after the flags are checked (`import cips_tf` leaves it out on a GPU host).
    from cips_tf.data import labels as labels_lib
    from cips_tf.loading import load_generator
    from cips_tf.metrics import inception as inception_lib
    from cips_tf.metrics import metric_log, protocol
    from cips_tf.metrics.report import OUTPUT_FILES, evaluate, extractor_summary

    outputs.refuse_overwrite(FLAGS.out, OUTPUT_FILES, "cips-evaluate", FLAGS.overwrite)  # before any work
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
        data_config = labels_lib.with_labels(data_config)
    num_real = metric_log.FULL if FLAGS.num_real == 0 else (FLAGS.num_real or FLAGS.num_samples)
    summary, path = evaluate(
        loaded, FLAGS.out, data_config, extractor, requested, FLAGS.num_samples, num_real, FLAGS.batch_size,
        FLAGS.seed, FLAGS.truncation_psi, FLAGS.w_avg_samples, FLAGS.noise, FLAGS.pr_k,
        real_stats_cache=FLAGS.real_stats_cache or None, extractor_kind=FLAGS.extractor,
        extractor_path=FLAGS.extractor_path, model=FLAGS.model,
    )
    summary["extractor"] = extractor_summary(extractor, FLAGS.extractor, FLAGS.extractor_path)
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
    entry_point.run(main)


if __name__ == "__main__":
    run()
