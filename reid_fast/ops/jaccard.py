"""Batched Jaccard distance between sparse non-negative rows (docs/design.md 3.3)."""

from __future__ import annotations

from typing import Any, NamedTuple, Sequence

import numpy as np

from .. import validation
from .._native import _C
from . import _arrays
from .distance import build_has_cuda


class SparseRows(NamedTuple):
    """Rows of a sparse matrix in CSR form, all arrays of one framework and device.

    indptr: (rows + 1,) int64, indptr[0] = 0, non-decreasing.
    indices: (nnz,) int64 column indices, ascending within each row, in [0, num_columns).
    values: (nnz,) float32, non-negative and finite.
    num_columns: the number of columns.
    """

    indptr: Any
    indices: Any
    values: Any
    num_columns: int

    @property
    def rows(self) -> int:
        return int(self.indptr.shape[0]) - 1


def _require_sparse_rows(name: str, rows: Any) -> None:
    if not isinstance(rows, SparseRows):
        raise TypeError(f"{name} must be a reid_fast.SparseRows, got {type(rows).__name__}")


def _checked(name: str, rows: SparseRows) -> tuple[_arrays.Array, SparseRows]:
    """``rows``' values array and ``rows`` with contiguous arrays. Its types, dtypes, shapes
    and devices are checked; its values (indptr, column ranges and order, non-negative finite
    values: host syncs on CUDA) unless they are re-ranking's own (_arrays.derived_inputs)."""
    _require_sparse_rows(name, rows)
    indptr = _arrays.wrap(f"{name}.indptr", rows.indptr)
    indices = _arrays.wrap(f"{name}.indices", rows.indices)
    values = _arrays.wrap(f"{name}.values", rows.values)
    for array, dtype in ((indptr, "int64"), (indices, "int64"), (values, "float32")):
        if len(array.shape) != 1:
            raise ValueError(f"{array.name} must be 1-D, got shape {array.shape}")
        if array.dtype != dtype:
            raise TypeError(f"{array.name} must be {dtype}, got {array.dtype}")
        if (array.framework, array.device_label) != (values.framework, values.device_label):
            raise ValueError(
                f"{array.name} must be a {values.framework} array on {values.device_label} "
                f"like {values.name}, got {array.framework} on {array.device_label}"
            )
        array.value = _arrays.contiguous(array)
    if indptr.shape[0] < 1:
        raise ValueError(f"{name}.indptr must have at least one entry, got shape {indptr.shape}")
    nnz = indices.shape[0]
    if values.shape[0] != nnz:
        raise ValueError(f"{name}.values must have {nnz} entries like {name}.indices, got {values.shape[0]}")
    num_columns = validation.integer(f"{name}.num_columns", rows.num_columns, 0,
                                     validation.INT64_MAX, high_name="the int64 maximum")
    checked = SparseRows(indptr.value, indices.value, values.value, num_columns)
    if not _arrays.check_values():
        return values, checked
    if int(indptr.value[0]) != 0 or int(indptr.value[-1]) != nnz:
        raise ValueError(f"{name}.indptr must start at 0 and end at nnz = {nnz}, "
                         f"got {int(indptr.value[0])} and {int(indptr.value[-1])}")
    if bool((indptr.value[1:] < indptr.value[:-1]).any()):
        raise ValueError(f"{name}.indptr must be non-decreasing")
    if nnz:
        low, high = _arrays.value_range(indices)
        if low < 0 or high >= num_columns:
            raise ValueError(f"{name}.indices must lie in [0, {num_columns}), got [{low:g}, {high:g}]")
        low, high = _arrays.value_range(values)
        if not (low >= 0 and high < np.inf):
            raise ValueError(f"{name}.values must be non-negative and finite, got range [{low}, {high}]")
        _require_summable(name, indptr, values)
        # Ascending within rows: a decrease may only happen where a new row starts.
        decreasing = indices.value[1:] <= indices.value[:-1]
        if bool(decreasing.any()):
            starts = _arrays.empty(indices, (nnz,), "int64")
            starts[:] = 0
            row_starts = indptr.value[1:-1]
            starts[row_starts[row_starts < nnz]] = 1
            if bool((decreasing & (starts[1:] == 0)).any()):
                raise ValueError(f"{name}.indices must be strictly ascending within each row")
    return values, checked


MAX_ROW_SUM = float(np.finfo(np.float32).max) / 2
"""The largest sum of a row's values the Jaccard kernels take: sum(max) of two rows, at most
the sum of both, must stay finite in float32."""


def _require_summable(name: str, indptr: _arrays.Array, values: _arrays.Array) -> None:
    """ValueError naming the rows if a row's values sum beyond :data:`MAX_ROW_SUM` (finite
    non-negative values checked before). The total, summed in float64, decides in one
    read-back; the rows are summed one by one on the host only when it is too large."""
    if float(values.value.sum(dtype=_arrays.array_module(values).float64)) <= MAX_ROW_SUM:
        return
    starts = _arrays.to_host(indptr)[:-1]
    ends = _arrays.to_host(indptr)[1:]
    sums = np.zeros(starts.shape[0])
    filled = ends > starts
    if filled.any():  # between filled rows, the empty ones span nothing
        sums[filled] = np.add.reduceat(_arrays.to_host(values).astype(np.float64),
                                       starts[filled])
    row = int(sums.argmax())
    if sums[row] > MAX_ROW_SUM:
        raise ValueError(f"{name}.values of row {row} sum to {sums[row]:.6g}, beyond "
                         f"{MAX_ROW_SUM:.6g}: the Jaccard sums would overflow float32; "
                         "rescale the rows (e.g. to sum to 1)")


def _offsets(name: str, splits: Sequence[int] | None, rows: int) -> list[int]:
    """``splits`` as a list of ints (None: [0, rows], all rows as one problem)."""
    if splits is None:
        return [0, rows]
    try:
        if isinstance(splits, (str, bytes)):
            raise TypeError
        items = list(splits)
    except TypeError:
        raise TypeError(f"{name} must be a sequence of row offsets, got "
                        f"{type(splits).__name__} {splits!r}") from None
    splits = [validation.integer(f"{name}[{i}]", s) for i, s in enumerate(items)]
    if len(splits) < 2 or splits[0] < 0 or splits[-1] > rows or any(
        b < a for a, b in zip(splits, splits[1:])
    ):
        raise ValueError(f"{name} must be at least 2 non-decreasing offsets within [0, {rows}], "
                         f"got {splits}")
    return splits


def _to_device(like: _arrays.Array, values: list[int]) -> Any:
    """``values`` as an int64 array of ``like``'s framework and device. On a torch CUDA device
    the copy is enqueued from pinned memory without waiting for it (no host sync)."""
    host = np.asarray(values, dtype=np.int64)
    if like.framework == "numpy":
        return host
    if like.framework == "torch":
        tensor = _arrays.torch_module().from_numpy(host)
        if like.device == "cpu":
            return tensor
        return tensor.pin_memory().to(like.value.device, non_blocking=True)
    cupy = _arrays.cupy_module()
    with cupy.cuda.Device(like.device_index):
        return cupy.asarray(host)


def jaccard_distance_batched(
    query: SparseRows,
    gallery: SparseRows,
    query_splits: Sequence[int],
    gallery_splits: Sequence[int],
) -> list[Any]:
    """Jaccard distances of many independent (query set, gallery set) problems in one call.

    Problem b pairs query rows ``query_splits[b]:query_splits[b + 1]`` with gallery rows
    ``gallery_splits[b]:gallery_splits[b + 1]`` (e.g. one problem per camera or time
    window); rows outside the first and last offsets take no part. The distance of two
    non-negative rows a, b is ``1 - sum(min) / sum(max)``, which is ``1 - m / (2 - m)`` with
    ``m = sum(min(a, b))`` for rows summing to one, and 1 for two empty rows.

    Args:
        query, gallery: :class:`SparseRows` of the same framework and device and the same
            ``num_columns``.
        query_splits, gallery_splits: B + 1 non-decreasing row offsets each, within
            [0, rows].

    Returns:
        A list of B float32 arrays of shapes (q_b, g_b), views into one buffer, of the
        framework and device of the inputs.
    """
    return blend_jaccard_batched(query, gallery, query_splits, gallery_splits)


def blend_jaccard_batched(
    query: SparseRows,
    gallery: SparseRows,
    query_splits: Sequence[int] | None,
    gallery_splits: Sequence[int] | None,
    *,
    out: Any = None,
    weight: float = 1.0,
) -> list[Any]:
    """:func:`jaccard_distance_batched`, written as ``weight * J`` into ``out`` (a 1-D
    float32 array of sum q_b g_b entries, of the inputs' framework and device) or, where
    ``out`` already holds values to keep, ``weight * J + out``. Re-ranking blends J into
    the weighted original distances this way without a second q x g matrix. Splits of None
    make all rows one problem."""
    like, query = _checked("query", query)
    other, gallery = _checked("gallery", gallery)
    if (other.framework, other.device_label) != (like.framework, like.device_label):
        raise ValueError(f"gallery must be {like.framework} on {like.device_label} like query, "
                         f"got {other.framework} on {other.device_label}")
    if gallery.num_columns != query.num_columns:
        raise ValueError(f"gallery.num_columns must equal query.num_columns ({query.num_columns}), "
                         f"got {gallery.num_columns}")
    _arrays.check_cuda_usable(like, build_has_cuda())
    q_splits = _offsets("query_splits", query_splits, query.rows)
    g_splits = _offsets("gallery_splits", gallery_splits, gallery.rows)
    if len(q_splits) != len(g_splits):
        raise ValueError(f"query_splits and gallery_splits must have the same length, "
                         f"got {len(q_splits)} and {len(g_splits)}")
    sizes = [(q1 - q0) * (g1 - g0) for q0, q1, g0, g1 in
             zip(q_splits, q_splits[1:], g_splits, g_splits[1:])]
    out_splits = [0]
    for size in sizes:
        out_splits.append(out_splits[-1] + size)
    keep = 0.0 if out is None else 1.0
    if out is None:
        out = _arrays.empty(like, (out_splits[-1],), "float32")
    elif tuple(out.shape) != (out_splits[-1],):
        raise ValueError(f"out must have shape ({out_splits[-1]},), got {tuple(out.shape)}")
    max_gallery_rows = max(b - a for a, b in zip(g_splits, g_splits[1:]))
    if out_splits[-1] > 0:
        # The native op gets only the rows the problems have (re-ranking's queries are the
        # first q of N rows): slices of indptr, whose entries still point into the whole
        # indices and values, with the offsets shifted to match, so that its work, workspace
        # and CUDA grid are sized by them.
        q0, g0 = q_splits[0], g_splits[0]
        query_indptr = query.indptr[q0:q_splits[-1] + 1]
        gallery_indptr = gallery.indptr[g0:g_splits[-1] + 1]
        offsets = _to_device(like, [s - q0 for s in q_splits] + [s - g0 for s in g_splits]
                             + out_splits)
        per_array = len(q_splits)
        scratch = _arrays.workspace(like, _C.jaccard_workspace_bytes(
            q_splits[-1] - q0, g_splits[-1] - g0, int(gallery.indices.shape[0]),
            query.num_columns, max_gallery_rows, like.device))
        with _arrays.native_call(
            like, query_indptr, query.indices, query.values, gallery_indptr, gallery.indices,
            gallery.values, offsets[:per_array], offsets[per_array:2 * per_array],
            offsets[2 * per_array:], out, scratch,
        ) as (stream, capsules):
            _C.jaccard(*capsules[:9], query.num_columns, max_gallery_rows, *capsules[9:],
                       float(weight), keep, stream)
    return [
        out[start:end].reshape(q1 - q0, g1 - g0)
        for start, end, q0, q1, g0, g1 in zip(out_splits, out_splits[1:], q_splits, q_splits[1:],
                                              g_splits, g_splits[1:])
    ]


def jaccard_distance(query: SparseRows, gallery: SparseRows) -> Any:
    """Jaccard distances between every query row and every gallery row: (q, g) float32.

    See :func:`jaccard_distance_batched` for the definition and argument rules.
    """
    return blend_jaccard_batched(query, gallery, None, None)[0]
