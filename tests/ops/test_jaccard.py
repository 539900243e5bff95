"""reid_fast.jaccard_distance and jaccard_distance_batched (docs/design.md 3.3) against the
dense float64 reference (reid_fast.reference.jaccard_distance) and the definition
(reid_testing.dense_jaccard): 1 - sum min / sum max of non-negative sparse rows, 1 where
the sum of maxima is 0.

Tolerance: the distances lie in [0, 1]; the op sums minima and row sums in float32 (a
relative error of about nnz x 2^-24, ~1e-6 for the rows here), so 1e-5 absolute is ample
for the small hand-made and property cases and reid_testing.RERANK_ATOL (1e-4) is used
for the larger random ones, as for re-ranking.
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import reid_fast
import reid_fast.ops.jaccard as jaccard_module
import reid_testing as rt
from reid_fast import reference

SMALL_ATOL = 1e-5


def check(query_dense, gallery_dense, backend=("numpy", "cpu"), atol=rt.RERANK_ATOL):
    """jaccard_distance on CSR forms of the dense rows, against the reference."""
    framework, device = backend
    query = rt.sparse_rows(query_dense, framework, device)
    gallery = rt.sparse_rows(gallery_dense, framework, device)
    got = reid_fast.jaccard_distance(query, gallery)
    rt.assert_like(got, query.values, "float32", (query_dense.shape[0], gallery_dense.shape[0]))
    expected = reference.jaccard_distance(query_dense.astype(np.float64), gallery_dense.astype(np.float64))
    np.testing.assert_allclose(rt.to_numpy(got), expected, rtol=0, atol=atol)
    return rt.to_numpy(got)


# --------------------------------------------------------------------------------------
# By hand
# --------------------------------------------------------------------------------------


def test_hand_computed():
    a = np.array(
        [
            [1.0, 2.0, 0.0, 0.0],  # 0
            [0.5, 0.5, 0.0, 0.0],  # 1
            [0.0, 0.0, 0.0, 0.0],  # 2: empty
            [1.0, 1.0, 0.0, 0.0],  # 3
            [0.0, 0.0, 0.0, 4.0],  # 4
        ],
        dtype=np.float32,
    )
    b = np.array(
        [
            [2.0, 1.0, 1.0, 0.0],  # min with a0 (1, 1, 0, 0) = 2, max (2, 2, 1, 0) = 5
            [0.0, 0.5, 0.5, 0.0],  # with a1: min 0.5, max 1.5
            [0.0, 0.0, 0.0, 0.0],  # empty
            [2.0, 2.0, 0.0, 0.0],  # with a3: proportional, min 2, max 4
            [1.0, 2.0, 0.0, 0.0],  # a0 itself
        ],
        dtype=np.float32,
    )
    got = check(a, b, atol=SMALL_ATOL)
    assert got[0, 0] == pytest.approx(1 - 2 / 5, abs=1e-6)
    assert got[1, 1] == pytest.approx(1 - 0.5 / 1.5, abs=1e-6)
    assert got[3, 3] == pytest.approx(0.5, abs=1e-6)
    assert got[0, 4] == pytest.approx(0.0, abs=1e-6)  # identical rows
    assert got[4, 0] == 1.0  # disjoint supports
    assert got[2, 2] == 1.0  # two empty rows: sum max = 0
    np.testing.assert_array_equal(got[2], 1.0)  # empty query row against everything
    np.testing.assert_array_equal(got[:, 2], 1.0)  # and every query against an empty row


def test_rows_summing_to_one():
    """For rows that sum to one, 1 - sum min / sum max = 1 - m / (2 - m) (re-ranking's step 7)."""
    a = np.array([[0.25, 0.25, 0.5, 0.0]], dtype=np.float32)
    b = np.array([[0.5, 0.0, 0.25, 0.25], [0.0, 0.0, 0.0, 1.0]], dtype=np.float32)
    m = np.array([0.25 + 0.25, 0.0])
    got = check(a, b, atol=SMALL_ATOL)
    np.testing.assert_allclose(got[0], 1 - m / (2 - m), rtol=0, atol=1e-6)


def test_explicit_zeros_change_nothing(rng):
    """Stored zero values (allowed: values are non-negative) count as absent entries; a
    row that stores only zeros is empty (distance 1, even to itself)."""
    a = rt.random_rows(rng, 12, 40, 0.3, empty_rows=0.2)
    b = rt.random_rows(rng, 15, 40, 0.3, empty_rows=0.2)
    zeros_a = (a == 0) & (rng.random(a.shape) < 0.3)
    zeros_b = (b == 0) & (rng.random(b.shape) < 0.3)
    plain = reid_fast.jaccard_distance(rt.sparse_rows(a), rt.sparse_rows(b))
    padded = reid_fast.jaccard_distance(
        rt.sparse_rows(a, explicit_zeros=zeros_a), rt.sparse_rows(b, explicit_zeros=zeros_b)
    )
    np.testing.assert_allclose(padded, plain, rtol=0, atol=1e-6)
    only_zeros = rt.sparse_rows(np.zeros((1, 5), np.float32), explicit_zeros=np.ones((1, 5), bool))
    assert reid_fast.jaccard_distance(only_zeros, only_zeros)[0, 0] == 1.0


# --------------------------------------------------------------------------------------
# Against the reference
# --------------------------------------------------------------------------------------

# (q, g, columns, density, fraction of empty rows)
SHAPES = [
    pytest.param((1, 1, 1, 1.0, 0.0), id="1x1x1"),
    pytest.param((7, 11, 30, 0.3, 0.0), id="7x11x30"),
    pytest.param((50, 80, 500, 0.05, 0.1), id="50x80x500-sparse-some-empty"),
    pytest.param((30, 40, 20, 0.9, 0.0), id="dense-rows"),
    pytest.param((20, 300, 20000, 0.002, 0.0), id="wide-20000-columns"),
    pytest.param((300, 5, 64, 0.2, 0.0), id="q300-g5"),
    pytest.param((10, 10, 50, 0.0, 0.0), id="all-empty"),
    pytest.param((0, 10, 50, 0.2, 0.0), id="q0"),
    pytest.param((10, 0, 50, 0.2, 0.0), id="g0"),
]


@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("backend", rt.backend_params())
def test_matches_reference(backend, shape, rng):
    q, g, columns, density, empty = shape
    check(rt.random_rows(rng, q, columns, density, empty), rt.random_rows(rng, g, columns, density, empty), backend)


def test_same_rows_as_query_and_gallery(rng):
    """J(S, S): symmetric, zero on the diagonal for non-empty rows, 1 for empty ones."""
    s = rt.random_rows(rng, 60, 100, 0.1, empty_rows=0.1)
    sparse = rt.sparse_rows(s)
    got = check(s, s)
    np.testing.assert_allclose(got, got.T, rtol=0, atol=1e-6)
    empty = s.sum(axis=1) == 0
    assert empty.any() and not empty.all()
    np.testing.assert_allclose(np.diag(got)[~empty], 0.0, rtol=0, atol=1e-6)
    np.testing.assert_array_equal(np.diag(got)[empty], 1.0)
    assert got.min() >= 0.0 and got.max() <= 1.0
    assert sparse.rows == 60


def test_reranking_encodings(rng):
    """Rows like re-ranking's V': a few dozen non-zeros that sum to one."""
    rows = rt.random_rows(rng, 120, 400, 0.08)
    rows[rows.sum(axis=1) == 0, 0] = 1
    rows /= rows.sum(axis=1, keepdims=True)
    check(rows[:20], rows[20:])


# --------------------------------------------------------------------------------------
# Batched
# --------------------------------------------------------------------------------------


def _check_batched(query_dense, gallery_dense, query_splits, gallery_splits, backend=("numpy", "cpu")):
    framework, device = backend
    query = rt.sparse_rows(query_dense, framework, device)
    gallery = rt.sparse_rows(gallery_dense, framework, device)
    got = reid_fast.jaccard_distance_batched(query, gallery, query_splits, gallery_splits)
    assert isinstance(got, list)
    assert len(got) == len(query_splits) - 1
    for b, block in enumerate(got):
        q0, q1 = query_splits[b], query_splits[b + 1]
        g0, g1 = gallery_splits[b], gallery_splits[b + 1]
        rt.assert_like(block, query.values, "float32", (q1 - q0, g1 - g0))
        expected = reference.jaccard_distance(
            query_dense[q0:q1].astype(np.float64), gallery_dense[g0:g1].astype(np.float64)
        )
        np.testing.assert_allclose(rt.to_numpy(block), expected, rtol=0, atol=rt.RERANK_ATOL, err_msg=f"problem {b}")
        # The same problem on its own: rows sliced out into their own CSR.
        alone = reid_fast.jaccard_distance(
            rt.sparse_rows(query_dense[q0:q1], framework, device),
            rt.sparse_rows(gallery_dense[g0:g1], framework, device),
        )
        np.testing.assert_allclose(rt.to_numpy(block), rt.to_numpy(alone), rtol=0, atol=1e-6, err_msg=f"problem {b}")
    return got


@pytest.mark.parametrize("backend", rt.backend_params())
def test_batched_matches_unbatched(backend, rng):
    """Problems of different sizes, including ones with no query or no gallery rows."""
    query = rt.random_rows(rng, 70, 300, 0.05, empty_rows=0.05)
    gallery = rt.random_rows(rng, 200, 300, 0.05, empty_rows=0.05)
    query_splits = [0, 10, 10, 35, 36, 70]
    gallery_splits = [0, 50, 90, 90, 190, 200]
    _check_batched(query, gallery, query_splits, gallery_splits, backend)


def test_batched_one_problem_equals_jaccard_distance(rng):
    query = rt.random_rows(rng, 20, 100, 0.1)
    gallery = rt.random_rows(rng, 30, 100, 0.1)
    (only,) = _check_batched(query, gallery, [0, 20], [0, 30])
    whole = reid_fast.jaccard_distance(rt.sparse_rows(query), rt.sparse_rows(gallery))
    np.testing.assert_array_equal(only, whole)


def test_batched_rows_outside_the_splits_take_no_part(rng):
    """Splits need not start at 0 nor end at the last row."""
    query = rt.random_rows(rng, 30, 100, 0.1)
    gallery = rt.random_rows(rng, 40, 100, 0.1)
    _check_batched(query, gallery, [5, 12, 20], [3, 3, 33])


def test_batched_native_op_gets_only_the_problems_rows(rng, monkeypatch):
    """The native op is handed the rows the problems have, not the whole CSRs, so that its
    work, workspace and CUDA grid are sized by them (re-ranking pairs the first q of N rows
    of V' with the last g)."""
    native = jaccard_module._C
    sized = []

    class Recording:
        def __getattr__(self, name):
            return getattr(native, name)

        def jaccard_workspace_bytes(self, *args):
            sized.append(args[:2])
            return native.jaccard_workspace_bytes(*args)

    monkeypatch.setattr(jaccard_module, "_C", Recording())
    query = rt.random_rows(rng, 300, 60, 0.2, empty_rows=0.1)
    gallery = rt.random_rows(rng, 200, 60, 0.2, empty_rows=0.1)
    _check_batched(query, gallery, [100, 101, 101, 104], [20, 50, 52, 60])
    assert sized[0] == (4, 40)  # the batched call (then _check_batched's problems one by one)


def test_batched_many_small_problems(rng):
    """Per-camera style: 40 problems of a few rows each, sharing one gallery CSR."""
    sizes_q = rng.integers(0, 5, size=40)
    sizes_g = rng.integers(0, 12, size=40)
    query_splits = [0] + np.cumsum(sizes_q).tolist()
    gallery_splits = [0] + np.cumsum(sizes_g).tolist()
    query = rt.random_rows(rng, query_splits[-1], 80, 0.1)
    gallery = rt.random_rows(rng, gallery_splits[-1], 80, 0.1)
    _check_batched(query, gallery, query_splits, gallery_splits)


def test_batched_splits_accept_int_sequences(rng):
    """Splits as a tuple, a NumPy int array and a list of NumPy integers."""
    query = rt.random_rows(rng, 6, 30, 0.3)
    gallery = rt.random_rows(rng, 9, 30, 0.3)
    expected = _check_batched(query, gallery, [0, 2, 6], [0, 5, 9])
    for qs, gs in (
        ((0, 2, 6), (0, 5, 9)),
        (np.array([0, 2, 6]), np.array([0, 5, 9])),
        ([np.int64(0), np.int64(2), np.int64(6)], [np.int32(0), np.int32(5), np.int32(9)]),
    ):
        got = reid_fast.jaccard_distance_batched(rt.sparse_rows(query), rt.sparse_rows(gallery), qs, gs)
        for a, b in zip(got, expected):
            np.testing.assert_array_equal(a, b)


# --------------------------------------------------------------------------------------
# Properties
# --------------------------------------------------------------------------------------

SETTINGS = settings(
    max_examples=50,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)

# Non-negative float32 entries, zero half of the time; no subnormals (a build that flushes
# them to zero would be right to), no values so large that row sums overflow.
_entries = st.one_of(
    st.just(0.0),
    st.floats(min_value=2.0**-20, max_value=2.0**13, width=32, allow_subnormal=False),
    st.sampled_from([0.5, 1.0, 2.0, 0.25]),
)


@st.composite
def row_sets(draw, max_rows=8):
    columns = draw(st.integers(1, 12))
    rows = draw(st.integers(0, max_rows))
    return draw(hnp.arrays(np.float32, (rows, columns), elements=_entries))


@SETTINGS
@given(row_sets(), st.data())
def test_property_matches_definition(query, data):
    gallery = data.draw(hnp.arrays(np.float32, (data.draw(st.integers(0, 8)), query.shape[1]), elements=_entries))
    got = reid_fast.jaccard_distance(rt.sparse_rows(query), rt.sparse_rows(gallery))
    assert got.shape == (query.shape[0], gallery.shape[0]) and got.dtype == np.float32
    expected = rt.dense_jaccard(query, gallery)
    np.testing.assert_allclose(got, expected, rtol=0, atol=SMALL_ATOL)
    assert np.all(got >= 0.0) and np.all(got <= 1.0), got


@SETTINGS
@given(row_sets(max_rows=10))
def test_property_symmetric_and_zero_on_self(rows):
    """With the same rows as query and gallery: J(a, b) = J(b, a), J(a, a) = 0 for a
    non-empty row, 1 for an empty one, all in [0, 1]."""
    sparse = rt.sparse_rows(rows)
    got = reid_fast.jaccard_distance(sparse, sparse)
    np.testing.assert_allclose(got, got.T, rtol=0, atol=1e-6)
    empty = rows.sum(axis=1) == 0
    diagonal = np.diag(got)
    np.testing.assert_allclose(diagonal[~empty], 0.0, rtol=0, atol=1e-6)
    np.testing.assert_array_equal(diagonal[empty], 1.0)
    assert np.all(got >= 0.0) and np.all(got <= 1.0), got


@SETTINGS
@given(row_sets(max_rows=12), row_sets(max_rows=12), st.data())
def test_property_batched_equals_per_problem(query, gallery_seed, data):
    gallery = data.draw(hnp.arrays(np.float32, (gallery_seed.shape[0], query.shape[1]), elements=_entries))
    problems = data.draw(st.integers(1, 4))
    query_splits = sorted(data.draw(st.lists(st.integers(0, query.shape[0]), min_size=problems + 1, max_size=problems + 1)))
    gallery_splits = sorted(data.draw(st.lists(st.integers(0, gallery.shape[0]), min_size=problems + 1, max_size=problems + 1)))
    got = reid_fast.jaccard_distance_batched(rt.sparse_rows(query), rt.sparse_rows(gallery), query_splits, gallery_splits)
    assert len(got) == problems
    for b in range(problems):
        q0, q1 = query_splits[b], query_splits[b + 1]
        g0, g1 = gallery_splits[b], gallery_splits[b + 1]
        assert got[b].shape == (q1 - q0, g1 - g0)
        np.testing.assert_allclose(got[b], rt.dense_jaccard(query[q0:q1], gallery[g0:g1]), rtol=0, atol=SMALL_ATOL)


def test_blend_into_existing_values(rng):
    """The in-place blend re-ranking uses: out = weight * J + out (previous values kept),
    and out = weight * J when no output is given."""
    from reid_fast.ops.jaccard import blend_jaccard_batched

    query_dense, gallery_dense = rt.random_rows(rng, 7, 30, 0.3), rt.random_rows(rng, 11, 30, 0.3)
    query, gallery = rt.sparse_rows(query_dense), rt.sparse_rows(gallery_dense)
    expected = rt.dense_jaccard(query_dense, gallery_dense)
    previous = rng.random((7, 11)).astype(np.float32)
    out = previous.copy().reshape(-1)
    blend_jaccard_batched(query, gallery, [0, 7], [0, 11], out=out, weight=0.25)
    np.testing.assert_allclose(out.reshape(7, 11), 0.25 * expected + previous, rtol=0, atol=1e-6)
    fresh = blend_jaccard_batched(query, gallery, [0, 7], [0, 11], weight=0.25)[0]
    np.testing.assert_allclose(fresh, 0.25 * expected, rtol=0, atol=1e-6)
