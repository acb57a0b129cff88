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
import hashlib
import json
import pathlib
import shutil
import time
import types

import numpy as np
from absl import app, flags, logging

from cips_tf import entry_point
from cips_tf.cli import outputs
from PIL import Image

from cips_tf import coords_extra, fileio
from cips_tf.loading import load_generator
from cips_tf import data as data_lib
from cips_tf.metrics import feature_extractor
from cips_tf.synthesis import showcase
from cips_tf.synthesis import blend, common, encodings, foveated, neighbours, panorama, sampling, style_mixing
from cips_tf.synthesis import super_resolution, video, zoom

TASKS = ("sample", "interpolate", "style_mix", "super_resolution", "foveated", "panorama", "blend", "encodings",
         "neighbours", "video", "zoom", "compare")
RUNTIMES = ("keras", "saved_model", "onnx", "openvino", "litert")
# The tasks an export renders: one w per image through mapping + synthesis, on any coordinates.
RUNTIME_TASKS = ("sample", "interpolate", "super_resolution", "foveated", "panorama", "neighbours", "video", "zoom")
# Why the others need the Keras model.
KERAS_ONLY = {
    "style_mix": "it feeds per-layer styles, and an export's synthesis takes one w per image",
    "blend": "it feeds a style per pixel, and an export's synthesis takes one w per image",
    "encodings": "it zeroes parts of the network's input encoding, which an export does not expose",
    "compare": "it reads the real images named by a training workdir's config",
}

FLAGS = flags.FLAGS
_FLAGS_BEFORE = set(FLAGS)
flags.DEFINE_string("model", None, "Training workdir (config.json + checkpoints/) or exported SavedModel.",
                    required=True)
flags.DEFINE_list("task", None, f"Task(s), comma-separated: {', '.join(TASKS)}.", required=True)
flags.DEFINE_string("out", None, "Output directory.", required=True)
flags.DEFINE_boolean("overwrite", False, "Replace the outputs of a task already in --out/TASK/.")
flags.DEFINE_string("seeds", None, "Latent seeds, e.g. '0-7' or '1,5,9' (default: --seed .. --seed + --num - 1).")
flags.DEFINE_integer("seed", 0, "First seed when --seeds is not given; also seeds foveation patterns.")
flags.DEFINE_integer("num", 8, "Number of seeds when --seeds is not given.")
flags.DEFINE_string("seeds_b", None, "Seeds of the B latents (style_mix, blend); default: each seed + 1000.")
flags.DEFINE_string("class", None, "Class of a class-conditional model: an index (3) or a class name (Sneaker).")
flags.DEFINE_float("psi", 1.0, "Truncation psi toward w_avg (1 = none).")
flags.DEFINE_alias("trunc", "psi")
flags.DEFINE_integer("w_avg_samples", 10000, "z samples for estimating w_avg when the model has none.")
flags.DEFINE_integer("ncols", None, "Columns of sample grids (default: about square).")
flags.DEFINE_integer("chunk_pixels", 32768, "Points per rendering chunk (bounds memory).")
flags.DEFINE_integer("scale", 4, "compare: nearest-neighbour upscaling of both grids.", lower_bound=1)
flags.DEFINE_integer("step", None, "Checkpoint step of a training workdir (default: latest).")
flags.DEFINE_enum("runtime", "keras", list(RUNTIMES),
                  "Render with the Keras model (--model: workdir, SavedModel or cips-convert output) or through "
                  "an export of that format (--model: export base, model, format or version directory).")
flags.DEFINE_enum("precision", "fp32", ["fp32", "bf16"],
                  "Inference precision of --runtime (bf16: openvino only, where the CPU has native bf16).")
# interpolate
flags.DEFINE_integer("steps", 8, "interpolate: frames per pair of seeds, endpoints included.")
flags.DEFINE_enum("space", "w", ["w", "z"], "interpolate: interpolate in W (styles) or in Z.")
# style_mix
flags.DEFINE_string("mix_groups", None,
                    "style_mix: ';'-separated 1-based style-group ranges, e.g. '6-8;3-5;1-2' "
                    "(default: the model's groups split in three, fine to coarse like Fig. 19).")
# super_resolution
flags.DEFINE_integer("factor", 4, "super_resolution: grid density factor k (renders k*size x k*size).")
# foveated
flags.DEFINE_list("fractions", ["0.05", "0.25", "0.5", "1.0"], "foveated: shares of pixels rendered.")
flags.DEFINE_list("gaze", ["0", "0"], "foveated: gaze point x,y in normalised coordinates [-1, 1].")
flags.DEFINE_float("std_frac", 0.4, "foveated: Gaussian std as a fraction of the image size.")
flags.DEFINE_enum("interpolation", "cubic", ["cubic", "linear", "nearest"], "foveated: griddata method.")
# panorama / blend
flags.DEFINE_integer("height", None, "sample/interpolate/panorama/foveated: rows (default: the training size).",
                     lower_bound=1)
flags.DEFINE_integer("width", None, "sample/interpolate: columns (default: the training canvas's).", lower_bound=1)
flags.DEFINE_string("aspect", None, "sample/interpolate: width:height of the render, e.g. 2:1; the shorter side is "
                    "--height/--width or the model's resolution.")
flags.DEFINE_integer("panorama_width", None, "panorama: columns of the full 360 degrees (default: square pixels).")
flags.DEFINE_float("r_inner", None, "panorama: inner annulus radius (default: run config or 0.25).")
flags.DEFINE_float("r_outer", None, "panorama: outer annulus radius (default: run config or 1.0).")
flags.DEFINE_enum("mask", None, ["radial", "horizontal"], "blend: mask shape (default: horizontal on panoramas).")
flags.DEFINE_enum("blend_on", "auto", ["auto", "image", "panorama"],
                  "blend: render on the image grid or the panorama grid (auto: panorama for cylindrical runs).")
# neighbours
flags.DEFINE_integer("k", 5, "neighbours: neighbours per sample.")
flags.DEFINE_string("dataset", "fashion_mnist", "neighbours: 'fashion_mnist' (offline) or an .npy of uint8 images.")
flags.DEFINE_string("split", "train", "neighbours: Fashion-MNIST split.")
flags.DEFINE_string("data_dir", None, "neighbours: Fashion-MNIST IDX directory (default: Debian package's).")
flags.DEFINE_integer("num_reference", None, "neighbours: use only the first N training images.")
flags.DEFINE_enum("features", "auto", ["auto", "pixels", "classifier"],
                  "neighbours: flattened downsampled pixels, the offline classifier, or auto (classifier if found).")
flags.DEFINE_string("extractor", None, "neighbours: directory of the offline Fashion-MNIST classifier.")

# video / zoom
flags.DEFINE_integer("frames_per_seed", 24, "video: frames from one seed to the next.", lower_bound=1)
flags.DEFINE_boolean("loop", True, "video: return to the first seed (a seamless loop).")
flags.DEFINE_enum("walk", "cubic", ["cubic", "linear"], "video: spline through the seeds' w.")
flags.DEFINE_integer("fps", 24, "video/zoom: frames per second.", lower_bound=1)
flags.DEFINE_enum("video_format", "auto", list(video.FORMATS),
                  "video/zoom: mp4 (needs imageio-ffmpeg), gif (Pillow), auto (mp4 when available).")
flags.DEFINE_integer("video_size", None, "video/zoom: frame height and width (default: the training size).")
flags.DEFINE_list("zoom_center", ["0", "0"], "zoom: point x,y to zoom into, normalised coordinates in [-1, 1].")
flags.DEFINE_float("zoom", 16.0, "zoom: final zoom factor (grid density relative to the first frame).")
flags.DEFINE_integer("zoom_frames", 48, "zoom: frames per seed.", lower_bound=2)

_OWN_FLAGS = sorted(set(FLAGS) - _FLAGS_BEFORE - {"trunc"})  # --trunc is --psi


def options(**overrides):
    """The task options as plain values: every flag's default, with `overrides` (flag name -> value)."""
    unknown = sorted(set(overrides) - set(_OWN_FLAGS))
    if unknown:
        raise ValueError(f"unknown option(s) {unknown}")
    return types.SimpleNamespace(**{**{name: FLAGS[name].default for name in _OWN_FLAGS}, **overrides})


def model_fingerprint(generator, *extra):
    """SHA-256 hex of the generator's config and every weight (and `extra`): the key of caches."""
    h = hashlib.sha256(json.dumps(generator.get_config(), sort_keys=True, default=str).encode())
    for v in generator.weights:
        a = np.ascontiguousarray(np.asarray(v))
        h.update(f"{v.path}:{a.dtype}:{a.shape};".encode())
        h.update(a.tobytes())
    h.update(repr(extra).encode())
    return h.hexdigest()


def _read_cache(path):
    """The array cached at `path`, or None when there is none; never through a symlink."""
    try:
        f = fileio.open_nofollow(path)
    except FileNotFoundError:
        return None
    except OSError as e:
        raise FileExistsError(f"{path}: not a regular file (a symlink?); caches are never followed: remove it") from e
    with f:
        return np.load(f, allow_pickle=False)


def _write_cache(path, array):
    """Writes `array` to `path` atomically via a unique temporary file, never through a symlink."""
    with fileio.atomic_write(path, "wb") as f:
        np.save(f, np.asarray(array))


def _prepare_task_dirs(out, tasks, overwrite):
    """Refuses (before any work) task directories that hold files, unless `overwrite`: then empties them."""
    busy = [t for t in tasks if (out / t).is_symlink() or ((out / t).is_dir() and any((out / t).iterdir()))]
    if busy and not overwrite:
        outputs.refuse_overwrite(out, busy, "cips-generate")
    for t in busy:
        if (out / t).is_symlink():
            (out / t).unlink()
        else:
            shutil.rmtree(out / t)


class Context:
    """What every task needs: the model, its w_avg, the output directory and the options (plain values,
    `options(**overrides)`; the flags build them in `main`)."""

    def __init__(self, loaded, out_dir, opts):
        self.loaded = loaded
        self.opts = opts
        self.generator = loaded.generator
        self.out_root = out_dir
        self.out = out_dir
        self._w_avg = loaded.w_avg
        self.label = resolve_label(loaded, getattr(opts, "class"))

    @property
    def w_avg(self):
        if self._w_avg is None:
            key = model_fingerprint(self.generator, self.opts.w_avg_samples)
            path = self.out_root / f"w_avg-{key[:16]}.npy"
            self._w_avg = _read_cache(path)
            if self._w_avg is None:
                self._w_avg = self.loaded.w_avg_or_estimate(self.opts.w_avg_samples)
                _write_cache(path, self._w_avg)
        return self._w_avg

    def styles(self, seeds):
        w_avg = self.w_avg if self.opts.psi != 1.0 else None
        return common.styles_from_seeds(self.generator, seeds, self.opts.psi, w_avg, self.label)

    def save_png(self, name, image):
        image = np.asarray(image)
        if image.dtype != np.uint8:
            image = common.to_uint8(image)
        if image.ndim == 3 and image.shape[-1] == 1:
            image = image[..., 0]
        Image.fromarray(image).save(self.out / name)

    def save_npy(self, name, array):
        np.save(self.out / name, np.asarray(array))


def resolve_label(loaded, value):
    """`--class` -> the class index of a conditional model (None for an unconditional one without
    --class). Refuses (app.UsageError) --class on an unconditional model, a conditional model without
    --class, an index out of range and an unknown name."""
    from cips_tf import latents  # pylint: disable=g-import-not-at-top

    count = latents.num_classes(loaded.generator)
    if value is None:
        if count:
            names = f" ({', '.join(loaded.class_names)})" if loaded.class_names else ""
            raise app.UsageError(f"{loaded.source}: a class-conditional model ({count} classes{names}): pass "
                                 f"--class=INDEX (0..{count - 1}) or a class name")
        return None
    try:
        return latents.resolve_class(value, loaded.class_names, count)
    except ValueError as e:
        raise app.UsageError(f"{e} [{loaded.source}]") from None


def _parse_seeds(name, text):
    try:
        seeds = common.parse_int_list(text)
    except ValueError as e:
        raise app.UsageError(f"--{name}={text!r}: {e}; expected e.g. '0-31,40'") from e
    if not seeds:
        raise app.UsageError(f"--{name}={text!r} names no seeds")
    return seeds


def _seeds(opts):
    if opts.seeds:
        return _parse_seeds("seeds", opts.seeds)
    return list(range(opts.seed, opts.seed + opts.num))


def _seeds_b(opts, seeds):
    if opts.seeds_b:
        b = _parse_seeds("seeds_b", opts.seeds_b)
        if len(b) != len(seeds):
            raise app.UsageError(f"--seeds_b has {len(b)} seeds, --seeds {len(seeds)}")
        return b
    return [s + 1000 for s in seeds]


def _is_cylindrical(ctx):
    config = ctx.loaded.config
    return config is not None and config.get("training", {}).get("mode") == "cylindrical"


def _radii(ctx):
    opts = ctx.opts
    training = ctx.loaded.config.get("training", {}) if ctx.loaded.config is not None else {}
    r_inner = opts.r_inner if opts.r_inner is not None else training.get("cylinder_r_inner", None)
    r_outer = opts.r_outer if opts.r_outer is not None else training.get("cylinder_r_outer", None)
    return (coords_extra.DEFAULT_R_INNER if r_inner is None else float(r_inner),
            coords_extra.DEFAULT_R_OUTER if r_outer is None else float(r_outer))


def render_size(generator, opts):
    """(height, width) of a sample/interpolate render from --height, --width and --aspect (see the
    module docstring); the training canvas by default."""
    from cips_tf.coords import canvas_size  # pylint: disable=g-import-not-at-top

    native_h, native_w = common.native_canvas(generator)
    if opts.aspect:
        if opts.height and opts.width:
            raise app.UsageError("--aspect sets the other side: give --height or --width with it, not both")
        short = opts.height or opts.width or int(generator.size)
        try:
            height, width = canvas_size(short, opts.aspect, field="--aspect")
        except ValueError as e:
            raise app.UsageError(str(e)) from None
        if opts.height and height != opts.height or opts.width and width != opts.width:
            raise app.UsageError(f"--aspect={opts.aspect} makes --height/--width the shorter side; got "
                                 f"{opts.height or opts.width} for the longer one")
        return height, width
    if opts.height and opts.width:
        return opts.height, opts.width
    if opts.height or opts.width:  # the other side keeps the model's aspect
        given, native_given, native_other = ((opts.height, native_h, native_w) if opts.height else
                                             (opts.width, native_w, native_h))
        if (given * native_other) % native_given:
            raise app.UsageError(f"--{'height' if opts.height else 'width'}={given} does not scale the "
                                 f"{native_h} x {native_w} canvas to whole pixels: give both --height and --width")
        other = given * native_other // native_given
        return (given, other) if opts.height else (other, given)
    return native_h, native_w


def task_sample(ctx):
    opts = ctx.opts
    seeds = _seeds(opts)
    w = ctx.styles(seeds)
    height, width = render_size(ctx.generator, opts)
    images = common.render(ctx.generator, w, height, width, chunk_pixels=opts.chunk_pixels)
    ctx.save_png("samples.png", common.tile_images(common.to_uint8(images), opts.ncols))
    for s, img in zip(seeds, images):
        ctx.save_png(f"seed{s:04d}.png", img)
    ctx.save_npy("w.npy", w)
    ctx.save_npy("seeds.npy", np.asarray(seeds, np.int64))


def task_interpolate(ctx):
    opts = ctx.opts
    seeds = _seeds(opts)
    w_avg = ctx.w_avg if opts.psi != 1.0 else None
    w = sampling.interpolation_styles(ctx.generator, seeds, opts.steps, opts.space, opts.psi, w_avg, ctx.label)
    height, width = render_size(ctx.generator, opts)
    frames = common.render(ctx.generator, w, height, width, chunk_pixels=opts.chunk_pixels)
    for i, frame in enumerate(frames):
        ctx.save_png(f"frame{i:04d}.png", frame)
    ctx.save_png("strip.png", common.tile_images(common.to_uint8(frames), ncols=opts.steps))
    ctx.save_npy("w.npy", w)


def _default_mix_groups(num_groups):
    third = max(1, num_groups // 3)
    sets = [(num_groups - third + 1, num_groups), (third + 1, num_groups - third), (1, third)]
    return [list(range(lo, hi + 1)) for lo, hi in sets if lo <= hi]


def task_style_mix(ctx):
    opts = ctx.opts
    seeds = _seeds(opts)
    w_a, w_b = ctx.styles(seeds), ctx.styles(_seeds_b(opts, seeds))
    if opts.mix_groups:
        group_sets = [common.parse_int_list(part) for part in opts.mix_groups.split(";")]
    else:
        group_sets = _default_mix_groups(len(ctx.generator.style_groups()))
    rows = style_mixing.style_mix(ctx.generator, w_a, w_b, group_sets, chunk_pixels=opts.chunk_pixels)
    n, cols = rows.shape[:2]
    ctx.save_png("style_mix.png", common.tile_images(common.to_uint8(rows.reshape((n * cols,) + rows.shape[2:])),
                                                     ncols=cols))
    (ctx.out / "style_mix.json").write_text(json.dumps(
        {"columns": ["A", "B"] + [f"A with B in groups {g}" for g in group_sets],
         "seeds_a": seeds, "seeds_b": _seeds_b(opts, seeds),
         "style_groups": ctx.generator.style_groups()}, indent=2) + "\n")


def task_super_resolution(ctx):
    opts = ctx.opts
    seeds = _seeds(opts)
    k = opts.factor
    for s, w in zip(seeds, ctx.styles(seeds)):  # one image at a time: k*size squared floats each
        native, dense, lanczos = super_resolution.super_resolve(ctx.generator, w[None], k,
                                                                chunk_pixels=opts.chunk_pixels)
        ctx.save_png(f"seed{s:04d}_native.png", native[0])
        ctx.save_png(f"seed{s:04d}_cips_x{k}.png", dense[0])
        ctx.save_png(f"seed{s:04d}_lanczos_x{k}.png", lanczos[0])
        ctx.save_png(f"seed{s:04d}_compare_x{k}.png", np.concatenate([lanczos[0], dense[0]], axis=1))


def task_foveated(ctx):
    opts = ctx.opts
    seeds = _seeds(opts)
    w = ctx.styles(seeds)
    gaze = tuple(float(v) for v in opts.gaze)
    columns = []
    for frac in (float(f) for f in opts.fractions):
        images, mask = foveated.foveated_render(ctx.generator, w, frac, gaze, opts.std_frac, opts.seed,
                                                opts.height, opts.interpolation, opts.chunk_pixels)
        tag = f"p{int(round(frac * 100)):03d}"
        ctx.save_png(f"mask_{tag}.png", mask.astype(np.uint8) * 255)
        ctx.save_npy(f"mask_{tag}.npy", mask)
        for s, img in zip(seeds, images):
            ctx.save_png(f"seed{s:04d}_{tag}.png", img)
        columns.append(images)
    grid = np.stack(columns, axis=1)  # [N, F, H, W, 3]: rows = seeds, columns = fractions
    ctx.save_png("foveated.png", common.tile_images(common.to_uint8(grid.reshape((-1,) + grid.shape[2:])),
                                                    ncols=len(columns)))


def task_panorama(ctx):
    opts = ctx.opts
    if not _is_cylindrical(ctx):
        logging.warning("the model was not trained in cylindrical mode: its panoramas are a curiosity")
    r_inner, r_outer = _radii(ctx)
    seeds = _seeds(opts)
    panos = panorama.render_panorama(ctx.generator, ctx.styles(seeds), opts.height, opts.panorama_width,
                                     r_inner, r_outer, opts.chunk_pixels)
    for s, p in zip(seeds, panos):
        ctx.save_png(f"seed{s:04d}.png", p)
        ctx.save_png(f"seed{s:04d}_wrapped.png", panorama.wrap_columns(p, p.shape[1] // 2))  # seam in the middle
    ctx.save_png("panoramas.png", common.tile_images(common.to_uint8(panos), ncols=1, pad=2))


def task_blend(ctx):
    opts = ctx.opts
    seeds = _seeds(opts)
    w_a, w_b = ctx.styles(seeds), ctx.styles(_seeds_b(opts, seeds))
    on_panorama = opts.blend_on == "panorama" or (opts.blend_on == "auto" and _is_cylindrical(ctx))
    size = opts.height or ctx.generator.size
    if on_panorama:
        r_inner, r_outer = _radii(ctx)
        coords = panorama.panorama_coords(size, opts.panorama_width, r_inner, r_outer)
    else:
        coords = None
    h, w = (coords.shape[:2] if coords is not None else (size, size))
    kind = opts.mask or ("horizontal" if on_panorama else "radial")
    mask = blend.radial_mask(h, w) if kind == "radial" else blend.horizontal_mask(h, w)
    outs = [blend.render_blend(ctx.generator, w_a, w_b, m, coords, opts.chunk_pixels)
            for m in (np.ones_like(mask), np.zeros_like(mask), mask)]
    ctx.save_png("mask.png", np.rint(mask * 255).astype(np.uint8))
    ctx.save_npy("mask.npy", mask)
    for i, s in enumerate(seeds):
        for name, img in zip(("a", "b", "blend"), outs):
            ctx.save_png(f"seed{s:04d}_{name}.png", img[i])
    grid = np.stack(outs, axis=1)  # rows: seeds; columns: A, B, blend
    ncols = 1 if on_panorama else 3
    ctx.save_png("blend.png", common.tile_images(common.to_uint8(grid.reshape((-1,) + grid.shape[2:])), ncols=ncols,
                                                 pad=2))


def task_encodings(ctx):
    opts = ctx.opts
    g = ctx.generator
    seeds = _seeds(opts)
    w = ctx.styles(seeds)
    parts = encodings.part_slices(g)
    variants = {"original": ()}
    variants.update({f"no_{p}": (p,) for p in parts})
    if len(parts) == 2:
        variants["no_both"] = tuple(parts)
    renders = {name: encodings.render_zeroed(g, w, zeroed, chunk_pixels=opts.chunk_pixels)
               for name, zeroed in variants.items()}
    for name, images in renders.items():
        for s, img in zip(seeds, images):
            ctx.save_png(f"seed{s:04d}_{name}.png", img)
    grid = np.stack(list(renders.values()), axis=1)
    ctx.save_png("zeroed.png", common.tile_images(common.to_uint8(grid.reshape((-1,) + grid.shape[2:])),
                                                  ncols=len(renders)))
    (ctx.out / "zeroed.json").write_text(json.dumps({"columns": list(renders)}) + "\n")
    maps = encodings.encoding_maps(g)
    spectra = {name: encodings.log_spectrum(m) for name, m in maps.items()}
    for (name, img) in zip(spectra, encodings.shared_scale_uint8(list(spectra.values()))):
        ctx.save_png(f"spectrum_{name}.png", img)
        ctx.save_npy(f"spectrum_{name}.npy", spectra[name])
    for name, m in maps.items():
        ctx.save_png(f"pca_{name}.png", encodings.pca_image(m) * 2.0 - 1.0)
    if g.embedding is not None:
        ctx.save_png("pca_embedding_table.png", encodings.pca_image(encodings.embedding_table(g)) * 2.0 - 1.0)


def task_compare(ctx):
    opts = ctx.opts
    g, loaded = ctx.generator, ctx.loaded
    if loaded.config is None:
        raise app.UsageError("--task=compare needs a training workdir (its config names the real data)")
    seeds = _seeds(opts)
    samples = showcase.upscale(common.tile_images(common.to_uint8(
        common.render(g, ctx.styles(seeds), chunk_pixels=opts.chunk_pixels)), opts.ncols), opts.scale)
    ctx.save_png("samples.png", samples)
    real = next(data_lib.iterate_numpy(loaded.config.data, resolution=g.size, batch_size=len(seeds), seed=0,
                                       training=False, num_batches=1, aspect=loaded.config.get("aspect")))
    progress = showcase.training_progress(loaded.source)
    label = "CIPS samples" + (f", step {progress[0]}" if progress else "")
    if progress and progress[1] is not None:
        label += f", {progress[1] / 60:.1f} min of training"
    real = showcase.upscale(common.tile_images(common.to_uint8(real), opts.ncols), opts.scale)
    ctx.save_png("real.png", real)
    image = showcase.side_by_side([(label, samples), (f"real training images ({loaded.config.data.source})", real)],
                                  scale=1)  # both already upscaled
    ctx.save_png("samples_vs_real.png", image)


def task_neighbours(ctx):
    opts = ctx.opts
    g = ctx.generator
    if len(set(common.native_canvas(g))) != 1:
        raise app.UsageError("--task=neighbours compares square samples with square reference images; this model "
                             f"renders {' x '.join(map(str, common.native_canvas(g)))}")
    feature_fn, feature_name = None, neighbours.PIXEL_FEATURES
    if opts.features in ("auto", "classifier") and opts.extractor:
        feature_fn = feature_extractor.classifier_features(opts.extractor)
        if feature_fn is not None:
            feature_name = neighbours.CLASSIFIER_FEATURES
    if feature_fn is None:
        if opts.features == "classifier":
            raise app.UsageError(f"no offline classifier could be loaded from --extractor={opts.extractor}")
        feature_fn = neighbours.pixel_features
    refs = neighbours.load_reference_uint8(opts.dataset, opts.split, opts.num_reference, opts.data_dir)
    seeds = _seeds(opts)
    samples = common.render(g, ctx.styles(seeds), chunk_pixels=opts.chunk_pixels)
    ref_feats = neighbours.reference_features(refs, g.size, feature_fn)
    idx, dist = neighbours.nearest_neighbours(neighbours.batched(feature_fn, samples), ref_feats, opts.k)
    rows = []
    for i, s in enumerate(seeds):
        row = np.concatenate([samples[i:i + 1], neighbours.resize_to_model(refs[idx[i]], g.size)])
        ctx.save_png(f"seed{s:04d}_neighbours.png", common.tile_images(common.to_uint8(row), ncols=len(row), pad=2))
        rows.append(row)
    ctx.save_png("neighbours.png", common.tile_images(common.to_uint8(np.concatenate(rows)), ncols=len(rows[0])))
    ctx.save_npy("indices.npy", idx)
    ctx.save_npy("distances.npy", dist)
    (ctx.out / "neighbours.json").write_text(json.dumps(
        {"features": feature_name, "dataset": opts.dataset, "split": opts.split, "num_reference": len(refs),
         "seeds": seeds, "indices": idx.tolist(), "distances": dist.tolist()}, indent=2) + "\n")


def _strip_indices(num_frames, count=8):
    """Indices of `count` frames spread evenly over a video (its still summary)."""
    return sorted(set(np.linspace(0, num_frames - 1, min(count, num_frames)).round().astype(int).tolist()))


def task_video(ctx):
    opts = ctx.opts
    seeds = _seeds(opts)
    w_avg = ctx.w_avg if opts.psi != 1.0 else None
    try:
        w = video.latent_walk_styles(ctx.generator, seeds, opts.frames_per_seed, opts.psi, w_avg, opts.loop,
                                     opts.walk, labels=ctx.label)
    except ValueError as e:
        raise app.UsageError(f"--task=video: {e}") from e
    path = video.video_path(ctx.out / "video", opts.video_format)
    kept = []  # the frame of each seed, for strip.png

    def frames():
        for i, frame in enumerate(video.render_frames(ctx.generator, w, opts.video_size,
                                                      chunk_pixels=opts.chunk_pixels, log_every=10)):
            if i % opts.frames_per_seed == 0:
                kept.append(frame)
            yield frame

    count = video.write_video(frames(), path, opts.fps)
    ctx.save_png("strip.png", common.tile_images(np.stack(kept), ncols=len(kept), pad=2))
    ctx.save_npy("w.npy", w)
    logging.info("video: %d frames -> %s", count, path)


def task_zoom(ctx):
    opts = ctx.opts
    seeds = _seeds(opts)
    if len(opts.zoom_center) != 2:
        raise app.UsageError(f"--zoom_center needs two numbers x,y, got {opts.zoom_center}")
    center = tuple(float(v) for v in opts.zoom_center)
    try:
        windows = zoom.zoom_windows(center, opts.zoom_frames, opts.zoom)  # validates before rendering
    except ValueError as e:
        raise app.UsageError(str(e)) from e
    strip_at = _strip_indices(opts.zoom_frames)
    for s, w in zip(seeds, ctx.styles(seeds)):
        kept = []  # only the strip's frames: memory stays bounded however long the zoom

        def frames(w=w, kept=kept):
            for i, frame in enumerate(zoom.zoom_frames(ctx.generator, w, center, opts.zoom_frames, opts.zoom,
                                                       opts.video_size, chunk_pixels=opts.chunk_pixels,
                                                       log_every=10)):
                if i in strip_at:
                    kept.append(frame)
                yield frame

        path = video.video_path(ctx.out / f"seed{s:04d}", opts.video_format)
        video.write_video(frames(), path, opts.fps)
        ctx.save_png(f"seed{s:04d}_strip.png", common.tile_images(np.stack(kept), ncols=len(kept), pad=2))
        ctx.save_png(f"seed{s:04d}_last.png", kept[-1])
    (ctx.out / "zoom.json").write_text(json.dumps(
        {"center": center, "max_zoom": opts.zoom, "frames": opts.zoom_frames, "seeds": seeds,
         "strip_frames": strip_at,
         "windows": [{"x_range": list(x), "y_range": list(y)} for x, y in windows]}, indent=2) + "\n")


TASK_FUNCTIONS = {
    "sample": task_sample,
    "compare": task_compare,
    "interpolate": task_interpolate,
    "style_mix": task_style_mix,
    "super_resolution": task_super_resolution,
    "foveated": task_foveated,
    "panorama": task_panorama,
    "blend": task_blend,
    "encodings": task_encodings,
    "neighbours": task_neighbours,
    "video": task_video,
    "zoom": task_zoom,
}


def check_runtime(runtime, tasks, precision="fp32"):
    """Refuses (one line, before any work) the tasks `runtime` cannot render, bf16 outside a runtime,
    and a runtime whose extra is missing."""
    if runtime == "keras":
        if precision != "fp32":
            raise app.UsageError("--precision=bf16 renders through an export: add --runtime=openvino")
        return
    refused = [t for t in tasks if t not in RUNTIME_TASKS]
    if refused:
        task = refused[0]
        raise app.UsageError(f"--task={task} cannot render through --runtime={runtime}: {KERAS_ONLY[task]}; "
                             f"use --runtime=keras (an export renders {', '.join(RUNTIME_TASKS)})")
    from cips_tf.export.runtimes import check_formats  # pylint: disable=g-import-not-at-top

    check_formats([runtime], loading=True)  # a missing extra: one line naming it


def load_runtime(path, runtime, precision="fp32"):
    """The export of format `runtime` that `path` names, as a `LoadedGenerator` whose generator is a
    `RuntimeGenerator` (w_avg: the export's)."""
    from cips_tf.export.runtimes import RuntimeGenerator, find_export  # pylint: disable=g-import-not-at-top
    from cips_tf.loading import LoadedGenerator  # pylint: disable=g-import-not-at-top

    version_dir = find_export(path, runtime)
    metadata = pathlib.Path(version_dir) / "assets.extra" / "cips_export.json"
    if metadata.exists() and json.loads(metadata.read_text()).get("num_classes"):
        raise app.UsageError(f"{version_dir}: a class-conditional export; --runtime renders unconditional exports "
                             "only: render it with --runtime=keras --class=... (the export's Keras model loads too)")
    generator = RuntimeGenerator(version_dir, precision=precision)
    return LoadedGenerator(generator, generator.w_avg, None, f"{version_dir} ({runtime}, {precision})")


def main(argv):
    if len(argv) > 1:
        raise app.UsageError(f"unexpected arguments: {argv[1:]}")
    tasks = [t.strip() for t in FLAGS.task]
    unknown = [t for t in tasks if t not in TASKS]
    if unknown:
        raise app.UsageError(f"unknown task(s) {unknown}; choose from {', '.join(TASKS)}")
    check_runtime(FLAGS.runtime, tasks, FLAGS.precision)
    if FLAGS["class"].value is not None and FLAGS.runtime != "keras":
        raise app.UsageError(f"--class renders through the Keras model; --runtime={FLAGS.runtime} does not take a "
                             "class yet (the SavedModel's signatures do: see cips-export)")
    loaded = None
    if FLAGS.runtime != "keras":  # found and loaded before any output is touched
        if FLAGS.step is not None:
            raise app.UsageError(f"--step picks a checkpoint of a training workdir; --runtime={FLAGS.runtime} "
                                 "renders an export (pass its version directory instead)")
        loaded = load_runtime(FLAGS.model, FLAGS.runtime, FLAGS.precision)
    out = pathlib.Path(FLAGS.out)
    out.mkdir(parents=True, exist_ok=True)
    _prepare_task_dirs(out, tasks, FLAGS.overwrite)
    if loaded is None:
        loaded = load_generator(FLAGS.model, step=FLAGS.step)
    logging.info("loaded %s", loaded.source)
    ctx = Context(loaded, out, options(**{name: FLAGS[name].value for name in _OWN_FLAGS}))
    for task in tasks:
        ctx.out = out / task
        ctx.out.mkdir(parents=True, exist_ok=True)
        start = time.time()
        TASK_FUNCTIONS[task](ctx)
        (ctx.out / "flags.json").write_text(json.dumps(
            {"task": task, "model": FLAGS.model, "source": loaded.source,
             "flags": vars(ctx.opts)}, indent=2, default=str) + "\n")
        logging.info("%s: wrote %s in %.1f s", task, ctx.out, time.time() - start)
        print(f"{task}: {ctx.out}")


def run():
    """Console-script entry point."""
    entry_point.run(main)


if __name__ == "__main__":
    run()
