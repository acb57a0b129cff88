"""One render, every runtime: Keras eager, XLA, the SavedModel, ONNX Runtime, OpenVINO (fp32, bf16)
and LiteRT, timed in one process beside this machine's float32 and bf16 matmul peaks.

    python3 benchmarks/inference_runtimes.py [--size=256] [--batch=1] [--chunk=65536] [--runs=5]
                                             [--model_size=256] [--runtimes=keras,xla,...] [--tiny]

The model is the official-size CIPS-skips generator of `--model_size` (random weights, 44.3M
parameters at 256; `--tiny` for a smoke run). Each runtime renders `--batch` images of
`--size` x `--size` from a fixed w (the synthesis network: w + coords -> RGB), in chunks of at most
`--chunk` pixels per call (bounded memory at any size; 1024 px is 16 chunks of 65,536). Reported:
the median seconds of one render (every runtime warmed up, then timed in interleaved rounds), images/s and Mpixel/s, the matmul GFLOP/s
the render achieves (the generator's matmul FLOPs per pixel x pixels / time) as a ratio to each
peak, the ratio to the SavedModel path (higher = faster), and for bf16 its PSNR against the float32
render. bf16 runs only where the CPU has it natively (`cips_tf.hardware.cpu_bf16_support`).
Ratios within one run are what counts: the machine is shared.
"""
import argparse
import os
import statistics
import sys
import tempfile
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import numpy as np  # noqa: E402

import cips_tf  # noqa: E402,F401  (quiet TensorFlow start)
import tensorflow as tf  # noqa: E402

from matmul_peak import peak_gflops, peak_gflops_bf16  # noqa: E402

RUNTIMES = ("keras", "xla", "saved_model", "onnx", "openvino", "openvino_bf16", "litert")


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


def chunked(fn, w, coords, chunk):
    """Renders coords `[N, P, 2]` with `fn(w, coords_chunk)` in chunks of <= `chunk` pixels per call."""
    n, p = coords.shape[:2]
    step = max(1, chunk // n)
    return np.concatenate([np.asarray(fn(w, coords[:, i:i + step])) for i in range(0, p, step)], axis=1)


def make_renderers(generator, names, workdir, threads):
    """{name: fn(w [N, S], coords [N, P, 2]) -> [N, P, 3]} for each runtime of `names` available here."""
    from cips_tf.export import runtimes
    from cips_tf.export.saved_model import export_generator

    fns, notes = {}, {}
    if "keras" in names:
        fns["keras"] = lambda w, c: generator.synthesis(w, c, randomize_noise=False).numpy()
    if "xla" in names:
        xla = tf.function(lambda w, c: generator.synthesis(w, c, randomize_noise=False), jit_compile=True,
                          reduce_retracing=True)
        fns["xla"] = lambda w, c: xla(tf.constant(w), tf.constant(c)).numpy()
    if "saved_model" in names:
        path = export_generator(generator, np.zeros([generator.style_dim], np.float32), workdir, "sm",
                                max_pixels=2**31 - 1, warmup=False)
        synthesis = tf.saved_model.load(str(path)).signatures["synthesis"]
        # the serving signature's uint8 output (quantization is a negligible share of the time)
        fns["saved_model"] = lambda w, c: synthesis(w=tf.constant(w), coords=tf.constant(c[:, :, None]))["images"]
    for fmt in ("onnx", "openvino", "litert"):
        wanted = [n for n in names if n == fmt or n == fmt + "_bf16"]
        if not wanted:
            continue
        try:
            runtimes.check_formats([fmt], loading=True)
            runtimes.check_formats([fmt])
        except runtimes.MissingExtraError as e:
            notes[fmt] = str(e)
            continue
        t0 = time.perf_counter()
        meta = {"style_dim": generator.style_dim, "resolution": generator.size}
        out = runtimes.export_runtime(generator, np.zeros([generator.style_dim], np.float32), workdir, "rt", fmt,
                                      1, meta)
        print(f"  exported {fmt} in {time.perf_counter() - t0:.0f} s", flush=True)
        for name in wanted:
            precision = "bf16" if name.endswith("_bf16") else "fp32"
            try:
                rg = runtimes.RuntimeGenerator(out, precision=precision, threads=threads)
            except runtimes.FormatError as e:
                notes[name] = str(e)
                continue
            fns[name] = rg.synthesis
    return fns, notes


def time_renders(fns, w, coords, chunk, runs):
    """{name: median seconds}: every runtime warmed up, then timed once per round, round after round,
    so that a change of the machine's load during the run reaches every runtime alike."""
    for fn in fns.values():
        chunked(fn, w, coords, chunk)  # warm-up (tracing, compilation, allocation)
    times = {name: [] for name in fns}
    for _ in range(runs):
        for name, fn in fns.items():
            t0 = time.perf_counter()
            chunked(fn, w, coords, chunk)
            times[name].append(time.perf_counter() - t0)
    return {name: statistics.median(t) for name, t in times.items()}


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=256, help="rendered image side")
    parser.add_argument("--batch", type=int, default=1)
    parser.add_argument("--chunk", type=int, default=65536, help="most pixels per runtime call")
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--model_size", type=int, default=256)
    parser.add_argument("--runtimes", default=",".join(RUNTIMES))
    parser.add_argument("--tiny", action="store_true", help="a tiny model (a smoke run, not a measurement)")
    args = parser.parse_args(argv)

    from cips_tf.coords import make_grid
    from cips_tf.export.runtimes import psnr
    from cips_tf.hardware import cpu_bf16_support, cpu_flags
    from cips_tf.models.generator import CIPSGenerator

    names = [n.strip() for n in args.runtimes.split(",") if n.strip()]
    unknown = set(names) - set(RUNTIMES)
    if unknown:
        parser.error(f"unknown runtimes {sorted(unknown)}; choose from {','.join(RUNTIMES)}")
    tf.keras.utils.set_random_seed(0)
    kwargs = dict(hidden_size=32, style_dim=32, n_mlp=2, widths=[64, 64]) if args.tiny else {}
    generator = CIPSGenerator(size=args.model_size, **kwargs)
    threads = os.cpu_count()
    native, reason = cpu_bf16_support()
    flags = cpu_flags()
    shown = sorted(f for f in flags if f.startswith(("avx", "amx", "fma")))
    print(f"CPU: {os.cpu_count()} logical cores; flags: {' '.join(shown)}")
    print(f"bf16: {'native' if native else 'not native'} ({reason})")
    print(f"model: CIPS-skips {args.model_size} px, {generator.count_params():,} parameters; render "
          f"{args.batch} x {args.size}x{args.size} in chunks of <= {args.chunk} px", flush=True)

    rng = np.random.RandomState(0)
    w = rng.randn(args.batch, generator.style_dim).astype(np.float32)
    coords = make_grid(args.batch, args.size).numpy().reshape(args.batch, -1, 2)
    with tempfile.TemporaryDirectory() as workdir:
        fns, notes = make_renderers(generator, names, workdir, threads)
        peak32 = peak_gflops(5)
        peak16 = peak_gflops_bf16(5) if native else None
        print(f"matmul peak: fp32 {peak32:.0f} GFLOP/s, bf16 "
              + (f"{peak16:.0f} GFLOP/s" if peak16 else "- (not native)"), flush=True)
        reference = chunked(fns["keras"], w, coords, args.chunk) if "keras" in fns else None
        seconds = time_renders(fns, w, coords, args.chunk, args.runs)
        results = {}
        for name, fn in fns.items():
            err = None
            if reference is not None and name != "saved_model":
                err = psnr(chunked(fn, w, coords, args.chunk), reference)
            results[name] = (seconds[name], err)
            print(f"  {name}: {seconds[name]:.3f} s", flush=True)
        peak32_after = peak_gflops(5)

    pixels = args.batch * args.size * args.size
    flops = matmul_flops_per_pixel(generator) * pixels
    base = results.get("saved_model", (None,))[0]
    print()
    print(f"| runtime | median s | images/s | Mpixel/s | matmul GFLOP/s | / fp32 peak | / bf16 peak | vs SavedModel | PSNR vs Keras fp32 |")
    print("|---|---|---|---|---|---|---|---|---|")
    for name, (seconds, err) in results.items():
        gflops = flops / seconds / 1e9
        row = [name, f"{seconds:.3f}", f"{args.batch / seconds:.2f}", f"{pixels / seconds / 1e6:.4f}", f"{gflops:.0f}",
               f"{gflops / peak32:.2f}", f"{gflops / peak16:.2f}" if peak16 else "-",
               f"{base / seconds:.2f}x" if base else "-",
               "-" if err is None else ("exact" if err == float("inf") else f"{err:.1f} dB")]
        print("| " + " | ".join(row) + " |")
    print(f"\nfp32 matmul peak {peak32:.0f} GFLOP/s before, {peak32_after:.0f} after the renders"
          + (f"; bf16 peak {peak16:.0f} GFLOP/s" if peak16 else ""))
    for name, note in notes.items():
        print(f"not measured: {name}: {note}")


if __name__ == "__main__":
    main()
