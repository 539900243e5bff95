"""Literal NumPy float64 oracles of :func:`reid_fast.pairwise_distance` and :func:`reid_fast.knn`.

Written from the definitions, not from the kernels: every metric is computed directly
(``sqeuclidean`` is the sum of squared differences, not ``|x|^2 + |y|^2 - 2 <x, y>``), and
the k nearest neighbours come from a stable sort of each row by (distance, index). They
favour clarity over speed and memory; use them for tests and documentation only.

Inputs are anything ``np.asarray(value, dtype=np.float64)`` accepts. Callers holding
float16 / bfloat16 tensors should convert those to float64 (or float32) themselves first,
so that the oracle sees exactly the rounded values the op sees.
"""

from __future__ import annotations

from typing import Any

import numpy as np

METRICS: tuple[str, ...] = ("euclidean", "sqeuclidean", "cosine", "inner")
"""The metrics, in the same order as :data:`reid_fast.METRICS`."""

COSINE_EPS = 1e-12
"""Norms below this are clamped to it in the cosine distance (so a zero vector is at
distance 1 from everything)."""

# Rows of x processed together, so that the (rows, m, d) difference tensor stays small.
_BLOCK_ELEMENTS = 1 << 22


def _features(name: str, value: Any) -> np.ndarray:
    array = np.asarray(value, dtype=np.float64)
    if array.ndim != 2:
        raise ValueError(f"{name} must be 2-D (rows, features), got shape {array.shape}")
    return array


def _check_pair(x: np.ndarray, y: np.ndarray, metric: str) -> None:
    if metric not in METRICS:
        raise ValueError(f"metric must be one of {', '.join(METRICS)}; got {metric!r}")
    if x.shape[1] != y.shape[1]:
        raise ValueError(f"x and y must have the same number of columns, got {x.shape} and {y.shape}")


def _squared_differences(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """(n, m) float64: sum over features of (x[i, f] - y[j, f]) ** 2."""
    n, d = x.shape
    m = y.shape[0]
    out = np.empty((n, m), dtype=np.float64)
    rows = max(1, _BLOCK_ELEMENTS // max(1, m * d))
    for start in range(0, n, rows):
        block = x[start : start + rows]
        difference = block[:, None, :] - y[None, :, :]  # (rows, m, d)
        out[start : start + rows] = np.sum(difference * difference, axis=2)
    return out


def pairwise_distance(x: Any, y: Any, metric: str = "euclidean") -> np.ndarray:
    """Distance between every row of ``x`` and every row of ``y``, in float64.

    Args:
        x: (n, d) array-like of real numbers.
        y: (m, d) array-like of real numbers.
        metric: one of

            - ``"euclidean"``:   ``sqrt(sum_f (x_f - y_f)^2)``
            - ``"sqeuclidean"``: ``sum_f (x_f - y_f)^2``
            - ``"cosine"``:      ``1 - <x, y> / (max(|x|, 1e-12) * max(|y|, 1e-12))``
            - ``"inner"``:       ``-<x, y>`` (negated, so that smaller means closer)

    Returns:
        (n, m) float64 ndarray; element (i, j) is the distance from x[i] to y[j].
    """
    x = _features("x", x)
    y = _features("y", y)
    _check_pair(x, y, metric)

    if metric == "sqeuclidean":
        return _squared_differences(x, y)
    if metric == "euclidean":
        return np.sqrt(_squared_differences(x, y))

    dot = x @ y.T  # (n, m): sum_f x[i, f] * y[j, f]
    if metric == "inner":
        return -dot
    # cosine
    x_norm = np.maximum(np.sqrt(np.sum(x * x, axis=1)), COSINE_EPS)  # (n,)
    y_norm = np.maximum(np.sqrt(np.sum(y * y, axis=1)), COSINE_EPS)  # (m,)
    return 1.0 - dot / (x_norm[:, None] * y_norm[None, :])


def rank_rows(distances: Any) -> np.ndarray:
    """For each row, the column indices sorted by (distance, column index).

    Args:
        distances: (n, m) array-like.

    Returns:
        (n, m) int64 ndarray: row i lists the columns of row i from nearest to farthest,
        equal distances in increasing column order.
    """
    distances = np.asarray(distances, dtype=np.float64)
    n, m = distances.shape
    order = np.empty((n, m), dtype=np.int64)
    columns = np.arange(m, dtype=np.int64)
    for i in range(n):
        # np.lexsort sorts by the last key first: distance, then column index.
        order[i] = np.lexsort((columns, distances[i]))
    return order


def knn(
    x: Any,
    y: Any,
    k: int,
    metric: str = "euclidean",
    return_row_max: bool = False,
) -> tuple[np.ndarray, np.ndarray] | tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The ``k`` rows of ``y`` nearest to each row of ``x``, in float64.

    Args:
        x: (n, d) array-like queries; n may be 0.
        y: (m, d) array-like gallery, m >= 1.
        k: number of neighbours, 1 <= k <= m.
        metric: see :func:`pairwise_distance`.
        return_row_max: also return each row's largest distance over all of ``y``.

    Returns:
        ``(values, indices)``: (n, k) float64 distances in ascending order and (n, k)
        int64 row indices of ``y``, equal distances in increasing index order; with
        ``return_row_max`` also an (n,) float64 array of row maxima (for n = 0, empty).
    """
    x = _features("x", x)
    y = _features("y", y)
    m = y.shape[0]
    if isinstance(k, bool) or not isinstance(k, (int, np.integer)):
        raise TypeError(f"k must be an integer, got {type(k).__name__}")
    if not 1 <= k <= m:
        raise ValueError(f"k must be between 1 and m = {m}, got {k}")

    distances = pairwise_distance(x, y, metric)  # (n, m) float64
    order = rank_rows(distances)[:, :k]  # (n, k)
    values = np.take_along_axis(distances, order, axis=1)
    if not return_row_max:
        return values, order
    row_max = distances.max(axis=1) if distances.shape[0] > 0 else np.empty((0,), np.float64)
    return values, order, row_max
