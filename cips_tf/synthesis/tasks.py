"""The paper's figures as tasks: one function per `cips-generate --task`, on plain options.

`run_tasks(loaded, out, names, opts)` renders each named task into `out/<task>/` (PNGs, plus .npy
where numeric, and the task's `flags.json`) and yields its directory; `cips_tf.cli.generate` only
parses the flags into `options(...)` and reports. A task takes a `Context`: the loaded model
(`LoadedGenerator`: a Keras generator or an export's `RuntimeGenerator`), its output directory and
the options (`options(**overrides)`: every option's default with the overrides, named as the flags).
Each task renders through `cips_tf.rendering` and converts to uint8 once, for its mosaic and its
single images alike. Wrong options raise `OptionError` (one line naming the flag).
"""
import hashlib
import json
import time
import types

import numpy as np
import tensorflow as tf
from absl import app, logging
from PIL import Image

from cips_tf import data as data_lib
from cips_tf import fileio, latents, rendering, showcase
from cips_tf.coords import canvas_size
from cips_tf.errors import UserError
from cips_tf.models import samplers
from cips_tf.synthesis import blend, encodings, foveated, neighbours, panorama, sampling, style_mixing
from cips_tf.synthesis import super_resolution, video, zoom

TASKS = ("sample", "interpolate", "style_mix", "super_resolution", "foveated", "panorama", "blend", "encodings",
         "neighbours", "video", "zoom", "compare")
# The tasks that need the Keras model, and why.
KERAS_ONLY = {
    "style_mix": "it feeds per-layer styles, and an export's synthesis takes one w per image",
    "blend": "it feeds a style per pixel, and an export's synthesis takes one w per image",
    "encodings": "it zeroes parts of the network's input encoding, which an export does not expose",
    "compare": "it reads the real images named by a training workdir's config",
}
# The tasks an export renders: one w per image through mapping + synthesis, on any coordinates.
RUNTIME_TASKS = tuple(task for task in TASKS if task not in KERAS_ONLY)

# Every option (the flags of cips-generate, which take their defaults from here) and its default.
DEFAULTS = {
    "model": None, "task": None, "out": None, "overwrite": False, "seeds": None, "seed": 0, "num": 8,
    "seeds_b": None, "class": None, "psi": 1.0, "w_avg_samples": 10000, "ncols": None, "chunk_pixels": 32768,
    "scale": 4, "step": None, "runtime": "keras", "precision": "fp32",
    "steps": 8, "space": "w",  # interpolate
    "mix_groups": None,  # style_mix
    "factor": 4,  # super_resolution
    "fractions": ["0.05", "0.25", "0.5", "1.0"], "gaze": ["0", "0"], "std_frac": 0.4,  # foveated
    "interpolation": "cubic",
    "height": None, "width": None, "aspect": None,  # sample, interpolate (height: panorama, foveated too)
    "panorama_width": None, "r_inner": None, "r_outer": None, "mask": None, "blend_on": "auto",  # panorama, blend
    "k": 5, "dataset": "fashion_mnist", "split": "train", "data_dir": None, "num_reference": None,  # neighbours
    "features": "auto", "extractor": None,
    "frames_per_seed": 24, "loop": True, "walk": "cubic", "fps": 24, "video_format": "auto",  # video, zoom
    "video_size": None, "zoom_center": ["0", "0"], "zoom": 16.0, "zoom_frames": 48,
}


class OptionError(UserError, app.UsageError):
    """A task option the model or the task cannot take; reported like a flag error (one line, exit 2)."""


def options(**overrides):
    """The task options as plain values: every option's default, with `overrides` (name -> value)."""
    unknown = sorted(set(overrides) - set(DEFAULTS))
    if unknown:
        raise ValueError(f"unknown option(s) {unknown}")
    return types.SimpleNamespace(**{**{name: DEFAULTS[name] for name in sorted(DEFAULTS)}, **overrides})


def parse_int_list(text):
    """"0,3,5-8" -> [0, 3, 5, 6, 7, 8] (non-negative ints; ranges inclusive): seed lists, style groups."""
    out = []
    for part in str(text).split(","):
        part = part.strip()
        if not part:
            continue
        if "-" in part:
            lo, hi = part.split("-", 1)
            out.extend(range(int(lo), int(hi) + 1))
        else:
            out.append(int(part))
    return out


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


class Context:
    """What every task needs: the model, its w_avg, the output directory and the options (plain values,
    `options(**overrides)`)."""

    def __init__(self, loaded, out_dir, opts, classifier_features=None):
        self.loaded = loaded
        # extractor path -> feature function (or None when it cannot load): the neighbours task's
        # classifier features, given by the entry point (metrics/feature_extractor.classifier_features)
        # so that synthesis imports no metrics; None: pixel features only
        self.classifier_features = classifier_features
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
        return latents.styles_from_seeds(self.generator, seeds, self.opts.psi, w_avg, self.label)

    def save_png(self, name, image):
        image = rendering.to_uint8(image)  # uint8 passes unchanged
        if image.ndim == 3 and image.shape[-1] == 1:
            image = image[..., 0]
        Image.fromarray(image).save(self.out / name)

    def save_mosaic(self, name, images, ncols=None, pad=0):
        """Tiles `[N, H, W, C]` images (uint8, or float converted here) into one PNG."""
        self.save_png(name, latents.tile_images(rendering.to_uint8(images), ncols=ncols, pad=pad))

    def save_npy(self, name, array):
        np.save(self.out / name, np.asarray(array))


def resolve_label(loaded, value):
    """`--class` -> the class index of a conditional model (None for an unconditional one without
    --class). Refuses (OptionError) --class on an unconditional model, a conditional model without
    --class, an index out of range and an unknown name."""
    count = latents.num_classes(loaded.generator)
    if value is None:
        if count:
            names = f" ({', '.join(loaded.class_names)})" if loaded.class_names else ""
            raise OptionError(f"{loaded.source}: a class-conditional model ({count} classes{names}): pass "
                              f"--class=INDEX (0..{count - 1}) or a class name")
        return None
    try:
        return latents.resolve_class(value, loaded.class_names, count)
    except ValueError as e:
        raise OptionError(f"{e} [{loaded.source}]") from None


def _parse_seeds(name, text):
    try:
        seeds = parse_int_list(text)
    except ValueError as e:
        raise OptionError(f"--{name}={text!r}: {e}; expected e.g. '0-31,40'") from e
    if not seeds:
        raise OptionError(f"--{name}={text!r} names no seeds")
    return seeds


def _seeds(opts):
    if opts.seeds:
        return _parse_seeds("seeds", opts.seeds)
    return list(range(opts.seed, opts.seed + opts.num))


def _seeds_b(opts, seeds):
    if opts.seeds_b:
        b = _parse_seeds("seeds_b", opts.seeds_b)
        if len(b) != len(seeds):
            raise OptionError(f"--seeds_b has {len(b)} seeds, --seeds {len(seeds)}")
        return b
    return [s + 1000 for s in seeds]


def _is_cylindrical(ctx):
    return samplers.training_mode(ctx.loaded.config) == "cylindrical"


def _radii(ctx):
    """The panorama's annulus: --r_inner / --r_outer, else the run's training radii (the defaults)."""
    r_inner, r_outer = samplers.cylinder_radii(ctx.loaded.config)
    opts = ctx.opts
    return (r_inner if opts.r_inner is None else float(opts.r_inner),
            r_outer if opts.r_outer is None else float(opts.r_outer))


def render_size(generator, opts):
    """(height, width) of a sample/interpolate render from --height, --width and --aspect (see
    `cips_tf.cli.generate`); the training canvas by default."""
    native_h, native_w = rendering.native_canvas(generator)
    if opts.aspect:
        if opts.height and opts.width:
            raise OptionError("--aspect sets the other side: give --height or --width with it, not both")
        short = opts.height or opts.width or int(generator.size)
        try:
            height, width = canvas_size(short, opts.aspect, field="--aspect")
        except ValueError as e:
            raise OptionError(str(e)) from None
        if opts.height and height != opts.height or opts.width and width != opts.width:
            raise OptionError(f"--aspect={opts.aspect} makes --height/--width the shorter side; got "
                              f"{opts.height or opts.width} for the longer one")
        return height, width
    if opts.height and opts.width:
        return opts.height, opts.width
    if opts.height or opts.width:  # the other side keeps the model's aspect
        given, native_given, native_other = ((opts.height, native_h, native_w) if opts.height else
                                             (opts.width, native_w, native_h))
        if (given * native_other) % native_given:
            raise OptionError(f"--{'height' if opts.height else 'width'}={given} does not scale the "
                              f"{native_h} x {native_w} canvas to whole pixels: give both --height and --width")
        other = given * native_other // native_given
        return (given, other) if opts.height else (other, given)
    return native_h, native_w


def task_sample(ctx):
    opts = ctx.opts
    seeds = _seeds(opts)
    w = ctx.styles(seeds)
    height, width = render_size(ctx.generator, opts)
    images = rendering.render(ctx.generator, w, height, width, chunk_pixels=opts.chunk_pixels, uint8=True)
    ctx.save_mosaic("samples.png", images, opts.ncols)
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
    frames = rendering.render(ctx.generator, w, height, width, chunk_pixels=opts.chunk_pixels, uint8=True)
    for i, frame in enumerate(frames):
        ctx.save_png(f"frame{i:04d}.png", frame)
    ctx.save_mosaic("strip.png", frames, ncols=opts.steps)
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
        group_sets = [parse_int_list(part) for part in opts.mix_groups.split(";")]
    else:
        group_sets = _default_mix_groups(len(ctx.generator.style_groups()))
    rows = style_mixing.style_mix(ctx.generator, w_a, w_b, group_sets, chunk_pixels=opts.chunk_pixels)
    n, cols = rows.shape[:2]
    ctx.save_mosaic("style_mix.png", rows.reshape((n * cols,) + rows.shape[2:]), ncols=cols)
    (ctx.out / "style_mix.json").write_text(json.dumps(
        {"columns": ["A", "B"] + [f"A with B in groups {g}" for g in group_sets],
         "seeds_a": seeds, "seeds_b": _seeds_b(opts, seeds),
         "style_groups": ctx.generator.style_groups()}, indent=2) + "\n")


def task_super_resolution(ctx):
    opts = ctx.opts
    seeds = _seeds(opts)
    k = opts.factor
    for s, w in zip(seeds, ctx.styles(seeds)):  # one image at a time: k*size squared floats each
        native, dense, lanczos = (rendering.to_uint8(x[0]) for x in super_resolution.super_resolve(
            ctx.generator, w[None], k, chunk_pixels=opts.chunk_pixels))
        ctx.save_png(f"seed{s:04d}_native.png", native)
        ctx.save_png(f"seed{s:04d}_cips_x{k}.png", dense)
        ctx.save_png(f"seed{s:04d}_lanczos_x{k}.png", lanczos)
        ctx.save_png(f"seed{s:04d}_compare_x{k}.png", np.concatenate([lanczos, dense], axis=1))


def task_foveated(ctx):
    opts = ctx.opts
    seeds = _seeds(opts)
    w = ctx.styles(seeds)
    gaze = tuple(float(v) for v in opts.gaze)
    columns = []
    for frac in (float(f) for f in opts.fractions):
        images, mask = foveated.foveated_render(ctx.generator, w, frac, gaze, opts.std_frac, opts.seed,
                                                opts.height, opts.interpolation, opts.chunk_pixels)
        images = rendering.to_uint8(images)
        tag = f"p{int(round(frac * 100)):03d}"
        ctx.save_png(f"mask_{tag}.png", mask.astype(np.uint8) * 255)
        ctx.save_npy(f"mask_{tag}.npy", mask)
        for s, img in zip(seeds, images):
            ctx.save_png(f"seed{s:04d}_{tag}.png", img)
        columns.append(images)
    grid = np.stack(columns, axis=1)  # [N, F, H, W, 3]: rows = seeds, columns = fractions
    ctx.save_mosaic("foveated.png", grid.reshape((-1,) + grid.shape[2:]), ncols=len(columns))


def task_panorama(ctx):
    opts = ctx.opts
    if not _is_cylindrical(ctx):
        logging.warning("the model was not trained in cylindrical mode: its panoramas are a curiosity")
    r_inner, r_outer = _radii(ctx)
    seeds = _seeds(opts)
    panos = rendering.to_uint8(panorama.render_panorama(ctx.generator, ctx.styles(seeds), opts.height,
                                                        opts.panorama_width, r_inner, r_outer, opts.chunk_pixels))
    for s, p in zip(seeds, panos):
        ctx.save_png(f"seed{s:04d}.png", p)
        ctx.save_png(f"seed{s:04d}_wrapped.png", panorama.wrap_columns(p, p.shape[1] // 2))  # seam in the middle
    ctx.save_mosaic("panoramas.png", panos, ncols=1, pad=2)


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
    outs = [rendering.to_uint8(blend.render_blend(ctx.generator, w_a, w_b, m, coords, opts.chunk_pixels))
            for m in (np.ones_like(mask), np.zeros_like(mask), mask)]
    ctx.save_png("mask.png", np.rint(mask * 255).astype(np.uint8))
    ctx.save_npy("mask.npy", mask)
    for i, s in enumerate(seeds):
        for name, img in zip(("a", "b", "blend"), outs):
            ctx.save_png(f"seed{s:04d}_{name}.png", img[i])
    grid = np.stack(outs, axis=1)  # rows: seeds; columns: A, B, blend
    ctx.save_mosaic("blend.png", grid.reshape((-1,) + grid.shape[2:]), ncols=1 if on_panorama else 3, pad=2)


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
    renders = {name: rendering.to_uint8(encodings.render_zeroed(g, w, zeroed, chunk_pixels=opts.chunk_pixels))
               for name, zeroed in variants.items()}
    for name, images in renders.items():
        for s, img in zip(seeds, images):
            ctx.save_png(f"seed{s:04d}_{name}.png", img)
    grid = np.stack(list(renders.values()), axis=1)
    ctx.save_mosaic("zeroed.png", grid.reshape((-1,) + grid.shape[2:]), ncols=len(renders))
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


def training_progress(checkpoint):
    """`(step, training seconds or None)` stored in a training checkpoint prefix, or None for a
    source that is not a checkpoint (an export, a converted model)."""
    try:
        reader = tf.train.load_checkpoint(str(checkpoint))
    except (tf.errors.OpError, ValueError):
        return None
    names = reader.get_variable_to_shape_map()
    step = int(reader.get_tensor("step/.ATTRIBUTES/VARIABLE_VALUE")) if "step/.ATTRIBUTES/VARIABLE_VALUE" in names \
        else None
    seconds = "train_seconds/.ATTRIBUTES/VARIABLE_VALUE"
    return step, float(reader.get_tensor(seconds)) if seconds in names else None


def task_compare(ctx):
    opts = ctx.opts
    g, loaded = ctx.generator, ctx.loaded
    if loaded.config is None:
        raise OptionError("--task=compare needs a training workdir (its config names the real data)")
    seeds = _seeds(opts)
    samples = showcase.upscale(latents.tile_images(
        rendering.render(g, ctx.styles(seeds), chunk_pixels=opts.chunk_pixels, uint8=True), opts.ncols), opts.scale)
    ctx.save_png("samples.png", samples)
    real = next(data_lib.iterate_numpy(loaded.config.data, resolution=g.size, batch_size=len(seeds), seed=0,
                                       training=False, num_batches=1, aspect=loaded.config.get("aspect")))
    progress = training_progress(loaded.source)
    label = "CIPS samples" + (f", step {progress[0]}" if progress else "")
    if progress and progress[1] is not None:
        label += f", {progress[1] / 60:.1f} min of training"
    real = showcase.upscale(latents.tile_images(rendering.to_uint8(real), opts.ncols), opts.scale)
    ctx.save_png("real.png", real)
    image = showcase.side_by_side([(label, samples), (f"real training images ({loaded.config.data.source})", real)],
                                  scale=1)  # both already upscaled
    ctx.save_png("samples_vs_real.png", image)


def task_neighbours(ctx):
    opts = ctx.opts
    g = ctx.generator
    if len(set(rendering.native_canvas(g))) != 1:
        raise OptionError("--task=neighbours compares square samples with square reference images; this model "
                          f"renders {' x '.join(map(str, rendering.native_canvas(g)))}")
    feature_fn, feature_name = None, neighbours.PIXEL_FEATURES
    if opts.features in ("auto", "classifier") and opts.extractor:
        feature_fn = ctx.classifier_features(opts.extractor) if ctx.classifier_features else None
        if feature_fn is not None:
            feature_name = neighbours.CLASSIFIER_FEATURES
    if feature_fn is None:
        if opts.features == "classifier":
            raise OptionError(f"no offline classifier could be loaded from --extractor={opts.extractor}")
        feature_fn = neighbours.pixel_features
    refs = neighbours.load_reference_uint8(opts.dataset, opts.split, opts.num_reference, opts.data_dir)
    seeds = _seeds(opts)
    samples = rendering.render(g, ctx.styles(seeds), chunk_pixels=opts.chunk_pixels)  # float: the features' input
    ref_feats = neighbours.reference_features(refs, g.size, feature_fn)
    idx, dist = neighbours.nearest_neighbours(neighbours.batched(feature_fn, samples), ref_feats, opts.k)
    rows = []
    for i, s in enumerate(seeds):
        row = rendering.to_uint8(np.concatenate([samples[i:i + 1], neighbours.resize_to_model(refs[idx[i]], g.size)]))
        ctx.save_mosaic(f"seed{s:04d}_neighbours.png", row, ncols=len(row), pad=2)
        rows.append(row)
    ctx.save_mosaic("neighbours.png", np.concatenate(rows), ncols=len(rows[0]))
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
        raise OptionError(f"--task=video: {e}") from e
    path = video.video_path(ctx.out / "video", opts.video_format)
    kept = []  # the frame of each seed, for strip.png

    def frames():
        for i, frame in enumerate(video.render_frames(ctx.generator, w, opts.video_size,
                                                      chunk_pixels=opts.chunk_pixels, log_every=10)):
            if i % opts.frames_per_seed == 0:
                kept.append(frame)
            yield frame

    count = video.write_video(frames(), path, opts.fps)
    ctx.save_mosaic("strip.png", np.stack(kept), ncols=len(kept), pad=2)
    ctx.save_npy("w.npy", w)
    logging.info("video: %d frames -> %s", count, path)


def task_zoom(ctx):
    opts = ctx.opts
    seeds = _seeds(opts)
    if len(opts.zoom_center) != 2:
        raise OptionError(f"--zoom_center needs two numbers x,y, got {opts.zoom_center}")
    center = tuple(float(v) for v in opts.zoom_center)
    try:
        windows = zoom.zoom_windows(center, opts.zoom_frames, opts.zoom)  # validates before rendering
    except ValueError as e:
        raise OptionError(str(e)) from e
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
        ctx.save_mosaic(f"seed{s:04d}_strip.png", np.stack(kept), ncols=len(kept), pad=2)
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


def run_tasks(loaded, out, names, opts, classifier_features=None):
    """Runs the tasks `names` into `out/<task>/` (directories made here; `out` exists) and yields each
    task's directory when it is written, its options recorded in its `flags.json`.
    `classifier_features`: see `Context`."""
    logging.info("loaded %s", loaded.source)
    ctx = Context(loaded, out, opts, classifier_features)
    for task in names:
        ctx.out = out / task
        ctx.out.mkdir(parents=True, exist_ok=True)
        start = time.time()
        TASK_FUNCTIONS[task](ctx)
        (ctx.out / "flags.json").write_text(json.dumps(
            {"task": task, "model": opts.model, "source": loaded.source,
             "flags": vars(ctx.opts)}, indent=2, default=str) + "\n")
        logging.info("%s: wrote %s in %.1f s", task, ctx.out, time.time() - start)
        yield task, ctx.out
