"""Ranking metrics against hand-computed cases and the literal per-query reference."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from reid_fast.eval import evaluate_ranking
from reid_fast.reference import ranking_metrics


def test_hand_computed_single_query():
    # Gallery ordered by distance: ids [1, 2, 1, 3, 1]; query id 1.
    # Positives at ranks 1, 3, 5: AP = (1/1 + 2/3 + 3/5) / 3 = 0.7555..., INP = 3/5.
    d = np.array([[0.1, 0.2, 0.3, 0.4, 0.5]], dtype=np.float32)
    m = evaluate_ranking(d, [1], [1, 2, 1, 3, 1], ranks=(1, 2, 5))
    assert m.mAP == pytest.approx((1 + 2 / 3 + 3 / 5) / 3, abs=1e-12)
    assert m.mINP == pytest.approx(3 / 5, abs=1e-12)
    assert m.cmc == {1: 1.0, 2: 1.0, 5: 1.0}


def test_same_camera_junk_is_removed_from_the_list():
    # Gallery by distance: (id 1, cam 1) junk for a cam-1 query, (2, 2), (1, 2), (-1, 3) junk.
    # Remaining list: [2, 1]: the positive is at rank 2: AP = 1/2, rank-1 miss.
    d = np.array([[0.0, 1.0, 2.0, 0.5]])
    gid, gcam = [1, 2, 1, -1], [1, 2, 2, 3]
    m = evaluate_ranking(d, [1], gid, [1], gcam, ranks=(1, 2))
    assert m.mAP == pytest.approx(0.5)
    assert m.cmc == {1: 0.0, 2: 1.0}
    # Without the camera rule the same-camera item is a positive at rank 1:
    # list [1(c1), 2, 1(c2)] -> AP = (1/1 + 2/3) / 2.
    m = evaluate_ranking(d, [1], gid, [1], gcam, same_camera_junk=False, ranks=(1,))
    assert m.mAP == pytest.approx((1 + 2 / 3) / 2)


def test_unknown_query_camera_is_not_filtered():
    # AICity: query camera -1 -> the gallery item with camera -1 and the same id counts.
    d = np.array([[0.0, 1.0]])
    m = evaluate_ranking(d, [5], [5, 6], [-1], [-1, -1], ranks=(1,))
    assert m.mAP == 1.0 and m.cmc[1] == 1.0


def test_ties_are_broken_by_gallery_index():
    # All distances equal: the order is the gallery order [2, 1, 1] -> AP = (1/2 + 2/3) / 2.
    d = np.zeros((1, 3))
    m = evaluate_ranking(d, [1], [2, 1, 1])
    assert m.mAP == pytest.approx((1 / 2 + 2 / 3) / 2)
    assert m.first_positive_rank[0] == 2


def test_queries_without_positive_are_excluded_and_counted():
    d = np.array([[0.0, 1.0], [0.0, 1.0], [1.0, 0.0]])
    # query 0: id 7 absent; query 1: id -1 (junk query); query 2: id 2 at rank 1.
    m = evaluate_ranking(d, [7, -1, 2], [1, 2], ranks=(1,))
    assert (m.num_queries, m.num_valid, m.num_without_positive) == (3, 1, 2)
    assert m.mAP == 1.0
    assert np.isnan(m.average_precision[:2]).all()
    assert "2 of 3 queries without a valid positive" in m.summary()


@pytest.mark.parametrize("seed", [0, 1, 2])
@pytest.mark.parametrize("same_camera_junk", [True, False])
def test_random_against_literal_reference(seed, same_camera_junk):
    rng = np.random.default_rng(seed)
    q, g = 37, 211
    d = rng.random((q, g)).astype(np.float32)
    d[:, 50:60] = d[:, 40:50]              # exact ties
    qid = rng.integers(-1, 12, q)
    gid = rng.integers(-1, 12, g)
    qcam = rng.integers(-1, 4, q)
    gcam = rng.integers(-1, 4, g)
    ours = evaluate_ranking(torch.from_numpy(d), qid, gid, qcam, gcam,
                            same_camera_junk=same_camera_junk, chunk_rows=8)
    ref = ranking_metrics(d, qid, gid, qcam, gcam, same_camera_junk=same_camera_junk)
    np.testing.assert_allclose(ours.average_precision, ref["ap"], rtol=0, atol=1e-12)
    np.testing.assert_array_equal(ours.first_positive_rank, ref["first"])
    assert ours.num_valid == ref["num_valid"]
    assert ours.mAP == pytest.approx(ref["mAP"], abs=1e-12)
    assert ours.mINP == pytest.approx(ref["mINP"], abs=1e-12)
    assert ours.cmc == pytest.approx(ref["cmc"], abs=1e-12)


def test_bad_input():
    with pytest.raises(ValueError, match="distances must be 2-D"):
        evaluate_ranking(np.zeros(3), [1], [1, 2, 3])
    with pytest.raises(ValueError, match="gallery_ids must be a 1-D sequence of length 3"):
        evaluate_ranking(np.zeros((1, 3)), [1], [1, 2])
    with pytest.raises(ValueError, match="finite"):
        evaluate_ranking(np.array([[0.0, np.nan]]), [1], [1, 2])
    with pytest.raises(TypeError, match="query_ids must hold integers"):
        evaluate_ranking(np.zeros((1, 2)), [1.5], [1, 2])
