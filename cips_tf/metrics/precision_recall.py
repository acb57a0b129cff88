"""Improved precision and recall (Kynkaanniemi et al., NeurIPS 2019), over any features.

Each set of feature vectors defines a manifold estimate: the union of balls centred on its
points, each ball's radius the distance to that point's k-th nearest neighbour within the same
set (k = 3 by default, as in the paper). Then

    precision = fraction of generated samples inside the real manifold,
    recall    = fraction of real samples inside the generated manifold.

A point is inside when its distance to some centre is <= that centre's radius (the reference
implementation's `<=`). Pairwise Euclidean distances are computed in float64 NumPy, a block of
rows at a time, so memory stays O(block * N).
"""
import numpy as np

__all__ = ["compute_radii", "manifold_coverage", "pairwise_distances", "precision_recall"]


def pairwise_distances(a, b):
    """Euclidean distances [len(a), len(b)] in float64 via |a|^2 + |b|^2 - 2 a.b (clipped at 0)."""
    a = np.asarray(a, np.float64)
    b = np.asarray(b, np.float64)
    sq = (a * a).sum(1)[:, None] + (b * b).sum(1)[None, :] - 2.0 * (a @ b.T)
    return np.sqrt(np.maximum(sq, 0.0))


def compute_radii(features, k=3, block_size=1024):
    """Distance from each row of `features` [N, D] to its k-th nearest other row, float64 [N].

    The point itself is at distance 0 and sorts first, so the k-th neighbour is at index k of the
    partially sorted distances, as in the reference implementation. Needs N > k.
    """
    features = np.asarray(features, np.float64)
    n = len(features)
    if n <= k:
        raise ValueError(f"need more than k={k} samples to estimate a manifold, got {n}")
    radii = np.empty([n], np.float64)
    for start in range(0, n, block_size):
        d = pairwise_distances(features[start : start + block_size], features)  # [b, N]
        radii[start : start + block_size] = np.partition(d, k, axis=1)[:, k]
    return radii


def manifold_coverage(manifold_features, radii, query_features, block_size=1024):
    """Fraction of `query_features` rows within radius of at least one `manifold_features` row."""
    manifold_features = np.asarray(manifold_features, np.float64)
    query_features = np.asarray(query_features, np.float64)
    inside = 0
    for start in range(0, len(query_features), block_size):
        d = pairwise_distances(query_features[start : start + block_size], manifold_features)  # [b, M]
        inside += int(np.any(d <= radii[None, :], axis=1).sum())
    return inside / len(query_features)


def precision_recall(real_features, fake_features, k=3, block_size=1024):
    """Improved precision and recall of `fake_features` [M, D] against `real_features` [N, D].

    Args:
      real_features: features of real images, [N, D] with N > k.
      fake_features: features of generated images, [M, D] with M > k.
      k: neighbourhood size for the radii (the paper's k = 3).
      block_size: rows per block of the distance computation.

    Returns:
      `(precision, recall)` as Python floats in [0, 1].
    """
    real_radii = compute_radii(real_features, k, block_size)
    fake_radii = compute_radii(fake_features, k, block_size)
    precision = manifold_coverage(real_features, real_radii, fake_features, block_size)
    recall = manifold_coverage(fake_features, fake_radii, real_features, block_size)
    return precision, recall
