"""An offline, NON-STANDARD feature extractor: a small CNN trained on Fashion-MNIST.

The standard FID network (see `inception.py`) cannot be downloaded on machines without network
access. For development, tests and the Fashion-MNIST quickstart we train a small classifier on
the offline Fashion-MNIST (Debian's `dataset-fashion-mnist`) and use its penultimate layer
("features", 128-d ReLU) as the feature space for FID/KID/precision-recall. Such numbers track
sample quality on Fashion-MNIST-like data but are NOT comparable with any published FID: every
result computed with it is labelled (`standard: False`, metric names ending in `_offline`).

Input convention: [B, H, W, 3] (or 1-channel) float images in [-1, 1], any size. The model's
first layer (`ExtractorPreprocess`) converts to luma and resizes bilinearly to 28 x 28, so 32 x 32
model samples and 28 x 28 originals both work. Training shows each batch at 28 x 28, resized to
32 x 32, or zero-padded (background) to 32 x 32, so that the features do not depend on how a data
pipeline brought Fashion-MNIST to 32 x 32.

Train it with `python -m cips_tf.cli.feature_extractor --out=DIR`; load it with
`load_feature_extractor(DIR)`.
"""
import json
import pathlib
import time

import keras
import numpy as np
import tensorflow as tf
from keras import layers, ops

from cips_tf.data.fashion_mnist import load_fashion_mnist
from cips_tf.metrics import fid as fid_lib

__all__ = [
    "EXTRACTOR_NAME",
    "MODEL_FILENAME",
    "ExtractorPreprocess",
    "OfflineFeatureExtractor",
    "build_classifier",
    "fashion_mnist_to_model_images",
    "load_feature_extractor",
    "train_feature_extractor",
]

EXTRACTOR_NAME = "fashion_mnist_cnn_v1"
MODEL_FILENAME = "fashion_mnist_cnn.keras"
METADATA_FILENAME = "fashion_mnist_cnn.json"
FEATURE_LAYER = "features"
NUM_CLASSES = 10


@keras.saving.register_keras_serializable(package="cips_tf")
class ExtractorPreprocess(layers.Layer):
    """Maps [B, H, W, C] images in [-1, 1] to [B, size, size, 1] luma for the classifier.

    Colour images become BT.601 luma (0.299 R + 0.587 G + 0.114 B); grey RGB images (R = G = B)
    are unchanged by this. The result is resized bilinearly (half-pixel centres, no antialias) to
    `size` x `size`; inputs already at that size pass through untouched.

    Args:
      size: output height and width (28, Fashion-MNIST's size).
      **kwargs: forwarded to `keras.layers.Layer`.

    Call arguments:
      images: float tensor [B, H, W, C], C in {1, 3}.

    Example:
      >>> ExtractorPreprocess()(np.zeros([2, 32, 32, 3], "float32")).shape
      (2, 28, 28, 1)
    """

    def __init__(self, size=28, **kwargs):
        super().__init__(**kwargs)
        self.size = size

    def call(self, images):
        channels = images.shape[-1]
        if channels == 3:
            weights = ops.convert_to_tensor([0.299, 0.587, 0.114], dtype=images.dtype)
            images = ops.sum(images * weights, axis=-1, keepdims=True)  # [B, H, W, 1]
        elif channels != 1:
            raise ValueError(f"ExtractorPreprocess expects 1 or 3 channels, got {channels}")
        if images.shape[1] == self.size and images.shape[2] == self.size:
            return images
        return ops.image.resize(images, (self.size, self.size), interpolation="bilinear", antialias=False)

    def compute_output_shape(self, input_shape):
        return (input_shape[0], self.size, self.size, 1)

    def get_config(self):
        config = super().get_config()
        config.update({"size": self.size})
        return config


def build_classifier(feature_dim=128, width=32):
    """The Fashion-MNIST CNN: preprocess -> 2 x (conv, conv, maxpool) -> dense `features` -> logits.

    Args:
      feature_dim: size of the penultimate ReLU layer, named "features", used for the metrics.
      width: filters of the first two convolutions (doubled in the next two).

    Returns:
      An uncompiled `keras.Model` taking [B, H, W, 3] images in [-1, 1], returning 10 logits.
    """
    inputs = keras.Input(shape=(None, None, 3), name="images")
    x = ExtractorPreprocess(name="preprocess")(inputs)  # [B, 28, 28, 1]
    x = layers.Conv2D(width, 3, padding="same", activation="relu")(x)
    x = layers.Conv2D(width, 3, padding="same", activation="relu")(x)
    x = layers.MaxPooling2D()(x)  # [B, 14, 14, w]
    x = layers.Conv2D(2 * width, 3, padding="same", activation="relu")(x)
    x = layers.Conv2D(2 * width, 3, padding="same", activation="relu")(x)
    x = layers.MaxPooling2D()(x)  # [B, 7, 7, 2w]
    x = layers.Flatten()(x)
    x = layers.Dropout(0.3)(x)
    features = layers.Dense(feature_dim, activation="relu", name=FEATURE_LAYER)(x)
    x = layers.Dropout(0.3)(features)
    logits = layers.Dense(NUM_CLASSES, name="logits")(x)
    return keras.Model(inputs, logits, name="fashion_mnist_cnn")


def fashion_mnist_to_model_images(images):
    """uint8 [N, 28, 28] Fashion-MNIST -> float32 [N, 28, 28, 3] in [-1, 1] (grey RGB)."""
    x = fid_lib.dequantize_images(np.asarray(images)[..., None])
    return tf.tile(x, [1, 1, 1, 3])


def _training_dataset(images, labels, batch_size, seed):
    """Batches of [B, S, S, 3] images in [-1, 1] with S = 28 or 32 (resized or padded), and labels."""

    def present(batch_images, batch_labels, choice):
        x = fid_lib.dequantize_images(batch_images[..., None])  # [B, 28, 28, 1]
        x = tf.switch_case(
            choice,
            [
                lambda: x,  # as stored, 28 x 28
                lambda: tf.image.resize(x, (32, 32), method="bilinear"),  # [B, 32, 32, 1]
                lambda: tf.pad(x, [[0, 0], [2, 2], [2, 2], [0, 0]], constant_values=-1.0),  # [B, 32, 32, 1]
            ],
        )
        return tf.tile(x, [1, 1, 1, 3]), tf.cast(batch_labels, tf.int32)

    ds = tf.data.Dataset.from_tensor_slices((images, labels))
    ds = ds.shuffle(len(images), seed=seed, reshuffle_each_iteration=True).batch(batch_size)
    choices = tf.data.Dataset.random(seed=seed).map(lambda r: tf.cast(r % 3, tf.int32))
    ds = tf.data.Dataset.zip((ds, choices)).map(lambda b, c: present(b[0], b[1], c))
    return ds.prefetch(2)


def train_feature_extractor(
    out_dir, epochs=3, batch_size=128, num_train=None, num_test=None, seed=0, verbose=1, data_dir=None
):
    """Trains the Fashion-MNIST CNN, saves it to `out_dir`, and returns its metadata dict.

    Writes `out_dir/fashion_mnist_cnn.keras` and `out_dir/fashion_mnist_cnn.json` (test accuracy,
    settings, training time; `standard: false`). A few epochs take a couple of minutes on 2 CPU
    cores.

    Args:
      out_dir: output directory (created).
      epochs: passes over the training images.
      batch_size: training batch size.
      num_train: use only the first `num_train` training images (None: all 60,000).
      num_test: evaluate on only the first `num_test` test images (None: all 10,000).
      seed: seeds weights and shuffling.
      verbose: Keras fit/evaluate verbosity.
      data_dir: Fashion-MNIST IDX directory (None: the Debian package's / $CIPS_FASHION_MNIST_DIR).
    """
    out_dir = pathlib.Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    keras.utils.set_random_seed(seed)
    train_images, train_labels = load_fashion_mnist("train", data_dir)
    test_images, test_labels = load_fashion_mnist("test", data_dir)
    train_images, train_labels = train_images[:num_train], train_labels[:num_train]
    test_images, test_labels = test_images[:num_test], test_labels[:num_test]

    model = build_classifier()
    model.compile(
        optimizer=keras.optimizers.Adam(1e-3),
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        metrics=["accuracy"],
    )
    start = time.time()
    dataset = _training_dataset(train_images, train_labels, batch_size, seed)  # shuffled by tf.data itself
    model.fit(dataset, epochs=epochs, shuffle=False, verbose=verbose)
    train_seconds = time.time() - start
    # Test accuracy measured at 32 x 32 (bilinear), the size our generators produce.
    test_x = tf.image.resize(fashion_mnist_to_model_images(test_images), (32, 32), method="bilinear")
    _, accuracy = model.evaluate(test_x, test_labels.astype(np.int32), batch_size=512, verbose=verbose)
    model.save(out_dir / MODEL_FILENAME)
    metadata = {
        "name": EXTRACTOR_NAME,
        "standard": False,
        "test_accuracy": float(accuracy),
        "test_images": int(len(test_images)),
        "test_resolution": 32,
        "train_images": int(len(train_images)),
        "epochs": int(epochs),
        "batch_size": int(batch_size),
        "seed": int(seed),
        "train_seconds": round(train_seconds, 1),
        "feature_layer": FEATURE_LAYER,
        "feature_dim": int(model.get_layer(FEATURE_LAYER).units),
    }
    (out_dir / METADATA_FILENAME).write_text(json.dumps(metadata, indent=2) + "\n")
    return metadata


class OfflineFeatureExtractor:
    """Penultimate-layer features of the Fashion-MNIST CNN (NON-STANDARD; see the module docstring).

    Call it with [B, H, W, 3] float images in [-1, 1] (or uint8 pixels): they are first quantized
    to uint8 as StyleGAN does (`fid.quantize_images`), then mapped back to [-1, 1] and fed to the
    network. Returns float32 [B, feature_dim].

    Attributes:
      name: "fashion_mnist_cnn_v1", used in cache keys and results.
      standard: False.
      metric_suffix: "_offline" (metrics are reported as "fid_offline", ...).
      feature_dim: 128 for the default model.
      model: the full classifier (logits), e.g. for accuracy checks.
    """

    name = EXTRACTOR_NAME
    standard = False
    metric_suffix = "_offline"

    def __init__(self, model):
        self.model = model
        self.feature_model = keras.Model(model.input, model.get_layer(FEATURE_LAYER).output)
        self.feature_dim = int(self.feature_model.output.shape[-1])
        self._features = tf.function(lambda x: self.feature_model(x, training=False), reduce_retracing=True)

    def __call__(self, images):
        x = fid_lib.dequantize_images(fid_lib.quantize_images(images))  # [B, H, W, C] in [-1, 1]
        if x.shape[-1] == 1:
            x = tf.tile(x, [1, 1, 1, 3])
        return self._features(x)


def load_feature_extractor(path):
    """Loads a trained extractor from its directory (or the .keras file) -> `OfflineFeatureExtractor`.

    Raises:
      FileNotFoundError: with the command that trains and saves one.
    """
    path = pathlib.Path(path)
    if path.is_dir():
        path = path / MODEL_FILENAME
    if not path.exists():
        raise FileNotFoundError(
            f"{path} not found: train the offline feature extractor first with "
            f"`python -m cips_tf.cli.feature_extractor --out={path.parent}`"
        )
    model = keras.saving.load_model(path, compile=False)
    return OfflineFeatureExtractor(model)


def classifier_features(extractor_path):
    """The feature function `[B, H, W, 3] in [-1, 1] -> float32 [B, D]` of the extractor at
    `extractor_path` (e.g. for `cips_tf.synthesis.neighbours`), or None when it cannot be loaded."""
    try:
        extractor = load_feature_extractor(extractor_path)
    except (FileNotFoundError, OSError, ValueError):
        return None
    return lambda images: np.asarray(extractor(tf.convert_to_tensor(images, tf.float32)), np.float32)
