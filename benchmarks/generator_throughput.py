"""Throughput of the official 256 CIPS-skips generator against a plain matmul, in one run.

    python3 benchmarks/generator_throughput.py [--size=256] [--batch=1] [--runs=7] [--no_xla]

Renders the full `size x size` grid (eval mode, embedding sampled, randomize_noise=False) with a
random-weight `CIPSGenerator(size)` inside `tf.function` (plain and `jit_compile=True`), and times a
`[65536, 512] x [512, 512]` `tf.matmul` in the same process, so the ratio is meaningful on a shared
machine. Reports the median of `--runs` timed runs after warm-up.

FLOPs per pixel (the pixel-wise MLP; per-sample work such as the mapping network, modulation and
demodulation is independent of the pixel count and left out):

    F = sum over every ModulatedDense layer (conv1, each block's two layers and ToRGB) of 2 * in * out
        + 2 * 2 * hidden   (the Fourier features' 2 -> hidden projection)

Bias, activation, noise, the skip sum and the embedding's bilinear lookup are memory-bound
element-wise work and are not counted (as in the matmul reference, which counts 2 * m * k * n).
"""
import argparse
import os
import statistics
import sys
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

import cips_tf  # noqa: E402,F401  (first: TensorFlow starts without the CUDA probe lines)
import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

from matmul_peak import matmul_fns  # noqa: E402


def flops_per_pixel(generator):
    """`2 * in * out` summed over every ModulatedDense and the Fourier projection."""
    from cips_tf.layers.modulated_dense import ModulatedDense

    total = 0
    layers = [generator.conv1]
    for block in generator.blocks:
        layers += [block.conv1, block.conv2]
        if getattr(block, "rgb", None) is not None:
            layers.append(block.rgb)
        if getattr(block, "skip", None) is not None:
            total += 2 * int(np.prod(block.skip.kernel.shape))
    if generator.to_rgb_last is not None:
        layers.append(generator.to_rgb_last)
    for layer in layers:
        assert isinstance(layer, ModulatedDense)
        total += 2 * int(np.prod(layer.kernel.shape))
    if generator.fourier is not None:
        total += 2 * int(np.prod(generator.fourier.kernel.shape))
    return total


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=256)
    parser.add_argument("--batch", type=int, default=1)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--no_xla", action="store_true", help="skip the jit_compile=True measurement")
    args = parser.parse_args(argv)

    from cips_tf.coords import make_grid
    from cips_tf.models.generator import CIPSGenerator

    print(f"TensorFlow {tf.__version__}, intra-op threads {tf.config.threading.get_intra_op_parallelism_threads()}"
          f" (0 = all), CPUs {os.cpu_count()}")
    g = CIPSGenerator(args.size)
    n_params = sum(int(np.prod(v.shape)) for v in g.trainable_weights)
    fpp = flops_per_pixel(g)
    pixels = args.batch * args.size * args.size
    w = g.mapping(tf.random.normal((args.batch, g.style_dim), seed=0))
    coords = make_grid(args.batch, args.size)
    print(f"CIPSGenerator({args.size}) skips: {n_params:,} parameters, widths {g.widths}")
    print(f"FLOPs/pixel = sum_layers 2*in*out + 2*2*hidden = {fpp:,} ({fpp / 1e6:.2f} MFLOP)")

    # The matmul reference, same shapes as the hot layer (N pixels x 512 -> 512), 2-D and batched.
    fns, mm_flops = matmul_fns()

    def render_fn(jit):
        f = tf.function(
            lambda: g.synthesis(w, coords, randomize_noise=False), jit_compile=jit
        )
        return lambda: f().numpy()

    fns["tf.function"] = render_fn(False)
    if not args.no_xla:
        fns["tf.function(jit_compile=True)"] = render_fn(True)
    for fn in fns.values():  # warm-up: tracing, compilation, oneDNN primitive caches
        fn()
        fn()
    # Interleaved rounds, so that load from other processes hits every candidate alike.
    times = {name: [] for name in fns}
    for _ in range(args.runs):
        for name, fn in fns.items():
            t0 = time.perf_counter()
            fn()
            times[name].append(time.perf_counter() - t0)
    results = {name: statistics.median(ts) for name, ts in times.items()}
    for name in ("matmul", "batched matmul"):
        print(f"{name + ' [65536,512]x[512,512]':40s} median {results[name] * 1e3:8.1f} ms  "
              f"{mm_flops / results[name] / 1e9:6.1f} GFLOP/s (median of {args.runs}, interleaved with the renders)")
    mm_t = min(results["matmul"], results["batched matmul"])
    mm_gflops = mm_flops / mm_t / 1e9
    print(f"matmul peak (the faster of the two): {mm_gflops:.1f} GFLOP/s")
    for name, t in results.items():
        if "matmul" in name:
            continue
        gflops = fpp * pixels / t / 1e9
        print(f"{name:32s} median {t * 1e3:8.1f} ms  {pixels / t / 1e6:6.3f} Mpixel/s  "
              f"{gflops:6.1f} GFLOP/s  = {100 * gflops / mm_gflops:5.1f}% of matmul")


if __name__ == "__main__":
    main()
