"""Dataset preparation time: the local runner vs Apache Beam's DirectRunner, on real images.

Writes N Fashion-MNIST images (Debian's dataset-fashion-mnist, offline) as PNG files into a
folder, then prepares that folder with `cips_tf.data.prepare` on each runner and checks that every
runner wrote the same records into the same shards and the same report.

    python3 benchmarks/dataset_runners.py [--num_images=10000] [--resolution=32] [--shards=8]
        [--runners=local,beam,beam_mt2,beam_mp2] [--workdir=/tmp/cips_dataset_bench]

Runners: local (a thread pool, min(4, CPUs) threads), beam (DirectRunner defaults: one worker),
beam_mt2 (DirectRunner, 2 threads), beam_mp2 (DirectRunner, 2 processes). Needs the [beam] extra
for the beam ones. Prints one line per runner and a JSON summary.
"""
import json
import os
import shutil
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from absl import app, flags, logging  # noqa: E402

FLAGS = flags.FLAGS
flags.DEFINE_integer("num_images", 10000, "Fashion-MNIST test images to write as PNG files.")
flags.DEFINE_integer("resolution", 32, "Stored resolution.")
flags.DEFINE_integer("shards", 8, "Shards.")
flags.DEFINE_list("runners", ["local", "beam", "beam_mt2", "beam_mp2"], "Runners to time.")
flags.DEFINE_string("workdir", "/tmp/cips_dataset_bench", "Scratch directory (emptied first).")

BEAM_ARGS = {
    "beam": [],
    "beam_mt2": ["--direct_num_workers=2", "--direct_running_mode=multi_threading"],
    "beam_mp2": ["--direct_num_workers=2", "--direct_running_mode=multi_processing"],
}


def write_folder(folder, num_images):
    import numpy as np
    from PIL import Image

    from cips_tf.data import load_fashion_mnist

    pixels = load_fashion_mnist("test")[0]
    pixels = np.concatenate([pixels] * (-(-num_images // len(pixels))))[:num_images]
    for i, image in enumerate(pixels):
        sub = folder / f"{i // 1000:02d}"
        sub.mkdir(parents=True, exist_ok=True)
        Image.fromarray(image).save(sub / f"{i:05d}.png")


def shard_digest(out_dir, num_shards):
    import hashlib

    import tensorflow as tf

    from cips_tf.data import tfrecord

    digest = hashlib.sha256()
    for shard in range(num_shards):
        for record in sorted(r.numpy() for r in tf.data.TFRecordDataset(tfrecord.shard_path(out_dir, "data", shard,
                                                                                            num_shards))):
            digest.update(record)
        digest.update(b"|")
    return digest.hexdigest()


def main(argv):
    del argv
    import pathlib

    from cips_tf.data import prepare
    from cips_tf.data import processing
    from cips_tf.data import sources

    logging.set_verbosity(logging.WARNING)
    work = pathlib.Path(FLAGS.workdir)
    shutil.rmtree(work, ignore_errors=True)
    folder = work / "images"
    start = time.time()
    write_folder(folder, FLAGS.num_images)
    print(f"wrote {FLAGS.num_images} PNG files in {time.time() - start:.1f}s to {folder}")
    options = processing.Options(resolution=FLAGS.resolution, num_shards=FLAGS.shards)
    source = sources.FolderSource(str(folder))
    results, reference = {}, None
    for name in FLAGS.runners:
        out = work / name
        start = time.time()
        report = prepare.prepare_dataset(source, out, options, runner="local" if name == "local" else "beam",
                                         beam_pipeline_args=BEAM_ARGS.get(name, []))
        seconds = time.time() - start
        report.pop("run")
        digest = shard_digest(out, FLAGS.shards)
        if reference is None:
            reference = (report, digest)
        same = report == reference[0] and digest == reference[1]
        results[name] = {"seconds": round(seconds, 2), "images_per_second": round(FLAGS.num_images / seconds, 1),
                         "num_examples": report["num_examples"], "same_records_and_report_as_first": same}
        print(f"{name:9s} {seconds:7.1f}s  {FLAGS.num_images / seconds:7.1f} images/s  "
              f"written {report['num_examples']}  identical to {FLAGS.runners[0]}: {same}")
    print(json.dumps({"num_images": FLAGS.num_images, "resolution": FLAGS.resolution, "shards": FLAGS.shards,
                      "cpus": os.cpu_count(), "runners": results}, indent=2))


if __name__ == "__main__":
    app.run(main)
