"""ONNX Runtime, OpenVINO and LiteRT render what the Keras model renders (cips_tf/export/runtimes.py).

Tolerance (float32, every format): max abs error <= 1e-4 against the Keras model, on the RGB
(about [-1, 1]) and on w. Measured here: ~3e-6 on the synthesis and ~1e-7 on the mapping; the
converted graphs reorder float32 sums (fused matmuls, other GEMM blocking), nothing more.
Models: a 32 px one and a 256 px-wide one (the 256 x 256 embedding table and a full 256 x 256 grid;
shallow and narrow, so the test stays fast), and the official code's golden model (CIPSskip,
converted from the golden vectors), each on its native grid and on random points (also outside
the frame, where the embedding clamps to its border).
"""
import json
import os
import pathlib
import subprocess
import sys

import numpy as np
import pytest

import extras
from export_test_utils import REPO_ROOT, subprocess_env

from cips_tf import hardware
from cips_tf.coords import make_grid
from cips_tf.export import runtimes
from cips_tf.export.saved_model import METADATA_FILE, export_generator

TOL = 1e-4
MODELS = {  # name -> (generator kwargs, native grid side)
    "px32": (dict(size=32, hidden_size=32, style_dim=32, n_mlp=2, widths=[64, 64, 32]), 32),
    "px256": (dict(size=256, hidden_size=16, style_dim=32, n_mlp=2, widths=[64, 32]), 256),
}
EXTRA_OF = {"onnx": "onnx", "openvino": "openvino", "litert": "litert"}


def _require(fmt):
    for module in runtimes.EXTRAS[fmt][1] + runtimes.EXTRAS[fmt][2]:
        extras.require(EXTRA_OF[fmt], module)


def _generator(name, golden):
    if name == "golden":
        from cips_tf.convert.official import generator_from_official

        return generator_from_official(golden, prefix="CIPSskip/param/"), 8
    import keras

    from cips_tf.models.generator import CIPSGenerator

    keras.utils.set_random_seed(3)
    kwargs, side = MODELS[name]
    return CIPSGenerator(**kwargs), side


_EXPORTS = {}  # model name -> its exports, built once per module run


def _export(name, golden, tmp_path_factory):
    """(name, generator, native side, w_avg, {format: version dir}) with all three runtime formats."""
    if name not in _EXPORTS:
        for fmt in runtimes.RUNTIME_FORMATS:
            _require(fmt)
        generator, side = _generator(name, golden)
        w_avg = np.random.RandomState(5).randn(generator.style_dim).astype(np.float32) * 0.3
        base = tmp_path_factory.mktemp(f"runtimes_{name}")
        paths = runtimes.export_formats(generator, w_avg, base, "cips", runtimes.RUNTIME_FORMATS, warmup=False)
        _EXPORTS[name] = (name, generator, side, w_avg, paths)
    return _EXPORTS[name]


# One worker holds this module's exports (each export of every format takes ~25 s; under xdist's
# loadgroup every worker would otherwise export the same models again).
pytestmark = pytest.mark.xdist_group("runtimes")


# The 256 px model (a 256 x 256 x 16 embedding, three formats of it) and the model converted from the
# official golden vectors are the slow tier's: CI runs them; the fast tier checks parity at 32 px.
@pytest.fixture(scope="module", params=["px32", pytest.param("px256", marks=pytest.mark.slow),
                                        pytest.param("golden", marks=pytest.mark.slow)])
def exported(request, golden, tmp_path_factory):
    return _export(request.param, golden, tmp_path_factory)


@pytest.fixture(scope="module")
def exported_golden(golden, tmp_path_factory):
    return _export("golden", golden, tmp_path_factory)


@pytest.fixture(scope="module")
def exported_px32(golden, tmp_path_factory):
    return _export("px32", golden, tmp_path_factory)


def _inputs(generator, side, kind, batch=2):
    rng = np.random.RandomState(11)
    w = rng.randn(batch, generator.style_dim).astype(np.float32)
    if kind == "native":
        coords = make_grid(batch, side).numpy()  # [N, side, side, 2]
    else:  # random points, a fifth of them outside [-1, 1]
        coords = rng.uniform(-1.2, 1.2, size=(batch, 999, 2)).astype(np.float32)
    return w, coords


@pytest.mark.parametrize("fmt", runtimes.RUNTIME_FORMATS)
@pytest.mark.parametrize("kind", ["native", "random"])
def test_runtime_synthesis_matches_keras_within_1e4(exported, fmt, kind):
    _, generator, side, _, paths = exported
    w, coords = _inputs(generator, side, kind)
    expected = generator.synthesis(w, coords, randomize_noise=False).numpy()
    got = runtimes.RuntimeGenerator(paths[fmt]).synthesis(w, coords)
    assert got.shape == expected.shape
    np.testing.assert_allclose(got, expected, atol=TOL, rtol=0)
    assert np.abs(expected).max() > 0.05  # a real image, not zeros


@pytest.mark.parametrize("fmt", runtimes.RUNTIME_FORMATS)
def test_runtime_mapping_and_truncated_render_match_keras_within_1e4(exported, fmt):
    from cips_tf.latents import styles

    _, generator, side, w_avg, paths = exported
    runtime = runtimes.RuntimeGenerator(paths[fmt])
    z = np.random.RandomState(2).randn(3, generator.style_dim).astype(np.float32)
    np.testing.assert_allclose(runtime.mapping(z), generator.mapping(z).numpy(), atol=TOL, rtol=0)
    psi = np.array([1.0, 0.5, 0.7], np.float32)
    coords = make_grid(3, min(side, 16)).numpy()
    w = styles(generator, z, psi, w_avg)
    expected = generator.synthesis(w, coords, randomize_noise=False).numpy()
    np.testing.assert_allclose(runtime.render(z, coords, psi), expected, atol=TOL, rtol=0)
    np.testing.assert_allclose(runtime.w_avg, w_avg)


@pytest.mark.slow
@pytest.mark.parametrize("fmt", runtimes.RUNTIME_FORMATS)
@pytest.mark.parametrize("key,coords_key", [("rgb_eval_native", "coords_native"),
                                            ("rgb_eval_dense", "coords_dense"),
                                            ("rgb_eval_random", "coords_random")])
def test_runtime_golden_model_reproduces_official_outputs_within_1e4(exported_golden, golden, fmt, key, coords_key):
    _, _, _, _, paths = exported_golden
    coords = golden[f"CIPSskip/{coords_key}"].transpose(0, 2, 3, 1)  # NCHW -> NHWC
    got = runtimes.RuntimeGenerator(paths[fmt]).render(golden["CIPSskip/z"], coords)
    np.testing.assert_allclose(got, golden[f"CIPSskip/{key}"].transpose(0, 2, 3, 1), atol=TOL, rtol=0)


def test_runtime_export_layout_metadata_copies_saved_model_metadata(exported_px32):
    _, generator, _, _, paths = exported_px32
    for fmt, path in paths.items():
        assert path == path.parents[2] / "cips" / fmt / "1"
        meta = json.loads((path / METADATA_FILE).read_text())
        assert meta["format"] == fmt and meta["version"] == 1
        assert meta["resolution"] == generator.size and meta["style_dim"] == generator.style_dim
        assert meta["generator_config"]["widths"] == list(generator.widths)
        for graph in meta["graphs"].values():
            assert (path / graph).is_file()
        assert not [p.name for p in path.parent.iterdir() if p.name.startswith(".")]  # no temp dirs left


def test_runtime_bf16_openvino_close_to_fp32_or_refused(exported_px32):
    """bf16 (OpenVINO's INFERENCE_PRECISION_HINT) where the CPU has it natively: PSNR vs float32
    above 35 dB on the [-1, 1] range (the encoding stays float32: with the embedding's sample
    positions in bf16 too it was 23.5 dB on this model, 9.2 dB on a 256 px one); elsewhere a
    one-line refusal."""
    _, generator, side, _, paths = exported_px32
    native, _ = runtimes.bf16_support()
    if not native:
        with pytest.raises(runtimes.FormatError, match="bf16 refused"):
            runtimes.RuntimeGenerator(paths["openvino"], precision="bf16")
        return
    w, coords = _inputs(generator, side, "native")
    fp32 = runtimes.RuntimeGenerator(paths["openvino"]).synthesis(w, coords)
    bf16 = runtimes.RuntimeGenerator(paths["openvino"], precision="bf16").synthesis(w, coords)
    psnr = runtimes.psnr(bf16, fp32)
    print(f"bf16 PSNR {psnr:.1f} dB")
    assert 35.0 < psnr < 120.0, psnr  # close, but really computed in bf16 (not bit-identical float32)


def test_runtime_bf16_refused_without_native_bf16_and_on_other_runtimes(exported_px32, monkeypatch):
    _, _, _, _, paths = exported_px32
    for fmt in ("onnx", "litert"):
        with pytest.raises(runtimes.FormatError, match="fp32"):
            runtimes.RuntimeGenerator(paths[fmt], precision="bf16")
    # The CPU's flags are set here, so the refusal does not depend on the machine the test runs on
    # (an AVX2-only one has no bf16 at all; an AVX-512 one is capped by the environment).
    monkeypatch.setattr(hardware, "cpu_flags", lambda: {"avx2", "avx512f", "avx512_bf16"})
    monkeypatch.setenv("ONEDNN_MAX_CPU_ISA", "AVX2")  # the cap that emulates an AVX2-only machine
    with pytest.raises(runtimes.FormatError, match="bf16 refused: ONEDNN_MAX_CPU_ISA=AVX2 keeps oneDNN below"):
        runtimes.RuntimeGenerator(paths["openvino"], precision="bf16")
    monkeypatch.delenv("ONEDNN_MAX_CPU_ISA")
    monkeypatch.setattr(hardware, "cpu_flags", lambda: {"avx", "avx2", "fma"})  # an AVX2-only CPU
    with pytest.raises(runtimes.FormatError, match="bf16 refused: the CPU has no native bf16"):
        runtimes.RuntimeGenerator(paths["openvino"], precision="bf16")


@pytest.mark.parametrize("fmt,module", [("onnx", "tf2onnx"), ("openvino", "openvino"), ("litert", None)])
def test_missing_extra_one_line_names_the_extra(monkeypatch, fmt, module):
    if module is None:  # LiteRT converts with TensorFlow itself; only loading needs the extra
        module = "ai_edge_litert.interpreter"
        monkeypatch.setitem(sys.modules, "ai_edge_litert", None)
        monkeypatch.setitem(sys.modules, module, None)
        check = lambda: runtimes.check_formats([fmt], loading=True)  # noqa: E731
    else:
        monkeypatch.setitem(sys.modules, module, None)
        check = lambda: runtimes.check_formats([fmt])  # noqa: E731
    with pytest.raises(runtimes.MissingExtraError) as info:
        check()
    message = str(info.value)
    assert "\n" not in message and f"cips-tf[{fmt}]" in message and module in message


def test_unknown_or_repeated_format_rejected():
    with pytest.raises(runtimes.FormatError, match="unknown export format"):
        runtimes.check_formats(["saved_model", "tensorrt"])
    with pytest.raises(runtimes.FormatError, match="repeat"):
        runtimes.check_formats(["onnx", "onnx"])


@pytest.mark.slow  # four exports in a fresh process
def test_export_cli_all_formats_one_version_each_matches_keras(tmp_path):
    """cips-export --format=saved_model,onnx,openvino,litert: one version number for all four, the
    same metadata, and a fixed point count (--points) that renders what the Keras model renders."""
    for fmt in runtimes.RUNTIME_FORMATS:
        _require(fmt)
    from export_test_utils import tiny_generator, tiny_w_avg

    generator = tiny_generator()
    source = export_generator(generator, tiny_w_avg(), tmp_path / "src", "cips", warmup=False)
    base = tmp_path / "base"
    (base / "cips" / "onnx" / "4").mkdir(parents=True)  # an earlier ONNX-only export took version 4
    proc = subprocess.run(
        [sys.executable, "-m", "cips_tf.cli.export", f"--model={source}", f"--export_base={base}",
         "--format=saved_model,onnx,openvino,litert", "--points=256", "--nowarmup", "--w_avg_samples=64"],
        cwd=REPO_ROOT, env=dict(subprocess_env(), TF_CPP_MIN_LOG_LEVEL="3"), capture_output=True, text=True,
        timeout=900)
    assert proc.returncode == 0, proc.stderr
    printed = [pathlib.Path(line) for line in proc.stdout.strip().splitlines()]
    assert printed == [base / "cips" / "5"] + [base / "cips" / fmt / "5" for fmt in runtimes.RUNTIME_FORMATS]
    saved = json.loads((printed[0] / METADATA_FILE).read_text())
    w, coords = _inputs(generator, 16, "native", batch=1)
    expected = generator.synthesis(w, coords, randomize_noise=False).numpy()
    for path in printed[1:]:
        meta = json.loads((path / METADATA_FILE).read_text())
        assert {k: v for k, v in meta.items() if k not in ("format", "graphs", "points", "batch")} == saved
        assert meta["points"] == 256
        np.testing.assert_allclose(runtimes.RuntimeGenerator(path).synthesis(w, coords), expected, atol=TOL, rtol=0)


def test_export_cli_missing_extra_exits_with_one_line(tmp_path):
    code = ("import sys; sys.modules['tf2onnx'] = None; sys.argv = ['cips-export'] + sys.argv[1:]\n"
            "from cips_tf.cli import export; export.run()")
    proc = subprocess.run(
        [sys.executable, "-c", code, f"--model={tmp_path}", f"--export_base={tmp_path}", "--format=onnx"],
        cwd=REPO_ROOT, env=subprocess_env(), capture_output=True, text=True, timeout=900)
    assert proc.returncode == 2, proc.stderr
    lines = [line for line in proc.stderr.splitlines() if "error" in line]
    assert lines == [lines[0]] and "cips-tf[onnx]" in lines[0], proc.stderr
