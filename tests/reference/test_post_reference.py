"""The AICity 2020 recipe's oracles (reid_fast.reference.post) on their own: the steps
composed (aicity2020_distances) against a second, loop-by-loop transcription of the seed
(layumi/AICIty-reID-2020, pytorch/fast_submit_baidu.py) written here in its own style (in-place
edits of one score matrix, row by row, with np.argwhere / np.setdiff1d index sets), with
our deviations marked; and a few rules by hand.

Both sides are float64 and apply the same rules in a different order of operations, so
they agree to ~1e-15 unless a ranking decision sits on an exact tie; the data are drawn
so that none does.
"""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np

from reid_fast.reference import post as ref
from reid_fast.reference.rerank import rerank_similarities

RECIPE = SimpleNamespace(  # the seed's constants, but k1 20 / k2 6 for a small problem
    camera_weight=0.3, direction_weight=0.1, direction_threshold=0.25, cluster_weight=0.2,
    ntop=29, ntop_weight=0.1, query_eps=None, query_min_samples=2, track_weight=0.5,
    min_pixels=15000, query_cluster_edit=0.1, track_similarity=1.0,
    rerank=SimpleNamespace(k1=20, k2=6, lambda_=0.2))


def normalise_rows(x: np.ndarray) -> np.ndarray:
    return x / np.linalg.norm(x, axis=1, keepdims=True)


def own_groups(labels: np.ndarray) -> np.ndarray:
    """Our deviation: each -1 is a group of its own (a distinct negative label)."""
    return np.where(labels >= 0, labels, -2 - np.arange(len(labels)))


def seed_transcription(query, gallery, trackids, query_pixels, gallery_pixels, q_cam, g_cam,
                       query_directions, gallery_directions, q_cam_cluster, g_cam_cluster, r):
    nq, ng = len(query), len(gallery)
    query, gallery = normalise_rows(query), normalise_rows(gallery)
    q_cam_cluster, g_cam_cluster = q_cam_cluster.copy(), g_cam_cluster.copy()
    glabels = trackids
    # Query clusters: DBSCAN on 2 - 2 q q^T (the seed: scikit-learn, metric="precomputed").
    qlabels = ref.density_clusters(query, r.query_eps, r.query_min_samples, "sqeuclidean")
    junk_index_q = np.argwhere(query_pixels < r.min_pixels).flatten()
    junk_index_g = np.argwhere(gallery_pixels < r.min_pixels).flatten()
    # Gallery video fusion.
    gallery_clone = gallery.copy()
    for label in np.unique(glabels[glabels != -1]):
        index = np.argwhere(glabels == label).flatten()
        high_quality_index = np.setdiff1d(index, junk_index_g)
        if len(high_quality_index) == 0:
            high_quality_index = index
        gallery[index, :] += r.track_weight * np.mean(gallery_clone[high_quality_index, :], axis=0)
    # Query feature fusion.
    query_clone = query.copy()
    for label in range(qlabels.max() + 1):
        index = np.argwhere(qlabels == label).flatten()
        high_quality_index = np.setdiff1d(index, junk_index_q)
        if len(high_quality_index) == 0:
            high_quality_index = index
        query[index, :] = np.mean(query_clone[high_quality_index, :], axis=0)
    query, gallery = normalise_rows(query), normalise_rows(gallery)
    # Camera cluster completion.
    for cam_cluster, labels in ((q_cam_cluster, qlabels), (g_cam_cluster, glabels)):
        for label in np.unique(labels[labels != -1]):
            index = np.argwhere(labels == label).flatten()
            flag = np.unique(cam_cluster[index])
            if len(flag) == 2:
                cam_cluster[index[cam_cluster[index] == -1]] = flag[1]
    # Direction similarities (the seed loads them from pickles).
    q_dir, g_dir = normalise_rows(query_directions), normalise_rows(gallery_directions)
    q_g_direction_sim, q_q_direction_sim = q_dir @ g_dir.T, q_dir @ q_dir.T
    g_g_direction_sim = g_dir @ g_dir.T

    def penalise(score, i, cams, direction_sim, cam_clusters, sign, good_index=()):
        """Row i of score: the camera, else direction, plus cluster rule, sparing good_index."""
        if cams[0][i] != -1:
            junk = np.argwhere(cams[1] == cams[0][i]).flatten()
            score[i, np.setdiff1d(junk, good_index)] += sign * r.camera_weight
        else:
            junk = np.argwhere(direction_sim[i, :] >= r.direction_threshold).flatten()
            score[i, np.setdiff1d(junk, good_index)] += sign * r.direction_weight
        if cam_clusters[0][i] != -1:
            junk = np.argwhere(cam_clusters[1] == cam_clusters[0][i]).flatten()
            score[i, np.setdiff1d(junk, good_index)] += sign * r.cluster_weight

    # q-g penalties.
    score_total = query @ gallery.T
    for i in range(nq):
        penalise(score_total, i, (q_cam, g_cam), q_g_direction_sim, (q_cam_cluster, g_cam_cluster), -1)
    # ntop. Deviations: ties by the lower index (a stable sort), each -1 its own track.
    own_tracks = own_groups(glabels)
    for j in range(min(r.ntop, ng)):
        for i in range(nq):
            top = np.argsort(-score_total[i, :], kind="stable")[j]
            good_index = np.argwhere(own_tracks == own_tracks[top]).flatten()
            if g_cam[top] != -1:
                bad_index = np.argwhere(g_cam == g_cam[top]).flatten()
                score_total[i, np.setdiff1d(bad_index, good_index)] -= r.ntop_weight
    # q-q: different clusters, same cluster; g-g: same track.
    q_q_dist, g_g_dist = query @ query.T, gallery @ gallery.T
    for label in range(qlabels.max() + 1):
        index = np.argwhere(qlabels == label).flatten()
        bad_index = np.intersect1d(np.argwhere(qlabels != label), np.argwhere(qlabels != -1))
        for j in index:
            q_q_dist[j, bad_index] -= r.query_cluster_edit
    for label in range(qlabels.max() + 1):
        index = np.argwhere(qlabels == label).flatten()
        for j in index:
            q_q_dist[j, index] += r.query_cluster_edit
    for label in np.unique(glabels[glabels != -1]):
        index = np.argwhere(glabels == label).flatten()
        for j in index:
            g_g_dist[j, index] = r.track_similarity
    # q-q and g-g penalties, sparing the own group. Deviation: -1 is a group of its own.
    own_clusters = own_groups(qlabels)
    for i in range(ng):
        good_index = np.argwhere(own_tracks == own_tracks[i]).flatten()
        penalise(g_g_dist, i, (g_cam, g_cam), g_g_direction_sim, (g_cam_cluster, g_cam_cluster),
                 -1, good_index)
    for i in range(nq):
        good_index = np.argwhere(own_clusters == own_clusters[i]).flatten()
        penalise(q_q_dist, i, (q_cam, q_cam), q_q_direction_sim, (q_cam_cluster, q_cam_cluster),
                 -1, good_index)
    # Re-ranking, then the q-g penalties (not ntop) back.
    score = rerank_similarities(score_total, q_q_dist, g_g_dist, r.rerank.k1, r.rerank.k2,
                                r.rerank.lambda_)
    for i in range(nq):
        penalise(score, i, (q_cam, g_cam), q_g_direction_sim, (q_cam_cluster, g_cam_cluster), +1)
    return score


def problem(seed: int, q: int = 10, g: int = 30) -> dict:
    rng = np.random.default_rng(seed)
    centres = rng.standard_normal((8, 16))
    identity = rng.integers(0, 8, size=q + g)
    x = normalise_rows(centres[identity] + 0.25 * rng.standard_normal((q + g, 16)))
    trackids = 10 * identity[q:] + rng.integers(0, 3, size=g)
    trackids[rng.random(g) < 0.2] = -1
    cams, clusters = rng.integers(-1, 4, size=q + g), rng.integers(-1, 3, size=q + g)
    directions = rng.standard_normal((q + g, 4))
    return dict(query=x[:q], gallery=x[q:], trackids=trackids,
                query_pixels=rng.integers(5000, 40000, size=q),
                gallery_pixels=rng.integers(5000, 40000, size=g),
                query_cameras=cams[:q], gallery_cameras=cams[q:],
                query_directions=directions[:q], gallery_directions=directions[q:],
                query_camera_clusters=clusters[:q], gallery_camera_clusters=clusters[q:])


def test_composed_oracles_match_the_seed_transcription():
    checked = 0
    for seed in range(5):
        p = problem(seed)
        r = SimpleNamespace(**{**vars(RECIPE), "query_eps": 0.8})
        expected = seed_transcription(*p.values(), r)
        got = ref.aicity2020_distances(**p, recipe=r)
        np.testing.assert_allclose(got, expected, rtol=0, atol=1e-9)
        labels = ref.density_clusters(p["query"], r.query_eps, 2, "sqeuclidean")
        checked += len(set(labels.tolist()) - {-1}) >= 2
    assert checked >= 3  # most draws have query clusters


def test_recipe_rules_by_hand():
    # Completion as the seed writes it: {-1, 4} -> 4; {3, 4} and {-1, 3, 4} unchanged.
    assert ref.complete_camera_clusters([-1, 4, 3, 4, -1, 3, 4], [0, 0, 1, 1, 2, 2, 2]).tolist() == [
        4, 4, 3, 4, -1, 3, 4]
    # ntop: the top item (camera 2, track 5) suppresses camera 2 outside track 5.
    np.testing.assert_allclose(ref.ntop_penalty([[0.9, 0.1, 0.5]], [2, 2, 2], [5, 5, 6], 1, 0.1),
                               [[0, 0, 0.1]])
    # q-g penalty of a query with a known camera: no direction term.
    p_qg, _, _ = ref.aicity2020_penalties(
        1, 2, [1], [1, -1], [[1.0, 0.0]], [[1.0, 0.0], [1.0, 0.0]], None, None, None, None,
        camera_weight=0.3, direction_weight=0.1, direction_threshold=0.25, cluster_weight=0.2)
    np.testing.assert_allclose(p_qg, [[0.3, 0.0]])
    assert ref.predict_cameras([[0.3, 0.7]], None, 0.8)[0].tolist() == [-1]
