"""Fused k-nearest-neighbour search: never materialises the n x m distance matrix."""

from __future__ import annotations

import operator
from typing import Any

from .._native import _C
from . import _arrays
from .distance import build_has_cuda, metric_code


def knn(
    x: Any,
    y: Any,
    k: int,
    metric: str = "euclidean",
    return_row_max: bool = False,
) -> tuple[Any, Any] | tuple[Any, Any, Any]:
    """The ``k`` rows of ``y`` nearest to each row of ``x``.

    Distances are computed tile by tile and selected on the fly, so memory is
    O((n + m) d + n k) whatever n x m is.

    Args:
        x: (n, d) float32, float16 or bfloat16 queries (torch, NumPy or CuPy; CPU or
            CUDA). Must be finite. n may be 0.
        y: (m, d) gallery of the same framework, device and dtype as ``x``.
        k: number of neighbours, 1 <= k <= m.
        metric: one of :data:`reid_fast.METRICS`; see :func:`reid_fast.pairwise_distance`.
        return_row_max: also return each query's largest distance over all of ``y``
            (re-ranking normalises by it).

    Returns:
        ``(values, indices)``, each (n, k): float32 distances in ascending order and the
        int64 row indices of ``y``, ties broken by the lower index; with
        ``return_row_max`` a third (n,) float32 array. Same framework and device as ``x``;
        on CUDA the work is enqueued on the framework's current stream.

    Raises:
        TypeError: an argument of the wrong type or dtype.
        ValueError: wrong shapes, k out of range, mismatched devices, NaN/Inf, unknown
            metric.
        RuntimeError: CUDA arrays given to a build without CUDA.
    """
    code = metric_code(metric)
    try:
        k = operator.index(k)
    except TypeError:
        raise TypeError(f"k must be an integer, got {type(k).__name__} {k!r}") from None
    xa, ya = _arrays.feature_pair(x, y, build_has_cuda())
    n, d = xa.shape
    m = ya.shape[0]
    if not 1 <= k <= m:
        raise ValueError(f"k must be between 1 and the number of rows of y (m = {m}), got {k}")

    values = _arrays.empty(xa, (n, k), "float32")
    indices = _arrays.empty(xa, (n, k), "int64")
    row_max = _arrays.empty(xa, (n,), "float32") if return_row_max else None
    if n > 0:
        scratch = _arrays.workspace(
            xa, _C.knn_workspace_bytes(n, m, d, k, xa.device, xa.device_index)
        )
        with _arrays.native_call(
            xa, xa.value, ya.value, values, indices, row_max, scratch
        ) as (stream, capsules):
            _C.knn(*capsules, k, code, stream)
    if return_row_max:
        return values, indices, row_max
    return values, indices
