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


def _assert_same_as_reference(ours, ref):
    """Integer ranks identical; float64 metrics equal up to summation order (1e-12)."""
    np.testing.assert_array_equal(ours.first_positive_rank, ref["first"])
    np.testing.assert_array_equal(ours.num_positives, ref["positives"])
    np.testing.assert_array_equal(ours.valid, ~np.isnan(ref["ap"]))
    for mine, theirs in ((ours.average_precision, ref["ap"]),
                         (ours.average_precision_at_top, ref["ap_top"]),
                         (ours.inverse_negative_penalty, ref["inp"])):
        np.testing.assert_allclose(mine, theirs, rtol=0, atol=1e-12)
    assert ours.num_valid == ref["num_valid"]
    for key, value in (("mAP", ours.mAP), ("mINP", ours.mINP), ("mAP_top", ours.mAP_top)):
        assert value == pytest.approx(ref[key], abs=1e-12), key
    assert ours.cmc == pytest.approx(ref["cmc"], abs=1e-12)


def test_map_at_top_hand_computed():
    # Non-junk list ids [1, 2, 2, 1, 2, 1]; query id 1: positives at ranks 1, 4, 6.
    # Full AP = (1/1 + 2/4 + 3/6) / 3. AP@5 (AICity rule, K=5): (1/1 + 2/4) / min(3, 5).
    # AP@2: (1/1) / min(3, 2) = 0.5.
    d = np.arange(6, dtype=np.float32)[None]
    gid = [1, 2, 2, 1, 2, 1]
    m = evaluate_ranking(d, [1], gid, top=5)
    assert m.mAP == pytest.approx((1 + 0.5 + 0.5) / 3, abs=1e-15)
    assert m.mAP_top == pytest.approx((1 + 0.5) / 3, abs=1e-15)
    assert evaluate_ranking(d, [1], gid, top=2).mAP_top == pytest.approx(0.5, abs=1e-15)
    assert m.as_dict()["mAP@5"] == m.mAP_top
    assert m.inverse_negative_penalty[0] == pytest.approx(3 / 6)
    assert m.num_positives[0] == 3


def test_ties_between_positives_and_negatives_use_the_gallery_index():
    # Distances [1, 1, 1, 0, 1] with ids [2, 1, 2, 2, 1]: order by (distance, index) is
    # items 3, 0, 1, 2, 4 -> ids [2, 2, 1, 2, 1]: positives at ranks 3 and 5.
    d = np.array([[1.0, 1.0, 1.0, 0.0, 1.0]], dtype=np.float32)
    m = evaluate_ranking(d, [1], [2, 1, 2, 2, 1])
    assert m.average_precision[0] == pytest.approx((1 / 3 + 2 / 5) / 2, abs=1e-15)
    assert m.first_positive_rank[0] == 3


@pytest.mark.parametrize("seed", [3, 4])
@pytest.mark.parametrize("same_camera_junk", [True, False])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])   # native kernel / torch ops
def test_tie_heavy_matrices_against_the_reference(seed, same_camera_junk, dtype):
    # Distances from only 4 values (some negative): almost every comparison is a tie, and
    # rows whose positives all share one distance have an empty range.
    rng = np.random.default_rng(seed)
    q, g = 25, 300
    d = (rng.integers(0, 4, (q, g)) - 1.5).astype(dtype)
    d[0] = 0.25
    qid, gid = rng.integers(-1, 6, q), rng.integers(-1, 6, g)
    qcam, gcam = rng.integers(-1, 3, q), rng.integers(-1, 3, g)
    ours = evaluate_ranking(d, qid, gid, qcam, gcam, same_camera_junk=same_camera_junk,
                            top=40, chunk_rows=7)
    ref = ranking_metrics(d, qid, gid, qcam, gcam, same_camera_junk=same_camera_junk, top=40)
    _assert_same_as_reference(ours, ref)


@pytest.mark.parametrize("dtype", [np.float16, np.float32, np.float64])
def test_dtypes_and_the_aicity_rule_against_the_reference(dtype):
    # AICity: unknown query cameras, no camera junk, many positives per query (tracks),
    # so AP@100 differs from AP.
    rng = np.random.default_rng(5)
    q, g = 20, 700
    d = rng.random((q, g)).astype(dtype)
    qid, gid = rng.integers(0, 4, q), rng.integers(0, 4, g)
    ours = evaluate_ranking(d, qid, gid, None, rng.integers(0, 5, g), same_camera_junk=False)
    ref = ranking_metrics(d, qid, gid, None, None, same_camera_junk=False)
    _assert_same_as_reference(ours, ref)
    assert ours.mAP_top != pytest.approx(ours.mAP, abs=1e-3)


def test_no_gallery_or_no_query():
    m = evaluate_ranking(np.zeros((2, 0), np.float32), [1, 2], [])
    assert (m.num_queries, m.num_valid, m.mAP) == (2, 0, 0.0)
    m = evaluate_ranking(np.zeros((0, 3), np.float32), [], [1, 2, 3])
    assert (m.num_queries, m.num_valid) == (0, 0)


def test_non_finite_error_names_the_position():
    d = np.zeros((2, 3), np.float32)
    d[1, 2] = np.inf
    with pytest.raises(ValueError, match="query 1, gallery 2"):
        evaluate_ranking(d, [1, 2], [1, 2, 3])


@pytest.mark.cuda
def test_cuda_matches_the_reference():
    rng = np.random.default_rng(6)
    q, g = 40, 500
    d = rng.random((q, g)).astype(np.float32)
    d[:, 100:150] = d[:, :50]
    qid, gid = rng.integers(-1, 8, q), rng.integers(-1, 8, g)
    qcam, gcam = rng.integers(-1, 3, q), rng.integers(-1, 3, g)
    ours = evaluate_ranking(torch.from_numpy(d).cuda(), qid, gid, qcam, gcam, chunk_rows=16)
    _assert_same_as_reference(ours, ranking_metrics(d, qid, gid, qcam, gcam))


class HostRefusingArray:
    """An array like CuPy's: it exports DLPack, and refuses an implicit conversion to a NumPy
    array (``np.asarray``) with a TypeError."""

    def __init__(self, values: np.ndarray) -> None:
        self._values = np.ascontiguousarray(values)

    def __dlpack__(self, **kwargs):
        return self._values.__dlpack__(**kwargs)

    def __dlpack_device__(self):
        return self._values.__dlpack_device__()

    def __array__(self, *args, **kwargs):
        raise TypeError("Implicit conversion to a NumPy array is not allowed")


def _ranking_case() -> tuple[np.ndarray, ...]:
    rng = np.random.default_rng(7)
    q, g = 12, 60
    d = rng.random((q, g)).astype(np.float32)
    return (d, rng.integers(-1, 5, q), rng.integers(-1, 5, g), rng.integers(-1, 3, q),
            rng.integers(-1, 3, g))


def test_dlpack_arrays_that_refuse_numpy_conversion():
    """Ids and cameras are taken like the distances: an array that exports DLPack but
    refuses np.asarray (as CuPy's do) goes through DLPack (np.asarray raised before)."""
    arrays = _ranking_case()
    expected = ranking_metrics(*arrays)
    _assert_same_as_reference(evaluate_ranking(*map(HostRefusingArray, arrays)), expected)
    d, *ids = arrays
    _assert_same_as_reference(evaluate_ranking(d, *map(HostRefusingArray, ids)), expected)


@pytest.mark.cuda
@pytest.mark.cupy
def test_cupy_ids_and_cameras():
    """CuPy ids and cameras with CuPy, CUDA torch and NumPy distances."""
    import cupy

    arrays = _ranking_case()
    expected = ranking_metrics(*arrays)
    d, *ids = arrays
    on_gpu = [cupy.asarray(a) for a in ids]
    for distances in (cupy.asarray(d), torch.from_numpy(d).cuda(), d):
        _assert_same_as_reference(evaluate_ranking(distances, *on_gpu), expected)


def test_arguments_that_used_to_pass_silently():
    d = np.random.default_rng(0).random((3, 4)).astype(np.float32)
    ids, gids = np.array([1, 2, 3]), np.array([1, 2, 3, 1])
    with pytest.raises(TypeError, match="top must be an integer, got float 2.5"):
        evaluate_ranking(d, ids, gids, top=2.5)
    with pytest.raises(TypeError, match="ranks\\[1\\] must be an integer, got float 1.5"):
        evaluate_ranking(d, ids, gids, ranks=[1, 1.5])
    with pytest.raises(ValueError, match="ranks\\[0\\] must be >= 1, got 0"):
        evaluate_ranking(d, ids, gids, ranks=[0])
    with pytest.raises(TypeError, match="chunk_rows must be an integer"):
        evaluate_ranking(d, ids, gids, chunk_rows=1.0)
    # top goes to the native kernel as an int64: beyond it, a clear error, not pybind's dump.
    with pytest.raises(ValueError, match=r"top must be between 1 and the int64 maximum "
                                         r"\(9223372036854775807\), got 18446744073709551616"):
        evaluate_ranking(d, ids, gids, top=2**64)
    assert evaluate_ranking(d, ids, gids, top=2**63 - 1).mAP_top == evaluate_ranking(d, ids, gids, top=4).mAP_top
    # uint64 ids past int64 would wrap to -1 (junk): refused, NumPy or torch.
    huge = np.array([2**64 - 1, 2, 3], dtype=np.uint64)
    with pytest.raises(ValueError, match="query_ids must be integers <= 9223372036854775807"):
        evaluate_ranking(d, huge, gids)
    with pytest.raises(ValueError, match="gallery_ids must be integers <= 9223372036854775807"):
        evaluate_ranking(d, ids, torch.tensor([1, 2, 3, 2**63], dtype=torch.uint64))
    with pytest.raises(ValueError, match="query_ids must be integers between"):
        evaluate_ranking(d, [2**64, 2, 3], gids)
    small = evaluate_ranking(d, ids.astype(np.uint64), gids.astype(np.uint32))
    assert small.as_dict() == evaluate_ranking(d, ids, gids).as_dict()


def test_reversed_arrays_and_string_ids():
    rng = np.random.default_rng(1)
    d = rng.random((5, 7)).astype(np.float32)
    ids, gids = rng.integers(0, 3, 5), rng.integers(0, 3, 7)
    cams, gcams = np.arange(5), np.arange(7)
    flipped = evaluate_ranking(d[::-1, ::-1], ids[::-1], gids[::-1], cams[::-1], gcams[::-1])
    copied = evaluate_ranking(d[::-1, ::-1].copy(), ids[::-1].copy(), gids[::-1].copy(),
                              cams[::-1].copy(), gcams[::-1].copy())
    assert flipped.as_dict() == copied.as_dict()
    with pytest.raises(TypeError, match="query_ids must hold numbers; got dtype <U1 "
                                        "\\(first value 'a'\\)"):
        evaluate_ranking(d, list("abcde"), gids)
    with pytest.raises(TypeError, match="distances must hold numbers; got dtype object"):
        evaluate_ranking(np.array([[None, 1]], dtype=object), [1], [1, 2])
