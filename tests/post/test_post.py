"""reid_fast.post (query expansion, DBSCAN, tracks, camera/direction penalties, fusion)
against hand-computed cases and the literal float64 NumPy oracles in
reid_fast.reference.post.

Tolerances: 1e-5 absolute on features (unit rows), penalties and re-ranked distances
(float32 rounding is ~1e-7 on features and ~1e-6 on re-ranked distances).

Neighbour-based functions are discontinuous in their input (which rows make a top-k,
which pairs are within eps), so random inputs are checked for a clear gap at the
positions that matter before comparing (an assertion, not a silent skip: the data are
seeded). Every random comparison also runs on CUDA where it can (the ``device``
fixture of tests/conftest.py, marked ``cuda``).
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import reid_testing as rt
import torch
from post_testing import (
    ATOL,
    SQ,
    T,
    angles,
    as64,
    assert_topk_gap,
    close,
    clustered_unit,
    eps_in_gap,
    random_unit,
    unit,
)

from reid_fast import post
from reid_fast.ops.rerank import rerank_similarities
from reid_fast.reference import post as ref
from reid_fast.reference.rerank import normalise as rerank_normalise

# --------------------------------------------------------------------------------------
# Average / alpha query expansion, database augmentation
# --------------------------------------------------------------------------------------

HAND_QUERY = [[1.0, 0.0]]
HAND_GALLERY = [[0.0, 1.0], [0.8, 0.6], [-1.0, 0.0]]


def test_average_query_expansion_by_hand():
    q, g = T(HAND_QUERY), T(HAND_GALLERY)
    # k = 1: the nearest is (0.8, 0.6); (1.8, 0.6) / |.| = (3, 1) / sqrt(10).
    close(post.average_query_expansion(q, g, 1), [[3 / SQ(10), 1 / SQ(10)]])
    # k = 2: plus (0, 1) (similarity 0): (1.8, 1.6).
    close(post.average_query_expansion(q, g, 2), [unit([1.8, 1.6])])
    copy = post.average_query_expansion(q, g, 0)
    assert torch.equal(copy, q) and copy.data_ptr() != q.data_ptr()


def test_alpha_query_expansion_by_hand():
    q, g = T(HAND_QUERY), T(HAND_GALLERY)
    # alpha = 3: weight 0.8^3 = 0.512 on (0.8, 0.6), 0 on (0, 1), max(-1, 0)^3 = 0 on (-1, 0).
    expected = unit([1 + 0.512 * 0.8, 0.512 * 0.6])
    close(post.alpha_query_expansion(q, g, 1), [expected])
    close(post.alpha_query_expansion(q, g, 3, alpha=3.0), [expected])
    # alpha = 0: every weight is 1 (0^0 = 1), so average QE.
    close(post.alpha_query_expansion(q, g, 2, alpha=0.0), post.average_query_expansion(q, g, 2))
    # alpha = 1 with k = 3: (1, 0) + 0.8 (0.8, 0.6) + 0 + 0.
    close(post.alpha_query_expansion(q, g, 3, alpha=1.0), [unit([1.64, 0.48])])
    assert torch.equal(post.alpha_query_expansion(q, g, 0), q)


def test_database_augmentation_by_hand():
    g = T([[1.0, 0.0], [0.6, 0.8], [0.0, 1.0]])
    # k = 2: each row and its nearest other row: 0 -> 1 (0.6), 1 -> 2 (0.8), 2 -> 1 (0.8).
    close(post.database_augmentation(g, 2), [unit([1.6, 0.8]), unit([0.6, 1.8]), unit([0.6, 1.8])])
    # alpha = 1: row 0: 1 * (1, 0) + 0.6 * (0.6, 0.8).
    close(post.database_augmentation(g, 2, alpha=1.0)[0], unit([1.36, 0.48]))
    # k = 3, plain mean of all rows, the same for every row.
    close(post.database_augmentation(g, 3), [unit([1.6, 1.8])] * 3)
    assert torch.equal(post.database_augmentation(g, 1), g)


def test_database_augmentation_keeps_the_row_itself_with_duplicates():
    # Rows 0, 1 and 2 are identical: the two nearest of row 2 by cosine are rows 0 and 1
    # (exact ties, by the lower index), so row 2 is put back in its own set: {2, 0}.
    g = T([[1.0, 0.0], [1.0, 0.0], [1.0, 0.0], [0.6, 0.8], [0.0, 1.0]])
    got = post.database_augmentation(g, 2)
    np.testing.assert_allclose(as64(got), ref.database_augmentation(as64(g), 2), atol=ATOL)
    close(got[:3], [[1.0, 0.0]] * 3)
    close(post.database_augmentation(g, 4, alpha=1.0),
          ref.database_augmentation(as64(g), 4, alpha=1.0))


@pytest.mark.parametrize("k", [1, 5, 80])
def test_query_expansion_matches_reference(device, k):
    query, gallery = random_unit(1, 30), random_unit(2, 80)
    assert_topk_gap(query, gallery, [k])
    q, g = T(query, device), T(gallery, device)
    for got, expected in (
        (post.average_query_expansion(q, g, k), ref.average_query_expansion(query, gallery, k)),
        (post.alpha_query_expansion(q, g, k), ref.alpha_query_expansion(query, gallery, k)),
        (post.alpha_query_expansion(q, g, k, 0.5), ref.alpha_query_expansion(query, gallery, k, 0.5)),
    ):
        assert got.device == q.device and got.shape == (30, 16)
        close(got, expected)


@pytest.mark.parametrize("k, alpha", [(2, 0.0), (6, 0.0), (6, 3.0), (80, 1.0)])
def test_database_augmentation_matches_reference(device, k, alpha):
    gallery = random_unit(3, 80)
    assert_topk_gap(gallery, gallery, [k - 1], skip_self=True)
    got = post.database_augmentation(T(gallery, device), k, alpha)
    assert got.device.type == device
    close(got, ref.database_augmentation(gallery, k, alpha))


def test_query_expansion_empty_query():
    out = post.average_query_expansion(torch.zeros((0, 4)), T(random_unit(4, 5, 4)), 3)
    assert out.shape == (0, 4)


def test_query_expansion_errors():
    q, g = T(random_unit(5, 3, 4)), T(random_unit(6, 5, 4))
    with pytest.raises(ValueError, match=r"k must be between 0 and .*\(5\), got 6"):
        post.average_query_expansion(q, g, 6)
    with pytest.raises(ValueError, match="got -1"):
        post.alpha_query_expansion(q, g, -1)
    with pytest.raises(TypeError, match="k must be an integer"):
        post.average_query_expansion(q, g, 2.0)
    with pytest.raises(ValueError, match="alpha must be >= 0"):
        post.alpha_query_expansion(q, g, 2, alpha=-1.0)
    with pytest.raises(ValueError, match="alpha must be finite"):
        post.alpha_query_expansion(q, g, 2, alpha=math.nan)
    with pytest.raises(ValueError, match=r"gallery must have as many columns as query \(4\)"):
        post.average_query_expansion(q, g[:, :3], 2)
    bad = g.clone()
    bad[2, 1] = math.nan
    with pytest.raises(ValueError, match=r"gallery must be finite.*index \(2, 1\)"):
        post.average_query_expansion(q, bad, 2)
    with pytest.raises(ValueError, match=r"query must be 2-D.*\(4,\)"):
        post.average_query_expansion(q[0], g, 2)
    with pytest.raises(TypeError, match="float32"):
        post.average_query_expansion(q.double(), g, 2)
    with pytest.raises(TypeError, match="torch.Tensor"):
        post.average_query_expansion(as64(q), g, 2)
    with pytest.raises(ValueError, match=r"k must be between 1 and .*\(5\), got 0"):
        post.database_augmentation(g, 0)
    with pytest.raises(ValueError, match="got 6"):
        post.database_augmentation(g, 6)
    with pytest.raises(ValueError, match="empty"):
        post.database_augmentation(torch.zeros((0, 4)), 1)


# --------------------------------------------------------------------------------------
# Density clusters and cluster query expansion
# --------------------------------------------------------------------------------------

EPS_9_5 = 1 - math.cos(math.radians(9.5))


def test_density_clusters_by_hand():
    # B at 90 / 95 degrees, A at 0 / 10 / 20, noise at 200; eps = 1 - cos(12 deg).
    x = T(angles([90, 0, 200, 10, 95, 20]))
    eps = 1 - math.cos(math.radians(12))
    labels = post.density_clusters(x, eps, 2)
    assert labels.dtype == torch.int64
    assert labels.tolist() == [0, 1, -1, 1, 0, 1]
    # min_samples = 3: only 10 deg is core (0, 10, 20); 0 and 20 are its border points;
    # B's points have 2 neighbours each: noise.
    assert post.density_clusters(x, eps, 3).tolist() == [-1, 0, -1, 0, -1, 0]
    # min_samples = 1: every point is core; eps = 0: every point alone.
    assert post.density_clusters(x, eps, 1).tolist() == [0, 1, 2, 1, 0, 1]
    assert post.density_clusters(x, 0.0, 1).tolist() == [0, 1, 2, 3, 4, 5]
    assert post.density_clusters(x, 0.0, 2).tolist() == [-1] * 6


def test_density_clusters_border_rule():
    # Angles with eps = 1 - cos(9.5 deg), min_samples = 4: the cores are 29 deg (index 1,
    # neighbours 20, 29, 34, 38) and 11 deg (index 3, neighbours 2, 6, 11, 20). 20 deg
    # (index 2) is a border point of both; 2 deg (index 0) a border point of 11 deg only.
    # Clusters are numbered by their smallest core index (29 deg: 0, 11 deg: 1), and the
    # shared border point joins the lowest-numbered cluster, 0.
    x = T(angles([2, 29, 20, 11, 6, 34, 38]))
    expected = [1, 0, 0, 1, 1, 0, 0]
    assert post.density_clusters(x, EPS_9_5, 4).tolist() == expected
    assert ref.density_clusters(as64(x), EPS_9_5, 4).tolist() == expected


def test_density_clusters_chain():
    # A long chain of cores in reverse index order: label propagation must cross it all.
    x = T(angles(np.arange(40)[::-1] * 5.0))
    eps = 1 - math.cos(math.radians(6))
    assert post.density_clusters(x, eps, 2).tolist() == [0] * 40
    x = T(angles(np.concatenate([np.arange(20) * 5.0, 200 + np.arange(20)[::-1] * 5.0])))
    assert post.density_clusters(x, eps, 3).tolist() == [0] * 20 + [1] * 20


@pytest.mark.parametrize("quantile, min_samples", [(0.05, 2), (0.05, 3), (0.1, 4), (0.15, 4), (0.02, 1)])
def test_density_clusters_match_reference(device, quantile, min_samples):
    x, _ = clustered_unit(7, 30)
    eps = eps_in_gap(x, quantile)
    got = post.density_clusters(T(x, device), eps, min_samples)
    assert got.device.type == device
    expected = ref.density_clusters(x, eps, min_samples)
    assert got.tolist() == expected.tolist()
    assert len(set(expected.tolist()) - {-1}) >= 2  # a non-trivial case


def test_cluster_query_expansion_by_hand():
    x = T(angles([90, 0, 200, 10, 95, 20]))
    new, labels = post.cluster_query_expansion(x, eps=1 - math.cos(math.radians(12)), min_samples=2)
    assert labels.tolist() == [0, 1, -1, 1, 0, 1]
    a, b = angles([10])[0], angles([92.5])[0]
    close(new, [b, a, as64(x)[2], a, b, a])
    assert torch.equal(new[2], x[2])


def test_cluster_query_expansion_matches_reference(device):
    x, _ = clustered_unit(8, 30)
    eps = eps_in_gap(x, 0.1)
    new, labels = post.cluster_query_expansion(T(x, device), eps, 3)
    expected, expected_labels = ref.cluster_query_expansion(x, eps, 3)
    assert labels.tolist() == expected_labels.tolist()
    close(new, expected)
    assert new.device.type == device


def test_density_clusters_errors():
    x = T(angles([0, 10]))
    with pytest.raises(ValueError, match="eps must be >= 0"):
        post.density_clusters(x, -0.1, 2)
    with pytest.raises(ValueError, match="min_samples must be >= 1, got 0"):
        post.density_clusters(x, 0.1, 0)
    with pytest.raises(ValueError, match="features must be finite"):
        post.density_clusters(T([[0.0, math.inf]]), 0.1, 2)
    with pytest.raises(ValueError, match="2-D"):
        post.cluster_query_expansion(x[None])
    assert post.density_clusters(torch.zeros((0, 3)), 0.1, 2).shape == (0,)


# --------------------------------------------------------------------------------------
# Tracks
# --------------------------------------------------------------------------------------


def test_track_groups_by_hand():
    ids = [7, 3, 7, -1, 3, 5, -1]
    for value in (ids, np.array(ids), torch.tensor(ids), np.array(ids, dtype=np.int32)):
        index, count = post.track_groups(value)
        assert index.dtype == torch.int64 and index.device.type == "cpu"
        assert index.tolist() == [0, 1, 0, 2, 1, 3, 4] and count == 5
    assert ref.track_groups(ids)[0].tolist() == [0, 1, 0, 2, 1, 3, 4]
    index, count = post.track_groups([])
    assert index.shape == (0,) and count == 0
    assert post.track_groups([-1, -1])[0].tolist() == [0, 1]


def test_track_average_and_features_by_hand():
    g = T([[1.0, 0.0], [0.0, 1.0], [0.6, 0.8]])
    ids = [4, 4, -1]
    got = post.track_average(g, ids)
    close(got, [unit([1.5, 0.5]), unit([0.5, 1.5]), [0.6, 0.8]])
    assert torch.equal(got[2], g[2])  # no track: unchanged
    # weight 0: unchanged up to renormalisation; weight 3: (1, 0) + 3 (0.5, 0.5).
    close(post.track_average(g, ids, 0.0), as64(g))
    close(post.track_average(g, ids, 3.0)[0], unit([2.5, 1.5]))
    features, index = post.track_features(g, ids)
    close(features, [unit([0.5, 0.5]), [0.6, 0.8]])
    assert index.tolist() == [0, 0, 1]
    # A -1 item gives the same either way: as a one-item track, normalise((1 + w) g) = g.
    close(post.track_average(g, [4, 4, 9])[2], [0.6, 0.8])
    close(post.track_average(g, [4, 4, 9], 2.5)[2], [0.6, 0.8])
    np.testing.assert_allclose(ref.track_average(as64(g), [4, 4, 9]), as64(got), atol=ATOL)


def test_track_rerank_by_hand():
    # One track of two images and one singleton: both images of the track share its
    # re-ranked distance and differ by within_track * their own squared distance.
    q = T(angles([0, 50]))
    g = T(angles([10, 20, 80]))
    ids = [1, 1, -1]
    plain = post.track_rerank(q, g, ids, within_track=0.0)
    assert plain.shape == (2, 3)
    assert torch.equal(plain[:, 0], plain[:, 1])
    d = post.track_rerank(q, g, ids, within_track=0.01)
    own = ((as64(q)[:, None, :] - as64(g)[None, :, :]) ** 2).sum(-1)
    close(d - plain, 0.01 * own)
    np.testing.assert_allclose(as64(plain), ref.track_rerank(as64(q), as64(g), ids, within_track=0.0),
                               atol=ATOL)


def _track_data(seed: int, k1: int, k2: int):
    """30 queries, 80 gallery images in about 30 tracks (a tenth of them -1), without near-ties in
    the re-ranking of the queries against the track means."""
    for s in range(seed, seed + 50):
        x, labels = clustered_unit(s, 110, identities=12, noise=0.8)
        query, gallery = x[:30], x[30:]
        rng = np.random.default_rng(s)
        ids = rng.integers(0, 3, size=80) + 100 * labels[30:]  # 3 tracks per identity at most
        ids[rng.random(80) < 0.1] = -1
        tracks, _ = ref.track_features(gallery, ids)
        tracks32 = tracks.astype(np.float32).astype(np.float64)
        features = np.concatenate([query, tracks32])
        D = ((features[:, None, :] - features[None, :, :]) ** 2).sum(-1)
        kk1 = min(k1, len(features) - 1)
        if rt.boundary_gaps_ok(rerank_normalise(D), rt.rerank_boundaries(kk1, min(k2, kk1 + 1)), 1e-5):
            return query, gallery, ids
    raise AssertionError("no draw without near-ties")


@pytest.mark.parametrize("k1, k2, lambda_", [(20, 6, 0.3), (5, 3, 0.0), (100, 1, 1.0)])
def test_track_rerank_matches_reference(device, k1, k2, lambda_):
    query, gallery, ids = _track_data(11, k1, k2)
    got = post.track_rerank(T(query, device), T(gallery, device), torch.tensor(ids, device=device),
                            k1, k2, lambda_, within_track=1e-3)
    assert got.device.type == device and got.shape == (30, 80)
    expected = ref.track_rerank(query, gallery, ids, k1, k2, lambda_, 1e-3)
    rt.assert_rerank_close(got, expected, atol=ATOL)


def test_track_average_and_features_match_reference(device):
    gallery = random_unit(12, 80)
    ids = np.random.default_rng(12).integers(-1, 20, size=80)
    g = T(gallery, device)
    close(post.track_average(g, ids, 0.7), ref.track_average(gallery, ids, 0.7))
    features, index = post.track_features(g, torch.tensor(ids))  # ids on the CPU: moved
    expected, expected_index = ref.track_features(gallery, ids)
    close(features, expected)
    assert index.tolist() == expected_index.tolist()
    assert features.device.type == device and index.device.type == device
    index, count = post.track_groups(torch.tensor(ids, device=device))
    assert index.device.type == device
    assert (index.tolist(), count) == (ref.track_groups(ids)[0].tolist(), ref.track_groups(ids)[1])


def test_track_errors():
    g = T(random_unit(13, 4, 3))
    with pytest.raises(ValueError, match=r"one id per gallery row \(4\), got 3"):
        post.track_average(g, [1, 1, 2])
    with pytest.raises(ValueError, match="got -2 at index 1"):
        post.track_groups([1, -2])
    with pytest.raises(TypeError, match="integers"):
        post.track_groups([1.0, 2.0])
    with pytest.raises(TypeError, match="integers"):
        post.track_features(g, torch.ones(4))
    with pytest.raises(ValueError, match="1-D"):
        post.track_groups([[1, 2]])
    with pytest.raises(ValueError, match="weight must be >= 0"):
        post.track_average(g, [1, 1, 2, 2], -1.0)
    with pytest.raises(ValueError, match="query is empty"):
        post.track_rerank(torch.zeros((0, 3)), g, [1, 1, 2, 2])
    with pytest.raises(ValueError, match="lambda_"):
        post.track_rerank(g, g, [1, 1, 2, 2], lambda_=2.0)
    with pytest.raises(ValueError, match="k1 must be >= 1"):
        post.track_rerank(g, g, [1, 1, 2, 2], k1=0)
    bad = g.clone()
    bad[0, 0] = math.nan
    with pytest.raises(ValueError, match="gallery must be finite"):
        post.track_average(bad, [1, 1, 2, 2])


# --------------------------------------------------------------------------------------
# Penalties
# --------------------------------------------------------------------------------------


def test_camera_penalty_by_hand():
    got = post.camera_penalty([1, 2, -1], [2, 1, 1, -1], 0.5)
    expected = [[0, 0.5, 0.5, 0], [0.5, 0, 0, 0], [0, 0, 0, 0]]
    close(got, expected)
    assert got.device.type == "cpu"
    np.testing.assert_array_equal(ref.camera_penalty([1, 2, -1], [2, 1, 1, -1], 0.5), expected)
    # Probabilities: weight * P_a P_b^T.
    close(post.camera_penalty([[0.7, 0.3]], [[1.0, 0.0], [0.0, 1.0]], 2.0), [[1.4, 0.6]])
    # Ids against probabilities: the ids index the columns, -1 gives 0.
    close(post.camera_penalty([1, -1], T([[0.2, 0.8]]), 1.0), [[0.8], [0.0]])
    close(post.camera_penalty(T([[0.2, 0.8]]), [0, 1], 1.0), [[0.2, 0.8]])


def test_direction_penalty_by_hand():
    got = post.direction_penalty([[1.0, 0.0]], [[1.0, 1.0], [-1.0, 0.0], [0.0, 2.0], [0.0, 0.0]], 2.0)
    close(got, [[2 / SQ(2), 0.0, 0.0, 0.0]])


def test_camera_cluster_penalty_by_hand():
    # Clusters {1, 2} -> 0 and {3} -> 1: (1, 2) and (3, 3) share a cluster; -1 never does.
    expected = [[3, 0, 0], [0, 3, 0], [0, 0, 0]]
    close(post.camera_cluster_penalty([1, 3, -1], [2, 3, -1], {1: 0, 2: 0, 3: 1}, 3.0), expected)
    close(post.camera_cluster_penalty(torch.tensor([1, 3, -1]), [2, 3, -1], [5, 0, 0, 1], 3.0), expected)
    np.testing.assert_array_equal(
        ref.camera_cluster_penalty([1, 3, -1], [2, 3, -1], {1: 0, 2: 0, 3: 1}, 3.0), expected)


def test_penalties_match_reference(device):
    rng = np.random.default_rng(21)
    ca, cb = rng.integers(-1, 6, size=30), rng.integers(-1, 6, size=80)
    pa, pb = rng.random((30, 6)), rng.random((80, 6))
    da, db = rng.standard_normal((30, 8)), rng.standard_normal((80, 8))
    clusters = {c: c % 3 for c in range(6)}
    dev = torch.device(device)
    for got, expected in (
        (post.camera_penalty(ca, cb, 0.3, device=dev), ref.camera_penalty(ca, cb, 0.3)),
        (post.camera_penalty(T(pa, device), T(pb, device), 0.3), ref.camera_penalty(pa, pb, 0.3)),
        (post.camera_penalty(torch.tensor(ca, device=dev), T(pb, device), 0.3),
         ref.camera_penalty(ca, pb, 0.3)),
        (post.direction_penalty(T(da, device), T(db, device), 0.2), ref.direction_penalty(da, db, 0.2)),
        (post.camera_cluster_penalty(ca, cb, clusters, 0.4, device=dev),
         ref.camera_cluster_penalty(ca, cb, clusters, 0.4)),
    ):
        assert got.device.type == device and got.shape == (30, 80)
        close(got, expected)


def test_penalties_dataclass():
    zero = post.Penalties.zeros(2, 3)
    assert zero.query_gallery.shape == (2, 3) and zero.query_query.shape == (2, 2)
    assert zero.gallery_gallery.shape == (3, 3) and zero.query_gallery.dtype == torch.float32
    one = post.Penalties(torch.ones(2, 3), torch.ones(2, 2), torch.ones(3, 3, dtype=torch.float64))
    assert one.gallery_gallery.dtype == torch.float32
    total = one + one + zero
    assert torch.equal(total.query_gallery, torch.full((2, 3), 2.0))
    assert torch.equal(sum([one, one]).gallery_gallery, torch.full((3, 3), 2.0))
    with pytest.raises(ValueError, match=r"query_query must have shape \(2, 2\).*got \(3, 3\)"):
        post.Penalties(torch.ones(2, 3), torch.ones(3, 3), torch.ones(3, 3))
    with pytest.raises(ValueError, match=r"gallery_gallery must have shape \(3, 3\)"):
        post.Penalties(torch.ones(2, 3), torch.ones(2, 2), torch.ones(2, 2))
    with pytest.raises(ValueError, match="cannot add"):
        one + post.Penalties.zeros(2, 2)


def _similarity_data(seed: int, k1: int, k2: int, weight: float):
    """Cosine similarities of 30 queries and 80 gallery items with camera (+ direction)
    penalties, drawn without near-ties in the penalised re-ranking."""
    for s in range(seed, seed + 50):
        x, _ = clustered_unit(s, 110, identities=10, noise=0.8)
        rng = np.random.default_rng(s)
        cams = rng.integers(-1, 5, size=110)
        dirs = rng.random((110, 4))
        S = (x @ x.T).astype(np.float32).astype(np.float64)
        P = (ref.camera_penalty(cams, cams, weight) + ref.direction_penalty(dirs, dirs, weight / 2))
        P = P.astype(np.float32).astype(np.float64)
        D = (2.0 - 2.0 * (S - P)) ** 2
        if rt.boundary_gaps_ok(rerank_normalise(D), rt.rerank_boundaries(k1, k2), 1e-5):
            return S, P, cams, dirs
    raise AssertionError("no draw without near-ties")


@pytest.mark.parametrize("k1, k2, lambda_", [(20, 6, 0.3), (7, 1, 0.5)])
def test_penalised_rerank_matches_reference(device, k1, k2, lambda_):
    S, P, cams, dirs = _similarity_data(31, k1, k2, 0.1)
    q = 30
    cq, cg = torch.tensor(cams[:q], device=device), torch.tensor(cams[q:], device=device)
    dq, dg = T(dirs[:q], device), T(dirs[q:], device)
    penalties = post.Penalties(post.camera_penalty(cq, cg, 0.1), post.camera_penalty(cq, cq, 0.1),
                               post.camera_penalty(cg, cg, 0.1))
    penalties = penalties + post.Penalties(post.direction_penalty(dq, dg, 0.05),
                                           post.direction_penalty(dq, dq, 0.05),
                                           post.direction_penalty(dg, dg, 0.05))
    close(penalties.query_gallery, P[:q, q:])
    s_qg, s_qq, s_gg = T(S[:q, q:], device), T(S[:q, :q], device), T(S[q:, q:], device)
    got = post.penalised_rerank(s_qg, s_qq, s_gg, penalties, k1, k2, lambda_)
    assert got.device.type == device and got.shape == (30, 80)
    expected = ref.penalised_rerank(S[:q, q:], S[:q, :q], S[q:, q:], P[:q, q:], P[:q, :q], P[q:, q:],
                                    k1, k2, lambda_)
    rt.assert_rerank_close(got, expected, atol=ATOL)
    # Zero penalties: exactly plain re-ranking of the similarities.
    zero = post.Penalties.zeros(30, 80, device=device)
    assert torch.equal(post.penalised_rerank(s_qg, s_qq, s_gg, zero, k1, k2, lambda_),
                       rerank_similarities(s_qg, s_qq, s_gg, k1, k2, lambda_))
    close(post.penalised_distance(s_qg, penalties.query_gallery),
          ref.penalised_distance(S[:q, q:], P[:q, q:]))


def test_big_camera_penalty_moves_same_camera_item_down():
    # Query on camera 0; gallery 0 (camera 0) is more similar than gallery 1 (camera 1).
    query = T(angles([0]))
    gallery = T(angles([20, 30, 100, 120, 140]))
    cq, cg = [0], [0, 1, 2, 2, 2]
    s_qg, s_qq, s_gg = query @ gallery.T, query @ query.T, gallery @ gallery.T
    plain = post.penalised_distance(s_qg, torch.zeros_like(s_qg))
    assert plain[0, 0] < plain[0, 1]
    penalised = post.penalised_distance(s_qg, post.camera_penalty(cq, cg, 1.0))
    assert penalised[0, 0] > penalised[0, 1]
    close(penalised, 1.0 - as64(s_qg) + np.array([[1.0, 0, 0, 0, 0]]))
    # Re-ranked distances lie in [0, 1]; a penalty of 2 puts the same-camera item last.
    zero = post.Penalties.zeros(1, 5)
    before = post.penalised_rerank(s_qg, s_qq, s_gg, zero, k1=3, k2=2)
    assert before[0, 0] < before[0, 1]
    penalties = post.Penalties(post.camera_penalty(cq, cg, 2.0), post.camera_penalty(cq, cq, 2.0),
                               post.camera_penalty(cg, cg, 2.0))
    after = post.penalised_rerank(s_qg, s_qq, s_gg, penalties, k1=3, k2=2)
    assert after[0, 0] > after[0, 1:].max()


def test_penalty_errors():
    with pytest.raises(ValueError, match=r"same number of camera columns.*\(1, 2\) and \(1, 3\)"):
        post.camera_penalty([[0.5, 0.5]], [[1.0, 0.0, 0.0]], 1.0)
    with pytest.raises(ValueError, match=r"cams_a\[1\] = 2 is not a column"):
        post.camera_penalty([0, 2], [[0.5, 0.5]], 1.0)
    with pytest.raises(ValueError, match="got -3 at index 0"):
        post.camera_penalty([-3], [1], 1.0)
    with pytest.raises(ValueError, match="cams_b must be finite"):
        post.camera_penalty([[0.5, 0.5]], [[math.nan, 0.5]], 1.0)
    with pytest.raises(ValueError, match="weight must be finite"):
        post.camera_penalty([0], [1], math.inf)
    with pytest.raises(ValueError, match="1-D"):
        post.camera_penalty([[0]], [1], 1.0)
    with pytest.raises(ValueError, match="dir_a and dir_b must have the same number of columns"):
        post.direction_penalty([[1.0, 0.0]], [[1.0, 0.0, 0.0]], 1.0)
    with pytest.raises(TypeError, match="floating-point"):
        post.direction_penalty([[1, 0]], [[1, 0]], 1.0)
    with pytest.raises(ValueError, match=r"cams_b\[0\]: camera 7 has no cluster"):
        post.camera_cluster_penalty([1], [7], {1: 0}, 1.0)
    with pytest.raises(TypeError, match="cams_a must hold integers"):
        post.camera_cluster_penalty([1.0], [1], {1: 0}, 1.0)
    s_qg, s_qq, s_gg = torch.zeros(2, 3), torch.zeros(2, 2), torch.zeros(3, 3)
    message = r"penalties.query_gallery must have the shape of sim_qg \(2, 3\), got \(2, 4\)"
    with pytest.raises(ValueError, match=message):
        post.penalised_rerank(s_qg, s_qq, s_gg, post.Penalties.zeros(2, 4), k1=2, k2=1)
    with pytest.raises(ValueError, match=r"sim_gg must have shape \(3, 3\).*got \(2, 2\)"):
        post.penalised_rerank(s_qg, s_qq, s_qq, post.Penalties.zeros(2, 3), k1=2, k2=1)
    with pytest.raises(TypeError, match="penalties must be a Penalties"):
        post.penalised_rerank(s_qg, s_qq, s_gg, torch.zeros(2, 3), k1=2, k2=1)
    message = r"penalty_qg must have the shape of sim_qg \(2, 3\), got \(3, 2\)"
    with pytest.raises(ValueError, match=message):
        post.penalised_distance(s_qg, torch.zeros(3, 2))
    bad = s_qg.clone()
    bad[1, 2] = math.nan
    with pytest.raises(ValueError, match="sim_qg must be finite"):
        post.penalised_distance(bad, torch.zeros(2, 3))


# --------------------------------------------------------------------------------------
# Fusion
# --------------------------------------------------------------------------------------


def test_fuse_features_by_hand():
    f1, f2 = T([[3.0, 4.0]]), T([[2.0]])
    close(post.fuse_features([f1, f2]), [[0.6 / SQ(2), 0.8 / SQ(2), 1 / SQ(2)]])
    close(post.fuse_features([f1, f2], [1.0, 2.0]), [[0.6 / SQ(5), 0.8 / SQ(5), 2 / SQ(5)]])
    close(post.fuse_features((f1,)), [[0.6, 0.8]])


def test_fuse_features_matches_reference(device):
    rng = np.random.default_rng(41)
    features = [rng.standard_normal((50, e)) for e in (16, 8, 32)]
    got = post.fuse_features([T(f, device) for f in features], [1.0, 0.5, 2.0])
    assert got.device.type == device and got.shape == (50, 56)
    close(got, ref.fuse_features(features, [1.0, 0.5, 2.0]))


def test_fuse_features_errors():
    a, b = T(random_unit(42, 4, 3)), T(random_unit(43, 5, 2))
    message = r"features\[1\] must have the same number of rows as features\[0\] \(4\)"
    with pytest.raises(ValueError, match=message):
        post.fuse_features([a, b])
    with pytest.raises(ValueError, match="empty"):
        post.fuse_features([])
    with pytest.raises(ValueError, match=r"weights\[1\] must be > 0, got 0"):
        post.fuse_features([a, a], [1.0, 0.0])
    with pytest.raises(ValueError, match="weights.*-1"):
        post.fuse_features([a, a], [-1.0, 1.0])
    with pytest.raises(ValueError, match="nan"):
        post.fuse_features([a, a], [math.nan, 1.0])
    with pytest.raises(ValueError, match=r"one entry per model \(2\), got 1"):
        post.fuse_features([a, a], [1.0])
    bad = a.clone()
    bad[3, 0] = math.nan
    with pytest.raises(ValueError, match=r"features\[1\] must be finite"):
        post.fuse_features([a, bad])
    with pytest.raises(ValueError, match=r"features\[0\] must be 2-D"):
        post.fuse_features([a[0], a])
    with pytest.raises(TypeError, match="sequence"):
        post.fuse_features(a)


# --------------------------------------------------------------------------------------
# CUDA: same results as on the CPU (the comparisons above run there too)
# --------------------------------------------------------------------------------------


@pytest.mark.cuda
def test_cuda_matches_cpu(cuda):
    query, gallery = random_unit(51, 30), random_unit(52, 80)
    assert_topk_gap(query, gallery, [5])
    assert_topk_gap(gallery, gallery, [4], skip_self=True)
    for device in ("cpu", cuda):
        q, g = T(query, device), T(gallery, device)
        out = [
            post.alpha_query_expansion(q, g, 5),
            post.database_augmentation(g, 5, 3.0),
            post.track_average(g, torch.arange(80) // 3, 0.5),
            post.fuse_features([q, q[:, :4]]),
        ]
        if device == "cpu":
            cpu = [as64(o) for o in out]
        else:
            for o, c in zip(out, cpu):
                assert o.device.type == "cuda"
                np.testing.assert_allclose(as64(o), c, atol=ATOL, rtol=0)
