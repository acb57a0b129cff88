"""Times the README's main job (`bash scripts/quickstart.sh`) beside this machine's matmul peak.

    python3 benchmarks/quickstart_timing.py [--workdir=runs/quickstart_timing] [-- extra cips-train flags]

Measures the matmul peak (benchmarks/matmul_peak.py) before and after, runs the quickstart script
(install included) and prints its wall time, the time of each stage from the script's output, and
a worst-case figure for a slower machine of our kind: the non-install time scaled by the ratio of
peaks, as if every second were matmul-bound (the tiny quickstart model is partly overhead-bound,
which scales less).
"""
import argparse
import os
import shutil
import subprocess
import sys
import time

from matmul_peak import peak_gflops

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workdir", default=os.path.join(REPO, "runs", "quickstart_timing"))
    parser.add_argument("--slow_peak", type=float, default=64.0, help="GFLOP/s of the slower machine (AVX2 only)")
    parser.add_argument("extra", nargs="*", help="extra cips-train flags")
    args = parser.parse_args(argv)
    shutil.rmtree(args.workdir, ignore_errors=True)
    before = peak_gflops()
    print(f"matmul peak before: {before:.1f} GFLOP/s", flush=True)
    env = dict(os.environ, WORKDIR=args.workdir)
    t0 = time.perf_counter()
    marks = {}
    proc = subprocess.Popen(["bash", os.path.join(REPO, "scripts", "quickstart.sh"), *args.extra], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, bufsize=1)
    for line in proc.stdout:
        sys.stdout.write(line)
        for stage, needle in (("installed", "install.sh: done"), ("trained", "done at step"),
                              ("exported", "/serving/cips/")):
            if needle in line and stage not in marks:
                marks[stage] = time.perf_counter() - t0
    if proc.wait() != 0:
        raise SystemExit(f"quickstart failed with exit code {proc.returncode}")
    total = time.perf_counter() - t0
    after = peak_gflops()
    peak = (before + after) / 2
    install = marks.get("installed", 0.0)
    print("\n--- quickstart timing")
    print(f"matmul peak: {before:.1f} GFLOP/s before, {after:.1f} after")
    previous = 0.0
    for stage in ("installed", "trained", "exported"):
        if stage in marks:
            print(f"  {stage:10s} at {marks[stage]:7.1f} s (+{marks[stage] - previous:.1f} s)")
            previous = marks[stage]
    print(f"  end to end: {total:.1f} s ({total / 60:.1f} min)")
    # Training runs for its wall-clock budget whatever the machine; the rest scales with the peak.
    train = marks["trained"] - install if "trained" in marks else 0.0
    worst = install + train + (total - install - train) * peak / args.slow_peak
    print(f"worst case at {args.slow_peak:.0f} GFLOP/s (training is the fixed budget; the rest x "
          f"{peak / args.slow_peak:.1f}): {worst:.0f} s ({worst / 60:.1f} min)")


if __name__ == "__main__":
    main()
