"""Generates the paper's figures from a trained CIPS model (Sec. 4.4-4.8, App. D-E).

Usage:
  cips-generate --model=WORKDIR_OR_SAVEDMODEL --task=TASK[,TASK...] --out=DIR [--seeds=0-7] [...]
  python -m cips_tf.cli.generate ...

Tasks (outputs go to DIR/TASK/; PNGs, plus .npy where numeric; deterministic given the seeds):
  sample            grid of samples, truncated toward w_avg by --psi           (Fig. 16)
  interpolate       latent morphing through --seeds in --steps per pair        (Fig. 10)
  style_mix         A's w replaced by B's in the style groups --mix_groups     (Fig. 19)
  super_resolution  --factor times denser grid beside Lanczos upsampling       (Fig. 9)
  foveated          --fractions of the pixels around --gaze, rest interpolated (Fig. 8)
  panorama          360-degree cylindrical panoramas (wrap shown twice)        (Figs 11, 17)
  blend             pixel-wise blend of two styles under a mask                (Fig. 11c)
  encodings         Fourier/embedding zeroed, PCA of the encodings, spectra    (Figs 4-6, 14)
  neighbours        k nearest training images of each sample                   (Fig. 18)
  video             latent walk through --seeds, --frames_per_seed each; MP4 (imageio-ffmpeg,
                    `pip install 'cips-tf[video]'`) or GIF                      (video.mp4|gif)
  zoom              continuous zoom into --zoom_center, up to --zoom times denser, one video
                    per seed                                                   (Sec. 4.4 as video)
  compare           the samples beside as many real training images, upscaled --scale times
                    and labelled with the step and minutes of training: samples.png, real.png
                    and both side by side in samples_vs_real.png

Seed lists take ranges: --seeds=0-31,40. --trunc is an alias of --psi.

Any H x W (sample, interpolate): --height=H --width=W (one of them alone keeps the model's aspect),
or --aspect=W:H (the shorter side is then the model's resolution, or --height/--width when given).
Default: the model's training canvas (32 x 64
for a model trained at resolution 32 with aspect 2:1). The model's own aspect at another size spans
its training canvas (denser or coarser); any other aspect has square pixels with the shorter side
in [-1, 1], so a square model rendered wide extends x, the panorama-style extrapolation of the
paper (Sec. 4.8, Fig. 11). Its Fourier features extend; its learned coordinate embedding cannot
(its table covers the training canvas only), so beyond it every pixel gets the embedding of the
nearest edge entry: the border clamping of the official code's grid_sample.

Class-conditional models (trained with data.labels and model.num_classes): --class=3 or a class name
(--class=Sneaker) renders that class in every task; such a model needs --class, and an
unconditional model, an index out of range or an unknown name are refused before any output. The
names come from the run's class_names.json (or the export's).

--runtime=saved_model|onnx|openvino|litert renders through an export (cips-export --format=...)
instead of the Keras model: --model is then the export base, the model directory, a format
directory or a version directory (the newest version of that format is used), and w_avg is the
export's. The tasks that need only the mapping and synthesis graphs run (RUNTIME_TASKS), chunked
as with Keras (bounded memory at any size); the others are refused in one line. Outputs equal the
Keras ones within the export's tolerance (1e-4 on the float RGB: a uint8 pixel may differ by one
where a value sits on a quantization boundary; the SavedModel's signatures return uint8 images).
--precision=bf16 (OpenVINO only, where the CPU has native bf16) renders in bf16.

When --psi != 1 and the model carries no w_avg, w_avg is estimated from --w_avg_samples mapped z
and cached as DIR/w_avg-<fingerprint>.npy, keyed by the model's weights and --w_avg_samples (a
later run of the same model into the same DIR reuses it; another model never does). The cache is
never read or written through a symlink.

A task whose DIR/TASK/ already holds files fails (nothing is written) unless --overwrite is given,
which empties DIR/TASK/ first.
"""
import json
import pathlib

from absl import app, flags

from cips_tf import entry_point, outputs
from cips_tf.export import runtimes
from cips_tf.loading import LoadedGenerator, load_generator
from cips_tf.metrics import feature_extractor
from cips_tf.synthesis import tasks, video

FLAGS = flags.FLAGS
D = tasks.DEFAULTS  # every flag takes its default from the options of the tasks
flags.DEFINE_string("model", D["model"], "Training workdir (config.json + checkpoints/) or exported SavedModel.",
                    required=True)
flags.DEFINE_list("task", D["task"], f"Task(s), comma-separated: {', '.join(tasks.TASKS)}.", required=True)
flags.DEFINE_string("out", D["out"], "Output directory.", required=True)
flags.DEFINE_boolean("overwrite", D["overwrite"], "Replace the outputs of a task already in --out/TASK/.")
flags.DEFINE_string("seeds", D["seeds"],
                    "Latent seeds, e.g. '0-7' or '1,5,9' (default: --seed .. --seed + --num - 1).")
flags.DEFINE_integer("seed", D["seed"], "First seed when --seeds is not given; also seeds foveation patterns.")
flags.DEFINE_integer("num", D["num"], "Number of seeds when --seeds is not given.")
flags.DEFINE_string("seeds_b", D["seeds_b"], "Seeds of the B latents (style_mix, blend); default: each seed + 1000.")
flags.DEFINE_string("class", D["class"],
                    "Class of a class-conditional model: an index (3) or a class name (Sneaker).")
flags.DEFINE_float("psi", D["psi"], "Truncation psi toward w_avg (1 = none).")
flags.DEFINE_alias("trunc", "psi")
flags.DEFINE_integer("w_avg_samples", D["w_avg_samples"], "z samples for estimating w_avg when the model has none.")
flags.DEFINE_integer("ncols", D["ncols"], "Columns of sample grids (default: about square).")
flags.DEFINE_integer("chunk_pixels", D["chunk_pixels"], "Points per rendering chunk (bounds memory).")
flags.DEFINE_integer("scale", D["scale"], "compare: nearest-neighbour upscaling of both grids.", lower_bound=1)
flags.DEFINE_integer("step", D["step"], "Checkpoint step of a training workdir (default: latest).")
flags.DEFINE_enum("runtime", D["runtime"], ["keras", *runtimes.FORMATS],
                  "Render with the Keras model (--model: workdir, SavedModel or cips-convert output) or through "
                  "an export of that format (--model: export base, model, format or version directory).")
flags.DEFINE_enum("precision", D["precision"], list(runtimes.PRECISIONS),
                  "Inference precision of --runtime (bf16: openvino only, where the CPU has native bf16).")
flags.DEFINE_integer("steps", D["steps"], "interpolate: frames per pair of seeds, endpoints included.")
flags.DEFINE_enum("space", D["space"], ["w", "z"], "interpolate: interpolate in W (styles) or in Z.")
flags.DEFINE_string("mix_groups", D["mix_groups"],
                    "style_mix: ';'-separated 1-based style-group ranges, e.g. '6-8;3-5;1-2' "
                    "(default: the model's groups split in three, fine to coarse like Fig. 19).")
flags.DEFINE_integer("factor", D["factor"], "super_resolution: grid density factor k (renders k*size x k*size).")
flags.DEFINE_list("fractions", D["fractions"], "foveated: shares of pixels rendered.")
flags.DEFINE_list("gaze", D["gaze"], "foveated: gaze point x,y in normalised coordinates [-1, 1].")
flags.DEFINE_float("std_frac", D["std_frac"], "foveated: Gaussian std as a fraction of the image size.")
flags.DEFINE_enum("interpolation", D["interpolation"], ["cubic", "linear", "nearest"], "foveated: griddata method.")
flags.DEFINE_integer("height", D["height"], "sample/interpolate/panorama/foveated: rows (default: the training size).",
                     lower_bound=1)
flags.DEFINE_integer("width", D["width"], "sample/interpolate: columns (default: the training canvas's).",
                     lower_bound=1)
flags.DEFINE_string("aspect", D["aspect"], "sample/interpolate: width:height of the render, e.g. 2:1; the shorter "
                    "side is --height/--width or the model's resolution.")
flags.DEFINE_integer("panorama_width", D["panorama_width"],
                     "panorama: columns of the full 360 degrees (default: square pixels).")
flags.DEFINE_float("r_inner", D["r_inner"], "panorama: inner annulus radius (default: run config or 0.25).")
flags.DEFINE_float("r_outer", D["r_outer"], "panorama: outer annulus radius (default: run config or 1.0).")
flags.DEFINE_enum("mask", D["mask"], ["radial", "horizontal"], "blend: mask shape (default: horizontal on panoramas).")
flags.DEFINE_enum("blend_on", D["blend_on"], ["auto", "image", "panorama"],
                  "blend: render on the image grid or the panorama grid (auto: panorama for cylindrical runs).")
flags.DEFINE_integer("k", D["k"], "neighbours: neighbours per sample.")
flags.DEFINE_string("dataset", D["dataset"], "neighbours: 'fashion_mnist' (offline) or an .npy of uint8 images.")
flags.DEFINE_string("split", D["split"], "neighbours: Fashion-MNIST split.")
flags.DEFINE_string("data_dir", D["data_dir"], "neighbours: Fashion-MNIST IDX directory (default: Debian package's).")
flags.DEFINE_integer("num_reference", D["num_reference"], "neighbours: use only the first N training images.")
flags.DEFINE_enum("features", D["features"], ["auto", "pixels", "classifier"],
                  "neighbours: flattened downsampled pixels, the offline classifier, or auto (classifier if found).")
flags.DEFINE_string("extractor", D["extractor"], "neighbours: directory of the offline Fashion-MNIST classifier.")
flags.DEFINE_integer("frames_per_seed", D["frames_per_seed"], "video: frames from one seed to the next.",
                     lower_bound=1)
flags.DEFINE_boolean("loop", D["loop"], "video: return to the first seed (a seamless loop).")
flags.DEFINE_enum("walk", D["walk"], ["cubic", "linear"], "video: spline through the seeds' w.")
flags.DEFINE_integer("fps", D["fps"], "video/zoom: frames per second.", lower_bound=1)
flags.DEFINE_enum("video_format", D["video_format"], list(video.FORMATS),
                  "video/zoom: mp4 (needs imageio-ffmpeg), gif (Pillow), auto (mp4 when available).")
flags.DEFINE_integer("video_size", D["video_size"],
                     "video/zoom: frame height and width (default: the training size).")
flags.DEFINE_list("zoom_center", D["zoom_center"],
                  "zoom: point x,y to zoom into, normalised coordinates in [-1, 1].")
flags.DEFINE_float("zoom", D["zoom"], "zoom: final zoom factor (grid density relative to the first frame).")
flags.DEFINE_integer("zoom_frames", D["zoom_frames"], "zoom: frames per seed.", lower_bound=2)


def check_runtime(runtime, names, precision="fp32"):
    """Refuses (one line, before any work) the tasks `runtime` cannot render, bf16 outside a runtime,
    and a runtime whose extra is missing."""
    if runtime == "keras":
        if precision != "fp32":
            raise app.UsageError("--precision=bf16 renders through an export: add --runtime=openvino")
        return
    refused = [t for t in names if t not in tasks.RUNTIME_TASKS]
    if refused:
        raise app.UsageError(f"--task={refused[0]} cannot render through --runtime={runtime}: "
                             f"{tasks.KERAS_ONLY[refused[0]]}; use --runtime=keras (an export renders "
                             f"{', '.join(tasks.RUNTIME_TASKS)})")
    runtimes.check_formats([runtime], loading=True)  # a missing extra: one line naming it


def load_runtime(path, runtime, precision="fp32"):
    """The export of format `runtime` that `path` names as a `LoadedGenerator` (w_avg: the export's)."""
    version_dir = runtimes.find_export(path, runtime)
    metadata = pathlib.Path(version_dir) / "assets.extra" / "cips_export.json"
    if metadata.exists() and json.loads(metadata.read_text()).get("num_classes"):
        raise app.UsageError(f"{version_dir}: a class-conditional export; --runtime renders unconditional exports "
                             "only: render it with --runtime=keras --class=... (the export's Keras model loads too)")
    generator = runtimes.RuntimeGenerator(version_dir, precision=precision)
    return LoadedGenerator(generator, generator.w_avg, None, f"{version_dir} ({runtime}, {precision})")


def main(argv):
    if len(argv) > 1:
        raise app.UsageError(f"unexpected arguments: {argv[1:]}")
    names = [t.strip() for t in FLAGS.task]
    unknown = [t for t in names if t not in tasks.TASKS]
    if unknown:
        raise app.UsageError(f"unknown task(s) {unknown}; choose from {', '.join(tasks.TASKS)}")
    check_runtime(FLAGS.runtime, names, FLAGS.precision)
    loaded = None
    if FLAGS.runtime != "keras":  # found and loaded before any output is touched
        if FLAGS["class"].value is not None:
            raise app.UsageError(f"--class renders through the Keras model; --runtime={FLAGS.runtime} does not take "
                                 "a class yet (the SavedModel's signatures do: see cips-export)")
        if FLAGS.step is not None:
            raise app.UsageError(f"--step picks a checkpoint of a training workdir; --runtime={FLAGS.runtime} "
                                 "renders an export (pass its version directory instead)")
        loaded = load_runtime(FLAGS.model, FLAGS.runtime, FLAGS.precision)
    out = pathlib.Path(FLAGS.out)
    outputs.empty_task_dirs(out, names, "cips-generate", FLAGS.overwrite)
    if loaded is None:
        loaded = load_generator(FLAGS.model, step=FLAGS.step)
    opts = tasks.options(**{name: FLAGS[name].value for name in tasks.DEFAULTS})
    for task, task_dir in tasks.run_tasks(loaded, out, names, opts, feature_extractor.classifier_features):
        print(f"{task}: {task_dir}")


def run():
    """Console-script entry point."""
    entry_point.run(main)


if __name__ == "__main__":
    run()
