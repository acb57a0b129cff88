"""Peak memory of a large chunked render with the official 256 CIPS-skips generator.

    python3 benchmarks/render_memory.py [--resolution=2048] [--chunk_pixels=32768] [--limit_gb=2]

Run it as its own process (the figure is the process's peak resident set size, `ru_maxrss`, so
anything else done in the same process would count). Builds a random-weight `CIPSGenerator(256)`
(44.3M parameters), then renders one `resolution x resolution` image (eval mode, embedding sampled,
no noise) through `ChunkedRenderer(chunk_pixels=...)`. Exits non-zero when the peak exceeds
`--limit_gb`.
"""
import argparse
import os
import resource
import sys
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))


def peak_rss_bytes():
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024  # Linux reports KiB


def current_rss_bytes():
    try:
        import psutil

        return psutil.Process().memory_info().rss
    except ImportError:
        with open("/proc/self/statm") as f:
            return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--resolution", type=int, default=2048)
    parser.add_argument("--chunk_pixels", type=int, default=32768)
    parser.add_argument("--model_size", type=int, default=256)
    parser.add_argument("--limit_gb", type=float, default=2.0)
    args = parser.parse_args(argv)

    import numpy as np
    import tensorflow as tf

    from cips_tf.models.generator import CIPSGenerator
    from cips_tf.rendering import ChunkedRenderer

    gib = 1024 ** 3
    print(f"start: rss {current_rss_bytes() / gib:.3f} GiB (python + TensorFlow)")
    g = CIPSGenerator(args.model_size)
    w = g.mapping(tf.random.normal((1, g.style_dim), seed=0))
    print(f"CIPSGenerator({args.model_size}): {g.count_params():,} parameters; rss {current_rss_bytes() / gib:.3f} GiB")
    renderer = ChunkedRenderer(g, chunk_pixels=args.chunk_pixels)
    n_chunks = -(-args.resolution ** 2 // args.chunk_pixels)
    t0 = time.perf_counter()

    def progress(i, n):
        if i == 1 or i == n or i % max(1, n // 8) == 0:
            print(f"  chunk {i}/{n}: {time.perf_counter() - t0:6.1f} s, rss {current_rss_bytes() / gib:.3f} GiB, "
                  f"peak {peak_rss_bytes() / gib:.3f} GiB", flush=True)

    image = renderer.render(w, args.resolution, progress=progress)
    elapsed = time.perf_counter() - t0
    peak = peak_rss_bytes()
    assert image.shape == (1, args.resolution, args.resolution, 3) and np.all(np.isfinite(image))
    print(f"rendered {args.resolution}x{args.resolution} in {n_chunks} chunks of {args.chunk_pixels} pixels: "
          f"{elapsed:.1f} s ({args.resolution ** 2 / elapsed / 1e6:.3f} Mpixel/s)")
    print(f"peak RSS (ru_maxrss): {peak / gib:.3f} GiB = {peak / 1e9:.3f} GB (limit {args.limit_gb} GB)")
    if peak > args.limit_gb * 1e9:
        print("FAIL: above the limit")
        return 1
    print("OK: below the limit")
    return 0


if __name__ == "__main__":
    sys.exit(main())
