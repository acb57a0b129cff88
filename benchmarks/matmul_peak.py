"""This machine's matmul peak: the reference every time in README and benchmarks is printed beside.

    python3 benchmarks/matmul_peak.py [--runs=7] [--bf16] [--import-time]

Times a `[65536, 512] x [512, 512]` float32 `tf.matmul` (2-D, and in the batched
`[1, N, 512] @ [1, 512, 512]` form the generator's ModFC layers use) and prints the faster one's
GFLOP/s (median of `--runs` after warm-up). Machines of our kind differ by 6x here (seen: 417
GFLOP/s with AVX-512, 64-76 GFLOP/s with AVX2 only), so a wall time means little without it.
`--import-time` adds the CPU seconds this process spent importing TensorFlow: most of the test
suite is process starts and tracing, whose speed moved apart from the matmul peak's (a full test
run needed 33% more CPU on a day with the same peak); `scripts/test.sh` prints both.
"""
import argparse
import os
import statistics
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

_import_started = time.process_time()
try:  # first: TensorFlow then starts without the CUDA probe lines (cips_tf._tf_start)
    import cips_tf  # noqa: E402,F401
except ImportError:  # run with an interpreter that has TensorFlow but not cips-tf: the lines show
    pass
import tensorflow as tf  # noqa: E402

IMPORT_CPU_SECONDS = time.process_time() - _import_started  # `import tensorflow` (with the quiet start)

MATMUL_SHAPE = (65536, 512, 512)  # [m, k] x [k, n]: the pixels x 512 -> 512 hot layer of CIPS-256


def matmul_fns(dtype=tf.float32):
    """{name: callable} for the 2-D and the batched matmul, and the FLOPs of one call."""
    m, k, n = MATMUL_SHAPE
    a = tf.cast(tf.random.normal((m, k), seed=1), dtype)
    b = tf.cast(tf.random.normal((k, n), seed=2), dtype)
    matmul = tf.function(lambda: tf.matmul(a, b))
    batched = tf.function(lambda: tf.matmul(a[None], b[None]))
    fns = {"matmul": lambda: matmul().numpy(), "batched matmul": lambda: batched().numpy()}
    return fns, 2 * m * k * n


def peak_gflops(runs=7, dtype=tf.float32):
    """Median GFLOP/s of the faster matmul form, after two warm-up calls each."""
    fns, flops = matmul_fns(dtype)
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


def peak_gflops_bf16(runs=7):
    """The same matmuls in bfloat16: 2.5-5x the float32 peak where oneDNN has native bf16 (AMX,
    AVX512_BF16), below it where bf16 is emulated."""
    return peak_gflops(runs, tf.bfloat16)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument("--bf16", action="store_true", help="also the bfloat16 peak")
    parser.add_argument("--import-time", action="store_true",
                        help="also the CPU seconds of this process's `import tensorflow`, on the same line")
    args = parser.parse_args(argv)
    line = f"matmul peak: {peak_gflops(args.runs):.1f} GFLOP/s (float32 [65536,512]x[512,512], median of {args.runs})"
    if args.import_time:
        line += f"; import tensorflow: {IMPORT_CPU_SECONDS:.1f} s of CPU"
    print(line)
    if args.bf16:
        print(f"bf16 matmul peak: {peak_gflops_bf16(args.runs):.1f} GFLOP/s (the same shapes in bfloat16)")


if __name__ == "__main__":
    main()
