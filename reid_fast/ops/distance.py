"""Pairwise distances between two sets of feature vectors."""

from __future__ import annotations

from typing import Any

from .._native import _C
from . import _arrays

METRICS: tuple[str, ...] = ("euclidean", "sqeuclidean", "cosine", "inner")
"""Metric names, in the order of their native codes.

- ``euclidean``: ``|x - y|``
- ``sqeuclidean``: ``|x - y|^2`` (never negative)
- ``cosine``: ``1 - <x, y> / (|x| |y|)`` (norms clamped below at 1e-12)
- ``inner``: ``-<x, y>``, negated so that smaller means closer, as for every metric
"""


def metric_code(metric: str) -> int:
    """The native code of a metric name; ValueError for an unknown one."""
    if metric not in METRICS:
        raise ValueError(f"metric must be one of {', '.join(METRICS)}; got {metric!r}")
    return METRICS.index(metric)


def build_has_cuda() -> bool:
    return bool(_C.build_info()["cuda"])


def pairwise_distance(x: Any, y: Any, metric: str = "euclidean") -> Any:
    """Distances between every row of ``x`` and every row of ``y``.

    Args:
        x: (n, d) float32, float16 or bfloat16 torch tensor, NumPy array or CuPy array,
            on the CPU or a CUDA device. Must be finite.
        y: (m, d) of the same framework, device and dtype as ``x``.
        metric: one of :data:`METRICS` (``euclidean``, ``sqeuclidean``, ``cosine``,
            ``inner``).

    Returns:
        (n, m) float32 array of the same framework and device as ``x``. Products are
        accumulated in float32 whatever the input dtype. On CUDA the work is enqueued on
        the framework's current stream.

    Raises:
        TypeError: an argument of the wrong type or dtype.
        ValueError: wrong shapes, mismatched devices, NaN/Inf, unknown metric.
        RuntimeError: CUDA arrays given to a build without CUDA.
    """
    code = metric_code(metric)
    xa, ya = _arrays.feature_pair(x, y, build_has_cuda())
    n, d = xa.shape
    m = ya.shape[0]
    out = _arrays.empty(xa, (n, m), "float32")
    if n == 0 or m == 0:
        return out
    scratch = _arrays.workspace(xa, _C.pairwise_distance_workspace_bytes(n, m, d, xa.device))
    with _arrays.native_call(xa, xa.value, ya.value, out, scratch) as (stream, capsules):
        _C.pairwise_distance(*capsules, code, stream)
    return out
