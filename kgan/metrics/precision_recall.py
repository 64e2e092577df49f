"""Improved precision and recall (Kynkäänniemi et al. 2019) on the same features as FID.

Each set's manifold is the union of balls around its feature vectors, each ball's radius
the distance to that vector's k-th nearest neighbour in its own set (k = 3):

    precision = share of generated vectors inside the real manifold     (quality: low when blurry)
    recall    = share of real vectors inside the generated manifold     (coverage: low when collapsed)
"""

from __future__ import annotations

import numpy as np

K = 3
ROWS = 1024  # distance rows computed at once: memory stays O(ROWS × N)


def _distances(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Euclidean distances between the rows of `a` and of `b` (float64)."""
    squared = (a * a).sum(1)[:, None] + (b * b).sum(1)[None, :] - 2.0 * a @ b.T
    return np.sqrt(np.maximum(squared, 0.0))


def _radii(features: np.ndarray, k: int) -> np.ndarray:
    """Each vector's distance to its k-th nearest neighbour in the same set (itself excluded)."""
    radii = np.empty(len(features))
    for start in range(0, len(features), ROWS):
        rows = _distances(features[start : start + ROWS], features)
        radii[start : start + ROWS] = np.partition(rows, k, axis=1)[:, k]  # column 0 is the vector itself
    return radii


def _inside(points: np.ndarray, centres: np.ndarray, radii: np.ndarray) -> np.ndarray:
    """Whether each point lies within some centre's ball."""
    inside = np.empty(len(points), bool)
    for start in range(0, len(points), ROWS):
        inside[start : start + ROWS] = (_distances(points[start : start + ROWS], centres) <= radii[None, :]).any(1)
    return inside


def precision_recall(real: np.ndarray, generated: np.ndarray, k: int = K) -> tuple[float, float]:
    """(precision, recall) of `generated` against `real`, both `[N, D]` feature arrays."""
    real = np.asarray(real, np.float64)
    generated = np.asarray(generated, np.float64)
    if min(len(real), len(generated)) <= k:
        raise ValueError(f"precision and recall need more than k = {k} vectors per side")
    precision = _inside(generated, real, _radii(real, k)).mean()
    recall = _inside(real, generated, _radii(generated, k)).mean()
    return float(precision), float(recall)
