"""bf16 inference's effect on quality: offline FID of a trained model rendered in float32 and in bf16.

    python3 benchmarks/precision_fid.py --workdir=runs/quickstart [--num_samples=5000] [--seeds=3]

The model is a training workdir's G_ema (the quickstart by default). It is exported to OpenVINO (the
runtime with a bf16 path, `cips_tf.export.runtimes`: the coordinate encoding in float32, the
modulated layers in bf16), and the same latents are rendered by Keras in float32, OpenVINO float32
and OpenVINO bf16, and by ONNX Runtime in float32 and with its dynamic int8 quantization
(`onnxruntime.quantization.quantize_dynamic`: int8 weights of the constant matmuls, activations
quantized per call; not a cips-tf product path, measured to decide whether to offer one). Reported
per path: offline FID (NON-STANDARD: the Fashion-MNIST classifier of
`cips_tf.metrics.feature_extractor`, against the 10k test images) for `--seeds` disjoint sets of
`--num_samples` latents, and PSNR against Keras float32 over the [-1, 1] range. The FID change of bf16
is judged against the spread of FID over latent sets (the noise of the measurement itself).
bf16 runs only where the CPU has it natively (`cips_tf.hardware.cpu_bf16_support`).
"""
import argparse
import os
import pathlib
import statistics
import sys
import tempfile
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import cips_tf  # noqa: E402,F401  (first: a quiet TensorFlow start)
import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

from cips_tf import data as data_lib  # noqa: E402
from cips_tf.coords import make_grid  # noqa: E402
from cips_tf.export import runtimes  # noqa: E402
from cips_tf.latents import z_from_seed  # noqa: E402
from cips_tf.metrics import evaluate, protocol  # noqa: E402
from cips_tf.loading import load_generator  # noqa: E402


def renderers(generator, w_avg, export_base):
    """name -> render(z) -> float images [N, H, W, 3] (unclipped, [-1, 1] nominal)."""
    size = generator.size
    keras_render = tf.function(lambda z: generator({"z": z, "coords": make_grid(z.shape[0], size)},
                                                   training=False, randomize_noise=False))
    paths = {"keras_fp32": lambda z: keras_render(tf.constant(z)).numpy()}
    exported = runtimes.export_formats(generator, w_avg, export_base, "precision", ["openvino", "onnx"])
    version_dir = runtimes.find_export(exported["openvino"], "openvino")
    onnx_dir = runtimes.find_export(exported["onnx"], "onnx")
    onnx_fp32 = runtimes.RuntimeGenerator(onnx_dir)
    paths["onnx_fp32"] = lambda z: onnx_fp32.render(z, make_grid(len(z), size).numpy())
    import onnxruntime as ort
    from onnxruntime.quantization import QuantType, quantize_dynamic

    int8_path = pathlib.Path(export_base) / "synthesis_int8.onnx"
    quantize_dynamic(str(onnx_dir / "synthesis.onnx"), str(int8_path), weight_type=QuantType.QInt8)
    session = ort.InferenceSession(str(int8_path), providers=["CPUExecutionProvider"])

    def onnx_int8(z):
        w = onnx_fp32.mapping(z)
        coords = make_grid(len(z), size).numpy().reshape(len(z), -1, 2)
        rgb = session.run(None, {"w": w, "coords": coords})[0]
        return rgb.reshape(len(z), size, size, 3)

    paths["onnx_int8_dynamic"] = onnx_int8
    for precision in ("fp32", "bf16"):
        if precision == "bf16" and not runtimes.bf16_support()[0]:
            print(f"openvino_bf16 skipped: {runtimes.bf16_support()[1]}")
            continue
        rg = runtimes.RuntimeGenerator(version_dir, precision=precision)
        paths[f"openvino_{precision}"] = (lambda rg: lambda z: rg.render(z, make_grid(len(z), size).numpy()))(rg)
    return paths


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--workdir", default="runs/quickstart")
    parser.add_argument("--num_samples", type=int, default=5000)
    parser.add_argument("--seeds", type=int, default=3, help="disjoint latent sets per path")
    parser.add_argument("--batch", type=int, default=250)
    parser.add_argument("--extractor_dir", default=None,
                        help="offline extractor directory (default: the one cips-evaluate uses, trained there once)")
    args = parser.parse_args(argv)

    loaded = load_generator(args.workdir)
    generator, w_avg = loaded.generator, loaded.w_avg
    extractor = protocol.load_extractor("offline", args.extractor_dir)  # None: protocol.default_extractor_dir()
    real_config = data_lib.default_config()
    real_config.source, real_config.split = "fashion_mnist", "test"
    real = data_lib.build_dataset(real_config, resolution=generator.size, batch_size=args.batch, seed=0, training=False)
    real_cache = None  # the real statistics (10k test images) are recomputed per call: seconds each

    with tempfile.TemporaryDirectory() as tmp:
        return report(args, generator, w_avg, extractor, real, real_cache, renderers(generator, w_avg, tmp))


def report(args, generator, w_avg, extractor, real, real_cache, paths):
    """FID and PSNR of every path on the same latents, then their speed; printed as tables."""
    batches_per_set = -(-args.num_samples // args.batch)
    rows = {}
    for name, render in paths.items():
        fids, psnrs = [], []
        for s in range(args.seeds):
            def sample_fn(batch_size, seed, render=render):
                z = z_from_seed(np.arange(seed * batch_size, (seed + 1) * batch_size), generator.style_dim)
                return np.asarray(render(np.asarray(z)))

            first = s * batches_per_set
            result = evaluate.evaluate_generator(real, sample_fn, extractor, num_samples=args.num_samples,
                                                 batch_size=args.batch, metrics=("fid",), seed=first,
                                                 progress=False, real_cache=real_cache)
            fids.append(float(result["fid_offline"]))
            z = np.asarray(z_from_seed(np.arange(first * args.batch, first * args.batch + args.batch),
                                       generator.style_dim))
            psnrs.append(runtimes.psnr(np.clip(render(z), -1, 1), np.clip(paths["keras_fp32"](z), -1, 1)))
        rows[name] = (fids, psnrs)
        print(f"{name}: FID {', '.join(f'{f:.2f}' for f in fids)}", flush=True)

    print(f"\n{args.workdir}: offline FID (non-standard), {args.num_samples} samples per latent set, "
          f"{args.seeds} disjoint sets, vs the 10k test images\n")
    print("| path | FID per latent set | median | change vs keras_fp32 (same latents) | PSNR vs keras_fp32 |")
    print("|---|---|---|---|---|")
    base = rows["keras_fp32"][0]
    for name, (fids, psnrs) in rows.items():
        delta = [f - b for f, b in zip(fids, base)]
        p = "-" if name == "keras_fp32" else f"{min(psnrs):.1f} dB"
        print(f"| {name} | {', '.join(f'{f:.2f}' for f in fids)} | {statistics.median(fids):.2f} | "
              f"{'-' if name == 'keras_fp32' else ', '.join(f'{d:+.2f}' for d in delta)} | {p} |")
    print("\nseconds per render of --batch latents (median of 5 rounds, the paths interleaved per round; "
          "a shared machine: compare within the column)")
    z = np.asarray(z_from_seed(np.arange(args.batch), generator.style_dim))
    times = {name: [] for name in paths}
    for _ in range(5):
        for name, render in paths.items():
            start = time.perf_counter()
            render(z)
            times[name].append(time.perf_counter() - start)
    for name, ts in times.items():
        print(f"  {name}: {statistics.median(ts):.3f} s ({statistics.median(times['keras_fp32']) / statistics.median(ts):.2f}x keras_fp32)")
    spread = max(base) - min(base)
    print(f"\nspread of keras_fp32's FID over latent sets (the measurement's own noise): {spread:.2f}")


if __name__ == "__main__":
    main()
