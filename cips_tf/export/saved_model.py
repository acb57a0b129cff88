"""SavedModel export of a CIPS generator for TF Serving (shared by `cips-export` and the Pusher).

Layout written by `export_generator` (TF Serving's model base path is `<export_base>/<model_name>`):

    <export_base>/<model_name>/<version>/
        saved_model.pb, variables/           the serving graph (tf.Module, five signatures)
        assets.extra/cips_generator.keras    the Keras generator (`cips_tf.models.loading`)
        assets.extra/w_avg.npy               the truncation centre `w_avg` [style_dim] float32
        assets.extra/cips_export.json        export metadata (resolution, limits, signatures)
        assets.extra/tf_serving_warmup_requests   PredictionLog TFRecords, one per signature

Signatures (every input has the batch dimension first, so TF Serving's batcher can merge requests;
images are NHWC uint8 quantized as StyleGAN does: `clip(x * 127.5 + 128, 0, 255)` then truncated to
uint8; eval mode: the coordinate embedding is sampled bilinearly and no noise is added):

    serving_default  z [N, Z] float32, truncation_psi [N] float32 -> images [N, size, size, 3] uint8
    from_seed        seed [N] int64, truncation_psi [N] float32   -> images [N, size, size, 3] uint8
                     (z = cips_tf.latents.z_from_seed(seed): per seed s,
                     tf.random.stateless_normal([Z], seed=[s, 0]); deterministic across processes)
    render           z [N, Z], truncation_psi [N], coords [N, h, w, 2] -> images [N, h, w, 3] uint8
    mapping          z [N, Z] -> w [N, Z] float32 (untruncated M(z))
    synthesis        w [N, Z], coords [N, h, w, 2] -> images [N, h, w, 3] uint8

`truncation_psi` is per example: `w = w_avg + psi * (M(z) - w_avg)`; psi = 1 disables truncation.
`coords` follow `cips_tf.coords` (channel 0 = x along the width, linspace(-1, 1) on the training
grid; denser grids render super-resolution, sub-ranges render patches). `render` and `synthesis`
refuse requests with more than `max_render_pixels` pixels in total (N * h * w) with an
InvalidArgument error naming the limit: activations grow with the pixel count (about 16 kB per
pixel for the official 256 px model), so the limit bounds the server's memory per request.
`serving_default` and `from_seed` are bounded by the batch size instead (configure TF Serving's
batching `max_batch_size`).

Versions: by default the next integer after the largest existing numeric version directory
(1 for an empty model directory), so TF Serving's default "latest" policy serves the newest export;
integers rather than timestamps keep `--version` and `models.config` version policies readable.

Atomicity: the version is written into `<export_base>/<model_name>/.tmp-<version>-<pid>` and moved
into place with one `os.rename` (atomic on a POSIX filesystem). TF Serving only considers
numeric directory names, so it never sees a partial version. Temporary directories left by killed
exporters (their pid no longer running) are removed by the next export. `export_base` must be on a
local/POSIX filesystem (object stores have no atomic directory rename).
"""
import json
import math
import os
import pathlib
import re
import shutil
import time

import numpy as np
import tensorflow as tf

from cips_tf.coords import make_grid
from cips_tf.latents import quantize_images, styles, z_from_seed
from cips_tf.models.loading import SAVEDMODEL_KERAS, SAVEDMODEL_W_AVG

# About 4 images of 256 x 256 per request (a few GB of activations for the official model).
DEFAULT_MAX_RENDER_PIXELS = 4 * 256 * 256
SIGNATURES = ("serving_default", "from_seed", "render", "mapping", "synthesis")
WARMUP_FILE = "assets.extra/tf_serving_warmup_requests"
METADATA_FILE = "assets.extra/cips_export.json"
TMP_PREFIX = ".tmp-"
_TMP_RE = re.compile(r"^\.tmp-(\d+)-(\d+)$")


class CIPSServingModule(tf.Module):
    """The serving graph: `w_avg` as a variable, the generator's variables, five signatures.

    Args:
        generator: a built `CIPSGenerator` (float32 outputs; any dtype policy).
        w_avg: `[style_dim]` truncation centre.
        max_render_pixels: limit on N * h * w for `render` and `synthesis`.
    """

    def __init__(self, generator, w_avg, max_render_pixels=DEFAULT_MAX_RENDER_PIXELS, name="cips_serving"):
        super().__init__(name=name)
        w_avg = np.asarray(w_avg, np.float32)
        if w_avg.shape != (generator.style_dim,):
            raise ValueError(f"w_avg must have shape [{generator.style_dim}], got {w_avg.shape}")
        self.max_render_pixels = int(max_render_pixels)
        if self.max_render_pixels < 1:
            raise ValueError(f"max_render_pixels must be positive, got {max_render_pixels}")
        self.size = int(generator.size)
        self.style_dim = int(generator.style_dim)
        self.w_avg = tf.Variable(w_avg, trainable=False, name="w_avg")
        # Track the generator's variables the way keras.export.ExportArchive does (not the Keras
        # object itself, whose own trackable children are not needed for serving).
        self.generator_variables = list(generator.variables)
        object.__setattr__(self, "_generator", generator)  # untracked: only its variables are saved

        z_dim = self.style_dim
        z_spec = tf.TensorSpec([None, z_dim], tf.float32, name="z")
        psi_spec = tf.TensorSpec([None], tf.float32, name="truncation_psi")
        coords_spec = tf.TensorSpec([None, None, None, 2], tf.float32, name="coords")

        functions = {
            "serving_default": tf.function(self._serving_default, autograph=False, input_signature=[z_spec, psi_spec]),
            "from_seed": tf.function(
                self._from_seed, autograph=False, input_signature=[tf.TensorSpec([None], tf.int64, name="seed"), psi_spec]
            ),
            "render": tf.function(self._render, autograph=False, input_signature=[z_spec, psi_spec, coords_spec]),
            "mapping": tf.function(self._mapping, autograph=False, input_signature=[z_spec]),
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
    def _styles(self, z, truncation_psi):
        z, truncation_psi = _finite(z, "z"), _finite(truncation_psi, "truncation_psi")
        return styles(self._generator, z, truncation_psi, tf.convert_to_tensor(self.w_avg))  # [N, S] float32

    def _synthesize(self, w, coords):
        w, coords = _finite(w, "w"), _finite(coords, "coords")
        rgb = self._generator.synthesis(w, coords, randomize_noise=False)  # [N, h, w, 3]
        return quantize_images(rgb)  # the StyleGAN rule shared with samples and FID

    def _check_batch(self, signature, tensors):
        """Asserts every tensor of `tensors` (name -> tensor) has the first one's batch size: TF
        Serving's batcher concatenates requests along axis 0, so a short input would misalign them."""
        (first_name, first), *others = tensors.items()
        batch = tf.shape(first, out_type=tf.int64)[0]
        return [
            tf.debugging.assert_equal(
                tf.shape(tensor, out_type=tf.int64)[0],
                batch,
                message=f"{signature}: {name} and {first_name} must have the same batch size N",
            )
            for name, tensor in others
        ]

    def _check_request(self, signature, coords, batch_tensors):
        shape = tf.shape(coords, out_type=tf.int64)
        pixels = shape[0] * shape[1] * shape[2]
        checks = [
            tf.debugging.assert_less_equal(
                pixels,
                tf.constant(self.max_render_pixels, tf.int64),
                message=(
                    f"{signature}: too many pixels in one request: N * h * w of coords must be <= "
                    f"max_render_pixels={self.max_render_pixels}; split the batch or render tiles"
                ),
            )
        ]
        return checks + self._check_batch(signature, {"coords": coords, **batch_tensors})

    # -- signatures -------------------------------------------------------------------------------
    def _serving_default(self, z, truncation_psi):
        with tf.control_dependencies(self._check_batch("serving_default", {"z": z, "truncation_psi": truncation_psi})):
            z = tf.identity(z)
        w = self._styles(z, truncation_psi)
        return {"images": self._synthesize(w, make_grid(tf.shape(z)[0], self.size))}

    def _from_seed(self, seed, truncation_psi):
        with tf.control_dependencies(self._check_batch("from_seed", {"seed": seed, "truncation_psi": truncation_psi})):
            seed = tf.identity(seed)
        z = z_from_seed(seed, self.style_dim)  # [N, Z]
        w = self._styles(z, truncation_psi)
        return {"images": self._synthesize(w, make_grid(tf.shape(seed)[0], self.size))}

    def _render(self, z, truncation_psi, coords):
        checks = self._check_request("render", coords, {"z": z, "truncation_psi": truncation_psi})
        with tf.control_dependencies(checks):
            coords = tf.identity(coords)
        w = self._styles(z, truncation_psi)
        return {"images": self._synthesize(w, coords)}

    def _mapping(self, z):
        return {"w": tf.cast(self._generator.mapping(_finite(z, "z")), tf.float32)}

    def _synthesis(self, w, coords):
        checks = self._check_request("synthesis", coords, {"w": w})
        with tf.control_dependencies(checks):
            coords = tf.identity(coords)
        return {"images": self._synthesize(w, coords)}

    def signatures(self):
        """`{signature_name: concrete function}` for `tf.saved_model.save`."""
        return {name: self.functions[name].get_concrete_function() for name in SIGNATURES}


def _finite(tensor, name):
    """`tensor`, or InvalidArgument "<name> must be finite ..." when it holds NaN or inf (a NaN z or
    truncation_psi would otherwise render all-black images without an error)."""
    return tf.debugging.check_numerics(tensor, f"input {name} must be finite (no NaN or inf)")


def warmup_inputs(module, batch=1):
    """`{signature: {input: numpy}}`: one small valid request per signature (also used by tests)."""
    z = z_from_seed(np.arange(batch, dtype=np.int64), module.style_dim).numpy()
    psi = np.ones([batch], np.float32)
    side = max(1, min(module.size, math.isqrt(module.max_render_pixels // batch)))
    coords = make_grid(batch, side).numpy()
    w = module.functions["mapping"](tf.constant(z))["w"].numpy()
    return {
        "serving_default": {"z": z, "truncation_psi": psi},
        "from_seed": {"seed": np.arange(batch, dtype=np.int64), "truncation_psi": psi},
        "render": {"z": z, "truncation_psi": psi, "coords": coords},
        "mapping": {"z": z},
        "synthesis": {"w": w, "coords": coords},
    }


def write_warmup_requests(path, model_name, requests):
    """Writes TF Serving warmup records: one `PredictionLog(predict_log=PredictLog(request))` per
    `(signature, inputs)` of `requests` into the TFRecord file `path`."""
    try:
        from tensorflow_serving.apis import model_pb2, predict_pb2, prediction_log_pb2
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


def _pid_alive(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # exists, owned by someone else
        return True
    return True


def clean_stale_tmp_dirs(model_dir):
    """Removes `.tmp-<version>-<pid>` directories whose exporter is no longer running."""
    removed = []
    model_dir = pathlib.Path(model_dir)
    if not model_dir.is_dir():
        return removed
    for p in model_dir.iterdir():
        m = _TMP_RE.match(p.name)
        if m and p.is_dir() and int(m.group(2)) != os.getpid() and not _pid_alive(int(m.group(2))):
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
    tmp_dir = model_dir / f"{TMP_PREFIX}{version}-{os.getpid()}"
    shutil.rmtree(tmp_dir, ignore_errors=True)
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


def export_generator(
    generator,
    w_avg,
    export_base,
    model_name,
    version=None,
    max_render_pixels=DEFAULT_MAX_RENDER_PIXELS,
    warmup=True,
    extra_json=None,
):
    """Exports `generator` as `<export_base>/<model_name>/<version>/` atomically; returns that path.

    Args:
        generator: a `CIPSGenerator`.
        w_avg: `[style_dim]` truncation centre (e.g. `estimate_w_avg(generator)`).
        export_base: TF Serving base directory (created if missing; local filesystem).
        model_name: the model's directory and TF Serving name.
        version: positive int or None (see `publish_version`).
        max_render_pixels: limit on N * h * w per `render` / `synthesis` request.
        warmup: write `assets.extra/tf_serving_warmup_requests` (needs tensorflow-serving-api).
        extra_json: `{relative path: dict}` more JSON files for the version (the pipeline's Pusher
            adds its record), written with the final `"version"` before the version appears.

    Returns:
        `pathlib.Path` of the new version directory.
    """
    if not model_name or "/" in model_name or model_name.startswith("."):
        raise ValueError(f"invalid model_name {model_name!r}")
    if version is not None and (int(version) != version or int(version) < 1):
        raise ValueError(f"version must be a positive integer, got {version!r}")

    def write(tmp_dir):
        module = CIPSServingModule(generator, w_avg, max_render_pixels)  # validates w_avg and the limit
        tf.saved_model.save(module, str(tmp_dir), signatures=module.signatures())
        (tmp_dir / "assets.extra").mkdir(exist_ok=True)
        generator.save(str(tmp_dir / SAVEDMODEL_KERAS))
        np.save(tmp_dir / SAVEDMODEL_W_AVG, np.asarray(w_avg, np.float32))
        if warmup:
            write_warmup_requests(tmp_dir / WARMUP_FILE, model_name, warmup_inputs(module))

    metadata = {
        "model_name": model_name,
        "resolution": int(generator.size),
        "style_dim": int(generator.style_dim),
        "max_render_pixels": int(max_render_pixels),
        "signatures": list(SIGNATURES),
        "generator_config": generator.get_config(),
        "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }
    return publish_version(pathlib.Path(export_base) / model_name, write, version,
                           {METADATA_FILE: metadata, **(extra_json or {})})
