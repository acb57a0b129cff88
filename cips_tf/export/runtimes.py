"""ONNX, OpenVINO and LiteRT exports of a CIPS generator, and the loaders that render through them.

Layout written by `export_runtime` (beside the SavedModel versions of `cips_tf.export.saved_model`;
TF Serving only reads numeric directory names, so it ignores the format directories):

    <export_base>/<model_name>/<version>/                 the SavedModel (format "saved_model")
    <export_base>/<model_name>/<format>/<version>/        format "onnx", "openvino" or "litert":
        mapping.<ext>, synthesis.<ext>                    the two graphs (ext: onnx, xml + bin, tflite)
        w_avg.npy                                         the truncation centre [style_dim] float32
        assets.extra/cips_export.json                     the SavedModel's metadata, plus "format"
                                                          and "graphs"

Each format directory is published atomically (`saved_model.publish_version`: a temporary
directory, one rename), with the version of the SavedModel it was exported beside.

Graphs (float32, eval mode: the coordinate embedding is sampled bilinearly, no noise):

    mapping    z [N, style_dim] -> w [N, style_dim]       (untruncated M(z))
    synthesis  w [N, style_dim], coords [N, P, 2] -> rgb [N, P, 3]   (unclipped, about [-1, 1])

N and P are dynamic (`points=None`) or fixed (`points=P`, `batch=N`; LiteRT and some accelerators
prefer static shapes). Coordinates are a flat list of points: a `[N, h, w, 2]` grid
(`cips_tf.coords.make_grid`) reshaped to `[N, h * w, 2]`. Truncation (`w_avg + psi * (w - w_avg)`)
and uint8 quantization are a line of NumPy each on the caller's side (`RuntimeGenerator.render`).

Not exported: the render-by-seed path. `from_seed` draws z with TensorFlow's stateless Philox
normal (`cips_tf.latents.z_from_seed`), which none of the three runtimes has as an operator; seeds
become z in TensorFlow (or z comes from any other source) and z is fed to `mapping`.

Loading: `RuntimeGenerator(path)` for a version directory of any format, including the SavedModel
(its `mapping` and `synthesis` serving signatures; their images are uint8, returned as float
`(u - 127.5) / 127.5`, which `quantize_images` maps back to the same uint8); `find_export(path, fmt)`
finds the newest version of `fmt` under an export base or a model directory. A `RuntimeGenerator`
duck-types as a generator for the experiments that need only mapping and synthesis
(`cips_tf.rendering.ChunkedRenderer` renders it in chunks, within its fixed shapes and limits).

Converters: ONNX through tf2onnx from the traced `tf.function` (what Keras's own ONNX exporter
does; tf2onnx's `from_keras` has Keras 3 issues), OpenVINO through `openvino.convert_model` of the
same function, LiteRT through `tf.lite.TFLiteConverter` (builtin operators only, so the plain
`ai-edge-litert` interpreter runs it). Parity with the Keras model: tests/export/runtimes_test.py.

The module's top imports no TensorFlow, so the ONNX / OpenVINO / LiteRT loaders run without it;
what needs TensorFlow (the converters, the SavedModel's files) imports it, or saved_model, locally.
"""
import importlib
import json
import pathlib
import tempfile

import numpy as np

from cips_tf.errors import UserError
from cips_tf.hardware import cpu_bf16_support

FORMATS = ("saved_model", "onnx", "openvino", "litert")
RUNTIME_FORMATS = ("onnx", "openvino", "litert")
# format -> (extra, modules the export needs, modules the loader needs)
EXTRAS = {
    "onnx": ("onnx", ("tf2onnx", "onnx"), ("onnxruntime",)),
    "openvino": ("openvino", ("openvino",), ("openvino",)),
    "litert": ("litert", (), ("ai_edge_litert.interpreter",)),
}
GRAPH_FILES = {
    "onnx": {"mapping": "mapping.onnx", "synthesis": "synthesis.onnx"},
    # + synthesis split in two for bf16: the encoding (Fourier features, the embedding's sample
    # positions) stays float32, the ModFC stack runs in bf16
    "openvino": {"mapping": "mapping.xml", "synthesis": "synthesis.xml", "encode": "encode.xml",
                 "modfc": "modfc.xml"},
    "litert": {"mapping": "mapping.tflite", "synthesis": "synthesis.tflite"},
}
W_AVG_FILE = "w_avg.npy"
ONNX_OPSET = 17
PRECISIONS = ("fp32", "bf16")


class MissingExtraError(UserError, ImportError):
    """An optional runtime is not installed; the message is one line naming the extra."""


class FormatError(UserError, ValueError):
    """An unknown format or precision, or bf16 where the CPU has no native bf16 (one line)."""


def _import(module, fmt):
    try:
        return importlib.import_module(module)
    except ImportError as e:
        extra = EXTRAS[fmt][0]
        raise MissingExtraError(
            f"format {fmt!r} needs the [{extra}] extra ({module} is not installed: {e}): "
            f"pip install 'cips-tf[{extra}]'"
        ) from None


def check_formats(formats, loading=False):
    """Validates `formats` (names of FORMATS) and that their extras import; returns them as a tuple.

    Raises ValueError for an unknown or repeated name and MissingExtraError (one line) for a missing
    extra, before anything is exported."""
    formats = tuple(formats)
    unknown = [f for f in formats if f not in FORMATS]
    if unknown or not formats:
        raise FormatError(f"unknown export format(s) {unknown or formats}; choose from {', '.join(FORMATS)}")
    if len(set(formats)) != len(formats):
        raise FormatError(f"export formats repeat: {list(formats)}")
    for fmt in formats:
        if fmt in EXTRAS:
            for module in EXTRAS[fmt][2 if loading else 1]:
                _import(module, fmt)
    return formats


# -- the traced graphs ------------------------------------------------------------------------------
def graph_functions(generator, points=None, batch=None):
    """`{"mapping": tf.function, "synthesis": tf.function}` with input signatures (float32)."""
    import tensorflow as tf  # local: see the module docstring

    s = int(generator.style_dim)
    z_spec = tf.TensorSpec([batch, s], tf.float32, name="z")
    w_spec = tf.TensorSpec([batch, s], tf.float32, name="w")
    coords_spec = tf.TensorSpec([batch, points, 2], tf.float32, name="coords")

    def mapping(z):
        return {"w": tf.cast(generator.mapping(z), tf.float32)}

    def synthesis(w, coords):
        return {"rgb": tf.cast(generator.synthesis(w, coords, randomize_noise=False), tf.float32)}

    def encode(coords):
        return {"encoding": generator.encode(coords)}

    def modfc(w, encoding):
        rgb = generator.synthesize_from_encoding(encoding, w, randomize_noise=False)
        return {"rgb": tf.cast(rgb, tf.float32)}

    encoding_spec = tf.TensorSpec([batch, points, generator.input_channels], tf.float32, name="encoding")
    return {
        "mapping": tf.function(mapping, autograph=False, input_signature=[z_spec]),
        "synthesis": tf.function(synthesis, autograph=False, input_signature=[w_spec, coords_spec]),
        "encode": tf.function(encode, autograph=False, input_signature=[coords_spec]),
        "modfc": tf.function(modfc, autograph=False, input_signature=[w_spec, encoding_spec]),
    }


def _write_onnx(fn, path):
    tf2onnx = _import("tf2onnx", "onnx")
    spec = list(fn.input_signature)
    model_proto, _ = tf2onnx.convert.from_function(fn, input_signature=spec, opset=ONNX_OPSET)
    path.write_bytes(model_proto.SerializeToString())


def _write_openvino(fn, path):
    ov = _import("openvino", "openvino")
    model = ov.convert_model(fn.get_concrete_function())
    ov.save_model(model, str(path), compress_to_fp16=False)  # float32 weights: exact parity


def _write_litert(fn, path):
    import tensorflow as tf  # local: see the module docstring

    converter = tf.lite.TFLiteConverter.from_concrete_functions([fn.get_concrete_function()])
    converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS]  # no Flex ops
    converter.optimizations = []  # float32, no quantization
    path.write_bytes(converter.convert())


_WRITERS = {"onnx": _write_onnx, "openvino": _write_openvino, "litert": _write_litert}


def write_runtime_graphs(generator, fmt, out_dir, points=None, batch=None):
    """Writes the mapping and synthesis graphs of `generator` in format `fmt` into `out_dir`."""
    out_dir = pathlib.Path(out_dir)
    functions = graph_functions(generator, points, batch)
    for name, filename in GRAPH_FILES[fmt].items():
        _WRITERS[fmt](functions[name], out_dir / filename)


def export_runtime(generator, w_avg, export_base, model_name, fmt, version, metadata, points=None, batch=None):
    """Publishes `<export_base>/<model_name>/<fmt>/<version>/` atomically; returns its path.

    `metadata`: the SavedModel version's metadata dict (`assets.extra/cips_export.json`), copied with
    `"format"`, `"graphs"` and the static shapes added."""
    from cips_tf.export.saved_model import METADATA_FILE, publish_version  # local: see the module docstring

    check_formats([fmt])
    if fmt not in RUNTIME_FORMATS:
        raise ValueError(f"export_runtime writes {RUNTIME_FORMATS}, not {fmt!r}")

    def write(tmp_dir):
        write_runtime_graphs(generator, fmt, tmp_dir, points, batch)
        np.save(tmp_dir / W_AVG_FILE, np.asarray(w_avg, np.float32))

    meta = dict(metadata, format=fmt, graphs=dict(GRAPH_FILES[fmt]), points=points, batch=batch)
    meta.pop("version", None)
    return publish_version(pathlib.Path(export_base) / model_name / fmt, write, version, {METADATA_FILE: meta})


def next_version(model_dir):
    """The next version number over the SavedModel versions and every format's versions."""
    from cips_tf.export.saved_model import existing_versions  # local: see the module docstring

    model_dir = pathlib.Path(model_dir)
    versions = existing_versions(model_dir)
    for fmt in RUNTIME_FORMATS:
        versions += existing_versions(model_dir / fmt)
    return max(versions, default=0) + 1


def export_formats(generator, w_avg, export_base, model_name, formats, version=None, points=None, batch=None,
                   **saved_model_kwargs):
    """Exports `generator` in each of `formats` with one version number; returns `{format: path}`.

    "saved_model" (when listed) goes first through `export_generator(**saved_model_kwargs)`; the
    other formats take its version and a copy of its metadata JSON. Each format is atomic by itself.
    """
    from cips_tf.export.saved_model import METADATA_FILE, export_generator  # local: see the module docstring

    others = [f for f in formats if f != "saved_model"]
    if getattr(generator, "num_classes", 0) and others:  # before the extras are looked for
        raise FormatError(f"--format={others[0]}: a class-conditional model exports as saved_model only (its "
                          "signatures take the class input); onnx, openvino and litert are unconditional for now")
    formats = check_formats(formats)
    model_dir = pathlib.Path(export_base) / model_name
    if version is None:
        version = next_version(model_dir)
    paths = {}
    if "saved_model" in formats:
        paths["saved_model"] = export_generator(generator, w_avg, export_base, model_name, version=version,
                                                **saved_model_kwargs)
        version = int(paths["saved_model"].name)
        metadata = json.loads((paths["saved_model"] / METADATA_FILE).read_text())
    else:
        # The metadata the SavedModel would carry: written by export_generator into a scratch base.
        metadata = _saved_model_metadata(generator, w_avg, model_name, saved_model_kwargs)
    for fmt in formats:
        if fmt != "saved_model":
            paths[fmt] = export_runtime(generator, w_avg, export_base, model_name, fmt, version, metadata,
                                        points, batch)
    return paths


def _saved_model_metadata(generator, w_avg, model_name, saved_model_kwargs):
    from cips_tf.export.saved_model import METADATA_FILE, export_generator  # local: see the module docstring

    kwargs = dict(saved_model_kwargs, warmup=False)
    with tempfile.TemporaryDirectory() as scratch:
        path = export_generator(generator, w_avg, scratch, model_name, version=1, **kwargs)
        return json.loads((path / METADATA_FILE).read_text())


# -- loading and rendering ------------------------------------------------------------------------
def format_dir(path):
    """The format of an exported directory (`<fmt>/<version>` or a SavedModel version)."""
    from cips_tf.export.saved_model import METADATA_FILE  # local: see the module docstring

    path = pathlib.Path(path)
    meta = path / METADATA_FILE
    if meta.exists():
        return json.loads(meta.read_text()).get("format", "saved_model")
    raise FileNotFoundError(f"{path} is not an exported version (no {METADATA_FILE})")


def find_export(path, fmt):
    """The version directory of format `fmt` that `path` names: a version directory of that format,
    a format directory (`<model_name>/<fmt>`), a model directory (`<model_name>`) or an export base
    holding one model; the newest complete version where there are several. One line otherwise."""
    from cips_tf.export.saved_model import METADATA_FILE, existing_versions  # local: see the module docstring

    check_formats([fmt])  # an unknown name fails here, in one line
    path = pathlib.Path(path)
    if (path / METADATA_FILE).exists():
        found = format_dir(path)
        if found != fmt:
            raise FormatError(f"{path} is a {found} export, not {fmt}: pass the model directory or a {fmt} version")
        return path
    if not path.is_dir():
        raise FileNotFoundError(f"{path}: no such export directory")

    def newest(directory):
        versions = [v for v in existing_versions(directory) if (directory / str(v) / METADATA_FILE).exists()]
        return directory / str(versions[-1]) if versions else None

    if fmt == "saved_model":
        found = None if path.name in RUNTIME_FORMATS else newest(path)
    else:
        found = newest(path / fmt) if (path / fmt).is_dir() else newest(path) if path.name == fmt else None
    if found is not None:
        return found
    models = [d for d in sorted(path.iterdir()) if d.is_dir() and not d.name.isdigit() and not d.name.startswith(".")
              and d.name not in RUNTIME_FORMATS]
    if len(models) == 1 and not existing_versions(path):  # an export base with one model
        return find_export(models[0], fmt)
    hint = f" (it holds several models: {', '.join(d.name for d in models)}; name one)" if len(models) > 1 else ""
    raise FileNotFoundError(f"{path}: no {fmt} export found{hint}; write one with cips-export --format={fmt}")


class _OnnxGraph:
    def __init__(self, path, precision, threads):
        ort = _import("onnxruntime", "onnx")
        if precision != "fp32":
            raise FormatError("ONNX Runtime's CPU provider has no bf16 inference path; use --precision=fp32")
        options = ort.SessionOptions()
        if threads:
            options.intra_op_num_threads = threads
        self.session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
        self.inputs = [i.name for i in self.session.get_inputs()]

    def __call__(self, **inputs):
        return self.session.run(None, inputs)[0]


class _OpenVINOGraph:
    def __init__(self, path, precision, threads):
        ov = _import("openvino", "openvino")
        config = {"INFERENCE_PRECISION_HINT": "bf16" if precision == "bf16" else "f32"}
        if threads:
            config["INFERENCE_NUM_THREADS"] = threads
        self.compiled = ov.Core().compile_model(str(path), "CPU", config)

    def __call__(self, **inputs):
        return np.array(self.compiled(inputs)[0])  # a copy: the request's buffer is reused


class _LiteRTGraph:
    def __init__(self, path, precision, threads):
        interpreter = _import("ai_edge_litert.interpreter", "litert")
        if precision != "fp32":
            raise FormatError("the LiteRT CPU interpreter runs float32 graphs here; use --precision=fp32")
        self.interpreter = interpreter.Interpreter(model_path=str(path), num_threads=threads or None)
        self.interpreter.allocate_tensors()
        self.index = {d["name"]: d["index"] for d in self.interpreter.get_input_details()}
        self.shapes = None

    def __call__(self, **inputs):
        it = self.interpreter
        shapes = {name: a.shape for name, a in inputs.items()}
        if shapes != self.shapes:  # dynamic dimensions: resize, then allocate again
            for name, arg in inputs.items():
                it.resize_tensor_input(self.index[name], arg.shape, strict=True)
            it.allocate_tensors()
            self.shapes = shapes
        for name, arg in inputs.items():
            it.set_tensor(self.index[name], arg)
        it.invoke()
        return it.get_tensor(it.get_output_details()[0]["index"])


class _SavedModelSignatures:
    """The SavedModel's `mapping` and `synthesis` serving signatures, loaded once (float32 only)."""

    def __init__(self, path, precision, threads):
        import tensorflow as tf  # local: see the module docstring

        if precision != "fp32":
            raise FormatError("the SavedModel runs float32 here (bf16 is OpenVINO's); use --precision=fp32")
        del threads  # TensorFlow's thread pools are per process (tf.config.threading), not per model
        self.tf = tf
        self.signatures = tf.saved_model.load(str(path)).signatures

    def mapping(self, z):
        return self.signatures["mapping"](z=self.tf.constant(z))["w"].numpy()

    def synthesis(self, w, coords):
        """The uint8 images of the `synthesis` signature as float: `quantize_images` gives them back."""
        images = self.signatures["synthesis"](w=self.tf.constant(w), coords=self.tf.constant(coords[:, :, None]))
        return (images["images"].numpy()[:, :, 0].astype(np.float32) - 127.5) / 127.5


# Every runtime reports the input names of the traced signature ("z"; "w", "coords"): inputs are
# fed by name, never by position.
_GRAPHS = {"onnx": _OnnxGraph, "openvino": _OpenVINOGraph, "litert": _LiteRTGraph}


def psnr(images, reference):
    """PSNR in dB of `images` against `reference`, both float RGB over the [-1, 1] range (peak 2)."""
    mse = float(np.mean((np.asarray(images, np.float64) - np.asarray(reference, np.float64)) ** 2))
    return float("inf") if mse == 0 else 10.0 * np.log10(4.0 / mse)


def bf16_support():
    """`(native, reason)`: bf16 inference is offered only where the CPU runs it natively."""
    return cpu_bf16_support()


class RuntimeGenerator:
    """An exported format loaded for rendering: `mapping(z)`, `synthesis(w, coords)`, `render(...)`.

    Args:
        path: a `<model_name>/<format>/<version>` directory written by `export_runtime`, or a
            SavedModel version `<model_name>/<version>` (its serving signatures: uint8 images,
            returned as float, see the module docstring; `find_export` finds either).
        precision: "fp32", or "bf16" (OpenVINO only, and only where the CPU has native bf16:
            otherwise ValueError with one line; never a slow emulation).
        threads: the runtime's intra-op threads (None: its default; ignored by the SavedModel).

    What a caller rendering in chunks must respect (`ChunkedRenderer` does): `points` and `batch`,
    the fixed point count and batch of the graphs (None: dynamic), and the SavedModel's request
    limits `max_batch` and `max_pixels` (None for the other formats, which have none).
    """

    is_runtime = True  # `cips_tf.rendering`: numpy in and out, one w per image

    def __init__(self, path, precision="fp32", threads=None):
        from cips_tf.export.saved_model import METADATA_FILE  # local: see the module docstring

        self.path = pathlib.Path(path)
        self.metadata = json.loads((self.path / METADATA_FILE).read_text())
        self.format = self.metadata.get("format", "saved_model")
        if self.format not in FORMATS:
            raise FormatError(f"{path} holds format {self.format!r}; RuntimeGenerator loads {', '.join(FORMATS)}")
        if precision not in PRECISIONS:
            raise FormatError(f"precision must be one of {PRECISIONS}, got {precision!r}")
        if precision == "bf16" and self.format != "openvino":
            raise FormatError(f"{self.format}: no bf16 inference path on the CPU here (OpenVINO has one); use "
                              "--precision=fp32")
        if precision == "bf16":
            native, reason = bf16_support()
            if not native:
                raise FormatError(f"bf16 refused: {reason} (it would be emulated, slower than float32)")
        self.precision = precision
        self.style_dim = int(self.metadata["style_dim"])
        self.size = int(self.metadata["resolution"])
        # The training canvas (exports written before non-square models are square).
        self.height = int(self.metadata.get("height", self.size))
        self.width = int(self.metadata.get("width", self.size))
        self.points, self.batch = self.metadata.get("points"), self.metadata.get("batch")
        self.max_batch = self.max_pixels = None
        if self.format == "saved_model":
            from cips_tf.loading import SAVEDMODEL_W_AVG  # local: see the module docstring

            self.w_avg = np.load(self.path / SAVEDMODEL_W_AVG)
            self.max_batch, self.max_pixels = int(self.metadata["max_batch"]), int(self.metadata["max_pixels"])
            signatures = _SavedModelSignatures(self.path, precision, threads)
            self._mapping, self._synthesis = signatures.mapping, signatures.synthesis
            return
        self.w_avg = np.load(self.path / W_AVG_FILE)
        graph = _GRAPHS[self.format]
        files = self.metadata["graphs"]
        self._mapping = graph(self.path / files["mapping"], "fp32", threads)
        if precision == "bf16":  # the encoding in float32, the ModFC stack in bf16
            encode = graph(self.path / files["encode"], "fp32", threads)
            modfc = graph(self.path / files["modfc"], "bf16", threads)
            self._synthesis = lambda w, coords: modfc(w=w, encoding=np.asarray(encode(coords=coords)))
        else:
            self._synthesis = graph(self.path / files["synthesis"], precision, threads)

    def mapping(self, z):
        """`[N, style_dim]` float32 z -> w, in calls of at most `max_batch` (exactly `batch`, padded)."""
        z = np.ascontiguousarray(z, np.float32)
        step = self.batch or self.max_batch
        if step is None or (len(z) <= step and not self.batch):
            return np.asarray(self._mapping(z=z))
        out = []
        for lo in range(0, len(z), step):
            part = z[lo:lo + step]
            pad = step - len(part) if self.batch else 0
            w = np.asarray(self._mapping(z=np.pad(part, ((0, pad), (0, 0))) if pad else part))
            out.append(w[:len(part)])
        return np.concatenate(out)

    def synthesis(self, w, coords):
        """w `[N, style_dim]`, coords `[N, ..., 2]` -> rgb `[N, ..., 3]` float32 (unclipped)."""
        coords = np.ascontiguousarray(coords, np.float32)
        flat = coords.reshape(coords.shape[0], -1, 2)
        rgb = self._synthesis(w=np.ascontiguousarray(w, np.float32), coords=flat)
        return np.asarray(rgb).reshape(coords.shape[:-1] + (3,))

    def render(self, z, coords, truncation_psi=1.0):
        """z `[N, style_dim]`, coords `[N, ..., 2]` -> rgb float32, truncated toward `w_avg`."""
        w = self.mapping(z)
        psi = np.reshape(np.asarray(truncation_psi, np.float32), (-1, 1))
        if np.any(psi != 1.0):
            w = self.w_avg + psi * (w - self.w_avg)
        return self.synthesis(w, coords)
