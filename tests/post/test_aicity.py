"""The AICity 2020 recipe's steps in reid_fast.post (recipe constants, predicted cameras,
camera clusters and their completion, high-quality means, the penalty matrices, ntop,
the q-q / g-g edits, the VOC penalty, the penalised re-ranking with suppression, and the
steps composed) against hand-computed cases and the literal float64 oracles in
reid_fast.reference.post.

Tolerances as tests/post/test_post.py: 1e-5 absolute on features and penalties, and the
tie-aware re-ranking comparison. Thresholded and rank-based rules are discontinuous, so
random data are checked for a clear gap where the rule decides (direction similarities
far from the threshold, eps in a gap, ntop decisions that a 1e-5 perturbation does not
change, no near-ties at the re-ranking boundaries) before comparing: an assertion on
seeded data, not a silent skip.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import reid_testing as rt
import torch
from post_testing import (
    ATOL,
    T,
    angles,
    as64,
    close,
    clustered_unit,
    eps_in_gap,
    random_unit,
    unit,
)

from reid_fast import post
from reid_fast.ops.params import RerankParams
from reid_fast.ops.rerank import rerank_similarities
from reid_fast.reference import post as ref
from reid_fast.reference.rerank import normalise as rerank_normalise

R = post.AICITY2020
WEIGHTS = dict(camera_weight=R.camera_weight, direction_weight=R.direction_weight,
               direction_threshold=R.direction_threshold, cluster_weight=R.cluster_weight)


def ids(values, device: str = "cpu") -> torch.Tensor:
    return torch.tensor(np.asarray(values), dtype=torch.int64, device=device)


# --------------------------------------------------------------------------------------
# Recipe constants
# --------------------------------------------------------------------------------------


def test_recipe_defaults_are_the_seeds():
    assert (R.camera_weight, R.direction_weight, R.direction_threshold, R.cluster_weight) == (
        0.3, 0.1, 0.25, 0.2)
    assert (R.ntop, R.ntop_weight) == (29, 0.1)
    assert (R.query_eps, R.query_min_samples, R.camera_eps, R.camera_min_samples) == (0.5, 2, 0.3, 50)
    assert R.camera_reference_images == 1052 + 18290
    assert (R.track_weight, R.min_pixels, R.query_cluster_edit, R.track_similarity) == (
        0.5, 15000, 0.1, 1.0)
    assert R.rerank == RerankParams(70, 10, 0.2)
    assert R.camera_threshold == 0.5 and R.eps_metric == "sqeuclidean"
    assert (post.VOC2020.camera_weight, post.VOC2020.orientation_weight) == (0.1, 0.1)
    with pytest.raises(AttributeError):
        R.ntop = 5  # frozen


def test_camera_min_samples_scale_with_the_images():
    assert R.camera_min_samples_for(19342) == 50
    assert R.camera_min_samples_for(2 * 19342) == 100
    assert R.camera_min_samples_for(1000) == 3  # 50 * 1000 / 19342 = 2.59
    assert R.camera_min_samples_for(500) == 2  # 1.29, at least 2
    assert R.camera_min_samples_for(0) == 2
    assert post.Aicity2020Recipe(camera_min_samples=10, camera_reference_images=100
                                 ).camera_min_samples_for(50) == 5
    with pytest.raises(ValueError, match="images must be >= 0, got -1"):
        R.camera_min_samples_for(-1)


def test_recipe_checks():
    with pytest.raises(ValueError, match="ntop must be >= 0, got -1"):
        post.Aicity2020Recipe(ntop=-1)
    with pytest.raises(TypeError, match="camera_weight must be a real number"):
        post.Aicity2020Recipe(camera_weight="0.3")
    with pytest.raises(ValueError, match=r"direction_threshold must be in \[-1, 1\], got 2"):
        post.Aicity2020Recipe(direction_threshold=2)
    with pytest.raises(ValueError, match=r"camera_threshold must be in \[0, 1\]"):
        post.Aicity2020Recipe(camera_threshold=1.5)
    with pytest.raises(ValueError, match="query_min_samples must be >= 1, got 0"):
        post.Aicity2020Recipe(query_min_samples=0)
    with pytest.raises(TypeError, match="rerank must be a RerankParams, got tuple"):
        post.Aicity2020Recipe(rerank=(70, 10, 0.2))
    with pytest.raises(ValueError, match="orientation_weight must be finite"):
        post.VocRecipe(orientation_weight=math.inf)


# --------------------------------------------------------------------------------------
# Density clusters on 2 - 2s, high-quality means
# --------------------------------------------------------------------------------------


def test_density_clusters_on_two_minus_two_s_by_hand():
    # Angles 0, 10, 20 and 200 degrees; 2 - 2 cos(10 deg) = 0.0304, 2 - 2 cos(20) = 0.1206.
    x = T(angles([0, 10, 20, 200]))
    eps = 2 - 2 * math.cos(math.radians(12))
    assert post.density_clusters(x, eps, 2, metric="sqeuclidean").tolist() == [0, 0, 0, -1]
    # Half of it on the cosine distance 1 - s is the same radius.
    assert post.density_clusters(x, eps / 2, 2).tolist() == [0, 0, 0, -1]
    eps = 2 - 2 * math.cos(math.radians(8))  # 1 - cos(11.3 deg): on 1 - s, 0-10-20 links
    assert post.density_clusters(x, eps, 2, metric="sqeuclidean").tolist() == [-1, -1, -1, -1]
    assert post.density_clusters(x, eps, 2).tolist() == [0, 0, 0, -1]
    assert ref.density_clusters(as64(x), eps, 2, "sqeuclidean").tolist() == [-1, -1, -1, -1]


@pytest.mark.parametrize("quantile, min_samples", [(0.05, 2), (0.1, 3)])
def test_density_clusters_on_two_minus_two_s_match_reference(device, quantile, min_samples):
    x, _ = clustered_unit(61, 30)
    eps = 2 * eps_in_gap(x, quantile)  # a gap of 1 - s is one of 2 - 2s at twice the value
    got = post.density_clusters(T(x, device), eps, min_samples, metric="sqeuclidean")
    expected = ref.density_clusters(x, eps, min_samples, "sqeuclidean")
    assert got.tolist() == expected.tolist() and len(set(expected.tolist()) - {-1}) >= 2


def test_high_quality_means_by_hand():
    # Queries at 0, 10, 20 degrees (one cluster) and 200 (noise); only 20 deg is high quality.
    x = T(angles([0, 10, 20, 200]))
    eps = 2 - 2 * math.cos(math.radians(12))
    new, labels = post.cluster_query_expansion(x, eps, 2, metric="sqeuclidean",
                                               high_quality=[False, False, True, True])
    assert labels.tolist() == [0, 0, 0, -1]
    close(new, np.concatenate([angles([20, 20, 20]), as64(x)[3:]]))
    # No high-quality member: the mean of all (10 deg).
    new, _ = post.cluster_query_expansion(x, eps, 2, metric="sqeuclidean",
                                          high_quality=torch.tensor([False, False, False, True]))
    close(new[:3], angles([10, 10, 10]))
    # Tracks: g_i + 0.5 * (the high-quality mean), renormalised; -1 unchanged.
    g = T(angles([0, 90, 45]))
    got = post.track_average(g, [7, 7, -1], 0.5, high_quality=np.array([False, True, True]))
    close(got, [unit(angles([0])[0] + 0.5 * angles([90])[0]), angles([90])[0] * 1.0, angles([45])[0]])
    close(post.track_average(g, [7, 7, -1], 0.5, high_quality=[False, False, True]),
          post.track_average(g, [7, 7, -1], 0.5))


def test_high_quality_means_match_reference(device):
    x, _ = clustered_unit(62, 30)
    eps = 2 * eps_in_gap(x, 0.1)
    mask = np.random.default_rng(62).random(30) < 0.5
    new, labels = post.cluster_query_expansion(T(x, device), eps, 2, metric="sqeuclidean",
                                               high_quality=torch.tensor(mask))  # CPU mask: moved
    expected, expected_labels = ref.cluster_query_expansion(x, eps, 2, "sqeuclidean", mask)
    assert labels.tolist() == expected_labels.tolist() and new.device.type == device
    close(new, expected)
    gallery = random_unit(63, 60)
    trackids = np.random.default_rng(63).integers(-1, 12, size=60)
    got = post.track_average(T(gallery, device), trackids, 0.5, high_quality=mask.tolist() * 2)
    close(got, ref.track_average(gallery, trackids, 0.5, mask.tolist() * 2))


def test_high_quality():
    got = post.high_quality([14999, 15000, 150 * 151])
    assert got.dtype == torch.bool and got.tolist() == [False, True, True]
    assert post.high_quality(torch.tensor([1.5, 0.5]), 1.0).tolist() == [True, False]
    assert ref.high_quality([14999, 15000], 15000).tolist() == [False, True]
    with pytest.raises(ValueError, match="pixels must be >= 0, got -3 at index 1"):
        post.high_quality([4, -3])
    with pytest.raises(ValueError, match="pixels must be 1-D"):
        post.high_quality([[4]])
    with pytest.raises(TypeError, match="pixels must hold real numbers"):
        post.high_quality([True])
    with pytest.raises(ValueError, match="pixels must be finite"):
        post.high_quality([math.nan])
    with pytest.raises(ValueError, match="min_pixels must be >= 0"):
        post.high_quality([4], -1)


def test_high_quality_mask_errors():
    x = T(angles([0, 10]))
    with pytest.raises(TypeError, match="high_quality must be a bool mask, got torch.int64"):
        post.cluster_query_expansion(x, high_quality=[1, 0])
    with pytest.raises(ValueError, match=r"high_quality must have shape \(2,\), got \(3,\)"):
        post.track_average(x, [1, 1], high_quality=[True, True, False])
    with pytest.raises(ValueError, match="metric must be one of 'cosine', 'sqeuclidean'"):
        post.density_clusters(x, 0.1, 2, metric="euclidean")


# --------------------------------------------------------------------------------------
# Cameras: prediction, clusters, completion
# --------------------------------------------------------------------------------------


def test_predict_cameras_by_hand():
    p = T([[0.2, 0.7, 0.1], [0.4, 0.4, 0.2], [0.5, 0.25, 0.25], [0.0, 0.0, 1.0]])
    cameras, confidence = post.predict_cameras(p)
    assert cameras.dtype == torch.int64 and confidence.dtype == torch.float32
    # Row 1: a tie at 0.4 < 0.5: unknown; row 2: exactly the threshold: kept.
    assert cameras.tolist() == [1, -1, 0, 2]
    close(confidence, [0.7, 0.4, 0.5, 1.0])
    cameras, _ = post.predict_cameras(p, [11, 12, 13], threshold=0.3)
    assert cameras.tolist() == [12, 11, 11, 13]  # the tie goes to the lower column
    cameras, _ = post.predict_cameras(p, torch.tensor([5, 6, 7]), threshold=0.0)
    assert cameras.tolist() == [6, 5, 5, 7]
    expected = ref.predict_cameras(as64(p), [11, 12, 13], 0.3)
    assert expected[0].tolist() == [12, 11, 11, 13]
    empty, confidence = post.predict_cameras(torch.zeros((0, 3)))
    assert empty.shape == (0,) and confidence.shape == (0,)


def test_predict_cameras_match_reference(device):
    rng = np.random.default_rng(64)
    logits = 3.0 * rng.standard_normal((50, 6))
    p = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    classes = [3, 9, 1, 4, 0, 7]
    cameras, confidence = post.predict_cameras(T(p, device), classes, 0.6)
    expected, expected_confidence = ref.predict_cameras(p.astype(np.float32), classes, 0.6)
    assert np.min(np.abs(expected_confidence - 0.6)) > 1e-5  # no row at the threshold
    assert cameras.tolist() == expected.tolist() and cameras.device.type == device
    assert -1 in expected.tolist() and len(set(expected.tolist())) >= 4
    close(confidence, expected_confidence)


def test_predict_cameras_errors():
    p = T([[0.5, 0.5]])
    with pytest.raises(ValueError, match=r"one camera id per column of probabilities \(2\), got 3"):
        post.predict_cameras(p, [1, 2, 3])
    with pytest.raises(ValueError, match="classes must be camera ids >= 0, got -1 at index 1"):
        post.predict_cameras(p, [1, -1])
    with pytest.raises(TypeError, match="classes must hold integers"):
        post.predict_cameras(p, [1.0, 2.0])
    with pytest.raises(ValueError, match=r"threshold must be in \[0, 1\], got 1.5"):
        post.predict_cameras(p, threshold=1.5)
    with pytest.raises(TypeError, match="probabilities must be a floating-point tensor"):
        post.predict_cameras(torch.ones((1, 2), dtype=torch.int64))
    with pytest.raises(TypeError, match="probabilities must be a torch.Tensor"):
        post.predict_cameras(np.ones((1, 2)))
    with pytest.raises(ValueError, match="probabilities must be 2-D"):
        post.predict_cameras(torch.ones(3))
    with pytest.raises(ValueError, match="at least one camera column"):
        post.predict_cameras(torch.ones((3, 0)))
    with pytest.raises(ValueError, match="probabilities must be finite"):
        post.predict_cameras(T([[math.nan, 1.0]]))


def test_camera_clusters_by_hand():
    # Query embeddings at 0 and 100 degrees, gallery at 5, 10, 95, 200: two scenes.
    q, g = T(angles([0, 100])), T(angles([5, 10, 95, 200]))
    eps = 2 - 2 * math.cos(math.radians(6))
    query_clusters, gallery_clusters = post.camera_clusters(q, g, eps, 2)
    assert query_clusters.tolist() == [0, 1] and gallery_clusters.tolist() == [0, 0, 1, -1]
    # Six images: the default core size is max(2, round(50 * 6 / 19342)) = 2.
    assert [c.tolist() for c in post.camera_clusters(q, g, eps)] == [[0, 1], [0, 0, 1, -1]]
    assert [c.tolist() for c in post.camera_clusters(q, g, eps, 3)] == [[0, -1], [0, 0, -1, -1]]
    expected = ref.camera_clusters(as64(q), as64(g), eps, 3)
    assert [c.tolist() for c in expected] == [[0, -1], [0, 0, -1, -1]]


def test_camera_clusters_match_reference(device):
    x, _ = clustered_unit(65, 40, identities=5, noise=0.4)
    eps = 2 * eps_in_gap(x, 0.1)
    got = post.camera_clusters(T(x[:10], device), T(x[10:], device), eps, 3)
    expected = ref.camera_clusters(x[:10], x[10:], eps, 3)
    assert [c.tolist() for c in got] == [c.tolist() for c in expected]
    assert got[0].device.type == device


def test_complete_camera_clusters_by_hand():
    groups = [0, 0, 0, 1, 1, 2, 2, 2, 3, -1, -1, 4, 4]
    clusters = [5, -1, 5, -1, -1, 5, 6, -1, -1, -1, 7, 8, 8]
    # Group 0 is {-1, 5}: filled. Group 1 all -1, group 2 {-1, 5, 6}, group 3 a single -1,
    # the -1 items in no group, group 4 all 8: unchanged.
    expected = [5, 5, 5, -1, -1, 5, 6, -1, -1, -1, 7, 8, 8]
    got = post.complete_camera_clusters(clusters, groups)
    assert got.dtype == torch.int64 and got.tolist() == expected
    assert ref.complete_camera_clusters(clusters, groups).tolist() == expected
    assert post.complete_camera_clusters(torch.tensor([-1, 3]), np.array([2, 2])).tolist() == [3, 3]
    assert post.complete_camera_clusters([], []).tolist() == []
    assert post.complete_camera_clusters([-1, -1], [0, 0]).tolist() == [-1, -1]


def test_complete_camera_clusters_match_reference(device):
    rng = np.random.default_rng(66)
    for _ in range(5):
        groups = rng.integers(-1, 15, size=80)
        clusters = rng.integers(-1, 3, size=80)
        clusters[rng.random(80) < 0.4] = -1
        got = post.complete_camera_clusters(ids(clusters, device), groups)
        assert got.device.type == device
        assert got.tolist() == ref.complete_camera_clusters(clusters, groups).tolist()


def test_camera_errors():
    message = r"groups must have one label per item of clusters \(2\), got 3"
    with pytest.raises(ValueError, match=message):
        post.complete_camera_clusters([1, 2], [0, 0, 0])
    with pytest.raises(ValueError, match="clusters must be >= 0, or -1 for unsure; got -2 at index 0"):
        post.complete_camera_clusters([-2], [0])
    with pytest.raises(TypeError, match="groups must hold integers"):
        post.complete_camera_clusters([1], [0.5])
    with pytest.raises(ValueError, match="gallery_embeddings must have as many columns"):
        post.camera_clusters(T(angles([0])), T([[1.0, 0.0, 0.0]]))
    with pytest.raises(ValueError, match="min_samples must be >= 1"):
        post.camera_clusters(T(angles([0])), T(angles([1])), 0.1, 0)


# --------------------------------------------------------------------------------------
# Direction similarity, the thresholded direction penalty, VOC
# --------------------------------------------------------------------------------------


def test_direction_similarity_and_threshold_by_hand():
    a, b = [[1.0, 0.0]], [[1.0, 1.0], [-1.0, 0.0], [0.0, 2.0], [0.0, 0.0], [3.0, 0.0]]
    close(post.direction_similarity(a, b), [[1 / math.sqrt(2), -1.0, 0.0, 0.0, 1.0]])
    # s >= threshold, inclusive: s = 0 reaches a threshold of 0.
    close(post.direction_penalty(a, b, 0.1, 0.25), [[0.1, 0, 0, 0, 0.1]])
    close(post.direction_penalty(a, b, 0.1, 0.0), [[0.1, 0, 0.1, 0.1, 0.1]])
    close(post.direction_penalty(a, b, 2.0), [[2 / math.sqrt(2), 0, 0, 0, 2.0]])
    np.testing.assert_allclose(ref.direction_penalty(a, b, 0.1, 0.0), [[0.1, 0, 0.1, 0.1, 0.1]])


def test_voc_penalty_by_hand():
    got = post.voc_penalty([[1.0, 0.0]], [[0.0, 1.0], [2.0, 0.0]],
                           [[1.0, 1.0]], [[-1.0, -1.0], [1.0, 0.0]])
    # 0.1 cos(cam) + 0.1 cos(ori): (0 - 1) / 10 and (1 + 1 / sqrt(2)) / 10; unclamped.
    close(got, [[-0.1, 0.1 + 0.1 / math.sqrt(2)]])
    close(post.voc_penalty([[1.0, 0.0]], [[2.0, 0.0]], [[1.0]], [[1.0]], 0.5, 0.25), [[0.75]])
    # One model only: its term alone.
    close(post.voc_penalty([[1.0, 0.0]], [[0.0, 1.0], [2.0, 0.0]], None, None), [[0.0, 0.1]])
    close(post.voc_penalty(None, None, [[1.0, 1.0]], [[-1.0, -1.0]], 0.5, 0.25), [[-0.25]])


def test_directions_and_voc_match_reference(device):
    rng = np.random.default_rng(67)
    da, db = rng.standard_normal((20, 8)), rng.standard_normal((30, 8))
    ca, cb = rng.standard_normal((20, 5)), rng.standard_normal((30, 5))
    s = ref.direction_similarity(da, db)
    assert np.min(np.abs(s - 0.25)) > 1e-5
    close(post.direction_similarity(T(da, device), T(db, device)), s)
    got = post.direction_penalty(T(da, device), T(db, device), 0.1, 0.25)
    assert got.device.type == device
    close(got, ref.direction_penalty(da, db, 0.1, 0.25))
    close(post.voc_penalty(T(ca, device), T(cb, device), T(da, device), T(db, device)),
          ref.voc_penalty(ca, cb, da, db, 0.1, 0.1))


def test_direction_and_voc_errors():
    with pytest.raises(ValueError, match="threshold must be finite"):
        post.direction_penalty([[1.0]], [[1.0]], 0.1, math.nan)
    with pytest.raises(ValueError, match="dir_a and dir_b must have the same number of columns"):
        post.direction_similarity([[1.0, 0.0]], [[1.0]])
    with pytest.raises(ValueError, match=r"orientation_a and orientation_b must give the \(1, 2\) "
                                         r"matrix of camera_a and camera_b, got \(1, 1\)"):
        post.voc_penalty([[1.0]], [[1.0], [1.0]], [[1.0]], [[1.0]])
    with pytest.raises(TypeError, match="camera_b must hold floating-point embeddings"):
        post.voc_penalty([[1.0]], [[1]], [[1.0]], [[1.0]])
    with pytest.raises(ValueError, match="camera_a and camera_b must both be given or both be "
                                         "None, got only camera_a"):
        post.voc_penalty([[1.0]], None, [[1.0]], [[1.0]])
    with pytest.raises(ValueError, match="needs camera or orientation embeddings"):
        post.voc_penalty(None, None, None, None)


# --------------------------------------------------------------------------------------
# The penalty matrices
# --------------------------------------------------------------------------------------

HAND = dict(
    query_cameras=[0, -1], gallery_cameras=[0, 1, -1],
    query_directions=[[1.0, 0.0], [0.6, 0.8]], gallery_directions=[[1.0, 0.0], [0.0, 1.0], [1.0, 1.0]],
    query_camera_clusters=[5, -1], gallery_camera_clusters=[5, 5, -1],
)


def test_aicity2020_penalties_by_hand():
    p = post.aicity2020_penalties(2, 3, **HAND, gallery_groups=[4, 4, -1])
    # Query 0 (camera 0, cluster 5): 0.3 on gallery 0 (camera 0), 0.2 on gallery 0 and 1
    # (cluster 5). Query 1 (camera unknown, direction (0.6, 0.8)): 0.1 on every gallery
    # item (cosines 0.6, 0.8, 0.99 >= 0.25).
    close(p.query_gallery, [[0.5, 0.2, 0.0], [0.1, 0.1, 0.1]])
    # q-q: query 1 -> 0 by direction (cosine 0.6); query 0 -> 1: camera and cluster of
    # query 1 unknown. The diagonal never.
    close(p.query_query, [[0, 0], [0.1, 0]])
    # g-g: gallery 0 and 1 share track 4 (exempt, else 0.2 for cluster 5); gallery 2
    # (camera unknown) -> 0 and 1 by direction (cosine 0.71).
    close(p.gallery_gallery, [[0, 0, 0], [0, 0, 0], [0.1, 0.1, 0]])
    ungrouped = post.aicity2020_penalties(2, 3, **HAND)
    close(ungrouped.gallery_gallery, [[0, 0.2, 0], [0.2, 0, 0], [0.1, 0.1, 0]])
    close(post.aicity2020_penalties(2, 3, **HAND, query_groups=[7, 7]).query_query, np.zeros((2, 2)))
    expected = ref.aicity2020_penalties(2, 3, **HAND, gallery_groups=[4, 4, -1], **WEIGHTS)
    for got, want in zip((p.query_gallery, p.query_query, p.gallery_gallery), expected):
        close(got, want)


def test_aicity2020_penalties_terms_turn_off():
    zero = post.aicity2020_penalties(2, 3)
    for m in (zero.query_gallery, zero.query_query, zero.gallery_gallery):
        assert m.dtype == torch.float32 and not m.any()
    # Cameras only.
    close(post.aicity2020_penalties(2, 3, query_cameras=[0, -1], gallery_cameras=[0, 1, -1]
                                    ).query_gallery, [[0.3, 0, 0], [0, 0, 0]])
    # No cameras: every camera unknown, so the direction applies to every row: query 0
    # (1, 0) reaches gallery 0 (cosine 1) and 2 (0.71); plus cluster 5.
    no_cameras = {k: v for k, v in HAND.items() if not k.endswith("_cameras")}
    close(post.aicity2020_penalties(2, 3, **no_cameras).query_gallery,
          [[0.3, 0.2, 0.1], [0.1, 0.1, 0.1]])
    # No directions: the direction term is off.
    no_directions = {k: v for k, v in HAND.items() if not k.endswith("_directions")}
    close(post.aicity2020_penalties(2, 3, **no_directions).query_gallery, [[0.5, 0.2, 0], [0, 0, 0]])
    # Weights are arguments.
    close(post.aicity2020_penalties(2, 3, **HAND, camera_weight=1.0, cluster_weight=0.0,
                                    direction_weight=2.0, direction_threshold=0.7).query_gallery,
          [[1.0, 0, 0], [0, 2.0, 2.0]])


def _penalty_inputs(seed: int, q: int, g: int, rng=None):
    rng = np.random.default_rng(seed) if rng is None else rng
    n = q + g
    cams, clusters = rng.integers(-1, 4, size=n), rng.integers(-1, 3, size=n)
    dirs = rng.standard_normal((n, 4))
    assert np.min(np.abs(ref.direction_similarity(dirs, dirs) - R.direction_threshold)) > 1e-5
    return dict(query_cameras=cams[:q], gallery_cameras=cams[q:], query_directions=dirs[:q],
                gallery_directions=dirs[q:], query_camera_clusters=clusters[:q],
                gallery_camera_clusters=clusters[q:], query_groups=rng.integers(-1, 4, size=q),
                gallery_groups=rng.integers(-1, 10, size=g))


@pytest.mark.parametrize("leave_out",
                         [(), ("cameras",), ("directions",), ("camera_clusters", "groups")])
def test_aicity2020_penalties_match_reference(device, leave_out):
    inputs = _penalty_inputs(68, 15, 25)
    inputs = {k: v for k, v in inputs.items() if not any(k.endswith("_" + w) for w in leave_out)}
    as_torch = {k: (T(v, device) if k.endswith("directions") else ids(v, device))
                for k, v in inputs.items()}
    got = post.aicity2020_penalties(15, 25, **as_torch)
    expected = ref.aicity2020_penalties(15, 25, **inputs, **WEIGHTS)
    for m, want in zip((got.query_gallery, got.query_query, got.gallery_gallery), expected):
        assert m.device.type == device
        close(m, want)
    assert expected[0].any() and expected[2].any()


def test_aicity2020_penalties_errors():
    with pytest.raises(ValueError, match="both be given or both be None, got only query_directions"):
        post.aicity2020_penalties(1, 1, query_directions=[[1.0]])
    message = r"gallery_cameras must have 3 rows \(one per gallery image\), got 2"
    with pytest.raises(ValueError, match=message):
        post.aicity2020_penalties(2, 3, gallery_cameras=[1, 2])
    with pytest.raises(ValueError, match=r"query_directions must have 2 rows \(one per query\), got 1"):
        post.aicity2020_penalties(2, 1, query_directions=[[1.0]], gallery_directions=[[1.0]])
    with pytest.raises(ValueError, match="query_groups must be >= 0, or -1 for noise; got -5"):
        post.aicity2020_penalties(1, 0, query_groups=[-5])
    with pytest.raises(ValueError, match="q must be >= 0"):
        post.aicity2020_penalties(-1, 0)
    with pytest.raises(ValueError, match="cluster_weight must be finite"):
        post.aicity2020_penalties(1, 1, cluster_weight=math.inf)


# --------------------------------------------------------------------------------------
# ntop
# --------------------------------------------------------------------------------------


def test_ntop_penalty_by_hand():
    sim = T([[0.9, 0.8, 0.7, 0.6, 0.5]])
    cameras = [0, 1, 0, 1, 0]
    # Step 0: the top item 0 (camera 0, track 10) suppresses item 2 (camera 0, track 11),
    # not item 4 (its track): row (0.9, 0.8, 0.45, 0.6, 0.5) with weight 0.25.
    # Step 1: rank 1 is item 1 (camera 1, no track): item 3 goes to 0.35.
    # Step 2: rank 2 is now item 4 (camera 0, track 10): item 2 again, to 0.2.
    for tracks in ([10, -1, 11, 12, 10], [10, -1, 11, -1, 10]):
        # With items 1 and 3 both without a track, the seed would take them as one track
        # and spare item 3; each is a track of its own here.
        got = post.ntop_penalty(sim, cameras, tracks, ntop=3, weight=0.25)
        close(got, [[0, 0, 0.5, 0.25, 0]])
        np.testing.assert_allclose(ref.ntop_penalty(as64(sim), cameras, tracks, 3, 0.25),
                                   [[0, 0, 0.5, 0.25, 0]], atol=1e-12)
    close(post.ntop_penalty(sim, cameras, [10, -1, 11, 12, 10], ntop=1, weight=0.25),
          [[0, 0, 0.25, 0, 0]])
    # ntop beyond g: every rank once; ntop 0: nothing.
    assert post.ntop_penalty(sim, cameras, [-1] * 5, ntop=50).shape == (1, 5)
    assert not post.ntop_penalty(sim, cameras, [-1] * 5, ntop=0).any()
    # Unknown cameras never suppress.
    assert not post.ntop_penalty(sim, [-1] * 5, [-1] * 5).any()


def test_ntop_penalty_ties_go_to_the_lower_index():
    sim = T([[0.5, 0.5, 0.4]])
    # Rank 0 of a tie is item 0: with camera 1 it suppresses no one; with camera 0, item 2.
    assert not post.ntop_penalty(sim, [1, 0, 0], [-1, -1, -1], ntop=1).any()
    close(post.ntop_penalty(sim, [0, 1, 0], [-1, -1, -1], ntop=1), [[0, 0, 0.1]])
    assert not ref.ntop_penalty(as64(sim), [1, 0, 0], [-1, -1, -1], 1, 0.1).any()


def assert_ntop_stable(sim: np.ndarray, cameras, tracks, ntop: int, weight: float) -> np.ndarray:
    """The reference's ntop penalty, asserted to be the same for 1e-5 perturbations of the
    similarities (no decision of the sequential ranking rests on a near-tie)."""
    expected = ref.ntop_penalty(sim, cameras, tracks, ntop, weight)
    rng = np.random.default_rng(0)
    for _ in range(3):
        moved = ref.ntop_penalty(sim + 1e-5 * rng.standard_normal(sim.shape), cameras, tracks,
                                 ntop, weight)
        assert np.abs(moved - expected).max() < 1e-9, "test data has an ntop near-tie"
    return expected


@pytest.mark.parametrize("ntop", [1, 5, 29])
def test_ntop_penalty_matches_reference(device, ntop):
    rng = np.random.default_rng(69)
    sim = (rng.random((8, 40)) - 0.5).astype(np.float32).astype(np.float64)
    cameras, tracks = rng.integers(-1, 4, size=40), rng.integers(-1, 12, size=40)
    expected = assert_ntop_stable(sim, cameras, tracks, ntop, 0.1)
    got = post.ntop_penalty(T(sim, device), ids(cameras, device), tracks, ntop, 0.1)
    assert got.device.type == device and got.shape == (8, 40)
    close(got, expected)
    assert expected.max() >= 0.2 * (ntop > 1)


def test_ntop_penalty_errors():
    sim = torch.zeros((2, 3))
    message = r"gallery_cameras must have one label per column of sim_qg \(3\), got 2"
    with pytest.raises(ValueError, match=message):
        post.ntop_penalty(sim, [1, 2], [1, 1, 1])
    with pytest.raises(ValueError, match="gallery_trackids must be >= 0, or -1 for no track; got -4"):
        post.ntop_penalty(sim, [1, 2, 3], [1, -4, 1])
    with pytest.raises(ValueError, match="ntop must be >= 0, got -1"):
        post.ntop_penalty(sim, [1, 2, 3], [1, 1, 1], ntop=-1)
    with pytest.raises(TypeError, match="sim_qg must be float32"):
        post.ntop_penalty(sim.double(), [1, 2, 3], [1, 1, 1])
    with pytest.raises(ValueError, match="sim_qg must be finite"):
        post.ntop_penalty(torch.full((1, 3), math.nan), [1, 2, 3], [1, 1, 1])


# --------------------------------------------------------------------------------------
# q-q and g-g edits
# --------------------------------------------------------------------------------------


def test_similarity_edits_by_hand():
    s = torch.zeros((4, 4))
    # Clusters 0, 0, 1 and noise: +0.1 within (diagonal included), -0.1 between clusters.
    expected = [[0.1, 0.1, -0.1, 0], [0.1, 0.1, -0.1, 0], [-0.1, -0.1, 0.1, 0], [0, 0, 0, 0]]
    close(post.cluster_similarity_edit(s, [0, 0, 1, -1]), expected)
    np.testing.assert_allclose(ref.cluster_similarity_edit(np.zeros((4, 4)), [0, 0, 1, -1], 0.1),
                               expected)
    # Tracks 3, 3, -1, -1: 1.0 within track 3 (diagonal included), the rest unchanged.
    s = T(np.full((4, 4), 0.5))
    expected = [[1, 1, 0.5, 0.5], [1, 1, 0.5, 0.5], [0.5, 0.5, 0.5, 0.5], [0.5, 0.5, 0.5, 0.5]]
    close(post.track_similarity_edit(s, [3, 3, -1, -1]), expected)
    close(post.track_similarity_edit(s, [3, 3, -1, -1], value=2.0)[0, :2], [2.0, 2.0])


def test_similarity_edits_match_reference(device):
    rng = np.random.default_rng(70)
    s = T(rng.random((30, 30)), device)
    clusters, tracks = rng.integers(-1, 5, size=30), rng.integers(-1, 8, size=30)
    got = post.cluster_similarity_edit(s, ids(clusters, device), 0.3)
    assert got.device.type == device
    close(got, ref.cluster_similarity_edit(as64(s), clusters, 0.3))
    close(post.track_similarity_edit(s, tracks), ref.track_similarity_edit(as64(s), tracks, 1.0))


def test_similarity_edit_errors():
    with pytest.raises(ValueError, match=r"sim_qq must be square, got shape \(2, 3\)"):
        post.cluster_similarity_edit(torch.zeros((2, 3)), [0, 0])
    message = r"clusters must have one label per row of sim_qq \(2\), got 3"
    with pytest.raises(ValueError, match=message):
        post.cluster_similarity_edit(torch.zeros((2, 2)), [0, 0, 1])
    with pytest.raises(ValueError, match="value must be finite"):
        post.track_similarity_edit(torch.zeros((2, 2)), [0, 0], math.nan)
    with pytest.raises(TypeError, match="trackids must hold integers"):
        post.track_similarity_edit(torch.zeros((2, 2)), [0.0, 0.0])


# --------------------------------------------------------------------------------------
# Re-ranking with a suppression that is not added back
# --------------------------------------------------------------------------------------


def test_penalised_rerank_with_suppression(device):
    x, _ = clustered_unit(71, 40, identities=6, noise=0.8)
    S = T(x @ x.T, device)
    s_qg, s_qq, s_gg = S[:10, 10:], S[:10, :10], S[10:, 10:]
    rng = np.random.default_rng(71)
    P = post.Penalties(T(0.1 * rng.integers(0, 3, (10, 30)), device),
                       torch.zeros((10, 10), device=device), torch.zeros((30, 30), device=device))
    E = T(0.1 * rng.integers(0, 2, (10, 30)), device)
    got = post.penalised_rerank(s_qg, s_qq, s_gg, P, 8, 3, 0.2, suppression_qg=E)
    expected = ref.penalised_rerank(as64(s_qg), as64(s_qq), as64(s_gg), as64(P.query_gallery),
                                    np.zeros((10, 10)), np.zeros((30, 30)), 8, 3, 0.2, as64(E))
    D = (2.0 - 2.0 * np.block([[as64(s_qq), as64(s_qg - P.query_gallery - E)],
                               [as64(s_qg - P.query_gallery - E).T, as64(s_gg)]])) ** 2
    assert rt.boundary_gaps_ok(rerank_normalise(D), rt.rerank_boundaries(8, 3), 1e-5)
    rt.assert_rerank_close(got, expected, atol=ATOL)
    # E is not added back: the same as re-ranking the edited similarities plus P alone.
    plain = rerank_similarities(s_qg - P.query_gallery - E, s_qq, s_gg, 8, 3, 0.2) + P.query_gallery
    assert torch.equal(got, plain)
    with pytest.raises(ValueError, match=r"suppression_qg must have the shape of sim_qg \(10, 30\)"):
        post.penalised_rerank(s_qg, s_qq, s_gg, P, 8, 3, 0.2, suppression_qg=E[:, :5])


# --------------------------------------------------------------------------------------
# The steps composed (query clusters, track fusion, completion, penalties, ntop, edits,
# re-ranking) against reference.post.aicity2020_distances
# --------------------------------------------------------------------------------------


def _recipe_draw(s: int, q: int, g: int):
    """One draw of recipe_problem: (problem, recipe), or (None, None) if it has fewer than two
    query clusters or near-ties at the re-ranking boundaries; an AssertionError for
    other near-ties."""
    rng = np.random.default_rng(s)
    x, identity = clustered_unit(s, q + g, identities=10, noise=0.8)
    trackids = 10 * identity[q:] + rng.integers(0, 3, size=g)
    trackids[rng.random(g) < 0.2] = -1
    problem = dict(query=x[:q], gallery=x[q:], trackids=trackids,
                   query_pixels=rng.integers(5000, 40000, size=q),
                   gallery_pixels=rng.integers(5000, 40000, size=g))
    inputs = _penalty_inputs(s, q, g, rng)
    for key in ("cameras", "directions", "camera_clusters"):
        problem["query_" + key] = inputs["query_" + key]
        problem["gallery_" + key] = inputs["gallery_" + key]
    r = post.Aicity2020Recipe(query_eps=2 * eps_in_gap(x[:q], 0.1), rerank=RerankParams(20, 6, 0.2))
    # The reference's steps, for the gap checks.
    query, clusters = ref.cluster_query_expansion(
        x[:q], r.query_eps, r.query_min_samples, "sqeuclidean",
        ref.high_quality(problem["query_pixels"], r.min_pixels))
    gallery = ref.track_average(x[q:], trackids, r.track_weight,
                                ref.high_quality(problem["gallery_pixels"], r.min_pixels))
    p_qg, p_qq, p_gg = ref.aicity2020_penalties(
        q, g, inputs["query_cameras"], inputs["gallery_cameras"], inputs["query_directions"],
        inputs["gallery_directions"],
        ref.complete_camera_clusters(inputs["query_camera_clusters"], clusters),
        ref.complete_camera_clusters(inputs["gallery_camera_clusters"], trackids),
        clusters, trackids, **WEIGHTS)
    s_qg = ref.cosine_similarity(query, gallery) - p_qg
    e = assert_ntop_stable(s_qg, inputs["gallery_cameras"], trackids, r.ntop, r.ntop_weight)
    s_qq = ref.cluster_similarity_edit(ref.cosine_similarity(query, query), clusters,
                                       r.query_cluster_edit) - p_qq
    s_gg = ref.track_similarity_edit(ref.cosine_similarity(gallery, gallery), trackids,
                                     r.track_similarity) - p_gg
    D = (2.0 - 2.0 * np.block([[s_qq, s_qg - e], [(s_qg - e).T, s_gg]])) ** 2
    if (len(set(clusters.tolist()) - {-1}) < 2
            or not rt.boundary_gaps_ok(rerank_normalise(D), rt.rerank_boundaries(20, 6), 1e-5)):
        return None, None
    return problem, r


def recipe_problem(seed: int, q: int = 12, g: int = 36):
    """A small AICity-like problem (clustered features, tracks, pixel counts, predicted
    cameras, directions, camera clusters) with the recipe's constants but k1 20, k2 6 (a
    70-neighbourhood needs more images) and a query eps in a gap of 2 - 2s, drawn without
    near-ties where the steps decide."""
    for s in range(seed, seed + 50):
        try:
            problem, recipe = _recipe_draw(s, q, g)
        except AssertionError:  # a near-tie (direction threshold, eps, ntop)
            continue
        if problem is not None:
            return problem, recipe
    raise AssertionError("no draw without near-ties")


def test_recipe_steps_composed_match_reference(device):
    problem, r = recipe_problem(72)
    t = {k: (T(v, device) if np.asarray(v).dtype.kind == "f" else ids(v, device))
         for k, v in problem.items()}
    q, g = len(problem["query"]), len(problem["gallery"])
    # 5, 6: query clusters and track fusion with high-quality means.
    query, clusters = post.cluster_query_expansion(
        t["query"], r.query_eps, r.query_min_samples, metric=r.eps_metric,
        high_quality=post.high_quality(t["query_pixels"], r.min_pixels))
    gallery = post.track_average(t["gallery"], t["trackids"], r.track_weight,
                                 high_quality=post.high_quality(t["gallery_pixels"], r.min_pixels))
    # 1: completion; 2, 3: penalties.
    penalties = post.aicity2020_penalties(
        q, g, query_cameras=t["query_cameras"], gallery_cameras=t["gallery_cameras"],
        query_directions=t["query_directions"], gallery_directions=t["gallery_directions"],
        query_camera_clusters=post.complete_camera_clusters(t["query_camera_clusters"], clusters),
        gallery_camera_clusters=post.complete_camera_clusters(t["gallery_camera_clusters"],
                                                              t["trackids"]),
        query_groups=clusters, gallery_groups=t["trackids"])
    # 4: ntop; 7: edits; 8: re-ranking.
    s_qg = query @ gallery.T
    suppression = post.ntop_penalty(s_qg - penalties.query_gallery, t["gallery_cameras"],
                                    t["trackids"], r.ntop, r.ntop_weight)
    s_qq = post.cluster_similarity_edit(query @ query.T, clusters, r.query_cluster_edit)
    s_gg = post.track_similarity_edit(gallery @ gallery.T, t["trackids"], r.track_similarity)
    got = post.penalised_rerank(s_qg, s_qq, s_gg, penalties, r.rerank.k1, r.rerank.k2,
                                r.rerank.lambda_, suppression_qg=suppression)
    assert got.device.type == device
    expected = ref.aicity2020_distances(**problem, recipe=r)
    rt.assert_rerank_close(got, expected, atol=ATOL)
