"""Learning check for the quickstart: offline FID at step 0 and at the end, and training images/s.

    python3 benchmarks/quickstart_learning.py --workdir=runs/quickstart [--num_samples=2000]

The quality figure is FID in the feature space of the offline Fashion-MNIST classifier
(`cips_tf.metrics.feature_extractor`, trained here if absent): a NON-STANDARD number, comparable
only with itself. Real statistics come from the Fashion-MNIST test split (10k images, never seen
in training). Step 0 is the run's own initial generator (weights are seeded from config.seed);
"end" is the EMA generator of the latest checkpoint. Images/s is the median of the run's
TensorBoard `train/images_per_sec` scalars.
"""
import argparse
import json
import os
import pathlib

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import cips_tf  # noqa: E402,F401  (first: TensorFlow starts without the CUDA probe lines)
import keras  # noqa: E402
import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

from cips_tf import data as data_lib  # noqa: E402
from cips_tf.coords import make_grid  # noqa: E402
from cips_tf.metrics import evaluate, protocol  # noqa: E402
from cips_tf.loading import load_generator, read_config  # noqa: E402
from cips_tf.latents import z_from_seed  # noqa: E402
from cips_tf.training import train_lib  # noqa: E402


def sample_fn_for(generator):
    render = tf.function(lambda z: generator({"z": z, "coords": make_grid(z.shape[0], generator.size)},
                                             training=False, randomize_noise=False))

    def sample_fn(batch_size, seed):
        z = z_from_seed(np.arange(seed * batch_size, (seed + 1) * batch_size), generator.style_dim)
        return render(z).numpy()

    return sample_fn


def images_per_sec(workdir):
    values = []
    for path in sorted(pathlib.Path(workdir).glob("events.out.tfevents*")):
        for event in tf.compat.v1.train.summary_iterator(str(path)):
            for v in event.summary.value:
                if v.tag == "train/images_per_sec":
                    values.append(float(tf.make_ndarray(v.tensor)))
    return float(np.median(values)) if values else None


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--workdir", default="runs/quickstart")
    parser.add_argument("--extractor_dir", default=None,
                        help="offline extractor directory (default: the one cips-evaluate uses, trained there once)")
    parser.add_argument("--num_samples", type=int, default=2000)
    args = parser.parse_args()

    extractor = protocol.load_extractor("offline", args.extractor_dir)  # None: protocol.default_extractor_dir()
    config = read_config(args.workdir)

    keras.utils.set_random_seed(int(config.seed))  # as train_and_evaluate does before building
    initial = train_lib.build_gan(config, tf.distribute.get_strategy(), int(config.batch_size)).g_ema
    final = load_generator(args.workdir)

    real_config = data_lib.default_config()
    real_config.source, real_config.split = "fashion_mnist", "test"
    results = {}
    for name, generator in (("step_0", initial), ("end", final.generator)):
        real = data_lib.build_dataset(real_config, resolution=generator.size, batch_size=250, seed=0,
                                      training=False)
        results[name] = evaluate.evaluate_generator(
            real, sample_fn_for(generator), extractor, num_samples=args.num_samples, batch_size=250,
            metrics=("fid",), progress=False,
        )
    out = {
        "fid_offline_step_0": results["step_0"]["fid_offline"],
        "fid_offline_end": results["end"]["fid_offline"],
        "end_checkpoint": final.source,
        "num_samples": args.num_samples,
        "standard": False,
        "train_images_per_sec_median": images_per_sec(args.workdir),
        "eval_seconds_per_1000_samples": 1000 * results["end"]["seconds"] / args.num_samples,
    }
    print(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
