"""Nearest training images of generated samples (paper App. E, Fig. 18).

The paper uses FaceNet descriptors of MTCNN face crops, which are neither offline nor generic. Here
the feature space is a parameter, a `feature_fn` the caller passes in: `pixel_features`
(flattened, area-downsampled pixels; always available) or the penultimate layer of the offline
Fashion-MNIST classifier (`cips_tf.metrics.feature_extractor.classifier_features`, which the entry
point loads: synthesis imports no metrics). Results say which features they used.
"""
import numpy as np
import tensorflow as tf

from cips_tf.data.fashion_mnist import load_fashion_mnist

PIXEL_FEATURES = "pixels"
CLASSIFIER_FEATURES = "fashion_mnist_cnn"


def load_reference_images(size, dataset="fashion_mnist", split="train", limit=None, data_dir=None):
    """Training images at model resolution: `[N, size, size, 3]` float32 in [-1, 1] (all in memory;
    for many images at high resolution use `load_reference_uint8` + `reference_features`)."""
    return resize_to_model(load_reference_uint8(dataset, split, limit, data_dir), size)


def load_reference_uint8(dataset="fashion_mnist", split="train", limit=None, data_dir=None):
    """Training images as stored: uint8 `[N, H, W, C]`.

    `dataset="fashion_mnist"` reads the offline Debian copy (grey, C = 1). Any other value is read
    as an `.npy` file of uint8 `[N, H, W]` or `[N, H, W, C]` images.
    """
    if dataset == "fashion_mnist":
        images, _ = load_fashion_mnist(split, data_dir)
        images = images[..., None]
    else:
        images = np.load(dataset)
        if images.ndim == 3:
            images = images[..., None]
    if limit is not None:
        images = images[: int(limit)]
    return images


def reference_features(images_uint8, size, feature_fn, batch_size=256):
    """Features `[N, D]` of uint8 training images brought to model resolution batch by batch."""
    return np.concatenate([np.asarray(feature_fn(resize_to_model(images_uint8[i : i + batch_size], size)), np.float32)
                           for i in range(0, len(images_uint8), batch_size)])


def resize_to_model(images_uint8, size):
    """uint8 `[N, H, W, C]` (C = 1 or 3) -> float32 `[N, size, size, 3]` in [-1, 1]."""
    x = tf.convert_to_tensor(np.asarray(images_uint8), tf.float32) / 127.5 - 1.0
    if x.shape[1] != size or x.shape[2] != size:
        x = tf.image.resize(x, (size, size), method="bilinear", antialias=True)
    if x.shape[-1] == 1:
        x = tf.tile(x, [1, 1, 1, 3])
    return np.clip(x.numpy(), -1.0, 1.0).astype(np.float32)


def pixel_features(images, resolution=8):
    """Flattened `resolution x resolution` area-downsampled pixels: `[N, resolution**2 * C]` float32."""
    x = tf.image.resize(tf.convert_to_tensor(np.asarray(images, np.float32)), (resolution, resolution), method="area")
    return x.numpy().reshape(x.shape[0], -1)


def batched(fn, images, batch_size=256):
    """Applies a feature function to `images` in batches -> `[N, D]` float32."""
    return np.concatenate([np.asarray(fn(images[i : i + batch_size]), np.float32)
                           for i in range(0, len(images), batch_size)])


def nearest_neighbours(queries, references, k=5, block_size=1024):
    """Indices `[Q, k]` and Euclidean distances `[Q, k]` of each query's k nearest references (ties: lower index)."""
    queries = np.asarray(queries, np.float64)
    references = np.asarray(references, np.float64)
    k = min(int(k), len(references))
    ref_sq = (references**2).sum(axis=1)
    best_d = np.full((len(queries), 0), np.inf)
    best_i = np.zeros((len(queries), 0), np.int64)
    for lo in range(0, len(references), block_size):
        ref = references[lo : lo + block_size]
        d2 = (queries**2).sum(axis=1)[:, None] - 2 * queries @ ref.T + ref_sq[None, lo : lo + block_size]
        all_d = np.concatenate([best_d, np.maximum(d2, 0.0)], axis=1)
        all_i = np.concatenate([best_i, np.broadcast_to(np.arange(lo, lo + len(ref)), d2.shape)], axis=1)
        order = np.lexsort((all_i, all_d), axis=1)[:, :k]
        best_d = np.take_along_axis(all_d, order, axis=1)
        best_i = np.take_along_axis(all_i, order, axis=1)
    return best_i, np.sqrt(best_d).astype(np.float32)


def find_neighbours(samples, references, feature_fn, k=5):
    """`(indices [N, k], distances [N, k])` of `samples` among `references` (both `[N, H, W, 3]`)."""
    return nearest_neighbours(batched(feature_fn, samples), batched(feature_fn, references), k)
