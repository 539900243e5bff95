"""Bad inputs to re-ranking, the Jaccard distance and topk_rows: each gets a clear error of
the right type whose message names the offending argument (docs/design.md 2 and 8). Messages
are matched on the argument's name (and "finite" for NaN / Inf), not on their full text.
"""

from __future__ import annotations

import numpy as np
import pytest

import reid_fast
import reid_testing as rt

torch = rt.torch

Q, G, D = 4, 9, 3


def f32(*shape, value=1.0):
    return np.full(shape, value, dtype=np.float32)


def features(q=Q, g=G, d=D, seed=0):
    rng = np.random.default_rng(seed)
    return rng.standard_normal((q, d)).astype(np.float32), rng.standard_normal((g, d)).astype(np.float32)


def matrices(q=Q, g=G, seed=0):
    """Valid (q_g, q_q, g_g) Euclidean distance matrices."""
    x, y = features(q, g, 5, seed)
    e = np.sqrt(((np.concatenate([x, y])[:, None] - np.concatenate([x, y])[None]) ** 2).sum(-1))
    return (
        np.ascontiguousarray(e[:q, q:], dtype=np.float32),
        np.ascontiguousarray(e[:q, :q], dtype=np.float32),
        np.ascontiguousarray(e[q:, q:], dtype=np.float32),
    )


def _with(array, index, value):
    array = array.copy()
    array[index] = value
    return array


def _rerank(**overrides):
    x, y = features()
    args = dict(query=x, gallery=y, k1=3, k2=2, lambda_=0.3)
    args.update(overrides)
    return lambda: reid_fast.rerank(**args)


def _matrix_op(op, **overrides):
    q_g, q_q, g_g = matrices()
    args = dict(q_g=q_g, q_q=q_q, g_g=g_g, k1=3, k2=2, lambda_=0.3)
    args.update(overrides)
    return lambda: op(**args)


def _distances(**overrides):
    return _matrix_op(reid_fast.rerank_distances, **overrides)


def _similarities(**overrides):
    return _matrix_op(reid_fast.rerank_similarities, **overrides)


def finite(name):
    return rf"\b{name}\b.*must be finite"


# (call, expected exception, message regex)
PARAMETER_ERRORS = []
for _make, _label in ((_rerank, "rerank"), (_distances, "distances"), (_similarities, "similarities")):
    PARAMETER_ERRORS += [
        pytest.param(_make(k1=0), ValueError, r"\bk1\b.*\b0\b", id=f"{_label}-k1=0"),
        pytest.param(_make(k1=-2, k2=1), ValueError, r"\bk1\b.*-2", id=f"{_label}-k1<0"),
        pytest.param(_make(k2=0), ValueError, r"\bk2\b.*\b0\b", id=f"{_label}-k2=0"),
        pytest.param(_make(k1=3, k2=5), ValueError, r"\bk2\b.*\b5\b", id=f"{_label}-k2>k1+1"),
        pytest.param(_make(lambda_=-0.1), ValueError, r"\blambda_\b.*-0\.1", id=f"{_label}-lambda<0"),
        pytest.param(_make(lambda_=1.5), ValueError, r"\blambda_\b.*1\.5", id=f"{_label}-lambda>1"),
        pytest.param(_make(lambda_=float("nan")), ValueError, r"\blambda_\b.*nan", id=f"{_label}-lambda-nan"),
        pytest.param(_make(k1=13), ValueError, r"\bk1\b.*\b13\b", id=f"{_label}-k1+1>N"),
        pytest.param(_make(k1=2.0), TypeError, r"\bk1\b", id=f"{_label}-k1-float"),
        pytest.param(_make(k2="2"), TypeError, r"\bk2\b", id=f"{_label}-k2-str"),
    ]


@pytest.mark.parametrize("call, error, message", PARAMETER_ERRORS)
def test_bad_parameters(call, error, message):
    with pytest.raises(error, match=message):
        call()


def test_k1_plus_one_equal_to_n_is_fine():
    """k1 + 1 = N = 13 is the largest valid k1."""
    assert reid_fast.rerank(*features(), k1=12, k2=2).shape == (Q, G)
    assert reid_fast.rerank_distances(*matrices(), k1=12, k2=13).shape == (Q, G)


x0, y0 = features()
qg0, qq0, gg0 = matrices()

FEATURE_ERRORS = [
    pytest.param(_rerank(query=_with(x0, (1, 2), np.nan)), ValueError, finite("query"), id="query-nan"),
    pytest.param(_rerank(gallery=_with(y0, (7, 0), np.inf)), ValueError, finite("gallery"), id="gallery-inf"),
    pytest.param(_rerank(gallery=_with(y0, (0, 1), -np.inf)), ValueError, finite("gallery"), id="gallery-neg-inf"),
    pytest.param(
        _rerank(query=torch.from_numpy(_with(x0, (0, 0), np.nan)), gallery=torch.from_numpy(y0)),
        ValueError,
        finite("query"),
        id="torch-query-nan",
    ),
    pytest.param(
        _rerank(query=_with(x0, (0, 0), np.nan).astype(np.float16), gallery=y0.astype(np.float16)),
        ValueError,
        finite("query"),
        id="float16-query-nan",
    ),
    pytest.param(_rerank(gallery=f32(G, D + 1)), ValueError, r"\b(gallery|query)\b", id="d-mismatch"),
    pytest.param(_rerank(query=f32(0, D)), ValueError, r"\bquery has no rows", id="empty-query"),
    pytest.param(_rerank(query=f32(Q)), ValueError, r"\bquery\b", id="query-1d"),
    pytest.param(_rerank(gallery=f32(2, G, D)), ValueError, r"\bgallery\b", id="gallery-3d"),
    pytest.param(_rerank(query=x0.astype(np.float64)), TypeError, r"\bquery\b", id="query-float64"),
    pytest.param(_rerank(query=np.ones((Q, D), np.int64)), TypeError, r"\bquery\b", id="query-int64"),
    pytest.param(_rerank(gallery=y0.astype(np.float16)), TypeError, r"\bgallery\b", id="gallery-dtype-differs"),
    pytest.param(_rerank(query=x0.tolist()), TypeError, r"\bquery\b", id="query-list"),
    pytest.param(_rerank(gallery=torch.from_numpy(y0)), TypeError, r"\bgallery\b", id="gallery-framework-differs"),
]


@pytest.mark.parametrize("call, error, message", FEATURE_ERRORS)
def test_bad_features(call, error, message):
    with pytest.raises(error, match=message):
        call()


MATRIX_ERRORS = []
for _make, _label in ((_distances, "distances"), (_similarities, "similarities")):
    MATRIX_ERRORS += [
        pytest.param(_make(q_g=_with(qg0, (1, 1), np.nan)), ValueError, finite("q_g"), id=f"{_label}-q_g-nan"),
        pytest.param(_make(q_q=_with(qq0, (0, 3), np.inf)), ValueError, finite("q_q"), id=f"{_label}-q_q-inf"),
        pytest.param(_make(g_g=_with(gg0, (8, 2), -np.inf)), ValueError, finite("g_g"), id=f"{_label}-g_g-inf"),
        pytest.param(_make(q_q=f32(Q, Q + 1)), ValueError, r"\bq_q\b", id=f"{_label}-q_q-not-square"),
        pytest.param(_make(g_g=f32(G + 1, G)), ValueError, r"\bg_g\b", id=f"{_label}-g_g-not-square"),
        pytest.param(_make(q_q=f32(Q + 1, Q + 1)), ValueError, r"\bq_q\b", id=f"{_label}-q_q-size-mismatch"),
        pytest.param(_make(g_g=f32(G - 1, G - 1)), ValueError, r"\bg_g\b", id=f"{_label}-g_g-size-mismatch"),
        pytest.param(_make(q_g=f32(Q)), ValueError, r"\bq_g\b", id=f"{_label}-q_g-1d"),
        pytest.param(
            _make(q_g=f32(0, G), q_q=f32(0, 0)), ValueError, r"\bq_g has no rows", id=f"{_label}-empty-query"
        ),
        pytest.param(_make(q_g=qg0.astype(np.float64)), TypeError, r"\bq_g\b", id=f"{_label}-q_g-float64"),
        pytest.param(_make(g_g=np.ones((G, G), np.int64)), TypeError, r"\bg_g\b", id=f"{_label}-g_g-int64"),
        pytest.param(_make(q_q=qq0.tolist()), TypeError, r"\bq_q\b", id=f"{_label}-q_q-list"),
        pytest.param(_make(q_q=torch.from_numpy(qq0)), TypeError, r"\bq_q\b", id=f"{_label}-q_q-framework-differs"),
    ]
MATRIX_ERRORS += [
    pytest.param(_distances(q_g=_with(qg0, (2, 3), -0.5)), ValueError, r"\bq_g\b", id="distances-q_g-negative"),
    pytest.param(_distances(q_q=_with(qq0, (1, 0), -1e-3)), ValueError, r"\bq_q\b", id="distances-q_q-negative"),
    pytest.param(_distances(g_g=_with(gg0, (4, 4), -2.0)), ValueError, r"\bg_g\b", id="distances-g_g-negative"),
    # Finite inputs whose D (the square, (2 - 2 s)^2) overflows float32.
    pytest.param(_distances(q_q=_with(qq0, (1, 0), 2e19)), ValueError, r"\bq_q\b.*overflow",
                 id="distances-square-overflows"),
    pytest.param(_similarities(g_g=_with(gg0, (2, 1), -1e19)), ValueError, r"\bg_g\b.*overflow",
                 id="similarities-distance-overflows"),
]


@pytest.mark.parametrize("call, error, message", MATRIX_ERRORS)
def test_bad_matrices(call, error, message):
    with pytest.raises(error, match=message):
        call()


def test_negative_similarities_are_fine():
    """Cosine similarities are in [-1, 1]: negative values are valid input."""
    q_g, q_q, g_g = matrices()
    s = 1 - q_g / q_g.max()  # in [0, 1]
    out = reid_fast.rerank_similarities(2 * s - 1, 1 - q_q / q_q.max(), 1 - g_g / g_g.max(), k1=3, k2=2)
    assert out.shape == (Q, G)


def test_cuda_features_with_cpu_only_build():
    if reid_fast.build_info()["cuda"]:
        pytest.skip("reid_fast was built with CUDA")
    if not torch.cuda.is_available():
        pytest.skip("needs a CUDA device (to make a CUDA tensor)")
    x, y = features()
    with pytest.raises(RuntimeError, match=r"built without CUDA"):
        reid_fast.rerank(torch.from_numpy(x).cuda(), torch.from_numpy(y).cuda(), k1=3, k2=2)


# --------------------------------------------------------------------------------------
# Jaccard distance
# --------------------------------------------------------------------------------------


def _rows(indptr, indices, values, num_columns=5):
    return reid_fast.SparseRows(
        np.asarray(indptr, dtype=np.int64),
        np.asarray(indices, dtype=np.int64),
        np.asarray(values, dtype=np.float32),
        num_columns,
    )


GOOD = _rows([0, 2, 3], [0, 3, 1], [0.5, 0.5, 1.0])


def _jaccard(query=GOOD, gallery=GOOD):
    return lambda: reid_fast.jaccard_distance(query, gallery)


def _batched(query_splits, gallery_splits):
    return lambda: reid_fast.jaccard_distance_batched(GOOD, GOOD, query_splits, gallery_splits)


JACCARD_ERRORS = [
    pytest.param(_jaccard(query=np.ones((2, 5), np.float32)), TypeError, r"\bquery\b", id="query-dense-array"),
    pytest.param(_jaccard(gallery=(GOOD.indptr, GOOD.indices, GOOD.values, 5)), TypeError, r"\bgallery\b", id="gallery-tuple"),
    pytest.param(_jaccard(query=_rows([0, 2, 3], [0, 3, 1], [0.5, -0.5, 1.0])), ValueError, r"\bvalues\b", id="negative-value"),
    pytest.param(_jaccard(query=_rows([0, 2, 3], [0, 3, 1], [0.5, np.nan, 1.0])), ValueError, r"\bvalues\b", id="nan-value"),
    pytest.param(_jaccard(gallery=_rows([0, 2, 3], [0, 3, 1], [0.5, np.inf, 1.0])), ValueError, r"\bvalues\b", id="inf-value"),
    pytest.param(_jaccard(query=_rows([0, 2, 3], [3, 0, 1], [0.5, 0.5, 1.0])), ValueError, r"\bindices\b", id="indices-not-ascending"),
    pytest.param(_jaccard(query=_rows([0, 2, 3], [1, 1, 1], [0.5, 0.5, 1.0])), ValueError, r"\bindices\b", id="indices-repeated"),
    pytest.param(_jaccard(query=_rows([0, 2, 3], [0, 5, 1], [0.5, 0.5, 1.0])), ValueError, r"\bindices\b", id="index-too-large"),
    pytest.param(_jaccard(query=_rows([0, 2, 3], [0, -1, 1], [0.5, 0.5, 1.0])), ValueError, r"\bindices\b", id="index-negative"),
    pytest.param(_jaccard(gallery=_rows([0, 2, 3], [0, 3, 1], [0.5, 0.5, 1.0], 6)), ValueError, r"\bnum_columns\b", id="num-columns-mismatch"),
    pytest.param(_jaccard(query=_rows([0, 2, 4], [0, 3, 1], [0.5, 0.5, 1.0])), ValueError, r"\bindptr\b", id="indptr-past-nnz"),
    pytest.param(_jaccard(query=_rows([1, 2, 3], [0, 3, 1], [0.5, 0.5, 1.0])), ValueError, r"\bindptr\b", id="indptr-not-from-0"),
    pytest.param(_jaccard(query=_rows([0, 3, 2, 3], [0, 3, 1], [0.5, 0.5, 1.0])), ValueError, r"\bindptr\b", id="indptr-decreasing"),
    pytest.param(_jaccard(query=_rows([0, 2, 3], [0, 3, 1], [0.5, 0.5])), ValueError, r"\bvalues\b", id="values-length"),
    pytest.param(
        _jaccard(query=reid_fast.SparseRows(GOOD.indptr.astype(np.int32), GOOD.indices, GOOD.values, 5)),
        TypeError,
        r"\bindptr\b",
        id="indptr-int32",
    ),
    pytest.param(
        _jaccard(query=reid_fast.SparseRows(GOOD.indptr, GOOD.indices, GOOD.values.astype(np.float64), 5)),
        TypeError,
        r"\bvalues\b",
        id="values-float64",
    ),
    pytest.param(
        _jaccard(gallery=reid_fast.SparseRows(*(torch.from_numpy(a) for a in GOOD[:3]), 5)),
        (TypeError, ValueError),
        r"\bgallery\b",
        id="gallery-framework-differs",
    ),
    pytest.param(_batched([0, 1, 2], [0, 2]), ValueError, r"splits", id="splits-length-mismatch"),
    pytest.param(_batched([0, 3], [0, 2]), ValueError, r"\bquery_splits\b", id="query-splits-past-rows"),
    pytest.param(_batched([0, 2], [0, 2, 1]), ValueError, r"\bgallery_splits\b", id="gallery-splits-decreasing"),
    pytest.param(_batched([0, 2], [-1, 2]), ValueError, r"\bgallery_splits\b", id="gallery-splits-negative"),
    pytest.param(_batched([2], [2]), ValueError, r"splits", id="splits-one-offset"),
    # num_columns sizes the native workspace: a negative or huge value wrapped it (SIGSEGV).
    pytest.param(_jaccard(query=_rows([0, 0, 0], [], [], -1), gallery=_rows([0, 0, 0], [], [], -1)),
                 ValueError, r"query\.num_columns must be between 0 and the int64 maximum \(9223372036854775807\), got -1",
                 id="num-columns-negative"),
    pytest.param(_jaccard(query=_rows([0, 2, 3], [0, 3, 1], [0.5, 0.5, 1.0], 5.0)), TypeError,
                 r"query\.num_columns must be an integer, got float 5\.0", id="num-columns-float"),
    pytest.param(_jaccard(gallery=_rows([0, 2, 3], [0, 3, 1], [0.5, 0.5, 1.0], "5")), TypeError,
                 r"gallery\.num_columns must be an integer, got str '5'", id="num-columns-string"),
    pytest.param(_jaccard(query=_rows([0, 2, 3], [0, 3, 1], [0.5, 0.5, 1.0], 2**64)), ValueError,
                 r"query\.num_columns must be between 0 and the int64 maximum", id="num-columns-above-int64"),
    pytest.param(_jaccard(query=_rows([0, 2, 3], [0, 3, 1], [0.5, 0.5, 1.0], 2**62),
                          gallery=_rows([0, 2, 3], [0, 3, 1], [0.5, 0.5, 1.0], 2**62)),
                 ValueError, r"workspace", id="num-columns-workspace-overflows"),
    pytest.param(_jaccard(query=reid_fast.SparseRows([0, 2, 3], [0, 3, 1], [0.5, 0.5, 1.0], 5)),
                 TypeError, r"query\.indptr must be a torch\.Tensor, numpy\.ndarray", id="lists"),
    pytest.param(_jaccard(query=_rows([0, 2, 3], [0, 3, 1], [2e38, 2e38, 1.0])), ValueError,
                 r"query\.values of row 0 sum to 4e\+38", id="row-sum-overflows-float32"),
    pytest.param(_batched("02", [0, 2]), TypeError, r"query_splits must be a sequence of row offsets, got str",
                 id="splits-string"),
    pytest.param(_batched([0, 2], np.array(2)), TypeError, r"gallery_splits must be a sequence", id="splits-0d"),
    pytest.param(_batched([0, 1.5], [0, 2]), TypeError, r"query_splits\[1\] must be an integer, got float 1\.5",
                 id="splits-float"),
]


@pytest.mark.parametrize("call, error, message", JACCARD_ERRORS)
def test_bad_jaccard_input(call, error, message):
    with pytest.raises(error, match=message):
        call()


# --------------------------------------------------------------------------------------
# topk_rows
# --------------------------------------------------------------------------------------

M = f32(3, 6)

TOPK_ERRORS = [
    pytest.param(lambda: reid_fast.topk_rows(M, 0), ValueError, r"\bk\b.*\b0\b", id="k=0"),
    pytest.param(lambda: reid_fast.topk_rows(M, 7), ValueError, r"\bk\b.*\b7\b", id="k>m"),
    pytest.param(lambda: reid_fast.topk_rows(M, 2.0), TypeError, r"\bk\b", id="k-float"),
    pytest.param(lambda: reid_fast.topk_rows(M.astype(np.float64), 2), TypeError, r"\bmatrix\b", id="float64"),
    pytest.param(lambda: reid_fast.topk_rows(M.astype(np.float16), 2), TypeError, r"\bmatrix\b", id="float16"),
    pytest.param(lambda: reid_fast.topk_rows(f32(6), 2), ValueError, r"\bmatrix\b", id="1d"),
    pytest.param(lambda: reid_fast.topk_rows(M.tolist(), 2), TypeError, r"\bmatrix\b", id="list"),
    pytest.param(lambda: reid_fast.topk_rows(_with(M, (2, 4), np.nan), 2), ValueError, finite("matrix"), id="nan"),
    pytest.param(lambda: reid_fast.topk_rows(_with(M, (0, 0), -np.inf), 2), ValueError, finite("matrix"), id="inf"),
]


@pytest.mark.parametrize("call, error, message", TOPK_ERRORS)
def test_bad_topk_rows_input(call, error, message):
    with pytest.raises(error, match=message):
        call()
