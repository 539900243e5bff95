"""Literal NumPy float64 oracles of :mod:`reid_fast.post` (query expansion, DBSCAN,
tracks, camera/direction penalties, fusion).

Written from the definitions (docs/design.md section 4 and the docstrings of reid_fast.post),
not from the torch code: plain Python loops over rows, neighbours from a full stable
argsort of each row's cosine distance ``1 - <x, y> / (max(|x|, 1e-12) max(|y|, 1e-12))``
(equal distances in increasing index order, as :func:`reid_fast.knn` breaks ties), a
textbook queue-based DBSCAN, dictionaries for tracks, and re-ranking from
:mod:`reid_fast.reference.rerank`. For tests and documentation only.

Inputs are anything ``np.asarray`` accepts; outputs are float64 (features, distances,
penalties) or int64 (labels, track numbers) NumPy arrays.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from .rerank import rerank, rerank_similarities

NORM_EPS = 1e-12
"""Norms below this are clamped to it when normalising and in the cosine."""


# --------------------------------------------------------------------------------------
# Helpers
# --------------------------------------------------------------------------------------


def _matrix(value: Any) -> np.ndarray:
    array = np.asarray(value, dtype=np.float64)
    if array.ndim != 2:
        raise ValueError(f"expected a 2-D array, got shape {array.shape}")
    return array


def normalise(v: np.ndarray) -> np.ndarray:
    """One vector divided by max(|v|, 1e-12)."""
    return v / max(float(np.sqrt(np.sum(v * v))), NORM_EPS)


def cosine_similarity(x: Any, y: Any) -> np.ndarray:
    """(n, m) float64: ``<x_i, y_j> / (max(|x_i|, 1e-12) max(|y_j|, 1e-12))``, row by row."""
    x = _matrix(x)
    y = _matrix(y)
    y_norms = np.maximum(np.sqrt(np.sum(y * y, axis=1)), NORM_EPS)  # (m,)
    out = np.empty((x.shape[0], y.shape[0]), dtype=np.float64)
    for i in range(x.shape[0]):
        x_norm = max(float(np.sqrt(np.sum(x[i] * x[i]))), NORM_EPS)
        out[i] = np.sum(x[i][None, :] * y, axis=1) / (x_norm * y_norms)
    return out


def nearest_by_cosine(x_row: np.ndarray, y: np.ndarray) -> np.ndarray:
    """All rows of y ordered from the most similar to x_row to the least: a stable argsort
    of the cosine distance, so equal distances in increasing index order."""
    distance = 1.0 - cosine_similarity(x_row[None, :], y)[0]
    return np.argsort(distance, kind="stable")


# --------------------------------------------------------------------------------------
# Query expansion
# --------------------------------------------------------------------------------------


def average_query_expansion(query: Any, gallery: Any, k: int) -> np.ndarray:
    """``q' = normalise(q + sum of the k most similar gallery rows)``; k = 0: a copy."""
    return alpha_query_expansion(query, gallery, k, alpha=0.0)


def alpha_query_expansion(query: Any, gallery: Any, k: int, alpha: float = 3.0) -> np.ndarray:
    """``q' = normalise(q + sum_{i in top-k} max(s_i, 0) ** alpha * g_i)`` (0 ** 0 = 1);
    k = 0: a copy."""
    query = _matrix(query)
    gallery = _matrix(gallery)
    if not 0 <= k <= gallery.shape[0]:
        raise ValueError(f"k must be between 0 and {gallery.shape[0]}, got {k}")
    out = query.copy()
    if k == 0:
        return out
    for i in range(query.shape[0]):
        order = nearest_by_cosine(query[i], gallery)[:k]
        total = query[i].copy()
        for j in order:
            s = cosine_similarity(query[i][None, :], gallery[j][None, :])[0, 0]
            total += max(s, 0.0) ** alpha * gallery[j]
        out[i] = normalise(total)
    return out


def database_augmentation(gallery: Any, k: int, alpha: float = 0.0) -> np.ndarray:
    """``g_i' = normalise(sum_{j in N(i)} max(s_ij, 0) ** alpha g_j)``, N(i) = i itself and
    its k - 1 most similar other rows; k = 1: a copy."""
    gallery = _matrix(gallery)
    g = gallery.shape[0]
    if not 1 <= k <= g:
        raise ValueError(f"k must be between 1 and {g}, got {k}")
    out = gallery.copy()
    if k == 1:
        return out
    for i in range(g):
        others = [int(j) for j in nearest_by_cosine(gallery[i], gallery) if j != i][: k - 1]
        total = np.zeros(gallery.shape[1])
        for j in [i] + others:
            s = cosine_similarity(gallery[i][None, :], gallery[j][None, :])[0, 0]
            total += max(s, 0.0) ** alpha * gallery[j]
        out[i] = normalise(total)
    return out


def density_clusters(features: Any, eps: float, min_samples: int) -> np.ndarray:
    """Textbook DBSCAN on cosine distance, (n,) int64 labels, -1 noise.

    Neighbourhood of i: every j with ``1 - cos(x_i, x_j) <= eps``, and i itself. Core:
    neighbourhood size >= min_samples. Points are visited in index order; an unlabelled
    core point starts the next cluster number, which a queue expands through core points;
    a border point keeps the first cluster that reaches it (the lowest-numbered one).
    """
    x = _matrix(features)
    n = x.shape[0]
    distance = 1.0 - cosine_similarity(x, x)
    neighbours = []
    for i in range(n):
        members = [j for j in range(n) if j == i or distance[i, j] <= eps]
        neighbours.append(members)
    core = [len(neighbours[i]) >= min_samples for i in range(n)]
    labels = np.full(n, -1, dtype=np.int64)
    cluster = 0
    for seed in range(n):
        if labels[seed] != -1 or not core[seed]:
            continue
        labels[seed] = cluster
        queue = deque([seed])
        while queue:
            p = queue.popleft()
            if not core[p]:
                continue  # border points do not expand the cluster
            for r in neighbours[p]:
                if labels[r] == -1:
                    labels[r] = cluster
                    queue.append(r)
        cluster += 1
    return labels


def cluster_query_expansion(
    query: Any, eps: float = 0.3, min_samples: int = 2
) -> tuple[np.ndarray, np.ndarray]:
    """Queries of a cluster replaced by the normalised mean of the cluster; noise kept."""
    query = _matrix(query)
    labels = density_clusters(query, eps, min_samples)
    out = query.copy()
    for c in sorted(set(labels.tolist()) - {-1}):
        members = [i for i in range(query.shape[0]) if labels[i] == c]
        mean = np.mean(query[members], axis=0)
        for i in members:
            out[i] = normalise(mean)
    return out, labels


# --------------------------------------------------------------------------------------
# Tracks
# --------------------------------------------------------------------------------------


def track_groups(trackids: Any) -> tuple[np.ndarray, int]:
    """Track numbers by first appearance, each -1 its own track: ((g,) int64, T)."""
    ids = [int(t) for t in np.asarray(trackids).reshape(-1)]
    numbers: dict[int, int] = {}
    out = np.empty(len(ids), dtype=np.int64)
    count = 0
    for i, t in enumerate(ids):
        if t == -1:
            out[i] = count
            count += 1
        else:
            if t not in numbers:
                numbers[t] = count
                count += 1
            out[i] = numbers[t]
    return out, count


def track_features(gallery: Any, trackids: Any) -> tuple[np.ndarray, np.ndarray]:
    """((T, d) normalised track means, (g,) track numbers)."""
    gallery = _matrix(gallery)
    index, T = track_groups(trackids)
    out = np.zeros((T, gallery.shape[1]))
    for t in range(T):
        members = [i for i in range(gallery.shape[0]) if index[i] == t]
        out[t] = normalise(np.mean(gallery[members], axis=0))
    return out, index


def track_average(gallery: Any, trackids: Any, weight: float = 1.0) -> np.ndarray:
    """``g_i' = normalise(g_i + weight * mean of g_i's track)``; -1 items unchanged."""
    gallery = _matrix(gallery)
    ids = np.asarray(trackids).reshape(-1)
    index, _ = track_groups(ids)
    out = gallery.copy()
    for i in range(gallery.shape[0]):
        if ids[i] == -1:
            continue
        members = [j for j in range(gallery.shape[0]) if index[j] == index[i]]
        out[i] = normalise(gallery[i] + weight * np.mean(gallery[members], axis=0))
    return out


def track_rerank(
    query: Any,
    gallery: Any,
    trackids: Any,
    k1: int = 20,
    k2: int = 6,
    lambda_: float = 0.3,
    within_track: float = 1e-3,
) -> np.ndarray:
    """``D[i, j] = rerank(query, track means)[i, track(j)] + within_track |q_i - g_j|^2``,
    k1 clamped to q + T - 1 and k2 to k1 + 1 (reference.rerank.rerank on the track means)."""
    query = _matrix(query)
    gallery = _matrix(gallery)
    tracks, index = track_features(gallery, trackids)
    q, T = query.shape[0], tracks.shape[0]
    k1 = min(k1, q + T - 1)
    k2 = min(k2, k1 + 1)
    by_track = rerank(query, tracks, k1, k2, lambda_)  # (q, T)
    out = np.empty((q, gallery.shape[0]))
    for i in range(q):
        for j in range(gallery.shape[0]):
            difference = query[i] - gallery[j]
            out[i, j] = by_track[i, index[j]] + within_track * float(np.sum(difference * difference))
    return out


# --------------------------------------------------------------------------------------
# Penalties
# --------------------------------------------------------------------------------------


def camera_penalty(cams_a: Any, cams_b: Any, weight: float) -> np.ndarray:
    """``weight * P_a P_b^T``; integer ids (1-D) are one-hot rows, zero for -1, so for two
    id vectors: weight where both are known and equal."""
    a = np.asarray(cams_a)
    b = np.asarray(cams_b)
    if a.ndim == 1 and b.ndim == 1:
        out = np.zeros((len(a), len(b)))
        for i in range(len(a)):
            for j in range(len(b)):
                if a[i] >= 0 and b[j] >= 0 and a[i] == b[j]:
                    out[i, j] = weight
        return out
    columns = a.shape[1] if a.ndim == 2 else b.shape[1]

    def rows(c: np.ndarray) -> np.ndarray:
        if c.ndim == 2:
            return c.astype(np.float64)
        hot = np.zeros((len(c), columns))
        for i, cam in enumerate(c):
            if cam >= 0:
                hot[i, int(cam)] = 1.0
        return hot

    pa, pb = rows(a), rows(b)
    out = np.zeros((len(pa), len(pb)))
    for i in range(len(pa)):
        for j in range(len(pb)):
            out[i, j] = weight * float(np.sum(pa[i] * pb[j]))
    return out


def direction_penalty(dir_a: Any, dir_b: Any, weight: float) -> np.ndarray:
    """``weight * max(cos(a_i, b_j), 0)`` (zero rows: 0)."""
    return weight * np.maximum(cosine_similarity(dir_a, dir_b), 0.0)


def camera_cluster_penalty(
    cams_a: Any, cams_b: Any, clusters: Mapping[int, int] | Sequence[int], weight: float
) -> np.ndarray:
    """weight where both cameras are known (>= 0) and clusters[cam_a] != clusters[cam_b]."""
    mapping = dict(clusters) if isinstance(clusters, Mapping) else dict(enumerate(clusters))
    a = [int(c) for c in np.asarray(cams_a).reshape(-1)]
    b = [int(c) for c in np.asarray(cams_b).reshape(-1)]
    out = np.zeros((len(a), len(b)))
    for i, ca in enumerate(a):
        for j, cb in enumerate(b):
            if ca >= 0 and cb >= 0 and mapping[ca] != mapping[cb]:
                out[i, j] = weight
    return out


def penalised_rerank(
    sim_qg: Any,
    sim_qq: Any,
    sim_gg: Any,
    penalty_qg: Any,
    penalty_qq: Any,
    penalty_gg: Any,
    k1: int = 20,
    k2: int = 6,
    lambda_: float = 0.3,
) -> np.ndarray:
    """``rerank_similarities(S_qg - P_qg, S_qq - P_qq, S_gg - P_gg) + P_qg``."""
    s_qg, s_qq, s_gg = (_matrix(m) for m in (sim_qg, sim_qq, sim_gg))
    p_qg, p_qq, p_gg = (_matrix(m) for m in (penalty_qg, penalty_qq, penalty_gg))
    return rerank_similarities(s_qg - p_qg, s_qq - p_qq, s_gg - p_gg, k1, k2, lambda_) + p_qg


def penalised_distance(sim_qg: Any, penalty_qg: Any) -> np.ndarray:
    """``(1 - S_qg) + P_qg``."""
    return (1.0 - _matrix(sim_qg)) + _matrix(penalty_qg)


# --------------------------------------------------------------------------------------
# Fusion
# --------------------------------------------------------------------------------------


def fuse_features(features: Sequence[Any], weights: Sequence[float] | None = None) -> np.ndarray:
    """Row by row: ``normalise(concat_i(w_i * normalise(F_i[row])))``."""
    mats = [_matrix(f) for f in features]
    if weights is None:
        weights = [1.0] * len(mats)
    n = mats[0].shape[0]
    out = np.zeros((n, sum(m.shape[1] for m in mats)))
    for r in range(n):
        parts = [w * normalise(m[r]) for m, w in zip(mats, weights)]
        out[r] = normalise(np.concatenate(parts))
    return out
