"""Exact k-reciprocal re-ranking (Zhong et al., CVPR 2017), sparse and memory-lean.

docs/design.md 3.2 is the specification. With N = q + g items [queries; gallery] and D the
N x N "original distance", Dn = transpose(D / column-max(D)); each row's k1 + 1 nearest
under Dn give the k-reciprocal sets R(i, k1), expanded with the sets R(c, h) of their
members (h = round-half-to-even(k1 / 2)) that mostly lie inside; V weighs each expanded
set by exp(-Dn), V' averages V over each row's k2 nearest, and the result is
(1 - lambda) Jaccard(V'_query, V'_gallery) + lambda Dn for the q x g block.

The three entry points differ only in D (docs/design.md 3.2, "Three input conventions"):
:func:`rerank` uses the squared Euclidean distance of the features, ||x - y||^2;
:func:`rerank_distances` the element-wise square of the distances given; and
:func:`rerank_similarities` (2 - 2 s)^2 of the similarities given, the AICity 2020 seed's
convention, which for L2-normalised features is the square of :func:`rerank`'s D (so the
two do not agree on the same features).

Nothing here builds an N x N matrix from features: the neighbour lists are N x (k1 + 1),
V and V' are sparse with bounded rows, the Jaccard pass only computes the q x g block.

Host syncs (docs/design.md 2): the checks of the user's inputs (one min/max per features
array, one for the three matrices), and the nnz (with V's longest row) between the two
phases of V and of V'. The ops called on what re-ranking derived from the checked inputs
run inside ``_arrays.derived_inputs()``, which skips their own checks of values.
"""

from __future__ import annotations

import math
from dataclasses import astuple
from typing import Any

import numpy as np

from .._native import _C
from . import _arrays
from .distance import build_has_cuda, pairwise_distance
from .jaccard import SparseRows, blend_jaccard_batched
from .knn import knn
from .params import DEFAULT_RERANK, RerankParams
from .topk_rows import topk_rows


def check_problem_size(q: int, g: int, k1: int, queries: str = "query") -> None:
    """At least one query, and k1 + 1 <= N = q + g; ``queries`` names the argument whose rows
    are the queries."""
    if q == 0:
        raise ValueError(f"{queries} has no rows: the query set is empty, and re-ranking needs "
                         "at least one query")
    if k1 + 1 > q + g:
        raise ValueError(f"k1 + 1 = {k1 + 1} must not exceed the number of items "
                         f"N = q + g = {q + g}; use a smaller k1")


TINY_DISTANCE = 2.0 ** -60
"""Re-ranking input whose largest distance D (or 4x the largest squared feature norm, which
bounds it) is below this is first scaled by a power of two to about 1. Re-ranking does not
change when D is scaled (Dn divides by row maxima), a power-of-two scaling is exact, and
without it a row maximum that is a float32 subnormal (features of norm ~1e-20) has no
float32 reciprocal: Dn would be Inf or NaN."""


def scaled_to_unit(like: _arrays.Array, features: Any) -> Any:
    """``features`` (N, d), a copy re-ranking owns, multiplied in place by a power of two that
    brings its largest squared row norm near 1 when that is below TINY_DISTANCE / 4; as it
    is otherwise. Computed on the device: no host sync."""
    xp = _arrays.array_module(like)
    largest = _arrays.row_squared_norms(_arrays.wrap("features", features)).max()
    _, exponent = xp.frexp(largest)
    unit = xp.ldexp(xp.ones_like(largest), -(exponent // 2))
    features *= xp.where(largest < TINY_DISTANCE / 4, unit, xp.ones_like(largest))
    return features


def row_scale(like: _arrays.Array, row_max: Any) -> Any:
    """1 / row maximum, and 0 for rows whose distances are all 0 (Dn = 0 there); element-wise,
    without the host sync of a masked assignment. A maximum below float32's smallest normal
    number (1.2e-38; its reciprocal would overflow) counts as that number, so Dn stays finite
    (and below 1) in such a row of a user's matrix; features and tiny matrices are scaled
    first (:data:`TINY_DISTANCE`), so that this does not arise from them."""
    xp = _arrays.array_module(like)
    positive = row_max > 0
    smallest_normal = float(np.finfo(np.float32).tiny)
    return positive / xp.where(positive, xp.where(row_max < smallest_normal, smallest_normal,
                                                  row_max), 1)


def _two_phase(like: _arrays.Array, rows: int, num_columns: int, call) -> tuple[SparseRows, int]:
    """Runs a count-then-fill native step, ``call(counts, indptr, indices, values)`` with
    either counts (rows,) int64 or the CSR output arrays (the others None); returns its CSR
    output and its longest row.

    An empty output (nnz = 0) has nothing to fill, and the fill is skipped: the native ops
    tell the count phase by indices without data, which is what an empty torch tensor or
    CuPy array has (a null data pointer), so a fill call would be taken for a count."""
    counts = _arrays.empty(like, (rows,), "int64")
    call(counts, None, None, None)
    indptr, nnz, longest = _arrays.prefix_sums(like, counts)
    indices = _arrays.empty(like, (nnz,), "int64")
    values = _arrays.empty(like, (nnz,), "float32")
    if nnz > 0:
        call(None, indptr, indices, values)
    return SparseRows(indptr, indices, values, num_columns), longest


def expanded_neighbourhoods(rank: Any, row_scale: Any, k2: int, *, features: Any = None,
                            dense: Any = None) -> SparseRows:
    """V' of re-ranking (steps 3-6) as CSR rows over all N items.

    Args:
        rank: (N, k1 + 1) int64, each row's nearest items under Dn, ascending.
        row_scale: (N,) float32, Dn[i, j] = D[i, j] * row_scale[i].
        k2: local query expansion width, 1 <= k2 <= k1 + 1.
        features: (N, d) features, D = squared Euclidean distance; or
        dense: (N, N) float32 D (already transposed as Dn needs: row i is column i of the
            original matrix).

    Returns:
        :class:`SparseRows` (N rows, N columns), each row summing to one.
    """
    like = _arrays.wrap("rank", rank)
    rows = like.shape[0]
    k1 = like.shape[1] - 1
    scratch = _arrays.workspace(like, _C.rerank_reciprocal_workspace_bytes(rows, k1, like.device))

    def reciprocal(counts, indptr, indices, values):
        with _arrays.native_call(like, rank, features, dense, row_scale, counts, indptr, indices,
                                 values, scratch) as (stream, capsules):
            _C.rerank_reciprocal(*capsules, stream)

    v, max_row_nnz = _two_phase(like, rows, rows, reciprocal)
    if k2 == 1:
        return v
    qe_scratch = _arrays.workspace(
        like, _C.rerank_query_expansion_workspace_bytes(rows, k2, max_row_nnz, like.device))

    def query_expansion(counts, indptr, indices, values):
        with _arrays.native_call(like, rank, v.indptr, v.indices, v.values, counts, indptr,
                                 indices, values, qe_scratch) as (stream, capsules):
            rank_c, *v_c, counts_c, indptr_c, indices_c, values_c, scratch_c = capsules
            _C.rerank_query_expansion(rank_c, k2, *v_c, max_row_nnz, counts_c, indptr_c,
                                      indices_c, values_c, scratch_c, stream)

    return _two_phase(like, rows, rows, query_expansion)[0]


def blend_query_block(sparse: SparseRows, queries: tuple[int, int], gallery_start: int, dn_qg: Any,
            lambda_: float) -> Any:
    """(1 - lambda) Jaccard(V'[queries], V'[gallery_start:]) + lambda Dn, in place in the
    contiguous (queries, g) block of normalised original distances dn_qg. Called inside
    ``_arrays.derived_inputs()``: V' is re-ranking's own, its CSR structure is not checked."""
    dn_qg *= float(lambda_)
    blend_jaccard_batched(sparse, sparse, list(queries), [gallery_start, sparse.rows],
                          out=dn_qg.reshape(-1), weight=1.0 - float(lambda_))
    return dn_qg


def rerank(query: Any, gallery: Any, k1: int = DEFAULT_RERANK.k1, k2: int = DEFAULT_RERANK.k2,
           lambda_: float = DEFAULT_RERANK.lambda_) -> Any:
    """k-reciprocal re-ranking from features, D = squared Euclidean distance ||x - y||^2.

    This is the original convention (Zhong et al.'s code) and the memory-lean entry point:
    memory is O(q g + N k1 k2 + N d), N = q + g; no N x N matrix is built. For
    L2-normalised features D = 2 - 2 s (s the cosine similarity) itself, not squared:
    the same result as ``rerank_distances`` of the Euclidean distances, but not as
    ``rerank_similarities(s)``, whose D is (2 - 2 s)^2 (see there).

    Args:
        query: (q, d) float32 / float16 / bfloat16 features (torch, NumPy or CuPy; CPU or
            CUDA), q >= 1, finite.
        gallery: (g, d) of the same framework, device and dtype.
        k1: size of the k-reciprocal neighbourhoods, k1 + 1 <= q + g (default 20).
        k2: local query expansion width, 1 <= k2 <= k1 + 1 (default 6; 1 = none).
        lambda_: weight of the original distance in the result, in [0, 1] (default 0.3).

    Returns:
        (q, g) float32 re-ranked distances, same framework and device as ``query``.
    """
    k1, k2, lambda_ = astuple(RerankParams(k1, k2, lambda_))
    qa, ga = _arrays.feature_pair(query, gallery, build_has_cuda(), ("query", "gallery"),
                                  always_check_finite=True)
    q, g = qa.shape[0], ga.shape[0]
    check_problem_size(q, g, k1)
    features = scaled_to_unit(qa, _arrays.concat_rows(qa, [qa.value, ga.value]))
    with _arrays.derived_inputs():
        _, rank, row_max = knn(features, features, k1 + 1, "sqeuclidean", return_row_max=True)
        scale = row_scale(qa, row_max)
        sparse = expanded_neighbourhoods(rank, scale, k2, features=features)
        dn_qg = pairwise_distance(features[:q], features[q:], "sqeuclidean")
        dn_qg *= scale[:q].reshape(q, 1)
        return blend_query_block(sparse, (0, q), q, dn_qg, lambda_)


def _transposed_blocks(q_g: Any, q_q: Any, g_g: Any) -> tuple[list[_arrays.Array], Any]:
    """The inputs [q_g, q_q, g_g] (shapes, dtypes and devices checked), and the N x N float32
    matrix [[q_q^T, q_g], [q_g^T, g_g^T]]: the transpose of [[q_q, q_g], [q_g^T, g_g]], so
    that its rows are the columns Dn normalises (docs/design.md 3.2, step 1)."""
    blocks = {}
    for name, value in (("q_g", q_g), ("q_q", q_q), ("g_g", g_g)):
        array = _arrays.wrap(name, value)
        if len(array.shape) != 2:
            raise ValueError(f"{name} must be 2-D, got shape {array.shape}")
        if array.dtype != "float32":
            raise TypeError(f"{name} must be float32, got {array.dtype}")
        blocks[name] = array
    qg, qq, gg = blocks["q_g"], blocks["q_q"], blocks["g_g"]
    for array in (qq, gg):
        if array.framework != qg.framework:
            raise TypeError(f"{array.name} must be a {qg.framework} array like q_g, "
                            f"got {array.framework}")
        if array.device_label != qg.device_label:
            raise ValueError(f"{array.name} must be on {qg.device_label} like q_g, "
                             f"got {array.device_label}")
    q, g = qg.shape
    if qq.shape != (q, q):
        raise ValueError(f"q_q must be square with q_g's {q} query rows: shape ({q}, {q}), "
                         f"got {qq.shape}")
    if gg.shape != (g, g):
        raise ValueError(f"g_g must be square with q_g's {g} gallery columns: shape ({g}, {g}), "
                         f"got {gg.shape}")
    _arrays.check_cuda_usable(qg, build_has_cuda())
    dense = _arrays.empty(qg, (q + g, q + g), "float32")
    dense[:q, :q] = qq.value.T
    dense[:q, q:] = qg.value
    dense[q:, :q] = qg.value.T
    dense[q:, q:] = gg.value.T
    return [qg, qq, gg], dense


def _to_distances(blocks: list[_arrays.Array], dense: Any, transform, non_negative: bool) -> None:
    """Checks the values of the inputs, then D = transform(dense) in place (tiny distances
    scaled near 1 first, :data:`TINY_DISTANCE`).

    One min/max of the assembled matrix (one host sync) checks them all: finite,
    non-negative where ``non_negative``, and D finite in float32, which transform applied to
    the two extremes decides (D is largest at one of them). Which input is at fault is looked
    up only when a check fails."""
    if 0 in dense.shape:
        return
    low, high = _arrays.value_range(_arrays.wrap("D", dense))
    if not -math.inf < low <= high < math.inf:  # a NaN fails too
        for array in blocks:
            _arrays.require_finite(array)
    if non_negative and low < 0:
        for array in blocks:
            smallest = _arrays.value_range(array)[0] if 0 not in array.shape else 0.0
            if smallest < 0:
                raise ValueError(f"{array.name} must hold non-negative distances, got a minimum "
                                 f"of {smallest}")
    extremes = np.array([low, high], dtype=np.float32)
    with np.errstate(over="ignore"):
        transform(extremes)
    if not np.isfinite(extremes).all():
        raise ValueError(f"q_g, q_q and g_g range over [{low}, {high}], which makes re-ranking's "
                         f"distances D overflow float32")
    if non_negative and 0 < high < math.sqrt(TINY_DISTANCE):  # D = high^2 below TINY_DISTANCE
        # Distances: D = distance^2 scales with them, so they are scaled near 1 first
        # (TINY_DISTANCE), in two exact steps (the factor may exceed float32's range).
        # Similarities cannot give a tiny D: (2 - 2 s)^2 is 0 or above 1e-14 in float32.
        exponent = -math.frexp(high)[1]
        dense *= 2.0 ** (exponent // 2)
        dense *= 2.0 ** (exponent - exponent // 2)
    transform(dense)


def _rerank_dense(like: _arrays.Array, dense: Any, k1: int, k2: int, lambda_: float) -> Any:
    q = like.shape[0]
    n = dense.shape[0]
    check_problem_size(q, n - q, k1, like.name)
    with _arrays.derived_inputs():
        _, rank, row_max = topk_rows(dense, k1 + 1, return_row_max=True)
        scale = row_scale(like, row_max)
        sparse = expanded_neighbourhoods(rank, scale, k2, dense=dense)
        dn_qg = dense[:q, q:] * scale[:q].reshape(q, 1)
        return blend_query_block(sparse, (0, q), q, dn_qg, lambda_)


def _squared(distances: Any) -> None:
    """D = distance^2, in place (rerank_distances)."""
    distances *= distances


def _similarity_to_distance(similarities: Any) -> None:
    """D = (2 - 2 s)^2, in place (rerank_similarities)."""
    similarities *= -2.0
    similarities += 2.0
    similarities *= similarities


def rerank_distances(q_g: Any, q_q: Any, g_g: Any, k1: int = DEFAULT_RERANK.k1,
                     k2: int = DEFAULT_RERANK.k2, lambda_: float = DEFAULT_RERANK.lambda_) -> Any:
    """k-reciprocal re-ranking from distance matrices, D = their element-wise square.

    The convention of the open-source re-ID toolkits (they pass Euclidean distances and
    square them inside): with the features' Euclidean distances the result is
    :func:`rerank`'s. The inputs are already O(N^2), and one N x N float32 matrix is
    assembled from them.

    Args:
        q_g: (q, g) query-gallery distances, float32, non-negative, finite (torch, NumPy or
            CuPy; CPU or CUDA).
        q_q: (q, q) query-query distances.
        g_g: (g, g) gallery-gallery distances.
        k1, k2, lambda_: as in :func:`rerank`.

    Returns:
        (q, g) float32 re-ranked distances, same framework and device as ``q_g``.
    """
    k1, k2, lambda_ = astuple(RerankParams(k1, k2, lambda_))
    blocks, dense = _transposed_blocks(q_g, q_q, g_g)
    _to_distances(blocks, dense, _squared, non_negative=True)
    return _rerank_dense(blocks[0], dense, k1, k2, lambda_)


def rerank_similarities(q_g: Any, q_q: Any, g_g: Any, k1: int = DEFAULT_RERANK.k1,
                        k2: int = DEFAULT_RERANK.k2,
                        lambda_: float = DEFAULT_RERANK.lambda_) -> Any:
    """k-reciprocal re-ranking from cosine similarity matrices, D = (2 - 2 s)^2.

    The convention of the AICity 2020 winning code, which edits the similarity matrices
    (camera, direction and track penalties) before re-ranking: its ``re_ranking``
    (layumi/AICIty-reID-2020, ``pytorch/re_ranking.py``) computes ``original_dist = 2 - 2
    * sim`` and then squares it. For L2-normalised features 2 - 2 s is already the squared
    Euclidean distance, so this D is its square: ``rerank_similarities(s)`` equals
    ``rerank_distances(2 - 2 s)``, not :func:`rerank` of the features (which re-ranks
    2 - 2 s itself, i.e. ``rerank_similarities(1 - sqrt(2 - 2 s) / 2)``). Squaring keeps
    each row's order, so the neighbour lists are the same, but the weights exp(-Dn) and the
    lambda term change: the re-ranked distances differ (by about 0.08 at most on small
    random problems) and so can the rankings.

    Args:
        q_g: (q, g) query-gallery cosine similarities, float32, finite.
        q_q: (q, q) query-query similarities.
        g_g: (g, g) gallery-gallery similarities.
        k1, k2, lambda_: as in :func:`rerank`.

    Returns:
        (q, g) float32 re-ranked distances, same framework and device as ``q_g``.
    """
    k1, k2, lambda_ = astuple(RerankParams(k1, k2, lambda_))
    blocks, dense = _transposed_blocks(q_g, q_q, g_g)
    _to_distances(blocks, dense, _similarity_to_distance, non_negative=False)
    return _rerank_dense(blocks[0], dense, k1, k2, lambda_)
