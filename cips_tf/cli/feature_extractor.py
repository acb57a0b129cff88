"""Trains the offline (NON-STANDARD) Fashion-MNIST feature extractor used for `*_offline` metrics.

Usage:
  python -m cips_tf.cli.feature_extractor --out=/path/to/extractor [--epochs=3] [--batch_size=128]

Writes `fashion_mnist_cnn.keras` and `fashion_mnist_cnn.json` (test accuracy, settings) into
--out; load it with `cips_tf.metrics.feature_extractor.load_feature_extractor(--out)`. Reads
Fashion-MNIST offline (Debian's dataset-fashion-mnist, or $CIPS_FASHION_MNIST_DIR).
"""
import json

from absl import flags

from cips_tf import entry_point

FLAGS = flags.FLAGS
flags.DEFINE_string("out", None, "Directory to write the trained extractor into.", required=True)
flags.DEFINE_integer("epochs", 3, "Training epochs (about 40 s each on 2 CPU cores).")
flags.DEFINE_integer("batch_size", 128, "Training batch size.")
flags.DEFINE_integer("num_train", None, "Use only the first N training images (default: all 60,000).")
flags.DEFINE_integer("num_test", None, "Evaluate on only the first N test images (default: all 10,000).")
flags.DEFINE_integer("seed", 0, "Seed for weights and shuffling.")
flags.DEFINE_string("data_dir", None, "Fashion-MNIST IDX directory (default: the Debian package's).")
flags.DEFINE_integer("verbose", 2, "Keras verbosity (0 silent, 1 progress bar, 2 one line per epoch).")


def main(argv):
    del argv
    from cips_tf.metrics import feature_extractor  # TensorFlow: loaded after the flags are checked

    metadata = feature_extractor.train_feature_extractor(
        FLAGS.out,
        epochs=FLAGS.epochs,
        batch_size=FLAGS.batch_size,
        num_train=FLAGS.num_train,
        num_test=FLAGS.num_test,
        seed=FLAGS.seed,
        verbose=FLAGS.verbose,
        data_dir=FLAGS.data_dir,
    )
    print(json.dumps(metadata, indent=2))


def run():
    """Console-script entry point."""
    entry_point.run(main)


if __name__ == "__main__":
    run()
