"""Training-step speed of the CPU fast paths, as ratios measured in one process.

    python3 benchmarks/train_step_speed.py [--config=configs/quickstart.py] [--steps=40]
        [--variants=fp32,bf16,bf16_xla,fp32_xla]

Builds one GAN per variant (float32 or Keras `mixed_bfloat16` compute, with or without XLA on the
per-replica gradient computations) from the same config, then times their training steps round by
round, alternating the variants, so a change of machine load hits each alike. Prints each
variant's median step time, its speed-up over fp32, and the fp32 and bf16 matmul peaks measured in
the same process. (oneDNN's bf16 fpmath mode, the other bf16 route, is a process-wide environment
variable: `quality_per_minute.py --variants=fpmath_bf16` measures it in its own process.) Last,
the config's generator rendered with bf16 compute against the same weights in float32, as PSNR.
"""
import argparse
import os
import pathlib
import statistics
import sys
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import cips_tf  # noqa: E402,F401  (first: TensorFlow starts without the CUDA probe lines)
import keras  # noqa: E402
import tensorflow as tf  # noqa: E402
from ml_collections import config_flags  # noqa: E402,F401  (config files import it)

REPO = pathlib.Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "benchmarks"))

VARIANTS = {
    "fp32": ("float32", False),
    "bf16": ("mixed_bfloat16", False),
    "bf16_xla": ("mixed_bfloat16", True),
    "fp32_xla": ("float32", True),
}


def load_config(path):
    import importlib.util

    spec = importlib.util.spec_from_file_location("bench_config", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.get_config()


def make_step(config, policy, jit):
    """A callable running one training step (D, lazy R1 every d_reg_every, G) of a fresh GAN."""
    from cips_tf import data as data_lib
    from cips_tf.training import train_lib

    config = config.copy_and_resolve_references()
    config.training.mixed_precision = policy
    config.training.jit_compile = jit
    strategy = tf.distribute.get_strategy()
    keras.utils.set_random_seed(0)
    gan = train_lib.build_gan(config, strategy, int(config.batch_size))
    dataset = data_lib.build_dataset(config.data, resolution=int(config.resolution),
                                     batch_size=int(config.batch_size), seed=0, training=True)
    iterator = iter(dataset)
    d_part = tf.function(lambda batch: gan.d_step(batch)[0])
    r1_part = tf.function(gan.r1_step)
    g_part = tf.function(gan.g_step)
    state = {"step": 0}

    def step():
        real = d_part(next(iterator))
        if gan.d_reg_every and state["step"] % gan.d_reg_every == 0:
            r1_part(real)
        g_part(real).numpy()
        state["step"] += 1

    return step


def bf16_psnr(config, num=16, model=None):
    """PSNR (dB, over the [-1, 1] range) of the config's generator (or the trained G_ema of `model`, a
    workdir) rendered with bf16 compute against the same weights in float32: 16 samples on the
    native grid, eval mode, no noise. Returns (PSNR, max abs error)."""
    import numpy as np

    from cips_tf.coords import make_grid
    from cips_tf.latents import z_from_seed
    from cips_tf.models.factory import generator_from_config

    keras.utils.set_random_seed(0)
    if model:
        from cips_tf.loading import load_generator

        loaded = load_generator(model)
        g32, config = loaded.generator, loaded.config
    else:
        g32 = generator_from_config(config)
    g16 = generator_from_config(config, dtype="mixed_bfloat16")
    z = z_from_seed(np.arange(num), g32.style_dim)
    coords = make_grid(num, g32.size)
    g16({"z": z, "coords": coords}, training=False)
    g16.set_weights(g32.get_weights())
    a = g32({"z": z, "coords": coords}, training=False, randomize_noise=False).numpy()
    b = tf.cast(g16({"z": z, "coords": coords}, training=False, randomize_noise=False), tf.float32).numpy()
    mse = float(np.mean((a - b) ** 2))
    return 10 * np.log10(4.0 / mse), float(np.abs(a - b).max())


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--config", default=str(REPO / "configs" / "quickstart.py"))
    parser.add_argument("--steps", type=int, default=40)
    parser.add_argument("--variants", default="fp32,bf16,bf16_xla,fp32_xla")
    parser.add_argument("--psnr_model", default=None, help="a training workdir: its G_ema for the PSNR")
    args = parser.parse_args(argv)
    from matmul_peak import peak_gflops, peak_gflops_bf16

    config = load_config(args.config)
    names = args.variants.split(",")
    steps = {}
    for name in names:
        policy, jit = VARIANTS[name]
        t0 = time.perf_counter()
        steps[name] = make_step(config, policy, jit)
        for _ in range(17):  # traces every part (R1 included) and warms up
            steps[name]()
        print(f"{name}: built and warmed up in {time.perf_counter() - t0:.1f} s", flush=True)
    keras.mixed_precision.set_global_policy("float32")
    times = {name: [] for name in names}
    for _ in range(args.steps):
        for name in names:
            t0 = time.perf_counter()
            steps[name]()
            times[name].append(time.perf_counter() - t0)
    fp32, bf16 = peak_gflops(5), peak_gflops_bf16(5)
    base = statistics.median(times[names[0]])
    print(f"\nmatmul peaks: fp32 {fp32:.0f} GFLOP/s, bf16 {bf16:.0f} GFLOP/s ({bf16 / fp32:.2f}x); "
          f"{pathlib.Path(args.config).name}, batch {config.batch_size}, median of {args.steps} rounds\n")
    print("| variant | step (ms) | speed-up over " + names[0] + " |")
    print("| --- | --- | --- |")
    for name in names:
        median = statistics.median(times[name])
        print(f"| {name} | {1000 * median:.1f} | {base / median:.2f}x |")
    psnr, max_err = bf16_psnr(config, model=args.psnr_model)
    print(f"\n{args.psnr_model or 'initial'} generator, bf16 compute vs float32 (same weights, 16 samples): PSNR {psnr:.1f} dB over [-1, 1], "
          f"max abs error {max_err:.3f}")


if __name__ == "__main__":
    main()
