"""Input pipeline throughput: images/s of `build_dataset` per source, and training steps/s per source.

Builds its own data in `--workdir` from Debian's Fashion-MNIST (offline), reused when it exists:

    folder_png32     N Fashion-MNIST images resized to 32 x 32 (Pillow, bilinear), RGB PNG files
    tfrecord_png32   the same images as cips-tf TFRecord shards (PNG records, what cips-dataset writes)
    folder_jpeg256   M images upscaled to 256 x 256 (Pillow, bicubic), RGB JPEG files (quality 90)
    tfrecord_png256  the same 256 px images as cips-tf TFRecord shards (PNG records)
    memory           the in-memory 'fashion_mnist' source (60,000 28 x 28 images, resized in-graph)

    python3 benchmarks/input_pipeline.py                  # --seconds=4 --repeats=3 --batch_size=16
    python3 benchmarks/input_pipeline.py --train          # also training steps/s: memory vs folder vs tfrecord

Alone: `build_dataset` with the default data config (training: shuffled, flipped, block shuffle of
`--shuffle_buffer`; eval: one pass in order) is iterated for `--seconds` after `--warmup` batches,
`--repeats` times with the sources taken round-robin (so a change of load hits all of them); the
table gives the median images/s. `--train` runs `train_lib.train_and_evaluate` on a 32 px config
(configs/quickstart.py with widths 128, batch 16) for `--train_steps` steps per source and round,
reads the steps/s of each log window after the first (tracing, shuffle fill), and prints the median
per source and its ratio to memory.
"""
import argparse
import importlib.util
import json
import logging
import os
import pathlib
import re
import statistics
import tempfile
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import cips_tf  # noqa: E402,F401  (first: TensorFlow starts without the CUDA probe lines)
import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402
from PIL import Image  # noqa: E402

from cips_tf import data as data_lib  # noqa: E402
from cips_tf.data import tfrecord  # noqa: E402

REPO = pathlib.Path(__file__).resolve().parents[1]
SOURCES = ("memory", "folder_png32", "tfrecord_png32", "folder_jpeg256", "tfrecord_png256")
RESOLUTION = {"memory": 32, "folder_png32": 32, "tfrecord_png32": 32, "folder_jpeg256": 256, "tfrecord_png256": 256}


def make_data(workdir, num_small, num_large, shards):
    """Writes the folders and shards (skipped when `workdir` already holds them for these sizes)."""
    workdir = pathlib.Path(workdir)
    stamp = workdir / "made.json"
    params = {"num_small": num_small, "num_large": num_large, "shards": shards}
    if stamp.exists() and json.loads(stamp.read_text()) == params:
        return
    start = time.time()
    pixels = data_lib.load_fashion_mnist("train")[0]
    small = [np.asarray(Image.fromarray(p).convert("RGB").resize((32, 32), Image.BILINEAR))
             for p in pixels[:num_small]]
    large = [np.asarray(Image.fromarray(p).convert("RGB").resize((256, 256), Image.BICUBIC))
             for p in pixels[:num_large]]
    for name, images, ext, kwargs in (("folder_png32", small, "png", {}),
                                      ("folder_jpeg256", large, "jpg", {"quality": 90})):
        for i, image in enumerate(images):
            path = workdir / name / f"{i // 1000:03d}" / f"{i:06d}.{ext}"
            path.parent.mkdir(parents=True, exist_ok=True)
            Image.fromarray(image).save(path, **kwargs)
    for name, images in (("tfrecord_png32", small), ("tfrecord_png256", large)):
        named = ((image, f"{i:06d}.png") for i, image in enumerate(images))
        tfrecord.write_tfrecords(named, workdir / name, num_shards=shards)
    stamp.write_text(json.dumps(params))
    print(f"made the data in {workdir} in {time.time() - start:.0f} s")


def data_config(source, workdir, shuffle_buffer):
    config = data_lib.default_config()
    if source != "memory":
        config.source = source.split("_")[0]
        config.path = str(pathlib.Path(workdir) / source)
    if shuffle_buffer is not None:
        config.shuffle_buffer = shuffle_buffer
    return config


def images_per_second(config, resolution, batch_size, training, seconds, warmup):
    ds = data_lib.build_dataset(config, resolution=resolution, batch_size=batch_size, seed=0, training=training)
    iterator = iter(ds)
    for _ in range(warmup):
        next(iterator, None)
    images, start = 0, time.perf_counter()
    while time.perf_counter() - start < seconds:
        batch = next(iterator, None)
        if batch is None:
            break
        images += int(batch.shape[0])
    return images / (time.perf_counter() - start)


def bench_alone(args):
    rates = {(s, m): [] for s in args.sources for m in ("train", "eval")}
    for _ in range(args.repeats):
        for source in args.sources:
            config = data_config(source, args.workdir, args.shuffle_buffer)
            for mode in ("train", "eval"):
                rates[source, mode].append(images_per_second(
                    config, RESOLUTION[source], args.batch_size, mode == "train", args.seconds, args.warmup))
    print(f"\nbuild_dataset alone: images/s, median of {args.repeats} runs of {args.seconds:g} s "
          f"(batch {args.batch_size}, after {args.warmup} warm-up batches)")
    print(f"| {'source':16} | px  | {'training':>10} | {'eval':>10} | runs (training) |")
    print(f"|{'-' * 18}|-----|{'-' * 12}|{'-' * 12}|-----------------|")
    for source in args.sources:
        train, evaluation = rates[source, "train"], rates[source, "eval"]
        print(f"| {source:16} | {RESOLUTION[source]:3d} | {statistics.median(train):10.0f} | "
              f"{statistics.median(evaluation):10.0f} | {', '.join(f'{r:.0f}' for r in train)} |")


class _RateLog(logging.Handler):
    """Collects the steps/s of train_lib's progress lines."""

    def __init__(self):
        super().__init__()
        self.rates = []

    def emit(self, record):
        match = re.search(r"\| ([0-9.]+) steps/s", record.getMessage())
        if match:
            self.rates.append(float(match.group(1)))


def train_config(source, workdir):
    spec = importlib.util.spec_from_file_location("quickstart_config", REPO / "configs" / "quickstart.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    config = module.get_config()
    config.model.widths = [128] * len(config.model.widths)
    config.discriminator.widths = [128] * len(config.discriminator.widths)
    config.batch_size = 16
    config.num_train_steps = 10**6
    config.training.log_every = 20
    config.training.checkpoint_every = 10**6
    config.training.sample_every = 0
    config.data = data_config(source, workdir, None)
    return config


def bench_train(args):
    from absl import logging as absl_logging

    from cips_tf.training import train_lib

    absl_logging.set_verbosity(absl_logging.INFO)
    handler = _RateLog()
    absl_logging.get_absl_logger().addHandler(handler)
    sources = ("memory", "folder_png32", "tfrecord_png32")
    rates = {s: [] for s in sources}
    for _ in range(args.train_rounds):
        for source in sources:
            handler.rates = []
            with tempfile.TemporaryDirectory() as run_dir:
                train_lib.train_and_evaluate(train_config(source, args.workdir), run_dir, max_steps=args.train_steps)
            rates[source] += handler.rates[1:]  # the first window holds tracing and the shuffle fill
    memory = statistics.median(rates["memory"])
    print(f"\ntraining, 32 px, widths 128, batch 16: steps/s, median of the {20}-step windows after the first "
          f"({args.train_rounds} rounds of {args.train_steps} steps per source)")
    print("| source           | steps/s | vs memory | windows |")
    print("|------------------|---------|-----------|---------|")
    for source in sources:
        median = statistics.median(rates[source])
        print(f"| {source:16} | {median:7.2f} | {median / memory:9.2f} | {', '.join(f'{r:.2f}' for r in rates[source])} |")


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--workdir", default=os.path.join(tempfile.gettempdir(), "cips_input_bench"))
    parser.add_argument("--num_images", type=int, default=10000, help="32 px images in the folder and shards")
    parser.add_argument("--num_large", type=int, default=1000, help="256 px images in the folder and shards")
    parser.add_argument("--shards", type=int, default=8)
    parser.add_argument("--sources", default=",".join(SOURCES))
    parser.add_argument("--batch_size", type=int, default=16)
    parser.add_argument("--seconds", type=float, default=4.0)
    parser.add_argument("--warmup", type=int, default=5)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--shuffle_buffer", type=int, default=None, help="default: the data config's (1000)")
    parser.add_argument("--train", action="store_true", help="also measure training steps/s per source")
    parser.add_argument("--train_only", action="store_true")
    parser.add_argument("--train_steps", type=int, default=100)
    parser.add_argument("--train_rounds", type=int, default=2)
    args = parser.parse_args()
    args.sources = [s for s in args.sources.split(",") if s]
    unknown = set(args.sources) - set(SOURCES)
    if unknown:
        parser.error(f"unknown sources {sorted(unknown)}; known: {', '.join(SOURCES)}")
    make_data(args.workdir, args.num_images, args.num_large, args.shards)
    print(f"TF {tf.__version__}, {os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f} at the start")
    if not args.train_only:
        bench_alone(args)
    if args.train or args.train_only:
        bench_train(args)
    print(f"load average {os.getloadavg()[0]:.1f} at the end")


if __name__ == "__main__":
    main()
