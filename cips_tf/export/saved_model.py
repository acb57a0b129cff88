"""SavedModel export of a CIPS generator for TF Serving (shared by `cips-export` and the Pusher).

Layout written by `export_generator` (TF Serving's model base path is `<export_base>/<model_name>`):

    <export_base>/<model_name>/<version>/
        saved_model.pb, variables/           the serving graph (tf.Module, five signatures)
        assets.extra/cips_generator.keras    the Keras generator (`cips_tf.loading`)
        assets.extra/w_avg.npy               the truncation centre `w_avg` [style_dim] float32
        assets.extra/cips_export.json        export metadata (resolution, limits, signatures)
        assets.extra/tf_serving_warmup_requests   PredictionLog TFRecords, one per signature
        assets.extra/batching_parameters.txt TF Serving batching parameters fitted to the limits
    <export_base>/<model_name>/batching_parameters.txt   a copy of the newest version's (for the server)

Signatures (every input has the batch dimension first, so TF Serving's batcher can merge requests;
images are NHWC uint8 quantized as StyleGAN does: `clip(x * 127.5 + 128, 0, 255)` then truncated to
uint8; eval mode: the coordinate embedding is sampled bilinearly and no noise is added):

    serving_default  z [N, Z] float32, truncation_psi [N] float32 -> images [N, H, W, 3] uint8
    from_seed        seed [N] int64, truncation_psi [N] float32   -> images [N, H, W, 3] uint8
                     (z = cips_tf.latents.z_from_seed(seed): per seed s,
                     tf.random.stateless_normal([Z], seed=[s, 0]); deterministic across processes)
    render           z [N, Z], truncation_psi [N], coords [N, h, w, 2] -> images [N, h, w, 3] uint8
    mapping          z [N, Z] -> w [N, Z] float32 (untruncated M(z))
    synthesis        w [N, Z], coords [N, h, w, 2] -> images [N, h, w, 3] uint8

`truncation_psi` is per example: `w = w_avg + psi * (M(z) - w_avg)`; psi = 1 disables truncation.

Class-conditional generators (`num_classes > 0`): `serving_default`, `from_seed`, `render` and
`mapping` take one more input, `class_index` [N] int64, the class of each example, and REQUIRE it
(TF Serving signatures have no optional inputs, and a silent class 0 would hide a client's missing
field; the name is not plain `class` because TF's signatures need input names that are Python
identifiers); an index outside 0..num_classes-1 is refused with one InvalidArgument line naming the
range.
`synthesis` takes w, which already carries the class. The class names go to the metadata JSON
(`class_names`) and to `assets.extra/class_names.json`. Unconditional exports are unchanged (no
`class` input).
`coords` follow `cips_tf.coords` (channel 0 = x along the width, linspace(-1, 1) on the training
grid; denser grids render super-resolution, sub-ranges render patches).

H x W is the training canvas: size x size for a square model, e.g. 32 x 64 for one trained at
resolution 32 with aspect 2:1 (metadata `height`, `width`). `render` and `synthesis` take any H x W:
`cips_tf.coords.canvas_grid(N, H, W)` gives the square-pixel grid of an H x W canvas (a square
model's wide render extends x beyond [-1, 1]; past the training canvas the learned embedding
repeats its edge entries).

Limits (set at export, recorded in the metadata JSON): every signature refuses a request whose
batch N exceeds `max_batch`, and every signature that renders refuses one whose pixels in total
(N * h * w; N * H * W for `serving_default` and `from_seed`) exceed `max_pixels`, with one
InvalidArgument line naming the limit, before any work is done: activations grow with the pixel
count (about 16 kB per pixel for the official 256 px model), so the limits bound the server's
memory per request. TF Serving's batcher merges requests into one batch that must itself fit:
`batching_parameters.txt` sets `max_batch_size` to the largest batch of training-size images
within both limits (use it with `--enable_batching --batching_parameters_file=...`).

Versions: by default the next integer after the largest existing numeric version directory
(1 for an empty model directory), so TF Serving's default "latest" policy serves the newest export;
integers rather than timestamps keep `--version` and `models.config` version policies readable.

Atomicity: the version is written into `<export_base>/<model_name>/.tmp-<version>-<uuid4 hex>`
(created with `mkdir`, which fails rather than reuse a name) and moved into place with one
`os.rename` (atomic on a POSIX filesystem). TF Serving only considers numeric directory names, so
it never sees a partial version. Exporters on other machines (pods sharing a PVC or NFS volume)
cannot be told apart by PID, so stale temporary directories are found by age instead: one whose
newest file is older than `STALE_TMP_SECONDS` (6 h; an export takes minutes and touches its files
as it writes) is removed by the next export. `export_base` must be on a local/POSIX filesystem
(object stores have no atomic directory rename).
"""
import json
import math
import os
import pathlib
import re
import shutil
import time
import uuid

import numpy as np
import tensorflow as tf

from cips_tf import fileio, rendering
from cips_tf.coords import canvas_grid, make_grid
from cips_tf.errors import UserError
from cips_tf.latents import quantize_images, styles, z_from_seed
from cips_tf.loading import SAVEDMODEL_CLASS_NAMES, SAVEDMODEL_KERAS, SAVEDMODEL_W_AVG

# About 4 images of 256 x 256 per request (a few GB of activations for the official model).
DEFAULT_MAX_PIXELS = 4 * 256 * 256
DEFAULT_MAX_RENDER_PIXELS = DEFAULT_MAX_PIXELS  # the name before max_batch existed
# Latents per request: mapping alone is cheap per row, but a batch of 1,000 seeds is not a request
# a shared server should take.
DEFAULT_MAX_BATCH = 64
SIGNATURES = ("serving_default", "from_seed", "render", "mapping", "synthesis")
CLASS_INPUT = "class_index"  # the class input of a conditional export's signatures
WARMUP_FILE = "assets.extra/tf_serving_warmup_requests"
METADATA_FILE = "assets.extra/cips_export.json"
BATCHING_FILE = "batching_parameters.txt"
BATCHING_ASSET = "assets.extra/" + BATCHING_FILE
TMP_PREFIX = ".tmp-"
_TMP_RE = re.compile(r"^\.tmp-")
STALE_TMP_SECONDS = 6 * 3600


class ExportLimitError(UserError, ValueError):
    """A serving limit that cannot work (the CLIs print it in one line)."""


class CIPSServingModule(tf.Module):
    """The serving graph: `w_avg` as a variable, the generator's variables, five signatures.

    Args:
        generator: a built `CIPSGenerator` (float32 outputs; any dtype policy).
        w_avg: `[style_dim]` truncation centre.
        max_pixels: limit on the pixels of one request, N * h * w (N * size * size for
            `serving_default` and `from_seed`).
        max_batch: limit on N, the batch of one request, for every signature.
    """

    def __init__(self, generator, w_avg, max_pixels=DEFAULT_MAX_PIXELS, max_batch=DEFAULT_MAX_BATCH,
                 name="cips_serving"):
        super().__init__(name=name)
        w_avg = np.asarray(w_avg, np.float32)
        if w_avg.shape != (generator.style_dim,):
            raise ValueError(f"w_avg must have shape [{generator.style_dim}], got {w_avg.shape}")
        self.max_pixels = int(max_pixels)
        self.height, self.width = _canvas(generator)
        if self.max_pixels < self.height * self.width:
            raise ExportLimitError(f"max_pixels={max_pixels} is below one {self.height} x {self.width} image "
                             f"({self.height * self.width}): serving_default and from_seed could never answer")
        self.max_batch = int(max_batch)
        if self.max_batch < 1:
            raise ExportLimitError(f"max_batch must be positive, got {max_batch}")
        self.size = int(generator.size)
        self.style_dim = int(generator.style_dim)
        self.num_classes = int(getattr(generator, "num_classes", 0) or 0)
        self.w_avg = tf.Variable(w_avg, trainable=False, name="w_avg")
        # Track the generator's variables the way keras.export.ExportArchive does (not the Keras
        # object itself, whose own trackable children are not needed for serving).
        self.generator_variables = list(generator.variables)
        object.__setattr__(self, "_generator", generator)  # untracked: only its variables are saved

        z_dim = self.style_dim
        z_spec = tf.TensorSpec([None, z_dim], tf.float32, name="z")
        psi_spec = tf.TensorSpec([None], tf.float32, name="truncation_psi")
        coords_spec = tf.TensorSpec([None, None, None, 2], tf.float32, name="coords")

        # Conditional: a trailing `class` input on every signature that maps z.
        cls = [tf.TensorSpec([None], tf.int64, name=CLASS_INPUT)] if self.num_classes else []
        functions = {
            "serving_default": tf.function(self._serving_default, autograph=False,
                                           input_signature=[z_spec, psi_spec] + cls),
            "from_seed": tf.function(
                self._from_seed, autograph=False,
                input_signature=[tf.TensorSpec([None], tf.int64, name="seed"), psi_spec] + cls
            ),
            "render": tf.function(self._render, autograph=False, input_signature=[z_spec, psi_spec, coords_spec] + cls),
            "mapping": tf.function(self._mapping, autograph=False, input_signature=[z_spec] + cls),
            "synthesis": tf.function(
                self._synthesis,
                autograph=False,
                input_signature=[tf.TensorSpec([None, z_dim], tf.float32, name="w"), coords_spec],
            ),
        }
        # Untracked: saved as signatures only (tracked attributes would be traced a second time
        # by tf.saved_model.save). Callable here, e.g. `module.functions["render"](z, psi, coords)`.
        object.__setattr__(self, "functions", functions)

    # -- building blocks ------------------------------------------------------------------------
    def _labels(self, label):
        """The checked class indices of a conditional request (None for an unconditional export)."""
        if label is None:
            return None
        message = f"input {CLASS_INPUT} must be a class index in 0..{self.num_classes - 1}"
        checks = [tf.debugging.assert_less(label, tf.constant(self.num_classes, tf.int64), message=message),
                  tf.debugging.assert_non_negative(label, message=message)]
        with tf.control_dependencies(checks):
            return tf.cast(label, tf.int32)

    def _styles(self, z, truncation_psi, label=None):
        z, truncation_psi = _finite(z, "z"), _finite(truncation_psi, "truncation_psi")
        return styles(self._generator, z, truncation_psi, tf.convert_to_tensor(self.w_avg),
                      self._labels(label))  # [N, S] float32

    @staticmethod
    def _with_class(tensors, label):
        return tensors if label is None else {**tensors, CLASS_INPUT: label}

    def _synthesize(self, w, coords):
        w, coords = _finite(w, "w"), _finite(coords, "coords")
        rgb = rendering.synthesize(self._generator, w, coords)  # [N, h, w, 3], the one eval-mode render call
        return quantize_images(rgb)  # the StyleGAN rule shared with samples and FID

    def _check_batch(self, signature, tensors):
        """Asserts N of the first tensor of `tensors` (name -> tensor) is <= max_batch, and every
        other tensor has the same N: TF Serving's batcher concatenates requests along axis 0, so a
        short input would misalign them."""
        (first_name, first), *others = tensors.items()
        batch = tf.shape(first, out_type=tf.int64)[0]
        checks = [
            tf.debugging.assert_less_equal(
                batch,
                tf.constant(self.max_batch, tf.int64),
                message=(
                    f"{signature}: batch too large: N of {first_name} must be <= max_batch={self.max_batch} "
                    "(set by cips-export --max_batch); split the request"
                ),
            )
        ]
        return checks + [
            tf.debugging.assert_equal(
                tf.shape(tensor, out_type=tf.int64)[0],
                batch,
                message=f"{signature}: {name} and {first_name} must have the same batch size N",
            )
            for name, tensor in others
        ]

    def _check_pixels(self, signature, pixels, what):
        return tf.debugging.assert_less_equal(
            pixels,
            tf.constant(self.max_pixels, tf.int64),
            message=(
                f"{signature}: too many pixels in one request: {what} must be <= max_pixels={self.max_pixels} "
                "(set by cips-export --max_pixels); split the batch or render tiles"
            ),
        )

    def _check_request(self, signature, coords, batch_tensors):
        """Checks of a request with `coords`: the batch limit first, then N * h * w <= max_pixels."""
        shape = tf.shape(coords, out_type=tf.int64)
        checks = self._check_batch(signature, {**batch_tensors, "coords": coords})
        with tf.control_dependencies(checks[:1]):  # a huge N is reported as such, not as pixels
            pixels = shape[0] * shape[1] * shape[2]
        return checks + [self._check_pixels(signature, pixels, "N * h * w of coords")]

    def _check_images(self, signature, batch_tensors):
        """Checks of a request for N training-size images: N <= max_batch, N * H * W <= max_pixels."""
        checks = self._check_batch(signature, batch_tensors)
        first = next(iter(batch_tensors.values()))
        with tf.control_dependencies(checks[:1]):
            pixels = tf.shape(first, out_type=tf.int64)[0] * (self.height * self.width)
        return checks + [self._check_pixels(signature, pixels, f"N * {self.height} * {self.width}")]

    # -- signatures -------------------------------------------------------------------------------
    def _serving_default(self, z, truncation_psi, label=None):
        batch = self._with_class({"z": z, "truncation_psi": truncation_psi}, label)
        with tf.control_dependencies(self._check_images("serving_default", batch)):
            z = tf.identity(z)
        w = self._styles(z, truncation_psi, label)
        return {"images": self._synthesize(w, canvas_grid(tf.shape(z)[0], self.height, self.width))}

    def _from_seed(self, seed, truncation_psi, label=None):
        batch = self._with_class({"seed": seed, "truncation_psi": truncation_psi}, label)
        with tf.control_dependencies(self._check_images("from_seed", batch)):
            seed = tf.identity(seed)
        z = z_from_seed(seed, self.style_dim)  # [N, Z]
        w = self._styles(z, truncation_psi, label)
        return {"images": self._synthesize(w, canvas_grid(tf.shape(seed)[0], self.height, self.width))}

    def _render(self, z, truncation_psi, coords, label=None):
        checks = self._check_request("render", coords, self._with_class({"z": z, "truncation_psi": truncation_psi},
                                                                        label))
        with tf.control_dependencies(checks):
            coords, z = tf.identity(coords), tf.identity(z)
        w = self._styles(z, truncation_psi, label)
        return {"images": self._synthesize(w, coords)}

    def _mapping(self, z, label=None):
        with tf.control_dependencies(self._check_batch("mapping", self._with_class({"z": z}, label))):
            z = tf.identity(z)
        return {"w": styles(self._generator, _finite(z, "z"), 1.0, None, self._labels(label))}

    def _synthesis(self, w, coords):
        checks = self._check_request("synthesis", coords, {"w": w})
        with tf.control_dependencies(checks):
            coords, w = tf.identity(coords), tf.identity(w)
        return {"images": self._synthesize(w, coords)}

    def signatures(self):
        """`{signature_name: concrete function}` for `tf.saved_model.save`."""
        return {name: self.functions[name].get_concrete_function() for name in SIGNATURES}


def _canvas(generator):
    """(height, width) of the generator's training canvas (size x size for a square model)."""
    size = int(generator.size)
    return int(getattr(generator, "height", size)), int(getattr(generator, "width", size))


def _finite(tensor, name):
    """`tensor`, or InvalidArgument "<name> must be finite ..." when it holds NaN or inf (a NaN z or
    truncation_psi would otherwise render all-black images without an error)."""
    return tf.debugging.check_numerics(tensor, f"input {name} must be finite (no NaN or inf)")


def warmup_inputs(module, batch=1):
    """`{signature: {input: numpy}}`: one small valid request per signature (also used by tests)."""
    z = z_from_seed(np.arange(batch, dtype=np.int64), module.style_dim).numpy()
    psi = np.ones([batch], np.float32)
    side = max(1, min(module.size, math.isqrt(module.max_pixels // batch)))
    coords = make_grid(batch, side).numpy()
    cls = {CLASS_INPUT: np.arange(batch, dtype=np.int64) % module.num_classes} if module.num_classes else {}
    w = module.functions["mapping"](tf.constant(z), *[tf.constant(v) for v in cls.values()])["w"].numpy()
    return {
        "serving_default": {"z": z, "truncation_psi": psi, **cls},
        "from_seed": {"seed": np.arange(batch, dtype=np.int64), "truncation_psi": psi, **cls},
        "render": {"z": z, "truncation_psi": psi, "coords": coords, **cls},
        "mapping": {"z": z, **cls},
        "synthesis": {"w": w, "coords": coords},
    }


def write_warmup_requests(path, model_name, requests):
    """Writes TF Serving warmup records: one `PredictionLog(predict_log=PredictLog(request))` per
    `(signature, inputs)` of `requests` into the TFRecord file `path`."""
    try:
        from tensorflow_serving.apis import model_pb2, predict_pb2, prediction_log_pb2  # only warmup needs it
    except ImportError as e:  # the optional "serving" extra
        raise ImportError(
            "warmup requests need tensorflow-serving-api (pip install 'tensorflow-serving-api==2.21.*', "
            "the cips-tf[serving] extra); or export with warmup=False (--nowarmup)"
        ) from e

    with tf.io.TFRecordWriter(str(path)) as writer:
        for signature, inputs in requests.items():
            request = predict_pb2.PredictRequest(
                model_spec=model_pb2.ModelSpec(name=model_name, signature_name=signature)
            )
            for key, value in inputs.items():
                request.inputs[key].CopyFrom(tf.make_tensor_proto(value))
            log = prediction_log_pb2.PredictionLog(predict_log=prediction_log_pb2.PredictLog(request=request))
            writer.write(log.SerializeToString())


def existing_versions(model_dir):
    """Sorted integer versions of the complete version directories in `model_dir`."""
    model_dir = pathlib.Path(model_dir)
    if not model_dir.is_dir():
        return []
    return sorted(int(p.name) for p in model_dir.iterdir() if p.is_dir() and p.name.isdigit())


def _newest_mtime(root):
    """The newest modification time of `root` and everything under it (symlinks not followed)."""
    newest = os.lstat(root).st_mtime
    for dirpath, dirnames, filenames in os.walk(root):
        for name in dirnames + filenames:
            try:
                newest = max(newest, os.lstat(os.path.join(dirpath, name)).st_mtime)
            except FileNotFoundError:  # removed while we looked
                pass
    return newest


def clean_stale_tmp_dirs(model_dir, max_age=STALE_TMP_SECONDS, now=None):
    """Removes `.tmp-*` directories of `model_dir` untouched for `max_age` seconds; returns them.

    Age rather than PID: an exporter in another pod or on another machine sharing the volume has a
    PID that means nothing here (it may look dead, or equal one of ours), so the only safe sign
    that a temporary directory is abandoned is that nothing in it changed for much longer than an
    export takes. A symlink named `.tmp-*` is never followed, only left alone.
    """
    removed = []
    model_dir = pathlib.Path(model_dir)
    if not model_dir.is_dir():
        return removed
    now = time.time() if now is None else now
    for p in model_dir.iterdir():
        if not _TMP_RE.match(p.name) or p.is_symlink() or not p.is_dir():
            continue
        try:
            age = now - _newest_mtime(p)
        except FileNotFoundError:
            continue
        if age > max_age:
            shutil.rmtree(p, ignore_errors=True)
            removed.append(p)
    return removed


def _commit(tmp_dir, final_dir):
    """The one atomic step: `tmp_dir` becomes the version directory (fails if it exists)."""
    if final_dir.exists():
        raise FileExistsError(f"{final_dir} already exists")
    os.rename(tmp_dir, final_dir)


def _fsync_tree(root):
    for dirpath, _, filenames in os.walk(root):
        for name in filenames:
            with open(os.path.join(dirpath, name), "rb") as f:
                os.fsync(f.fileno())


def publish_version(model_dir, write, version=None, json_files=None):
    """Publishes `<model_dir>/<version>/` atomically (see "Atomicity" above); returns its path.

    Args:
        model_dir: the model's directory (created if missing; local filesystem).
        write: `write(tmp_dir)` fills the version's content into the (existing) temporary directory.
        version: positive int; None -> largest existing version + 1 (1 when none). An explicit version
            that exists raises FileExistsError; an automatic one a concurrent writer took first is
            bumped.
        json_files: `{relative path: dict}` written (with `"version"` set to the final version) into
            the version before its rename, e.g. metadata and records of who published it.
    """
    model_dir = pathlib.Path(model_dir)
    model_dir.mkdir(parents=True, exist_ok=True)
    clean_stale_tmp_dirs(model_dir)
    auto_version = version is None
    if auto_version:
        versions = existing_versions(model_dir)
        version = (versions[-1] + 1) if versions else 1
    version = int(version)
    if (model_dir / str(version)).exists():
        raise FileExistsError(f"{model_dir / str(version)} already exists; choose another version")
    # A unique name, created exclusively: never another exporter's directory, whatever its PID.
    tmp_dir = model_dir / f"{TMP_PREFIX}{version}-{uuid.uuid4().hex}"
    tmp_dir.mkdir()
    try:
        write(tmp_dir)
        while True:
            for rel, content in (json_files or {}).items():
                path = tmp_dir / rel
                path.parent.mkdir(parents=True, exist_ok=True)
                path.write_text(json.dumps(dict(content, version=version), indent=2, sort_keys=True, default=str) + "\n")
            _fsync_tree(tmp_dir)
            final_dir = model_dir / str(version)
            try:
                _commit(tmp_dir, final_dir)
                return final_dir
            except OSError:
                if not auto_version or not final_dir.exists():
                    raise
                version += 1  # a concurrent writer took this version: take the next one
    except BaseException:
        shutil.rmtree(tmp_dir, ignore_errors=True)
        raise


def batching_parameters(size, max_pixels, max_batch, num_batch_threads=4, height=None, width=None):
    """TF Serving's `--batching_parameters_file` text (a `BatchingParameters` proto) for an export.

    A merged batch must itself pass the in-graph limits, so `max_batch_size` is the largest batch of
    training-size images within both (`min(max_batch, max_pixels // size^2)`; `height x width` for a
    non-square model). CPU-sensible values
    otherwise, as TF Serving's batching guide recommends for CPUs: one batch thread per core
    (`num_batch_threads`, 4 by default: edit it to the server's cores), no waiting for a batch to
    fill (`batch_timeout_micros` 0: CPUs gain little from large batches, latency gains from none),
    and a queue no deeper than the threads (`max_enqueued_batches`), so overload is refused at once
    (UNAVAILABLE) rather than queued without bound.
    """
    height, width = int(height or size), int(width or size)
    max_batch_size = max(1, min(int(max_batch), int(max_pixels) // (height * width)))
    shape = f"{int(size)} px" if height == width == int(size) else f"{height} x {width} px"
    return (
        f"# TF Serving batching parameters for this CIPS export (max_pixels={int(max_pixels)}, "
        f"max_batch={int(max_batch)}, {shape}).\n"
        "# tensorflow_model_server --enable_batching --batching_parameters_file=<this file> ...\n"
        f"max_batch_size {{ value: {max_batch_size} }}\n"
        "batch_timeout_micros { value: 0 }\n"
        f"max_enqueued_batches {{ value: {int(num_batch_threads)} }}\n"
        f"num_batch_threads {{ value: {int(num_batch_threads)} }}\n"
    )


def export_generator(
    generator,
    w_avg,
    export_base,
    model_name,
    version=None,
    max_pixels=DEFAULT_MAX_PIXELS,
    max_batch=DEFAULT_MAX_BATCH,
    warmup=True,
    extra_json=None,
    max_render_pixels=None,
    class_names=None,
):
    """Exports `generator` as `<export_base>/<model_name>/<version>/` atomically; returns that path.

    Args:
        generator: a `CIPSGenerator`.
        w_avg: `[style_dim]` truncation centre (e.g. `estimate_w_avg(generator)`).
        export_base: TF Serving base directory (created if missing; local filesystem).
        model_name: the model's directory and TF Serving name.
        version: positive int or None (see `publish_version`).
        max_pixels: limit on the pixels of one request (N * h * w, N * size^2 for whole images).
        max_batch: limit on N, the batch of one request, for every signature.
        max_render_pixels: the former name of `max_pixels` (when given, it wins).
        warmup: write `assets.extra/tf_serving_warmup_requests` (needs tensorflow-serving-api).
        extra_json: `{relative path: dict}` more JSON files for the version (the pipeline's Pusher
            adds its record), written with the final `"version"` before the version appears.
        class_names: a conditional generator's class names (index i -> name), recorded in the
            metadata and `assets.extra/class_names.json`; None: unknown (indices only).

    Returns:
        `pathlib.Path` of the new version directory.

    Besides the version, writes `<export_base>/<model_name>/batching_parameters.txt` (a copy of
    the version's `assets.extra/batching_parameters.txt`, replaced atomically).
    """
    if max_render_pixels is not None:
        max_pixels = max_render_pixels
    if not model_name or "/" in model_name or model_name.startswith("."):
        raise ValueError(f"invalid model_name {model_name!r}")
    if version is not None and (int(version) != version or int(version) < 1):
        raise ValueError(f"version must be a positive integer, got {version!r}")

    def write(tmp_dir):
        module = CIPSServingModule(generator, w_avg, max_pixels, max_batch)  # validates w_avg and the limits
        tf.saved_model.save(module, str(tmp_dir), signatures=module.signatures())
        (tmp_dir / "assets.extra").mkdir(exist_ok=True)
        generator.save(str(tmp_dir / SAVEDMODEL_KERAS))
        np.save(tmp_dir / SAVEDMODEL_W_AVG, np.asarray(w_avg, np.float32))
        (tmp_dir / BATCHING_ASSET).write_text(batching)
        if class_names:
            (tmp_dir / SAVEDMODEL_CLASS_NAMES).write_text(json.dumps(list(class_names), indent=1) + "\n")
        if warmup:
            write_warmup_requests(tmp_dir / WARMUP_FILE, model_name, warmup_inputs(module))

    metadata = {
        "model_name": model_name,
        "resolution": int(generator.size),
        "height": _canvas(generator)[0],
        "width": _canvas(generator)[1],
        "style_dim": int(generator.style_dim),
        "max_pixels": int(max_pixels),
        "max_batch": int(max_batch),
        "batching_parameters_file": BATCHING_FILE,
        "signatures": list(SIGNATURES),
        "generator_config": generator.get_config(),
        **({"num_classes": int(generator.num_classes), "class_names": list(class_names or []),
            "class_input": f"{CLASS_INPUT} [N] int64, required by serving_default, from_seed, render and mapping"}
           if getattr(generator, "num_classes", 0) else {}),
        "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }
    batching = batching_parameters(generator.size, max_pixels, max_batch, width=_canvas(generator)[1],
                                   height=_canvas(generator)[0])
    model_dir = pathlib.Path(export_base) / model_name
    path = publish_version(model_dir, write, version, {METADATA_FILE: metadata, **(extra_json or {})})
    with fileio.atomic_write(model_dir / BATCHING_FILE) as f:
        f.write(batching)
    return path
