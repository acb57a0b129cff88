"""Kernel Inception Distance (Binkowski et al. 2018, "Demystifying MMD GANs") through TF-GAN.

KID is the unbiased estimate of the squared MMD between feature distributions with the cubic
polynomial kernel `k(x, y) = (x . y / D + 1)^3`. We call TF-GAN's
`kernel_classifier_distance_and_std_from_activations` (block estimator, max block 1024, which also
returns a standard error) rather than re-implementing it, so numbers match TF-GAN's exactly.
TF-GAN is imported through `cips_tf.metrics.tfgan_compat` (see there why).
"""
import numpy as np
import tensorflow as tf

from cips_tf.metrics import tfgan_compat

__all__ = ["kernel_distance"]


def kernel_distance(activations1, activations2, max_block_size=1024, shuffle_seed=None):
    """KID and its standard error between two feature arrays, computed in float64 by TF-GAN.

    The block estimator assumes both arrays are in random order; pass `shuffle_seed` (an int) to
    permute them first when they may be sorted (e.g. real data read class by class).

    Args:
      activations1: [N1, D] features (e.g. real images).
      activations2: [N2, D] features (e.g. generated images).
      max_block_size: TF-GAN's block size; smaller blocks give a more reliable standard error.
      shuffle_seed: None to keep the order, or an int seeding a NumPy permutation of each array.

    Returns:
      `(kid, std)` as Python floats (`std` is NaN when there is only one block).
    """
    a1 = np.asarray(activations1, np.float64)
    a2 = np.asarray(activations2, np.float64)
    if a1.ndim != 2 or a2.ndim != 2 or a1.shape[1] != a2.shape[1]:
        raise ValueError(f"activations must be [N, D] with equal D, got {a1.shape} and {a2.shape}")
    if min(len(a1), len(a2)) < 2:
        raise ValueError("KID needs at least 2 samples on each side")
    if shuffle_seed is not None:
        rng = np.random.default_rng(shuffle_seed)
        a1, a2 = a1[rng.permutation(len(a1))], a2[rng.permutation(len(a2))]
    tfgan = tfgan_compat.import_tfgan()
    kid, std = tfgan.eval.kernel_classifier_distance_and_std_from_activations(
        tf.constant(a1), tf.constant(a2), max_block_size=max_block_size
    )
    return float(kid), float(std)
