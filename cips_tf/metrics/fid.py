"""Frechet distance between feature distributions (FID) with streaming, mergeable statistics.

FID (Heusel et al. 2017, "GANs trained by a two time-scale update rule ...") fits a Gaussian to
the features of real and of generated images and reports

    FID = |mu1 - mu2|^2 + Tr(sigma1 + sigma2 - 2 (sigma1 sigma2)^(1/2)),

with the unbiased (N - 1) sample covariance, as TTUR, TF-GAN and clean-fid compute it.

Pieces:
  * `quantize_images` / `dequantize_images`: the StyleGAN/TTUR convention for turning generated
    float images into the uint8 pixels a real image file would hold, before any feature network.
  * `resize_images`: the one resize used before a feature network: bilinear, `tf.image.resize`
    (antialias off), the method TF-GAN's `preprocess_image` uses. Note clean-fid argues for a
    PIL bicubic resize; numbers are only comparable between runs using the same resize.
  * `ActivationStatistics`: float64 streaming mean/covariance of features, mergeable across
    batches, replicas and workers, saved to / loaded from .npz.
  * `frechet_distance`: the formula above, in float64, through symmetric eigendecompositions
    instead of `scipy.linalg.sqrtm` (it equals TF-GAN's
    `frechet_classifier_distance_from_activations` and the sqrtm formula to ~1e-10 relative).
  * `RealStatisticsCache`: real-data statistics on disk, keyed by
    (dataset, split, resolution, extractor).
"""
import pathlib
import re

import numpy as np
import tensorflow as tf

from cips_tf import fileio
from cips_tf.latents import quantize_images  # noqa: F401  (public here too: the FID convention)

__all__ = [
    "ActivationStatistics",
    "RealStatisticsCache",
    "dequantize_images",
    "frechet_distance",
    "frechet_distance_from_activations",
    "quantize_images",
    "resize_images",
]


def dequantize_images(images):
    """Maps uint8 pixels to float32 in [-1, 1] (`x / 127.5 - 1`), the inverse of the scaling above."""
    return tf.cast(images, tf.float32) / 127.5 - 1.0


def resize_images(images, size):
    """Resizes [B, H, W, C] images to `size` = (height, width) with bilinear interpolation.

    Uses `tf.image.resize(method="bilinear", antialias=False)` (half-pixel centers), the resize of
    TF-GAN's `preprocess_image`. Returns float32; images already at `size` are returned unchanged
    (as float32) so no interpolation error is introduced.
    """
    images = tf.convert_to_tensor(images)
    size = tuple(int(s) for s in size)
    if tuple(images.shape[1:3]) == size:
        return tf.cast(images, tf.float32)
    return tf.image.resize(tf.cast(images, tf.float32), size, method="bilinear", antialias=False)


class ActivationStatistics:
    """Streaming float64 mean and covariance of feature vectors, mergeable and serializable.

    State is `(count, mean, m2)` with `m2 = sum_i (x_i - mean)(x_i - mean)^T`, combined with Chan et
    al.'s pairwise update (the parallel form of Welford's algorithm). It merges exactly like raw
    sums (`sum x`, `sum x x^T`, `count`) but does not lose digits when the features have a large
    mean relative to their spread. `to_sums()` / `from_sums()` convert to and from the raw-sum form,
    e.g. for an all-reduce (`tf.distribute` `SUM`) across replicas or workers.

    Args:
      dim: feature dimension; inferred from the first `update()` if None.

    Example:
      >>> stats = ActivationStatistics()
      >>> for batch in feature_batches:  # each [B, D]
      ...     stats.update(batch)
      >>> fid = frechet_distance(stats.mean, stats.covariance, other.mean, other.covariance)
    """

    def __init__(self, dim=None):
        self.dim = None if dim is None else int(dim)
        self._count = 0
        self._mean = None if dim is None else np.zeros([self.dim], np.float64)
        self._m2 = None if dim is None else np.zeros([self.dim, self.dim], np.float64)

    def _ensure_dim(self, dim):
        if self.dim is None:
            self.dim = int(dim)
            self._mean = np.zeros([self.dim], np.float64)
            self._m2 = np.zeros([self.dim, self.dim], np.float64)
        elif self.dim != dim:
            raise ValueError(f"feature dimension {dim} does not match the statistics' dimension {self.dim}")

    def _combine(self, count, mean, m2):
        if count == 0:
            return self
        self._ensure_dim(mean.shape[0])
        total = self._count + count
        delta = mean - self._mean  # [D]
        self._mean = self._mean + delta * (count / total)
        self._m2 = self._m2 + m2 + np.outer(delta, delta) * (self._count * count / total)
        self._count = total
        return self

    def update(self, activations):
        """Adds a batch of features [B, D] (numpy or tensor, any float dtype); returns self."""
        x = np.asarray(activations, dtype=np.float64)
        if x.ndim != 2:
            raise ValueError(f"activations must be [batch, dim], got shape {x.shape}")
        if x.shape[0] == 0:
            return self
        batch_mean = x.mean(axis=0)  # [D]
        centered = x - batch_mean  # [B, D]
        return self._combine(x.shape[0], batch_mean, centered.T @ centered)

    def merge(self, other):
        """Adds the samples summarized by another `ActivationStatistics`; returns self."""
        if other.count == 0:
            return self
        return self._combine(other.count, other._mean, other._m2)

    @property
    def count(self):
        """Number of feature vectors seen."""
        return self._count

    @property
    def mean(self):
        """float64 [D] mean."""
        self._check_nonempty(1)
        return self._mean.copy()

    @property
    def covariance(self):
        """float64 [D, D] unbiased sample covariance (divides by count - 1, like np.cov)."""
        self._check_nonempty(2)
        return self._m2 / (self._count - 1)

    def _check_nonempty(self, needed):
        if self._count < needed:
            raise ValueError(f"ActivationStatistics needs at least {needed} sample(s), has {self._count}")

    def to_sums(self):
        """Returns `(count, sum x [D], sum x x^T [D, D])` in float64, which add across shards."""
        total = self._mean * self._count
        return self._count, total, self._m2 + np.outer(total, self._mean)

    @classmethod
    def from_sums(cls, count, total, outer_total):
        """Builds statistics from `(count, sum x, sum x x^T)`, e.g. after a cross-replica SUM."""
        count = int(count)
        total = np.asarray(total, np.float64)
        outer_total = np.asarray(outer_total, np.float64)
        stats = cls(dim=total.shape[0])
        if count:
            mean = total / count
            stats._count, stats._mean = count, mean
            stats._m2 = outer_total - np.outer(total, mean)
        return stats

    def save(self, path, **extra_arrays):
        """Writes the statistics (and any extra named arrays, e.g. `features=`) to an .npz file."""
        path = pathlib.Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        self._check_nonempty(1)
        # Unique, exclusive, never through a symlink: a shared cache directory (two writers, or a
        # planted link) never meets in one file, and readers never see half a file.
        with fileio.atomic_write(path, "wb") as f:
            np.savez(f, count=np.int64(self._count), mean=self._mean, m2=self._m2, **extra_arrays)

    @classmethod
    def load(cls, path):
        """Reads statistics written by `save()` (never through a symlink: OSError ELOOP)."""
        with fileio.open_nofollow(path) as f, np.load(f) as data:
            stats = cls(dim=data["mean"].shape[0])
            stats._count = int(data["count"])
            stats._mean = data["mean"].astype(np.float64)
            stats._m2 = data["m2"].astype(np.float64)
        return stats

    def __repr__(self):
        return f"ActivationStatistics(dim={self.dim}, count={self._count})"


def _symmetric_sqrt(matrix):
    """Square root of a symmetric positive semi-definite matrix via eigh (negative eigenvalues -> 0)."""
    w, v = np.linalg.eigh((matrix + matrix.T) / 2)
    return (v * np.sqrt(np.clip(w, 0.0, None))) @ v.T


def frechet_distance(mu1, sigma1, mu2, sigma2):
    """Frechet distance between N(mu1, sigma1) and N(mu2, sigma2), in float64.

    `|mu1 - mu2|^2 + Tr(sigma1) + Tr(sigma2) - 2 Tr((sigma1 sigma2)^(1/2))`, with
    `Tr((sigma1 sigma2)^(1/2)) = sum_i sqrt(lambda_i(sqrt(sigma1) sigma2 sqrt(sigma1)))`: the
    matrix `sigma1 sigma2` is similar to that symmetric PSD matrix, so their eigenvalues agree. This
    is TF-GAN's `trace_sqrt_product` (which uses SVDs) and avoids `scipy.linalg.sqrtm`'s complex
    round-off on near-singular covariances (more features than samples).

    Args:
      mu1, mu2: [D] means.
      sigma1, sigma2: [D, D] covariances.

    Returns:
      The distance as a Python float.
    """
    mu1, mu2 = np.asarray(mu1, np.float64), np.asarray(mu2, np.float64)
    sigma1, sigma2 = np.asarray(sigma1, np.float64), np.asarray(sigma2, np.float64)
    if mu1.shape != mu2.shape or sigma1.shape != sigma2.shape or sigma1.shape != mu1.shape * 2:
        raise ValueError(f"shape mismatch: mu {mu1.shape} / {mu2.shape}, sigma {sigma1.shape} / {sigma2.shape}")
    sqrt_sigma1 = _symmetric_sqrt(sigma1)
    product = sqrt_sigma1 @ sigma2 @ sqrt_sigma1
    eigenvalues = np.linalg.eigvalsh((product + product.T) / 2)
    trace_sqrt_product = np.sqrt(np.clip(eigenvalues, 0.0, None)).sum()
    diff = mu1 - mu2
    return float(diff @ diff + np.trace(sigma1) + np.trace(sigma2) - 2.0 * trace_sqrt_product)


def frechet_distance_from_activations(activations1, activations2):
    """FID between two feature arrays [N1, D] and [N2, D] (unbiased covariances)."""
    s1 = ActivationStatistics().update(activations1)
    s2 = ActivationStatistics().update(activations2)
    return frechet_distance(s1.mean, s1.covariance, s2.mean, s2.covariance)


def _slug(value):
    return re.sub(r"[^A-Za-z0-9_.-]+", "-", str(value)).strip("-") or "none"


class RealStatisticsCache:
    """Real-data feature statistics cached as .npz files under one directory.

    A file is keyed by (dataset name, split, resolution, extractor name), e.g.
    `fashion_mnist-train-32px-fashion_mnist_cnn_v1.npz`; change the extractor name whenever its
    weights change. Entries hold an `ActivationStatistics` plus, optionally, a sample of the raw
    features (needed by KID and precision/recall).

    Args:
      directory: where the .npz files live (created on first `put`).
    """

    def __init__(self, directory):
        self.directory = pathlib.Path(directory)

    def path(self, dataset, split, resolution, extractor):
        """The .npz path for a key; `resolution` is an int or an (H, W) pair."""
        if isinstance(resolution, (tuple, list)):
            resolution = "x".join(str(int(r)) for r in resolution)
        name = f"{_slug(dataset)}-{_slug(split)}-{_slug(resolution)}px-{_slug(extractor)}.npz"
        return self.directory / name

    def get(self, dataset, split, resolution, extractor):
        """Returns `(stats, features or None)`, or None when nothing is cached for the key."""
        path = self.path(dataset, split, resolution, extractor)
        if not path.exists():
            return None
        stats = ActivationStatistics.load(path)
        with fileio.open_nofollow(path) as f, np.load(f) as data:
            features = data["features"] if "features" in data.files else None
        return stats, features

    def put(self, dataset, split, resolution, extractor, stats, features=None):
        """Stores statistics (and optionally raw features [N, D]); returns the file's path."""
        path = self.path(dataset, split, resolution, extractor)
        extra = {} if features is None else {"features": np.asarray(features, np.float32)}
        stats.save(path, **extra)
        return path
