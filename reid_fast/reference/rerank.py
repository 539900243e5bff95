"""Literal NumPy float64 oracles of exact k-reciprocal re-ranking and the Jaccard distance.

Written from docs/design.md section 3.2 (Zhong et al., "Re-ranking person re-identification
with k-reciprocal encoding", CVPR 2017) and 3.3, not from the kernels. Everything is
dense: the N x N distances, the N x N encodings V and V'. That is the way the public
toolkits do it, which is why they need about 20 bytes x N^2 of memory; use these
functions for tests, documentation and as the benchmark baseline only.

The steps, with q queries, g gallery items, N = q + g and D the N x N "original
distance" over [queries; gallery]:

1. ``Dn = transpose(D / column-max(D))``, i.e. ``Dn[i, j] = D[j, i] / max_k D[k, i]``
   (for a symmetric D: row i divided by its own maximum).
2. ``rank(i)``: the k1 + 1 smallest entries of row i of Dn, ascending, equal values in
   increasing column order (a stable sort).
3. ``R(i, k) = {j in rank_k(i) : i in rank_k(j)}``, where ``rank_k`` is the first k + 1
   entries of ``rank``.
4. ``R*(i) = R(i, k1)`` united with every ``R(c, h)``, c in ``R(i, k1)``, for which
   ``|R(c, h) & R(i, k1)| > 2/3 |R(c, h)|``; ``h = round-half-to-even(k1 / 2)``
   (``np.around``).
5. ``V[i, j] = exp(-Dn[i, j]) / sum_{l in R*(i)} exp(-Dn[i, l])`` for j in R*(i), else 0.
6. ``V'[i] = mean of V[r] for r in the first k2 entries of rank(i)`` when k2 > 1;
   ``V' = V`` when k2 = 1.
7. ``J[i, j] = 1 - m / (2 - m)``, ``m = sum_l min(V'[i, l], V'[j, l])`` (rows of V' sum
   to 1, so ``2 - m`` is ``sum_l max(V'[i, l], V'[j, l])``).
8. ``final = (1 - lambda) J + lambda Dn`` for query rows and gallery columns: (q, g).

Three input conventions, all reduced to D:

- :func:`rerank`: features; D = squared Euclidean distance.
- :func:`rerank_distances`: distance matrices q-g, q-q, g-g; D = their square
  (the open-source toolkits' convention).
- :func:`rerank_similarities`: cosine similarity matrices; D = (2 - 2 s)^2
  (the AICity 2020 winners' convention).

All functions return float64 NumPy arrays. Callers holding float16 / bfloat16 / float32
arrays should convert them to float64 themselves (after any rounding they want the oracle
to see).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .distance import pairwise_distance

# Rows of a matrix sorted together in topk_rows (bounds the temporary index array).
_SORT_BLOCK_ROWS = 256


# --------------------------------------------------------------------------------------
# Building blocks
# --------------------------------------------------------------------------------------


def topk_rows(
    matrix: Any, k: int, return_row_max: bool = False
) -> tuple[np.ndarray, np.ndarray] | tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The ``k`` smallest entries of each row, ascending, equal values by the lower column.

    Args:
        matrix: (n, m) array-like of real numbers.
        k: 0 <= k <= m.
        return_row_max: also return each row's maximum.

    Returns:
        ``(values, indices)``: (n, k) float64 and (n, k) int64 (column indices), from a
        stable sort of each row; with ``return_row_max`` also (n,) float64 row maxima.
    """
    matrix = np.asarray(matrix, dtype=np.float64)
    n, m = matrix.shape
    indices = np.empty((n, k), dtype=np.int64)
    for start in range(0, n, _SORT_BLOCK_ROWS):
        block = matrix[start : start + _SORT_BLOCK_ROWS]
        # kind="stable": equal values keep their column order, so the lower index comes first.
        indices[start : start + _SORT_BLOCK_ROWS] = np.argsort(block, axis=1, kind="stable")[:, :k]
    values = np.take_along_axis(matrix, indices, axis=1)
    if not return_row_max:
        return values, indices
    row_max = matrix.max(axis=1) if m > 0 else np.full((n,), -np.inf)
    return values, indices, row_max


def jaccard_distance(query_rows: Any, gallery_rows: Any) -> np.ndarray:
    """Jaccard distance between non-negative row vectors (docs/design.md 3.3).

    ``J[i, j] = 1 - sum_l min(a_il, b_jl) / sum_l max(a_il, b_jl)``, and 1 where the sum of
    maxima is 0 (two empty rows). Since ``max(a, b) = a + b - min(a, b)``, the sum of
    maxima is ``s_i + t_j - m`` with row sums s, t and m the sum of minima; for rows that
    each sum to 1 this is ``1 - m / (2 - m)``, re-ranking's step 7.

    The sum of minima runs over the columns where the query row is non-zero only: every
    other term is ``min(0, b) = 0`` since the rows are non-negative (this is what makes the
    literal computation affordable at benchmark sizes, as in the public toolkits'
    inverted index).

    Args:
        query_rows: (q, L) non-negative array-like.
        gallery_rows: (g, L) non-negative array-like.

    Returns:
        (q, g) float64 distances in [0, 1].
    """
    a = np.asarray(query_rows, dtype=np.float64)
    b = np.asarray(gallery_rows, dtype=np.float64)
    q = a.shape[0]
    g = b.shape[0]
    a_sums = a.sum(axis=1)  # (q,)
    b_sums = b.sum(axis=1)  # (g,)
    out = np.ones((q, g), dtype=np.float64)
    for i in range(q):
        columns = np.flatnonzero(a[i])
        minima = np.minimum(b[:, columns], a[i, columns][None, :]).sum(axis=1)  # (g,) sum min
        maxima = a_sums[i] + b_sums - minima  # (g,) sum max
        nonzero = maxima > 0
        out[i, nonzero] = 1.0 - minima[nonzero] / maxima[nonzero]
    return out


def normalise(D: Any) -> np.ndarray:
    """Step 1: ``Dn = transpose(D / column-max(D))`` as a C-contiguous (N, N) float64
    array, ``Dn[i, j] = D[j, i] / max_k D[k, i]``; 0 where that maximum is 0 (an all-zero
    column of the non-negative D)."""
    D = np.asarray(D, dtype=np.float64)
    column_max = D.max(axis=0)[:, None]  # (N, 1)
    Dn = np.zeros_like(D)
    np.divide(D.T, column_max, out=Dn, where=column_max > 0)
    return Dn


def reciprocal_neighbours(rank: np.ndarray, i: int, k: int) -> np.ndarray:
    """Step 3: ``R(i, k) = {j in rank_k(i) : i in rank_k(j)}``, rank_k = the first k + 1
    columns of ``rank`` (N, >= k + 1). Returned in the order of ``rank[i]``."""
    forward = rank[i, : k + 1]  # rank_k(i)
    backward = rank[forward, : k + 1]  # rank_k(j) for each j in rank_k(i)
    return forward[np.any(backward == i, axis=1)]


def expanded_reciprocal_sets(rank: np.ndarray, k1: int) -> list[np.ndarray]:
    """Step 4: R*(i) for every i, each as an ascending int64 array.

    ``R*(i) = R(i, k1)`` united with every ``R(c, h)``, c in ``R(i, k1)``, for which
    ``|R(c, h) & R(i, k1)| > 2/3 |R(c, h)|`` (compared exactly, in integers:
    ``3 |R(c, h) & R(i, k1)| > 2 |R(c, h)|``), with ``h = np.around(k1 / 2)``.
    """
    N = rank.shape[0]
    h = int(np.around(k1 / 2))  # round half to even: k1 = 1 -> 0, 5 -> 2, 7 -> 4
    R_k1 = [reciprocal_neighbours(rank, i, k1) for i in range(N)]
    R_h = [reciprocal_neighbours(rank, c, h) for c in range(N)]
    expanded = []
    for i in range(N):
        R_i = set(R_k1[i].tolist())
        R_star = set(R_i)
        for c in R_k1[i]:
            R_c = set(R_h[c].tolist())
            if 3 * len(R_c & R_i) > 2 * len(R_c):
                R_star |= R_c
        expanded.append(np.array(sorted(R_star), dtype=np.int64))
    return expanded


# --------------------------------------------------------------------------------------
# Re-ranking
# --------------------------------------------------------------------------------------


def rerank_from_matrix(D: Any, q: int, k1: int = 20, k2: int = 6, lambda_: float = 0.3) -> np.ndarray:
    """k-reciprocal re-ranking (docs/design.md 3.2) of the "original distance" D.

    Args:
        D: (N, N) array-like, non-negative, over [queries; gallery] with the q queries
            first.
        q: number of queries, 1 <= q <= N.
        k1: neighbourhood size, 1 <= k1 <= N - 1.
        k2: local query expansion size, 1 <= k2 <= k1 + 1.
        lambda_: weight of the normalised original distance, in [0, 1].

    Returns:
        (q, N - q) float64: ``(1 - lambda_) J + lambda_ Dn`` for queries x gallery.
    """
    D = np.asarray(D, dtype=np.float64)
    N = D.shape[0]

    # 1. Normalise.
    Dn = normalise(D)  # (N, N)

    # 2. rank(i): the k1 + 1 nearest under Dn, stable.
    _, rank = topk_rows(Dn, k1 + 1)  # (N, k1 + 1)

    # 3 + 4. Reciprocal sets and their expansion.
    R_star = expanded_reciprocal_sets(rank, k1)

    # 5. Gaussian-kernel encoding V over R*(i), rows summing to 1.
    V = np.zeros((N, N), dtype=np.float64)
    for i in range(N):
        columns = R_star[i]
        weights = np.exp(-Dn[i, columns])
        V[i, columns] = weights / np.sum(weights)

    # 6. Local query expansion: mean of V over the first k2 of rank(i).
    if k2 != 1:
        V_qe = np.zeros((N, N), dtype=np.float64)
        for i in range(N):
            V_qe[i] = np.mean(V[rank[i, :k2]], axis=0)
        V = V_qe
        del V_qe

    # 7. Jaccard distance between the query rows and the gallery rows of V'.
    J = jaccard_distance(V[:q], V[q:])  # (q, g)

    # 8. Blend with the normalised original distance.
    return (1.0 - lambda_) * J + lambda_ * Dn[:q, q:]


def _stack(q_g: Any, q_q: Any, g_g: Any) -> np.ndarray:
    """[[q_q, q_g], [q_g^T, g_g]] as one (N, N) float64 array."""
    q_g = np.asarray(q_g, dtype=np.float64)
    q_q = np.asarray(q_q, dtype=np.float64)
    g_g = np.asarray(g_g, dtype=np.float64)
    return np.block([[q_q, q_g], [q_g.T, g_g]])


def rerank(query: Any, gallery: Any, k1: int = 20, k2: int = 6, lambda_: float = 0.3) -> np.ndarray:
    """Re-ranking from features: D = squared Euclidean distance over [query; gallery],
    computed directly as sums of squared differences.

    Args:
        query: (q, d) array-like features, q >= 1.
        gallery: (g, d) array-like features.
        k1, k2, lambda_: see :func:`rerank_from_matrix`.

    Returns:
        (q, g) float64 re-ranked distances.
    """
    query = np.asarray(query, dtype=np.float64)
    gallery = np.asarray(gallery, dtype=np.float64)
    features = np.concatenate([query, gallery], axis=0)  # (N, d)
    D = pairwise_distance(features, features, "sqeuclidean")  # (N, N)
    return rerank_from_matrix(D, query.shape[0], k1, k2, lambda_)


def rerank_distances(
    q_g: Any, q_q: Any, g_g: Any, k1: int = 20, k2: int = 6, lambda_: float = 0.3
) -> np.ndarray:
    """Re-ranking from distance matrices: D = [[q_q, q_g], [q_g^T, g_g]] squared
    elementwise (the open-source toolkits' convention).

    Args:
        q_g: (q, g) query-gallery distances.
        q_q: (q, q) query-query distances.
        g_g: (g, g) gallery-gallery distances.
        k1, k2, lambda_: see :func:`rerank_from_matrix`.

    Returns:
        (q, g) float64 re-ranked distances.
    """
    D = _stack(q_g, q_q, g_g) ** 2
    return rerank_from_matrix(D, np.shape(q_g)[0], k1, k2, lambda_)


def rerank_similarities(
    q_g: Any, q_q: Any, g_g: Any, k1: int = 20, k2: int = 6, lambda_: float = 0.3
) -> np.ndarray:
    """Re-ranking from cosine similarity matrices: D = (2 - 2 s)^2 elementwise of
    [[q_q, q_g], [q_g^T, g_g]] (the AICity 2020 winners' convention).

    Args:
        q_g: (q, g) query-gallery similarities.
        q_q: (q, q) query-query similarities.
        g_g: (g, g) gallery-gallery similarities.
        k1, k2, lambda_: see :func:`rerank_from_matrix`.

    Returns:
        (q, g) float64 re-ranked distances.
    """
    D = (2.0 - 2.0 * _stack(q_g, q_q, g_g)) ** 2
    return rerank_from_matrix(D, np.shape(q_g)[0], k1, k2, lambda_)
