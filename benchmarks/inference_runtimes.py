"""Every runtime on the same renders: Keras (eager and tf.function), XLA, the SavedModel, ONNX Runtime,
OpenVINO (fp32, bf16) and LiteRT, each in its own process (for its peak memory), beside this
machine's float32 and bf16 matmul peaks.

    python3 benchmarks/inference_runtimes.py [--size=256] [--batches=1,8] [--large=1024] [--chunk=65536]
                                             [--rounds=3] [--runs=2] [--model_size=256]
                                             [--runtimes=keras,xla,...] [--tiny]

The model is the official-size CIPS-skips generator of `--model_size` (random weights, 44.3M
parameters at 256; `--tiny` for a smoke run: a tiny model, 32 px renders, a 128 px "large" one).
It is exported once (the SavedModel and, where their extras are installed, ONNX, OpenVINO and
LiteRT: `cips_tf.export.runtimes.export_formats`). Cases, all from fixed w (the synthesis network:
w + coords -> RGB) through `cips_tf.rendering.ChunkedRenderer`, the renderer of
`cips-generate --runtime=...`, with at most `--chunk` pixels per call:

    full grid   `--batches` images of `--size` x `--size` (batch 1 and batch 8 by default)
    large       one `--large` x `--large` image (1024 px: 16 chunks of 65,536), 0 to skip

Each runtime runs in a fresh process (`--worker`, started by this script) that loads its model,
renders the first chunk of every case to warm up (tracing, compilation, allocation), then `--runs` timed
renders of each; the whole set of processes runs `--rounds` times, runtime after runtime, so a
change of the machine's load reaches every runtime alike. Reported per case and runtime: the
median seconds over all rounds, images/s and Mpixel/s, the matmul GFLOP/s the render achieves
(`matmul_flops_per_pixel` x pixels / time) as a ratio to each peak (measured in this process before
the workers; the fp32 peak again after them: a large change means the load moved), the ratio to
the SavedModel, PSNR against Keras's float32 render (the SavedModel's signatures return uint8:
"-"), and the peak resident memory of the runtime's process (`VmHWM`, its peak RSS since exec,
native memory included; the largest over its rounds: the process, the model, the runtime and all
cases; `peak_rss_bytes` says why not `ru_maxrss`). bf16 runs only where
the CPU has it natively (`cips_tf.hardware.cpu_bf16_support`). Ratios within one run are what
counts: the machine is shared.
"""
import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import numpy as np  # noqa: E402

RUNTIMES = ("keras_eager", "keras", "xla", "saved_model", "onnx", "openvino", "openvino_bf16", "litert")
DESCRIPTIONS = {
    "keras_eager": "Keras, eager calls",
    "keras": "Keras, tf.function (cips-generate's default)",
    "xla": "Keras, tf.function(jit_compile=True)",
    "saved_model": "SavedModel synthesis signature (uint8 out)",
    "onnx": "ONNX Runtime",
    "openvino": "OpenVINO fp32",
    "openvino_bf16": "OpenVINO bf16",
    "litert": "LiteRT (XNNPACK)",
}
MODEL_NAME = "bench"
RESULT = "RESULT "


def matmul_flops_per_pixel(generator):
    """2 x the multiply-adds per pixel of the synthesis network's per-pixel matmuls (Fourier
    features, conv1, every ModFC layer and ToRGB; the per-image modulation is not counted)."""
    g = generator
    flops = 2 * 2 * g.hidden_size if g.use_fourier else 0
    prev = g.widths[0]
    flops += 2 * g.input_channels * prev
    for width in g.widths:
        flops += 2 * (prev * width + width * width)
        if g.architecture == "skips":
            flops += 2 * width * 3
        prev = width
    if g.architecture != "skips":
        flops += 2 * prev * 3
    return flops


def cases(args):
    """[(name, batch, side)]: the full-grid batches, then the large chunked render."""
    out = [(f"{args.size} px, batch {b}", b, args.size) for b in args.batches]
    if args.large:
        out.append((f"{args.large} px, chunked", 1, args.large))
    return out


def peak_rss_bytes():
    """This process's peak resident memory since its exec: `VmHWM`. Not `ru_maxrss`, which Linux
    carries over from the forking parent across exec (here the parent holding TensorFlow and the
    model: every worker read 1.39 GiB on the tiny model); `ru_maxrss` only where /proc is absent."""
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) * 1024  # kB
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024  # Linux reports KiB


class _EagerKeras:
    """The Keras model called eagerly per chunk, shaped as a runtime for `ChunkedRenderer`."""

    is_runtime, format = True, "keras_eager"
    points = batch = max_batch = max_pixels = None

    def __init__(self, generator):
        self.generator = generator

    def synthesis(self, w, coords):
        return self.generator.synthesis(w, coords, randomize_noise=False).numpy()


def load_runtime(name, workdir, threads):
    """What `ChunkedRenderer` renders for runtime `name` (the generator, or a RuntimeGenerator)."""
    from cips_tf.export import runtimes

    model_dir = os.path.join(workdir, MODEL_NAME)
    if name in ("keras_eager", "keras", "xla"):
        from cips_tf.loading import load_generator

        generator = load_generator(os.path.join(model_dir, "1")).generator
        return _EagerKeras(generator) if name == "keras_eager" else generator
    fmt, precision = (name[:-5], "bf16") if name.endswith("_bf16") else (name, "fp32")
    return runtimes.RuntimeGenerator(runtimes.find_export(model_dir, fmt), precision=precision, threads=threads)


def worker(args):
    """One runtime in this process: warm-up, then `--runs` timed renders per case; one RESULT line."""
    import cips_tf  # noqa: F401  (quiet TensorFlow start)
    from cips_tf.rendering import ChunkedRenderer

    t0 = time.perf_counter()
    model = load_runtime(args.worker, args.workdir, os.cpu_count())
    loaded = {"load_s": time.perf_counter() - t0, "rss_loaded": peak_rss_bytes()}
    w = np.load(os.path.join(args.workdir, "w.npy"))
    seconds = {}
    for name, batch, side in cases(args):
        renderer = ChunkedRenderer(model, chunk_pixels=max(1, args.chunk // batch), jit_compile=args.worker == "xla")
        warm_up(renderer, w[:batch], side)
        times = []
        for run in range(args.runs):
            start = time.perf_counter()
            image = renderer.render(w[:batch], side)
            times.append(time.perf_counter() - start)
            if args.save and run == 0:
                np.save(os.path.join(args.workdir, f"out-{args.worker}-{batch}-{side}.npy"), image)
            del image
        seconds[name] = times
    print(RESULT + json.dumps({"runtime": args.worker, "seconds": seconds, "peak_rss": peak_rss_bytes(), **loaded}),
          flush=True)


def warm_up(renderer, w, side):
    """Makes one call of every shape that rendering `w` at `side` x `side` makes: the grid's first
    chunk (every chunk of a render has the chunk's shape, the last one padded), so tracing, XLA
    compilation and the runtime's first-call work are done before the timed renders, at the cost of
    one chunk rather than one whole render (which doubled the benchmark's time)."""
    from cips_tf.coords import make_grid_np
    grid = make_grid_np(side, side).reshape(1, -1, 2)[:, :renderer.points_per_call(w.shape[0])]
    renderer.render_points(w, np.broadcast_to(grid, (w.shape[0],) + grid.shape[1:]))


def run_worker(name, args, workdir, save):
    """Runs `--worker=name` in a fresh process; its result dict, or {"error": one line}."""
    argv = [sys.executable, os.path.abspath(__file__), f"--worker={name}", f"--workdir={workdir}",
            f"--size={args.size}", f"--batches={','.join(map(str, args.batches))}", f"--large={args.large}",
            f"--chunk={args.chunk}", f"--runs={args.runs}"] + (["--save"] if save else [])
    proc = subprocess.run(argv, capture_output=True, text=True)
    for line in proc.stdout.splitlines():
        if line.startswith(RESULT):
            return json.loads(line[len(RESULT):])
    lines = [line for line in proc.stderr.strip().splitlines() if line.strip()]
    return {"error": f"exit {proc.returncode}: {lines[-1] if lines else 'no output'}"}


def export_models(generator, names, workdir):
    """The SavedModel and each format `names` needs, one version; {runtime: note} for those left out."""
    from cips_tf.export import runtimes

    formats, notes = ["saved_model"], {}
    for fmt in runtimes.RUNTIME_FORMATS:
        wanted = [n for n in names if n in (fmt, fmt + "_bf16")]
        if not wanted:
            continue
        try:
            runtimes.check_formats([fmt], loading=True)
            runtimes.check_formats([fmt])
            formats.append(fmt)
        except runtimes.MissingExtraError as e:
            notes.update({n: str(e) for n in wanted})
    t0 = time.perf_counter()
    runtimes.export_formats(generator, np.zeros([generator.style_dim], np.float32), workdir, MODEL_NAME, formats,
                            version=1, max_pixels=2**31 - 1, warmup=False)
    print(f"  exported {', '.join(formats)} in {time.perf_counter() - t0:.0f} s", flush=True)
    return notes


def table(results, args, flops_per_pixel, peak32, peak16, psnrs):
    """The markdown table rows (a header, then one row per case and runtime) of `results`
    ({runtime: worker result}); `psnrs` {(runtime, case name): dB or None}."""
    rows = ["| case | runtime | median s | images/s | Mpixel/s | matmul GFLOP/s | / fp32 peak | / bf16 peak "
            "| vs SavedModel | PSNR vs Keras fp32 | peak RSS GiB |",
            "|---|---|---|---|---|---|---|---|---|---|---|"]
    for name, batch, side in cases(args):
        medians = {r: statistics.median(res["seconds"][name]) for r, res in results.items()}
        base = medians.get("saved_model")
        for runtime, seconds in medians.items():
            pixels = batch * side * side
            gflops = flops_per_pixel * pixels / seconds / 1e9
            err = psnrs.get((runtime, name))
            rows.append("| " + " | ".join([
                name, runtime, f"{seconds:.3f}", f"{batch / seconds:.2f}", f"{pixels / seconds / 1e6:.4f}",
                f"{gflops:.1f}", f"{gflops / peak32:.2f}", f"{gflops / peak16:.2f}" if peak16 else "-",
                f"{base / seconds:.2f}x" if base else "-",
                "-" if err is None else ("exact" if err == float("inf") else f"{err:.1f} dB"),
                f"{results[runtime]['peak_rss'] / 2**30:.2f}"]) + " |")
    return rows


def parse_args(argv):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=None, help="full-grid side (default 256; --tiny: 32)")
    parser.add_argument("--batches", default="1,8", help="full-grid batch sizes, comma-separated")
    parser.add_argument("--large", type=int, default=None,
                        help="side of the one large chunked render (default 1024; --tiny: 128; 0: none)")
    parser.add_argument("--chunk", type=int, default=65536, help="most pixels per runtime call")
    parser.add_argument("--rounds", type=int, default=3, help="times every runtime's process runs")
    parser.add_argument("--runs", type=int, default=2, help="timed renders per case in each process")
    parser.add_argument("--model_size", type=int, default=None, help="the generator's size (default 256; --tiny: 32)")
    parser.add_argument("--runtimes", default=",".join(RUNTIMES))
    parser.add_argument("--tiny", action="store_true", help="a tiny model (a smoke run, not a measurement)")
    parser.add_argument("--worker", choices=RUNTIMES, help=argparse.SUPPRESS)  # internal: one runtime's process
    parser.add_argument("--workdir", help=argparse.SUPPRESS)
    parser.add_argument("--save", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    small = 32 if args.tiny else 256
    args.size = args.size or small
    args.model_size = args.model_size or small
    args.large = (128 if args.tiny else 1024) if args.large is None else args.large
    args.batches = [int(b) for b in args.batches.split(",") if b.strip()]
    args.names = [n.strip() for n in args.runtimes.split(",") if n.strip()]
    unknown = set(args.names) - set(RUNTIMES)
    if unknown:
        parser.error(f"unknown runtimes {sorted(unknown)}; choose from {','.join(RUNTIMES)}")
    return args


def main(argv=None):
    args = parse_args(argv)
    if args.worker:
        return worker(args)

    import cips_tf  # noqa: F401  (quiet TensorFlow start)
    import tensorflow as tf

    from matmul_peak import peak_gflops, peak_gflops_bf16

    from cips_tf.export.runtimes import psnr
    from cips_tf.hardware import cpu_bf16_support, cpu_flags
    from cips_tf.models.generator import CIPSGenerator

    tf.keras.utils.set_random_seed(0)
    kwargs = dict(hidden_size=32, style_dim=32, n_mlp=2, widths=[64, 64]) if args.tiny else {}
    generator = CIPSGenerator(size=args.model_size, **kwargs)
    native, reason = cpu_bf16_support()
    shown = sorted(f for f in cpu_flags() if f.startswith(("avx", "amx", "fma")))
    print(f"CPU: {os.cpu_count()} logical cores; flags: {' '.join(shown)}")
    print(f"bf16: {'native' if native else 'not native'} ({reason})")
    print(f"model: CIPS-skips {args.model_size} px, {generator.count_params():,} parameters; cases: "
          + "; ".join(f"{n} ({b} x {s}x{s})" for n, b, s in cases(args))
          + f"; at most {args.chunk} px per call; {args.rounds} rounds x {args.runs} runs", flush=True)
    names = [n for n in args.names if n != "openvino_bf16" or native]
    notes = {} if native or "openvino_bf16" not in args.names else {"openvino_bf16": f"bf16 not native: {reason}"}

    with tempfile.TemporaryDirectory() as workdir:
        notes.update(export_models(generator, names, workdir))
        names = [n for n in names if n not in notes]
        np.save(os.path.join(workdir, "w.npy"),
                np.random.RandomState(0).randn(max(args.batches + [1]), generator.style_dim).astype(np.float32))
        peak_runs = 1 if args.tiny else 5  # a smoke run's peak is a sanity figure, not a measurement
        peak32 = peak_gflops(peak_runs)
        peak16 = peak_gflops_bf16(peak_runs) if native else None
        print(f"matmul peak: fp32 {peak32:.0f} GFLOP/s, bf16 "
              + (f"{peak16:.0f} GFLOP/s" if peak16 else "- (not native)"), flush=True)
        results = {}
        for r in range(args.rounds):
            for name in [n for n in names if n not in notes]:
                res = run_worker(name, args, workdir, save=r == 0)
                if "error" in res:
                    notes[name] = res["error"]
                    results.pop(name, None)
                    continue
                if name in results:  # every round's times; the largest peak
                    for case, times in res["seconds"].items():
                        results[name]["seconds"][case] += times
                    results[name]["peak_rss"] = max(results[name]["peak_rss"], res["peak_rss"])
                else:
                    results[name] = res
                print(f"  round {r + 1}: {name}: " + ", ".join(
                    f"{case} {statistics.median(t):.3f} s" for case, t in res["seconds"].items())
                    + f"; peak RSS {res['peak_rss'] / 2**30:.2f} GiB", flush=True)
        psnrs = {}
        for case, batch, side in cases(args):
            ref_path = os.path.join(workdir, f"out-keras-{batch}-{side}.npy")
            if not os.path.exists(ref_path):
                continue
            reference = np.load(ref_path)
            for name in results:
                path = os.path.join(workdir, f"out-{name}-{batch}-{side}.npy")
                if name != "saved_model" and os.path.exists(path):
                    psnrs[(name, case)] = psnr(np.load(path), reference)
        peak32_after = peak_gflops(peak_runs)

    print()
    for row in table(results, args, matmul_flops_per_pixel(generator), peak32, peak16, psnrs):
        print(row)
    print(f"\nfp32 matmul peak {peak32:.0f} GFLOP/s before, {peak32_after:.0f} after the renders"
          + (f"; bf16 peak {peak16:.0f} GFLOP/s" if peak16 else ""))
    print("runtimes: " + "; ".join(f"{n} = {DESCRIPTIONS[n]}" for n in results))
    for name, note in notes.items():
        print(f"not measured: {name}: {note}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
