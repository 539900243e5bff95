"""Fused k-nearest-neighbour search: never materialises the n x m distance matrix."""

from __future__ import annotations

from typing import Any

from .. import validation
from .._native import _C
from . import _arrays, distance_path
from .distance import build_has_cuda, metric_code


def knn(
    x: Any,
    y: Any,
    k: int,
    metric: str = "euclidean",
    return_row_max: bool = False,
    path: str | None = None,
) -> tuple[Any, Any] | tuple[Any, Any, Any]:
    """The ``k`` rows of ``y`` nearest to each row of ``x``.

    Distances are computed tile by tile and selected on the fly, so memory is
    O((n + m) d + n k) whatever n x m is (plus one tile of dot products on the framework
    path).

    Args:
        x: (n, d) float32, float16 or bfloat16 queries (torch, NumPy or CuPy; CPU or
            CUDA). Must be finite. n may be 0.
        y: (m, d) gallery of the same framework, device and dtype as ``x``.
        k: number of neighbours, 1 <= k <= m.
        metric: one of :data:`reid_fast.METRICS`; see :func:`reid_fast.pairwise_distance`.
        return_row_max: also return each query's largest distance over all of ``y``
            (re-ranking normalises by it).
        path: ``"simt"`` (reid_fast's fused kernels), ``"framework"`` (the framework's GEMM,
            torch.mm / numpy.matmul / cupy.matmul, then reid_fast's selection kernel) or
            ``"auto"``; None reads the environment variable ``REID_FAST_DISTANCE_PATH``
            (default ``"auto"``). ``"auto"`` takes the framework path for CUDA arrays with
            d >= ``distance_path.FRAMEWORK_MIN_DIM`` and the fused kernels otherwise
            (:func:`reid_fast.ops.distance_path.distance_path`). Both paths give the same
            lists up to float32 rounding of the distances.

    Returns:
        ``(values, indices)``, each (n, k): float32 distances in ascending order and the
        int64 row indices of ``y``, ties broken by the lower index; with
        ``return_row_max`` a third (n,) float32 array. Same framework and device as ``x``;
        on CUDA the work is enqueued on the framework's current stream.

    Raises:
        TypeError: an argument of the wrong type or dtype.
        ValueError: wrong shapes, k out of range, mismatched devices, NaN/Inf, unknown
            metric, unknown path (argument or environment variable).
        RuntimeError: CUDA arrays given to a build without CUDA.
    """
    code = metric_code(metric)
    k = validation.integer("k", k)
    xa, ya = _arrays.feature_pair(x, y, build_has_cuda())
    n, d = xa.shape
    m = ya.shape[0]
    if not 1 <= k <= m:
        raise ValueError(f"k must be between 1 and the number of rows of y (m = {m}), got {k}")

    framework = distance_path.distance_path(path, xa) == "framework"

    values = _arrays.empty(xa, (n, k), "float32")
    indices = _arrays.empty(xa, (n, k), "int64")
    row_max = _arrays.empty(xa, (n,), "float32") if return_row_max else None
    if n > 0 and framework:
        _framework_knn(xa, ya, k, code, values, indices, row_max)
    elif n > 0:
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


def _framework_knn(xa: _arrays.Array, ya: _arrays.Array, k: int, code: int, values: Any,
                   indices: Any, row_max: Any) -> None:
    """knn's framework path (docs/design.md 3.1): for each tile of dot products from the
    framework's GEMM, one knn_select merges the tile's distances into the running lists
    values / indices (n, k) and row_max (n,) (None: not wanted)."""
    if xa.device == "cpu":  # the CPU's fused kernels check this while packing; the GEMM cannot
        _arrays.require_distance_features(xa)
        _arrays.require_distance_features(ya)
    tiles = distance_path.TILES
    x_aux = distance_path.row_aux(xa, code)
    y_aux = distance_path.row_aux(ya, code)
    scratch = _arrays.workspace(xa, _C.knn_select_workspace_bytes(
        min(xa.shape[0], tiles.rows), min(ya.shape[0], tiles.columns), k, xa.device))
    for rows, columns, dots in distance_path.dot_tiles(xa, ya, tiles):
        with _arrays.native_call(
            xa, dots, x_aux[rows], y_aux[columns], values[rows], indices[rows],
            None if row_max is None else row_max[rows], scratch,
        ) as (stream, capsules):
            _C.knn_select(*capsules, k, code, columns.start, stream)
