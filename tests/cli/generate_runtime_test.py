"""`cips-generate --runtime=saved_model|onnx|openvino|litert` renders the PNGs the Keras model renders.

Tolerance (README, "Inference runtimes"): the exports match the Keras model within 1e-4 on the float
RGB (tests/export/runtimes_test.py), so a written uint8 value may differ by one level where the
float sits on a quantization boundary: every PNG within 1 level, in at most 0.5% of its values
(measured here: at most 0.04%), and w.npy within 1e-4. One exception, by design: the SavedModel's
signatures return clipped uint8 images, so super_resolution's Lanczos baseline (upsampled from the
native render) is computed from clipped values there; its CIPS renders are compared as usual.

The exports (a 32 px model) are written once per module, each when a test first needs it; the
Keras reference renders the same in-memory model. The tasks run in-process through
`cips_tf.cli.generate` (they read options, not flags); the CLI itself runs in one slow test.
"""
import json
import sys

import numpy as np
import pytest

import extras
import tiny_models
from tiny_models import png

from cips_tf.export import runtimes

MODEL = dict(size=32, hidden_size=32, style_dim=32, n_mlp=2, widths=[64, 64, 32])
RUNTIMES = ("saved_model", "onnx", "openvino", "litert")
TASKS = ("sample", "interpolate", "super_resolution", "foveated", "panorama")
# --chunk_pixels=1000 cuts every 32 x 32 image in two chunks, the second padded; psi != 1 truncates
# toward the export's w_avg.
OPTIONS = dict(seeds="0-2", psi=0.7, steps=3, factor=2, chunk_pixels=1000, fractions=["0.25", "1.0"],
               panorama_width=40)
MAX_LEVELS, MAX_SHARE, W_TOL = 1, 0.005, 1e-4
# Outputs interpolated from the render: the Lanczos baseline and foveated's fill-in (not p100).
SAVED_MODEL_INTERPOLATED = ("_lanczos_", "_compare_", "_p025", "foveated.png")


def _require(fmt):
    if fmt != "saved_model":
        for module in runtimes.EXTRAS[fmt][1] + runtimes.EXTRAS[fmt][2]:
            extras.require(fmt, module)


class Exports:
    """One 32 px model and its exports, each written when first asked for, into one export base:
    model "cips" (the SavedModel with max_batch=2 and max_pixels=1500, so renders are split by its
    limits) and "fixed" (LiteRT with 2 images x 300 points per call: the renderer pads both the
    batch and the last chunk)."""

    def __init__(self, base):
        import keras

        from cips_tf.models.generator import CIPSGenerator
        from cips_tf.loading import LoadedGenerator

        keras.utils.set_random_seed(3)
        self.generator = CIPSGenerator(**MODEL)
        self.w_avg = np.random.RandomState(5).randn(self.generator.style_dim).astype(np.float32) * 0.3
        self.keras = LoadedGenerator(self.generator, self.w_avg, None, "memory")
        self.base = base
        self.meta = {"style_dim": self.generator.style_dim, "resolution": self.generator.size,
                     "max_pixels": 1500, "max_batch": 2}

    def model_dir(self, fmt, model="cips"):
        """`<base>/<model>` holding a `fmt` export (written now if it is not there yet)."""
        from cips_tf.export.saved_model import export_generator

        _require(fmt)
        if model == "fixed":
            if not (self.base / "fixed").exists():
                runtimes.export_runtime(self.generator, self.w_avg, self.base, "fixed", fmt, 1, self.meta,
                                        points=300, batch=2)
        elif fmt == "saved_model":
            if not (self.base / model / "1").exists():
                export_generator(self.generator, self.w_avg, self.base, model, version=1, warmup=False,
                                 max_pixels=1500, max_batch=2)
        elif not (self.base / model / fmt).exists():
            runtimes.export_runtime(self.generator, self.w_avg, self.base, model, fmt, 1, self.meta)
        return self.base / model


@pytest.fixture(scope="module")
def exports(tmp_path_factory):
    return Exports(tmp_path_factory.mktemp("exports"))


def _run_tasks(loaded, out, tasks=TASKS):
    from cips_tf.synthesis import tasks as tasks_lib

    ctx = tasks_lib.Context(loaded, out, tasks_lib.options(**OPTIONS))
    for task in tasks:
        ctx.out = out / task
        ctx.out.mkdir(parents=True)
        tasks_lib.TASK_FUNCTIONS[task](ctx)
    return out


@pytest.fixture(scope="module")
def keras_out(exports, tmp_path_factory):
    return _run_tasks(exports.keras, tmp_path_factory.mktemp("keras"))


def assert_same_outputs(got_dir, want_dir, runtime):
    pngs = sorted(want_dir.rglob("*.png"))
    assert len(pngs) >= 10
    for want in pngs:
        name = str(want.relative_to(want_dir))
        if runtime == "saved_model" and any(part in name for part in SAVED_MODEL_INTERPOLATED):
            continue  # interpolated from clipped uint8 (module docstring)
        a, b = png(want).astype(int), png(got_dir / name).astype(int)
        assert a.shape == b.shape, name
        diff = np.abs(a - b)
        assert diff.max() <= MAX_LEVELS and (diff > 0).mean() <= MAX_SHARE, (name, diff.max(), (diff > 0).mean())
    for want in sorted(want_dir.rglob("w.npy")):
        np.testing.assert_allclose(np.load(got_dir / want.relative_to(want_dir)), np.load(want), atol=W_TOL, rtol=0)


@pytest.mark.parametrize("runtime,model", [(r, "cips") for r in RUNTIMES] + [("litert", "fixed")])
def test_runtime_renders_the_keras_pngs(exports, keras_out, tmp_path, runtime, model):
    from cips_tf.cli import generate

    loaded = generate.load_runtime(exports.model_dir(runtime, model), runtime)
    assert loaded.generator.format == runtime and loaded.w_avg is not None
    assert_same_outputs(_run_tasks(loaded, tmp_path), keras_out, runtime)


def test_find_export_takes_the_base_model_format_or_version_directory(exports):
    for fmt in RUNTIMES:
        exports.model_dir(fmt)
    exports.model_dir("litert", "fixed")
    exported, model = exports.base, exports.base / "cips"
    for fmt in RUNTIMES:
        want = model / "1" if fmt == "saved_model" else model / fmt / "1"
        for path in (model, want) + ((model / fmt,) if fmt != "saved_model" else ()):
            assert runtimes.find_export(path, fmt) == want, (path, fmt)
    assert runtimes.find_export(exported / "fixed", "litert") == exported / "fixed" / "litert" / "1"
    with pytest.raises(FileNotFoundError, match="several models: cips, fixed; name one"):
        runtimes.find_export(exported, "onnx")
    with pytest.raises(FileNotFoundError, match="no onnx export found.*cips-export --format=onnx"):
        runtimes.find_export(exported / "fixed", "onnx")
    with pytest.raises(runtimes.FormatError, match="is a onnx export, not litert"):
        runtimes.find_export(model / "onnx" / "1", "litert")
    # The newest complete version; a version without metadata (not an export) is passed over.
    (model / "onnx" / "7").mkdir()
    try:
        assert runtimes.find_export(model, "onnx") == model / "onnx" / "1"
    finally:
        (model / "onnx" / "7").rmdir()


def test_keras_only_tasks_bf16_without_runtime_and_missing_extras_refused_in_one_line(monkeypatch):
    from absl import app

    from cips_tf.cli import generate
    from cips_tf.synthesis import tasks

    generate.check_runtime("keras", list(tasks.TASKS))  # keras renders everything
    for runtime in RUNTIMES:
        generate.check_runtime(runtime, list(tasks.RUNTIME_TASKS))
        for task in tasks.KERAS_ONLY:
            with pytest.raises(app.UsageError) as info:
                generate.check_runtime(runtime, ["sample", task])
            message = str(info.value)
            assert "\n" not in message and f"--task={task}" in message and f"--runtime={runtime}" in message
    assert set(tasks.RUNTIME_TASKS) | set(tasks.KERAS_ONLY) == set(tasks.TASKS)
    with pytest.raises(app.UsageError, match="--precision=bf16 .*--runtime=openvino"):
        generate.check_runtime("keras", ["sample"], "bf16")
    monkeypatch.setitem(sys.modules, "onnxruntime", None)
    with pytest.raises(runtimes.MissingExtraError) as info:
        generate.check_runtime("onnx", ["sample"])
    assert "\n" not in str(info.value) and "cips-tf[onnx]" in str(info.value)


@pytest.mark.slow  # three CLI processes
def test_cli_runtime_renders_the_keras_pngs_and_refuses_what_it_cannot(exports, tmp_path):
    """The CLI end to end: --runtime=onnx with --model at the export base's model directory, every
    task an export renders with a video (GIF) among them, against --runtime=keras on the SavedModel."""
    args = ["--task=sample,super_resolution,video,zoom", "--seeds=0-1", "--psi=0.7", "--factor=2",
            "--frames_per_seed=2", "--zoom_frames=3", "--video_format=gif", "--chunk_pixels=1000"]
    outs = {}
    model_dir = exports.model_dir("onnx")
    exports.model_dir("saved_model")
    for runtime, model in (("keras", model_dir / "1"), ("onnx", model_dir)):
        outs[runtime] = tmp_path / runtime
        proc = tiny_models.run_cli("cips_tf.cli.generate", f"--model={model}", f"--runtime={runtime}",
                                   f"--out={outs[runtime]}", *args)
        assert proc.returncode == 0, proc.stderr[-3000:]
    assert_same_outputs(outs["onnx"], outs["keras"], "onnx")
    flags = json.loads((outs["onnx"] / "sample" / "flags.json").read_text())
    assert flags["flags"]["runtime"] == "onnx" and "onnx" in flags["source"]
    assert (outs["onnx"] / "video" / "video.gif").exists()

    proc = tiny_models.run_cli("cips_tf.cli.generate", f"--model={model_dir}", "--runtime=litert",
                               f"--out={tmp_path / 'refused'}", "--task=sample,style_mix")
    assert proc.returncode == 2
    lines = [line for line in proc.stderr.splitlines() if "error" in line]
    assert len(lines) == 1 and "--task=style_mix" in lines[0] and "--runtime=litert" in lines[0], proc.stderr
    assert not (tmp_path / "refused").exists()  # refused before any output
