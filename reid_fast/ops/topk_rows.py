"""The k smallest entries of each row of a dense matrix, ties by the lower index."""

from __future__ import annotations

from typing import Any

from .. import validation
from .._native import _C
from . import _arrays
from .distance import build_has_cuda


def topk_rows(
    matrix: Any, k: int, return_row_max: bool = False
) -> tuple[Any, Any] | tuple[Any, Any, Any]:
    """Rank each row of a dense distance matrix.

    Args:
        matrix: (n, m) float32 torch tensor, NumPy array or CuPy array (CPU or CUDA),
            finite.
        k: entries to keep per row, 1 <= k <= m.
        return_row_max: also return each row's maximum.

    Returns:
        ``(values, indices)``, each (n, k): the k smallest entries of each row in ascending
        order (float32) and their column indices (int64), ties broken by the lower index;
        with ``return_row_max`` a third (n,) float32 array. Same framework and device as
        ``matrix``.
    """
    array = _arrays.wrap("matrix", matrix)
    if len(array.shape) != 2:
        raise ValueError(f"matrix must be 2-D, got shape {array.shape}")
    if array.dtype != "float32":
        raise TypeError(f"matrix must be float32, got {array.dtype}")
    k = validation.integer("k", k)
    n, m = array.shape
    if not 1 <= k <= m:
        raise ValueError(f"k must be between 1 and the number of columns (m = {m}), got {k}")
    _arrays.check_cuda_usable(array, build_has_cuda())
    array.value = _arrays.contiguous(array)
    if _arrays.check_values():
        _arrays.require_finite(array)
    values = _arrays.empty(array, (n, k), "float32")
    indices = _arrays.empty(array, (n, k), "int64")
    row_max = _arrays.empty(array, (n,), "float32") if return_row_max else None
    if n > 0:
        scratch = _arrays.workspace(
            array, _C.topk_rows_workspace_bytes(n, m, k, array.device, array.device_index)
        )
        with _arrays.native_call(
            array, array.value, values, indices, row_max, scratch
        ) as (stream, capsules):
            _C.topk_rows(*capsules, k, stream)
    if return_row_max:
        return values, indices, row_max
    return values, indices
