"""This machine's matmul peak: the reference every time in README and benchmarks is printed beside.

    python3 benchmarks/matmul_peak.py [--runs=7]

Times a `[65536, 512] x [512, 512]` float32 `tf.matmul` (2-D, and in the batched
`[1, N, 512] @ [1, 512, 512]` form the generator's ModFC layers use) and prints the faster one's
GFLOP/s (median of `--runs` after warm-up). Machines of our kind differ by 6x here (seen: 417
GFLOP/s with AVX-512, 64-76 GFLOP/s with AVX2 only), so a wall time means little without it.
"""
import argparse
import os
import statistics
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

try:  # first: TensorFlow then starts without the CUDA probe lines (cips_tf._tf_start)
    import cips_tf  # noqa: E402,F401
except ImportError:  # run with an interpreter that has TensorFlow but not cips-tf: the lines show
    pass
import tensorflow as tf  # noqa: E402

MATMUL_SHAPE = (65536, 512, 512)  # [m, k] x [k, n]: the pixels x 512 -> 512 hot layer of CIPS-256


def matmul_fns():
    """{name: callable} for the 2-D and the batched matmul, and the FLOPs of one call."""
    m, k, n = MATMUL_SHAPE
    a = tf.random.normal((m, k), seed=1)
    b = tf.random.normal((k, n), seed=2)
    matmul = tf.function(lambda: tf.matmul(a, b))
    batched = tf.function(lambda: tf.matmul(a[None], b[None]))
    fns = {"matmul": lambda: matmul().numpy(), "batched matmul": lambda: batched().numpy()}
    return fns, 2 * m * k * n


def peak_gflops(runs=7):
    """Median GFLOP/s of the faster matmul form, after two warm-up calls each."""
    fns, flops = matmul_fns()
    times = {name: [] for name in fns}
    for fn in fns.values():
        fn()
        fn()
    for _ in range(runs):
        for name, fn in fns.items():
            t0 = time.perf_counter()
            fn()
            times[name].append(time.perf_counter() - t0)
    return flops / min(statistics.median(t) for t in times.values()) / 1e9


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=7)
    args = parser.parse_args(argv)
    print(f"matmul peak: {peak_gflops(args.runs):.1f} GFLOP/s (float32 [65536,512]x[512,512], median of {args.runs})")


if __name__ == "__main__":
    main()
