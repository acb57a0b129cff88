"""`cips-project`: projects real images into a trained CIPS model's latent space (StyleGAN2-style).

Usage:
  cips-project --model=WORKDIR_OR_EXPORT --target=a.png[,b.jpg,...] --out=DIR
               [--steps=1000] [--space=w|w+] [--scale=4] [--features=auto|discriminator|offline|none|PATH]

Each target is read (any mode -> RGB), its shorter side resized to the model's resolution and
center-cropped, then a latent is optimized to reproduce it (cips_tf.synthesis.projection: Adam
with a learning-rate ramp, latent noise early on, pixel + perceptual loss; --optimize_noise also
fits the per-pixel noise with StyleGAN2's noise regularization).

--features (the perceptual distance):
  auto           (default) the run's own discriminator when the model is a training workdir whose
                 checkpoint holds D; else the offline Fashion-MNIST extractor when it exists
                 (--extractor_path, $CIPS_EXTRACTOR_DIR or ~/.cache/cips_tf/extractors/...);
                 else pixels only (a warning says so).
  discriminator  the run's discriminator (from-RGB and residual-block feature maps).
  offline        the offline Fashion-MNIST CNN (its convolution feature maps).
  none           pixel distance only.
  PATH           any Keras model file (.keras): its convolution outputs (or spatial layer outputs).

Writes, per target (into DIR, or DIR/<target name>/ when several targets are given):
  target.png              the target at the model's resolution
  projection.png          the reconstruction (native grid)
  projection_x{k}.png     the projection rendered on a k-times denser grid (--scale, chunked renderer)
  compare.png             target | projection
  progress.png            a strip of renders during the optimization (w_avg first)
  progress.mp4 / .gif     the same as a video (--video; MP4 needs `pip install 'cips-tf[video]'`)
  projected_w.npz         {"w": [1, 512]}                 (--space=w)
  projected_ws.npz        {"ws": [1, num_ws, 512]}       (--space=w+)
  noise.npz               the optimized noise inputs       (--optimize_noise)
  projection.json         PSNR of the projection and of the w_avg image, losses, settings
"""
import pathlib

import keras
import numpy as np
from absl import app, flags, logging

from cips_tf import entry_point, outputs, rendering
from cips_tf.data import transforms
from cips_tf.data import images as images_lib
from cips_tf.metrics import feature_extractor as fe
from cips_tf.metrics import protocol
from cips_tf.loading import load_generator
from cips_tf.synthesis import projection, projection_files
from cips_tf.training import pretrained

FLAGS = flags.FLAGS
flags.DEFINE_string("model", None, "Training workdir or exported SavedModel directory.", required=True)
flags.DEFINE_list("target", None, "Target image file(s), comma-separated.", required=True)
flags.DEFINE_string("out", None, "Output directory.", required=True)
flags.DEFINE_boolean("overwrite", False, "Replace projection outputs already in --out.")
flags.DEFINE_integer("steps", 1000, "Optimization steps.", lower_bound=1)
flags.DEFINE_enum("space", "w", ["w", "w+"], "Optimize one w (w) or one w per modulated layer (w+).")
flags.DEFINE_integer("scale", 4, "Also render the projection on a k-times denser grid (1: skip).", lower_bound=1)
flags.DEFINE_string("features", "auto", "Perceptual features: auto, discriminator, offline, none, or a .keras path.")
flags.DEFINE_string("extractor_path", None, "Directory (or .keras file) of the offline extractor.")
flags.DEFINE_float("pixel_weight", 1.0, "Weight of the mean squared pixel error.")
flags.DEFINE_float("perceptual_weight", 1.0, "Weight of the perceptual distance.")
flags.DEFINE_float("lr", 0.1, "Peak learning rate.")
flags.DEFINE_float("noise_factor", 0.05, "Initial latent noise, as a fraction of w_std.")
flags.DEFINE_float("noise_ramp", 0.75, "Fraction of the steps over which the latent noise decays to 0.")
flags.DEFINE_boolean("optimize_noise", False, "Also optimize the per-pixel noise (native grid only).")
flags.DEFINE_float("noise_regularization", 1e5, "Weight of the noise regularization (--optimize_noise).")
flags.DEFINE_integer("w_avg_samples", 10000, "Mapped z for w_std (and w_avg when the model has none).")
flags.DEFINE_integer("seed", 0, "Seeds the latent noise.")
flags.DEFINE_integer("snapshots", 8, "Renders kept for the progress strip / video.", lower_bound=1)
flags.DEFINE_boolean("video", True, "Write the progress as a video (MP4 with imageio-ffmpeg, else GIF).")
flags.DEFINE_integer("chunk_pixels", 32768, "Points per rendering chunk of the dense render.")
flags.DEFINE_integer("step", None, "Checkpoint step of a training workdir (default: latest).")

FEATURE_CHOICES = ("auto", "discriminator", "offline", "none")


def _offline_extractor_model(path, required):
    directory = pathlib.Path(path).expanduser() if path else protocol.default_extractor_dir()
    model_file = directory if directory.suffix == ".keras" else directory / fe.MODEL_FILENAME
    if not model_file.exists():
        if required:
            raise app.UsageError(f"--features=offline: {model_file} not found; create it with "
                                 f"`cips-feature-extractor --out={model_file.parent}` or pass --extractor_path")
        return None
    return fe.load_feature_extractor(model_file).model


def resolve_features(spec, model_path, step, extractor_path):
    """(features callable or None, description) for --features."""
    if spec not in FEATURE_CHOICES:
        path = pathlib.Path(spec).expanduser()
        if not path.is_file():
            raise app.UsageError(f"--features={spec}: not one of {', '.join(FEATURE_CHOICES)} and no such file")
        try:
            model = keras.saving.load_model(path, compile=False)
        except Exception as e:  # Keras raises ValueError, OSError, ... for non-model files
            raise app.UsageError(f"--features={spec}: not a Keras model file ({type(e).__name__}: {e})") from e
        f = projection.keras_features(model)
        return f, f.name
    if spec == "none":
        return None, "none (pixels only)"
    if spec in ("auto", "discriminator"):
        discriminator = None
        if (pathlib.Path(model_path) / "config.json").exists():
            discriminator = pretrained.load_pretrained(model_path, step).discriminator
        if discriminator is not None:
            f = projection.discriminator_features(discriminator)
            return f, f.name
        if spec == "discriminator":
            raise app.UsageError(f"--features=discriminator: {model_path} holds no discriminator (only training "
                                 "workdirs do); use --features=offline, none or a .keras path")
    model = _offline_extractor_model(extractor_path, required=spec == "offline")
    if model is not None:
        f = projection.keras_features(model)
        return f, "offline Fashion-MNIST CNN " + f.name
    logging.warning("no discriminator in %s and no offline extractor found: projecting with pixel distance only",
                    model_path)
    return None, "none (pixels only; no discriminator or offline extractor found)"


flags.DEFINE_integer("max_image_pixels", 2**26, "Targets whose header declares more pixels are refused before "
                     "decoding (cips_tf.data.images.MAX_IMAGE_PIXELS).", lower_bound=1)
flags.DEFINE_float("max_aspect_ratio", 16.0, "Targets more elongated than this (longer / shorter side) are refused.",
                   lower_bound=1)


def load_target(path, size, limits=None):
    """An image file -> float32 [size, size, 3] in [-1, 1] (center square resized to `size`).

    Read by the checked reader of the data pipelines (`images.read_image_file`): the header's size
    is checked against `limits` (default: --max_image_pixels / --max_aspect_ratio, or the library
    defaults when flags are not parsed) before decoding, and a large image is decoded reduced.
    """
    if limits is None:
        limits = (images_lib.ImageLimits(FLAGS.max_image_pixels, FLAGS.max_aspect_ratio) if FLAGS.is_parsed()
                  else images_lib.ImageLimits())
    try:
        rgb = images_lib.read_image_file(path, limits=limits, min_side=size)
    except images_lib.BadImageError as e:
        raise app.UsageError(f"--target: {e}") from e
    fitted = np.asarray(transforms.fit_to_resolution(rgb, size))
    return fitted.astype(np.float32) / 127.5 - 1.0


def main(argv):
    if len(argv) > 1:
        raise app.UsageError(f"unexpected arguments: {argv[1:]}")
    targets = [t.strip() for t in FLAGS.target if t.strip()]
    for t in targets:
        if not pathlib.Path(t).is_file():
            raise app.UsageError(f"--target: {t}: no such file")
    stems = [pathlib.Path(t).stem for t in targets]
    if len(set(stems)) != len(stems):
        raise app.UsageError(f"--target: file names must differ (outputs go to DIR/<name>/), got {stems}")
    out_root = pathlib.Path(FLAGS.out)
    try:  # a name derived from a target (e.g. '...png' -> '..') never leads outside --out
        out_dirs = [out_root if len(targets) == 1 else outputs.inside(out_root, stem) for stem in stems]
    except ValueError as e:
        raise app.UsageError(f"--target: {e}") from e
    for out in out_dirs:  # before any work: existing outputs are kept unless --overwrite
        outputs.refuse_overwrite(out, projection_files.OUTPUT_FILES, "cips-project", FLAGS.overwrite)

    loaded = load_generator(FLAGS.model, step=FLAGS.step)
    g = loaded.generator
    logging.info("loaded %s (%d px)", loaded.source, g.size)
    features, features_name = resolve_features(FLAGS.features, FLAGS.model, FLAGS.step, FLAGS.extractor_path)
    logging.info("perceptual features: %s", features_name)
    w_avg, w_std = projection.w_statistics(g, FLAGS.w_avg_samples, seed=0, w_avg=loaded.w_avg)
    avg_image = rendering.render(g, w_avg[None])  # the w_avg image: the baseline a projection must beat
    for target_path, stem, out in zip(targets, stems, out_dirs):
        out.mkdir(parents=True, exist_ok=True)
        report = projection_files.project_to_files(
            g, load_target(target_path, g.size), out, w_avg=w_avg, w_std=w_std, avg_image=avg_image,
            about={"target": str(target_path), "model": str(FLAGS.model), "source": loaded.source},
            features=features, features_name=features_name, space=FLAGS.space, num_steps=FLAGS.steps,
            snapshots=FLAGS.snapshots, scale=FLAGS.scale, write_video=FLAGS.video, chunk_pixels=FLAGS.chunk_pixels,
            pixel_weight=FLAGS.pixel_weight, perceptual_weight=FLAGS.perceptual_weight,
            initial_learning_rate=FLAGS.lr, initial_noise_factor=FLAGS.noise_factor, noise_ramp=FLAGS.noise_ramp,
            optimize_noise=FLAGS.optimize_noise, regularize_noise_weight=FLAGS.noise_regularization, seed=FLAGS.seed)
        print(f"{stem}: PSNR {report['psnr_db']:.2f} dB (w_avg image {report['psnr_w_avg_db']:.2f} dB) in "
              f"{report['seconds']:.1f} s -> {out}")


def run():
    """Console-script entry point."""
    entry_point.run(main)


if __name__ == "__main__":
    run()
