"""Pairwise distances between two sets of feature vectors."""

from __future__ import annotations

from typing import Any

from .._native import _C
from . import _arrays, distance_path

METRICS: tuple[str, ...] = ("euclidean", "sqeuclidean", "cosine", "inner")
"""Metric names, in the order of their native codes.

- ``euclidean``: ``|x - y|``
- ``sqeuclidean``: ``|x - y|^2`` (never negative)
- ``cosine``: ``1 - <x, y> / (|x| |y|)`` (norms clamped below at 1e-12)
- ``inner``: ``-<x, y>``, negated so that smaller means closer, as for every metric
"""


def metric_code(metric: str) -> int:
    """The native code of a metric name; TypeError for a non-string, ValueError for an unknown
    name."""
    if not isinstance(metric, str):
        raise TypeError(f"metric must be a string, one of {', '.join(METRICS)}; got "
                        f"{type(metric).__name__} {metric!r}")
    if metric not in METRICS:
        raise ValueError(f"metric must be one of {', '.join(METRICS)}; got {metric!r}")
    return METRICS.index(metric)


def build_has_cuda() -> bool:
    return bool(_C.build_info()["cuda"])


def pairwise_distance(x: Any, y: Any, metric: str = "euclidean", path: str | None = None) -> Any:
    """Distances between every row of ``x`` and every row of ``y``.

    Args:
        x: (n, d) float32, float16 or bfloat16 torch tensor, NumPy array or CuPy array,
            on the CPU or a CUDA device. Must be finite.
        y: (m, d) of the same framework, device and dtype as ``x``.
        metric: one of :data:`METRICS` (``euclidean``, ``sqeuclidean``, ``cosine``,
            ``inner``).
        path: ``"simt"`` (reid_fast's tiled kernels), ``"framework"`` (the framework's GEMM,
            torch.mm / numpy.matmul / cupy.matmul, then reid_fast's distance kernel) or
            ``"auto"``; None reads the environment variable ``REID_FAST_DISTANCE_PATH``
            (default ``"auto"``). ``"auto"`` takes the framework path for CUDA arrays with
            d >= ``distance_path.FRAMEWORK_MIN_DIM`` and reid_fast's kernels otherwise
            (:func:`reid_fast.ops.distance_path.distance_path`). Both paths agree up to
            float32 rounding.

    Returns:
        (n, m) float32 array of the same framework and device as ``x``. Products are
        accumulated in float32 whatever the input dtype. On CUDA the work is enqueued on
        the framework's current stream.

    Raises:
        TypeError: an argument of the wrong type or dtype.
        ValueError: wrong shapes, mismatched devices, NaN/Inf, unknown metric, unknown path
            (argument or environment variable).
        RuntimeError: CUDA arrays given to a build without CUDA.
    """
    code = metric_code(metric)
    xa, ya = _arrays.feature_pair(x, y, build_has_cuda())
    n, d = xa.shape
    m = ya.shape[0]
    framework = distance_path.distance_path(path, xa) == "framework"
    out = _arrays.empty(xa, (n, m), "float32")
    if n == 0 or m == 0:
        return out
    if framework:
        _framework_pairwise(xa, ya, code, out)
        return out
    scratch = _arrays.workspace(xa, _C.pairwise_distance_workspace_bytes(n, m, d, xa.device))
    with _arrays.native_call(xa, xa.value, ya.value, out, scratch) as (stream, capsules):
        _C.pairwise_distance(*capsules, code, stream)
    return out


def _framework_pairwise(xa: _arrays.Array, ya: _arrays.Array, code: int, out: Any) -> None:
    """pairwise_distance's framework path (docs/design.md 3.1): each tile of dot products
    from the framework's GEMM becomes a block of ``out`` (n, m) through one distance_tile."""
    if xa.device == "cpu":  # the CPU's tiled kernels check this while packing; the GEMM cannot
        _arrays.require_distance_features(xa)
        _arrays.require_distance_features(ya)
    x_aux = distance_path.row_aux(xa, code)
    y_aux = distance_path.row_aux(ya, code)
    for rows, columns, dots in distance_path.dot_tiles(xa, ya, distance_path.TILES):
        with _arrays.native_call(xa, dots, x_aux[rows], y_aux[columns], out[rows]) as (
            stream, capsules,
        ):
            _C.distance_tile(*capsules, code, columns.start, stream)
