"""Literal NumPy float64 oracles of :mod:`reid_fast.post` (query expansion, DBSCAN,
tracks, camera/direction penalties, the AICity 2020 recipe's steps, fusion).

Written from the definitions (docs/design.md section 4 and the docstrings of reid_fast.post),
not from the torch code: plain Python loops over rows, neighbours from a full stable
argsort of each row's cosine distance ``1 - <x, y> / (max(|x|, 1e-12) max(|y|, 1e-12))``
(equal distances in increasing index order, as :func:`reid_fast.knn` breaks ties), a
textbook queue-based DBSCAN, dictionaries for tracks, and re-ranking from
:mod:`reid_fast.reference.rerank`. For tests and documentation only.

The AICity 2020 recipe's steps are written from the rules as the seed
(layumi/AICIty-reID-2020, ``pytorch/fast_submit_baidu.py``) states them, one item or one
pair at a time, with our deviations (docs/design.md section 4); the recipe constants are
arguments here (this module imports nothing from reid_fast.post).

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


def density_clusters(features: Any, eps: float, min_samples: int, metric: str = "cosine"
                     ) -> np.ndarray:
    """Textbook DBSCAN on cosine distance, (n,) int64 labels, -1 noise.

    Neighbourhood of i: every j with ``1 - cos(x_i, x_j) <= eps`` (``metric="cosine"``) or
    ``2 - 2 cos(x_i, x_j) <= eps`` (``metric="sqeuclidean"``), and i itself. Core:
    neighbourhood size >= min_samples. Points are visited in index order; an unlabelled
    core point starts the next cluster number, which a queue expands through core points;
    a border point keeps the first cluster that reaches it (the lowest-numbered one).
    """
    x = _matrix(features)
    n = x.shape[0]
    if metric == "cosine":
        distance = 1.0 - cosine_similarity(x, x)
    elif metric == "sqeuclidean":
        distance = 2.0 - 2.0 * cosine_similarity(x, x)
    else:
        raise ValueError(f"unknown metric {metric!r}")
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


def _mean_of_good(x: np.ndarray, members: list[int], high_quality: Any) -> np.ndarray:
    """Mean of the high-quality rows among members, or of all members if none is (or no
    mask)."""
    good = members if high_quality is None else [i for i in members if bool(high_quality[i])]
    return np.mean(x[good if good else members], axis=0)


def cluster_query_expansion(
    query: Any, eps: float = 0.3, min_samples: int = 2, metric: str = "cosine",
    high_quality: Any = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Queries of a cluster replaced by the normalised mean of the cluster (of its
    high-quality members if it has any); noise kept."""
    query = _matrix(query)
    labels = density_clusters(query, eps, min_samples, metric)
    out = query.copy()
    for c in sorted(set(labels.tolist()) - {-1}):
        members = [i for i in range(query.shape[0]) if labels[i] == c]
        mean = _mean_of_good(query, members, high_quality)
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


def track_average(gallery: Any, trackids: Any, weight: float = 1.0, high_quality: Any = None
                  ) -> np.ndarray:
    """``g_i' = normalise(g_i + weight * mean of g_i's track)``, the mean over the track's
    high-quality images if it has any; -1 items unchanged."""
    gallery = _matrix(gallery)
    ids = np.asarray(trackids).reshape(-1)
    index, _ = track_groups(ids)
    out = gallery.copy()
    for i in range(gallery.shape[0]):
        if ids[i] == -1:
            continue
        members = [j for j in range(gallery.shape[0]) if index[j] == index[i]]
        out[i] = normalise(gallery[i] + weight * _mean_of_good(gallery, members, high_quality))
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


def direction_similarity(dir_a: Any, dir_b: Any) -> np.ndarray:
    """``cos(a_i, b_j)`` (zero rows: 0)."""
    return cosine_similarity(dir_a, dir_b)


def direction_penalty(dir_a: Any, dir_b: Any, weight: float, threshold: float | None = None
                      ) -> np.ndarray:
    """``weight * max(cos(a_i, b_j), 0)``; with a threshold, ``weight`` where
    ``cos(a_i, b_j) >= threshold`` and 0 elsewhere."""
    s = direction_similarity(dir_a, dir_b)
    out = np.zeros(s.shape)
    for i in range(s.shape[0]):
        for j in range(s.shape[1]):
            if threshold is None:
                out[i, j] = weight * max(s[i, j], 0.0)
            elif s[i, j] >= threshold:
                out[i, j] = weight
    return out


def camera_cluster_penalty(
    cams_a: Any, cams_b: Any, clusters: Mapping[int, int] | Sequence[int], weight: float
) -> np.ndarray:
    """weight where both cameras are known (>= 0) and clusters[cam_a] == clusters[cam_b]."""
    mapping = dict(clusters) if isinstance(clusters, Mapping) else dict(enumerate(clusters))
    a = [int(c) for c in np.asarray(cams_a).reshape(-1)]
    b = [int(c) for c in np.asarray(cams_b).reshape(-1)]
    out = np.zeros((len(a), len(b)))
    for i, ca in enumerate(a):
        for j, cb in enumerate(b):
            if ca >= 0 and cb >= 0 and mapping[ca] == mapping[cb]:
                out[i, j] = weight
    return out


def voc_penalty(camera_a: Any, camera_b: Any, orientation_a: Any, orientation_b: Any,
                camera_weight: float, orientation_weight: float) -> np.ndarray:
    """``camera_weight cos(camera_a_i, camera_b_j) + orientation_weight cos(orientation_a_i,
    orientation_b_j)``."""
    return (camera_weight * cosine_similarity(camera_a, camera_b)
            + orientation_weight * cosine_similarity(orientation_a, orientation_b))


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
    suppression_qg: Any = None,
) -> np.ndarray:
    """``rerank_similarities(S_qg - P_qg - E_qg, S_qq - P_qq, S_gg - P_gg) + P_qg``
    (E_qg = ``suppression_qg``, default 0)."""
    s_qg, s_qq, s_gg = (_matrix(m) for m in (sim_qg, sim_qq, sim_gg))
    p_qg, p_qq, p_gg = (_matrix(m) for m in (penalty_qg, penalty_qq, penalty_gg))
    e_qg = np.zeros(s_qg.shape) if suppression_qg is None else _matrix(suppression_qg)
    return rerank_similarities(s_qg - p_qg - e_qg, s_qq - p_qq, s_gg - p_gg, k1, k2, lambda_) + p_qg


def penalised_distance(sim_qg: Any, penalty_qg: Any) -> np.ndarray:
    """``(1 - S_qg) + P_qg``."""
    return (1.0 - _matrix(sim_qg)) + _matrix(penalty_qg)


# --------------------------------------------------------------------------------------
# The AICity 2020 recipe (Baidu-UTS)
# --------------------------------------------------------------------------------------


def predict_cameras(probabilities: Any, classes: Any, threshold: float
                    ) -> tuple[np.ndarray, np.ndarray]:
    """Row by row: the first column with the largest probability; its camera
    (``classes[column]``, or the column itself when classes is None) if that probability
    is >= threshold, else -1. Returns ((n,) int64 cameras, (n,) float64 largest
    probabilities)."""
    p = _matrix(probabilities)
    cameras = np.full(p.shape[0], -1, dtype=np.int64)
    confidence = np.zeros(p.shape[0])
    for i in range(p.shape[0]):
        best = 0
        for c in range(1, p.shape[1]):
            if p[i, c] > p[i, best]:
                best = c
        confidence[i] = p[i, best]
        if p[i, best] >= threshold:
            cameras[i] = best if classes is None else int(classes[best])
    return cameras, confidence


def camera_clusters(query_embeddings: Any, gallery_embeddings: Any, eps: float,
                    min_samples: int) -> tuple[np.ndarray, np.ndarray]:
    """DBSCAN on ``2 - 2 cos`` over the queries and then the gallery images, split back."""
    query = _matrix(query_embeddings)
    labels = density_clusters(np.concatenate([query, _matrix(gallery_embeddings)]), eps,
                              min_samples, "sqeuclidean")
    return labels[: query.shape[0]], labels[query.shape[0]:]


def complete_camera_clusters(clusters: Any, groups: Any) -> np.ndarray:
    """For each group (-1: none), as the seed: ``flag = np.unique(labels of its members)``;
    when ``len(flag) == 2``, members labelled -1 take ``flag[1]``."""
    labels = np.array(clusters, dtype=np.int64).reshape(-1)
    groups = [int(x) for x in np.asarray(groups).reshape(-1)]
    for group in sorted(set(groups) - {-1}):
        members = [i for i in range(len(groups)) if groups[i] == group]
        flag = np.unique(labels[members])
        if len(flag) == 2:
            for i in members:
                if labels[i] == -1:
                    labels[i] = flag[1]
    return labels


def high_quality(pixels: Any, min_pixels: float) -> np.ndarray:
    """(n,) bool: at least ``min_pixels`` pixels."""
    return np.array([float(p) >= min_pixels for p in np.asarray(pixels).reshape(-1)], dtype=bool)


def aicity2020_penalties(
    q: int,
    g: int,
    query_cameras: Any = None,
    gallery_cameras: Any = None,
    query_directions: Any = None,
    gallery_directions: Any = None,
    query_camera_clusters: Any = None,
    gallery_camera_clusters: Any = None,
    query_groups: Any = None,
    gallery_groups: Any = None,
    *,
    camera_weight: float,
    direction_weight: float,
    direction_threshold: float,
    cluster_weight: float,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The (q, g), (q, q) and (g, g) penalties, pair by pair. None: -1 for every item
    (labels) or no direction term (directions). Row i, column j:

    - row i's camera known: camera_weight if j's camera is the same;
    - else (directions given): direction_weight if cos(dir_i, dir_j) >= direction_threshold;
    - plus cluster_weight if row i's camera cluster is known and j's is the same;
    - q-q and g-g: nothing on the diagonal or between two members of one group (!= -1).
    """

    def side(value: Any, n: int) -> list[int]:
        return [-1] * n if value is None else [int(x) for x in np.asarray(value).reshape(-1)]

    cams = (side(query_cameras, q), side(gallery_cameras, g))
    clusters = (side(query_camera_clusters, q), side(gallery_camera_clusters, g))
    groups = (side(query_groups, q), side(gallery_groups, g))
    dirs = None if query_directions is None else (_matrix(query_directions),
                                                  _matrix(gallery_directions))

    def block(a: int, b: int) -> np.ndarray:
        out = np.zeros((len(cams[a]), len(cams[b])))
        for i in range(len(cams[a])):
            for j in range(len(cams[b])):
                if a == b and (i == j or (groups[a][i] != -1 and groups[a][i] == groups[a][j])):
                    continue
                if cams[a][i] != -1:
                    if cams[b][j] == cams[a][i]:
                        out[i, j] += camera_weight
                elif dirs is not None:
                    s = cosine_similarity(dirs[a][i][None, :], dirs[b][j][None, :])[0, 0]
                    if s >= direction_threshold:
                        out[i, j] += direction_weight
                if clusters[a][i] != -1 and clusters[b][j] == clusters[a][i]:
                    out[i, j] += cluster_weight
        return out

    return block(0, 1), block(0, 0), block(1, 1)


def ntop_penalty(sim_qg: Any, gallery_cameras: Any, gallery_trackids: Any, ntop: int,
                 weight: float) -> np.ndarray:
    """For j = 0 .. min(ntop, g) - 1, for each query row: the item t at position j of a
    stable argsort of the current row, descending (equal values: lower index first); if
    t's camera is known, every item of that camera outside t's track (each -1 a track of
    its own) loses ``weight``. Returns the total subtracted, (q, g)."""
    original = _matrix(sim_qg)
    current = original.copy()
    q, g = current.shape
    cams = [int(c) for c in np.asarray(gallery_cameras).reshape(-1)]
    tracks, _ = track_groups(gallery_trackids)
    for j in range(min(ntop, g)):
        for i in range(q):
            t = int(np.argsort(-current[i], kind="stable")[j])
            if cams[t] == -1:
                continue
            for c in range(g):
                if cams[c] == cams[t] and tracks[c] != tracks[t]:
                    current[i, c] -= weight
    return original - current


def cluster_similarity_edit(sim_qq: Any, clusters: Any, weight: float) -> np.ndarray:
    """+weight within a query cluster (diagonal included), -weight between two different
    clusters; pairs with a noise query (-1) unchanged."""
    out = _matrix(sim_qq).copy()
    labels = [int(c) for c in np.asarray(clusters).reshape(-1)]
    for i, a in enumerate(labels):
        for j, b in enumerate(labels):
            if a == -1 or b == -1:
                continue
            out[i, j] += weight if a == b else -weight
    return out


def track_similarity_edit(sim_gg: Any, trackids: Any, value: float) -> np.ndarray:
    """``value`` between two images of one track (diagonal included); -1: unchanged."""
    out = _matrix(sim_gg).copy()
    ids = [int(t) for t in np.asarray(trackids).reshape(-1)]
    for i, a in enumerate(ids):
        for j, b in enumerate(ids):
            if a != -1 and a == b:
                out[i, j] = value
    return out


def aicity2020_distances(
    query: Any,
    gallery: Any,
    trackids: Any,
    query_pixels: Any,
    gallery_pixels: Any,
    query_cameras: Any,
    gallery_cameras: Any,
    query_directions: Any,
    gallery_directions: Any,
    query_camera_clusters: Any,
    gallery_camera_clusters: Any,
    recipe: Any,
) -> np.ndarray:
    """The recipe's post-processing after the camera clusters, composed from the oracles
    above: query clusters (5), gallery track fusion (6), cluster completion, the
    penalties (3), ntop (4), the q-q / g-g edits (7) and the penalised re-ranking (8).

    ``recipe`` is anything with the attributes of ``reid_fast.post.Aicity2020Recipe``
    (its eps values are on 2 - 2 s). Returns (q, g) float64 distances."""
    r = recipe
    query, query_clusters = cluster_query_expansion(
        query, r.query_eps, r.query_min_samples, "sqeuclidean",
        high_quality(query_pixels, r.min_pixels))
    gallery = track_average(gallery, trackids, r.track_weight,
                            high_quality(gallery_pixels, r.min_pixels))
    q_clusters = complete_camera_clusters(query_camera_clusters, query_clusters)
    g_clusters = complete_camera_clusters(gallery_camera_clusters, trackids)
    p_qg, p_qq, p_gg = aicity2020_penalties(
        query.shape[0], gallery.shape[0], query_cameras, gallery_cameras, query_directions,
        gallery_directions, q_clusters, g_clusters, query_clusters, trackids,
        camera_weight=r.camera_weight, direction_weight=r.direction_weight,
        direction_threshold=r.direction_threshold, cluster_weight=r.cluster_weight)
    s_qg = cosine_similarity(query, gallery)
    suppression = ntop_penalty(s_qg - p_qg, gallery_cameras, trackids, r.ntop, r.ntop_weight)
    s_qq = cluster_similarity_edit(cosine_similarity(query, query), query_clusters,
                                   r.query_cluster_edit)
    s_gg = track_similarity_edit(cosine_similarity(gallery, gallery), trackids,
                                 r.track_similarity)
    return penalised_rerank(s_qg, s_qq, s_gg, p_qg, p_qq, p_gg, r.rerank.k1, r.rerank.k2,
                            r.rerank.lambda_, suppression)


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
