"""Exports a trained generator as a TF Serving SavedModel version.

Usage:
  cips-export --model=PATH --export_base=BASE [--model_name=cips] [--version=N] [--step=N]
              [--max_pixels=262144] [--max_batch=64] [--nowarmup] [--w_avg_samples=10000]
              [--format=saved_model,onnx,openvino,litert] [--points=P]

PATH is a training workdir (the EMA generator of its latest checkpoint, or of --step) or an
exported SavedModel version directory (re-export, e.g. with another pixel limit). Writes
BASE/<model_name>/<version>/ atomically (see cips_tf.export.saved_model) and prints its path.
When PATH carries no w_avg, it is estimated from --w_avg_samples mapped latents.
--format lists the formats to write, one version number for all: "saved_model" as above, "onnx",
"openvino" and "litert" into BASE/<model_name>/<format>/<version>/ (see cips_tf.export.runtimes;
each needs its extra, e.g. pip install 'cips-tf[onnx]').

Every signature refuses a request with N > --max_batch, and every rendering one a request of more
than --max_pixels pixels (N * h * w), with one InvalidArgument line naming the limit; both are
recorded in assets.extra/cips_export.json, and BASE/<model_name>/batching_parameters.txt holds TF
Serving batching parameters that fit them (--enable_batching --batching_parameters_file=...).
An export never replaces a version: an existing --version is refused.

A class-conditional model (trained with data.labels) exports as saved_model only; its signatures
that map z (serving_default, from_seed, render, mapping) REQUIRE a `class_index` [N] int64 input
(the class of each example; refused outside 0..num_classes-1), and its
class names go to assets.extra/class_names.json and the metadata.
Truncation is not baked into the export: every request carries its own `truncation_psi`
(1.0 = no truncation), since TF Serving signatures have no optional inputs.
"""
from absl import app, flags, logging

from cips_tf import entry_point
from cips_tf.export.runtimes import check_formats, export_formats
from cips_tf.export.saved_model import DEFAULT_MAX_BATCH, DEFAULT_MAX_PIXELS
from cips_tf.loading import load_generator

FLAGS = flags.FLAGS
flags.DEFINE_string("model", None, "Training workdir or exported SavedModel directory.", required=True)
flags.DEFINE_string("export_base", None, "TF Serving base directory; the model goes to BASE/<model_name>/<version>.",
                    required=True)
flags.DEFINE_string("model_name", "cips", "Model name (directory under --export_base, TF Serving MODEL_NAME).")
flags.DEFINE_integer("version", None, "Version number (default: largest existing version + 1).", lower_bound=1)
flags.DEFINE_integer("step", None, "Checkpoint step of a training workdir (default: the latest).")
flags.DEFINE_integer("max_pixels", DEFAULT_MAX_PIXELS,
                     "Largest number of pixels one request may ask for (N * h * w), every signature.", lower_bound=1)
flags.DEFINE_alias("max_render_pixels", "max_pixels")  # its name before --max_batch
flags.DEFINE_integer("max_batch", DEFAULT_MAX_BATCH, "Largest batch N one request may hold, every signature.",
                     lower_bound=1)
flags.DEFINE_boolean("warmup", True, "Write assets.extra/tf_serving_warmup_requests.")
flags.DEFINE_integer("w_avg_samples", 10000, "Latents used to estimate w_avg when the model has none.",
                     lower_bound=1)
flags.DEFINE_integer("w_avg_seed", 0, "Seed of the w_avg estimate.")
flags.DEFINE_list("format", ["saved_model"], "Formats to write: saved_model, onnx, openvino, litert (several at once).")
flags.DEFINE_integer("points", None, "Fixed point count P of the onnx/openvino/litert synthesis graph "
                     "(default: dynamic).", lower_bound=1)


def main(argv):
    if len(argv) > 1:
        raise app.UsageError(f"unexpected arguments: {argv[1:]}")
    formats = check_formats(FLAGS.format)  # unknown names and missing extras fail before any work
    loaded = load_generator(FLAGS.model, step=FLAGS.step)
    logging.info("loaded generator from %s", loaded.source)
    w_avg = loaded.w_avg_or_estimate(FLAGS.w_avg_samples, seed=FLAGS.w_avg_seed)
    paths = export_formats(
        loaded.generator,
        w_avg,
        FLAGS.export_base,
        FLAGS.model_name,
        formats,
        version=FLAGS.version,
        points=FLAGS.points,
        max_pixels=FLAGS.max_pixels,
        max_batch=FLAGS.max_batch,
        warmup=FLAGS.warmup,
        **({"class_names": loaded.class_names} if loaded.class_names else {}),
    )
    for path in paths.values():
        print(path)


def run():
    """Console-script entry point."""
    entry_point.run(main)


if __name__ == "__main__":
    run()
