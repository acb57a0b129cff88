"""`benchmarks/inference_runtimes.py`: its table, its per-process memory figure, and a `--tiny` smoke run."""
import pathlib
import re
import subprocess
import sys

import pytest

REPO = pathlib.Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "benchmarks"))
import inference_runtimes  # noqa: E402  pylint: disable=wrong-import-position


def test_table_has_a_row_per_case_and_runtime_with_ratios_to_both_peaks_and_the_savedmodel():
    args = inference_runtimes.parse_args(["--size=16", "--batches=1,8", "--large=64"])
    names = [name for name, _, _ in inference_runtimes.cases(args)]
    assert names == ["16 px, batch 1", "16 px, batch 8", "64 px, chunked"]
    results = {r: {"seconds": {n: [2.0 * k, 2.0 * k, 9.0 * k] for n in names}, "peak_rss": k * 2**30}
               for k, r in ((1, "saved_model"), (2, "onnx"))}
    rows = inference_runtimes.table(results, args, flops_per_pixel=1e6, peak32=10.0, peak16=40.0,
                                    psnrs={("onnx", names[0]): 120.0})
    assert len(rows) == 2 + 2 * 3
    cells = [r.strip("| ").split(" | ") for r in rows[2:]]
    first = dict(zip(rows[0].strip("| ").split(" | "), cells[1]))  # onnx, 16 px batch 1: 4 s median
    assert first["median s"] == "4.000" and first["images/s"] == "0.25" and first["Mpixel/s"] == "0.0001"
    gflops = 1e6 * 256 / 4.0 / 1e9
    assert first["/ fp32 peak"] == f"{gflops / 10:.2f}" and first["/ bf16 peak"] == f"{gflops / 40:.2f}"
    assert first["vs SavedModel"] == "0.50x" and first["PSNR vs Keras fp32"] == "120.0 dB"
    assert first["peak RSS GiB"] == "2.00"
    batch8 = dict(zip(rows[0].strip("| ").split(" | "), cells[2]))  # saved_model, batch 8: 8 images in 2 s
    assert batch8["images/s"] == "4.00" and batch8["PSNR vs Keras fp32"] == "-"


def test_tiny_defaults_and_unknown_runtime():
    args = inference_runtimes.parse_args(["--tiny"])
    assert (args.size, args.model_size, args.large, args.batches) == (32, 32, 128, [1, 8])
    args = inference_runtimes.parse_args([])
    assert (args.size, args.model_size, args.large) == (256, 256, 1024)
    with pytest.raises(SystemExit):
        inference_runtimes.parse_args(["--runtimes=keras,tensorrt"])


def test_worker_peak_memory_is_its_own_not_the_parents():
    """ru_maxrss survives exec (a worker started by the TensorFlow-sized parent read the parent's
    peak); the figure is the worker's own."""
    import resource

    code = "import inference_runtimes as b; print(b.peak_rss_bytes())"
    out = subprocess.run([sys.executable, "-c", code], cwd=REPO / "benchmarks", capture_output=True, text=True,
                         check=True).stdout
    parent = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    assert parent > 200 * 2**20  # this process holds TensorFlow
    assert 0 < int(out) < parent / 2


@pytest.mark.slow  # a parent and eight worker processes
def test_tiny_smoke_run_prints_every_case_for_every_runtime(tmp_path):
    proc = subprocess.run([sys.executable, str(REPO / "benchmarks" / "inference_runtimes.py"), "--tiny", "--rounds=1",
                           "--runs=1"], cwd=tmp_path, capture_output=True, text=True, timeout=1800)
    assert proc.returncode == 0, proc.stderr[-3000:]
    out = proc.stdout
    assert re.search(r"matmul peak: fp32 \d+ GFLOP/s", out)
    skipped = set(re.findall(r"^not measured: (\w+):", out, re.M))
    measured = [r for r in inference_runtimes.RUNTIMES if r not in skipped]
    assert {"keras", "keras_eager", "xla", "saved_model"} <= set(measured)
    for case in ("32 px, batch 1", "32 px, batch 8", "128 px, chunked"):
        rows = {line.split(" | ")[1]: line for line in out.splitlines() if line.startswith(f"| {case} |")}
        assert sorted(rows) == sorted(measured), case
        for runtime, row in rows.items():
            peak = float(row.strip("| ").split(" | ")[-1])
            assert 0.05 < peak < 8, (runtime, row)
