"""Exact k-reciprocal re-ranking (reid_fast.rerank, rerank_distances, rerank_similarities)
against the literal float64 NumPy reference (reid_fast.reference.rerank*), written from
docs/design.md 3.2.

Tolerance: reid_testing.RERANK_ATOL = 1e-4 absolute on every re-ranked distance (they lie
in [0, 1]), and identical rank lists up to ties (reid_testing.assert_rerank_close).

Re-ranking is discontinuous: which items make a row's first k + 1 decides the reciprocal
sets, and a float32 implementation may order two items whose float64 distances differ by
~1e-7 the other way. So random inputs are drawn without near-ties at the positions that
matter (reid_testing.boundary_gaps_ok); exact ties (duplicated features, integer
features) are kept on purpose, since the op must break them by index exactly like the
reference.

Sizes stay small (N <= ~400): the reference holds several dense N x N float64 arrays and
loops in Python.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

import reid_fast
import reid_testing as rt
from reid_fast import reference
from reid_fast.reference.rerank import expanded_reciprocal_sets, normalise, reciprocal_neighbours

ATOL = rt.RERANK_ATOL

# (k1, k2) with k2 <= k1 + 1, from k1 in {1, 5, 20, 70} and k2 in {1, 6, 10}.
K_PAIRS = [
    (k1, k2) for k1 in (1, 5, 20, 70) for k2 in (1, 6, 10) if k2 <= k1 + 1
]
LAMBDAS = (0.0, 0.3, 1.0)


# --------------------------------------------------------------------------------------
# Inputs
# --------------------------------------------------------------------------------------


def _rounded(values: np.ndarray, dtype: str) -> np.ndarray:
    """``values`` rounded to ``dtype`` (float64 / float32 / float16 / bfloat16), in float64."""
    if dtype == "float64":
        return np.array(values, dtype=np.float64)
    return rt.to_float64(rt.make_array(values, "torch", "cpu", dtype))


def _separated(D: np.ndarray, k1: int, k2: int) -> bool:
    return rt.boundary_gaps_ok(normalise(D), rt.rerank_boundaries(k1, k2))


def _sqeuclidean(features: np.ndarray) -> np.ndarray:
    return reference.pairwise_distance(features, features, "sqeuclidean")


def draw_features(
    rng: np.random.Generator,
    kind: str,
    rows: int,
    d: int,
    k1: int,
    k2: int,
    dtype: str = "float32",
    copies: int = 1,
) -> np.ndarray:
    """(rows, d) float64 features, exactly representable in ``dtype``, whose squared
    Euclidean distances have no near-ties at re-ranking's boundaries (exact ties allowed).

    kind: "random" (Gaussian around an offset), "clustered" (a few identities with several
    noisy samples each), "integers" (values in {-2, ..., 2}: integer distances, many exact
    ties, exact float32 arithmetic). ``copies`` > 1 replaces some rows by copies of others
    (at most ``copies`` instances of any vector) to create exact ties.
    """
    for _ in range(50):
        if kind == "random":
            features = rt.random_features(rng, rows, d)
        elif kind == "clustered":
            features, _ = rt.clustered_features(rng, rows, d, identities=max(2, rows // 10))
        elif kind == "integers":
            features = rng.integers(-2, 3, size=(rows, d)).astype(np.float64)
        else:
            raise ValueError(kind)
        if copies > 1:
            # Rows 0, copies, 2 copies, ... are sources; each gets copies - 1 copies at
            # random other places (a permutation, so no row is written twice).
            order = rng.permutation(rows)
            sources = order[: rows // (2 * copies)]
            spare = list(order[rows // (2 * copies) :])
            for s in sources:
                for _ in range(copies - 1):
                    features[spare.pop()] = features[s]
        features = _rounded(features, dtype)
        # At most min(k1, copies) instances of any vector (k1 for integer features), so
        # that every point is in its own first k1 + 1 and hence in its own R(i, k1).
        _, counts = np.unique(features, axis=0, return_counts=True)
        if counts.max() > (k1 if copies == 1 else min(k1, copies)):
            continue
        if _separated(_sqeuclidean(features), k1, k2):
            return features
    raise RuntimeError("could not draw well-separated features; change the sizes")


def _split(matrix: np.ndarray, q: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(q_g, q_q, g_g) blocks of an (N, N) matrix over [queries; gallery]."""
    return matrix[:q, q:], matrix[:q, :q], matrix[q:, q:]


def _f32(*arrays: np.ndarray) -> list[np.ndarray]:
    return [np.ascontiguousarray(a, dtype=np.float32) for a in arrays]


def check_features(query, gallery, k1, k2, lambda_, atol=ATOL, what=""):
    """reid_fast.rerank on (query, gallery) arrays of any framework against the reference
    on the values the op sees; returns the NumPy result."""
    got = reid_fast.rerank(query, gallery, k1=k1, k2=k2, lambda_=lambda_)
    q, g = query.shape[0], gallery.shape[0]
    rt.assert_like(got, query, "float32", (q, g))
    expected = reference.rerank(rt.to_float64(query), rt.to_float64(gallery), k1, k2, lambda_)
    rt.assert_rerank_close(got, expected, atol, what or f"k1={k1} k2={k2} lambda={lambda_}")
    return rt.to_numpy(got)


# --------------------------------------------------------------------------------------
# The reference itself
# --------------------------------------------------------------------------------------


def test_reference_by_hand():
    """Three points on a line, 0, 1 and 3; query = the first. D (squared) =
    [[0, 1, 9], [1, 0, 4], [9, 4, 0]], column maxima (9, 4, 9), so Dn rows are
    [0, 1/9, 1], [1/4, 0, 1], [1, 4/9, 0]. k1 = 1: rank = [0, 1], [1, 0], [2, 1];
    R(0) = R(1) = {0, 1}, R(2) = {2}; h = round(1/2) = 0 adds nothing.
    V[0] = (1, a, 0) / (1 + a), a = e^(-1/9); V[1] = (b, 1, 0) / (1 + b), b = e^(-1/4).
    m(0, 1) = min(1/(1+a), b/(1+b)) + min(a/(1+a), 1/(1+b)); J = 1 - m / (2 - m); J(0, 2) = 1.
    """
    a, b = math.exp(-1 / 9), math.exp(-1 / 4)
    m = min(1 / (1 + a), b / (1 + b)) + min(a / (1 + a), 1 / (1 + b))
    j01 = 1 - m / (2 - m)
    for lambda_ in LAMBDAS:
        expected = [[(1 - lambda_) * j01 + lambda_ / 9, (1 - lambda_) * 1 + lambda_ * 1]]
        got = reference.rerank([[0.0]], [[1.0], [3.0]], k1=1, k2=1, lambda_=lambda_)
        np.testing.assert_allclose(got, expected, rtol=0, atol=1e-15)


def test_reference_steps_by_hand():
    """The building blocks on the same three points."""
    D = np.array([[0.0, 1, 9], [1, 0, 4], [9, 4, 0]])
    Dn = normalise(D)
    np.testing.assert_allclose(Dn, [[0, 1 / 9, 1], [1 / 4, 0, 1], [1, 4 / 9, 0]], rtol=1e-15)
    _, rank = reference.topk_rows(Dn, 2)
    np.testing.assert_array_equal(rank, [[0, 1], [1, 0], [2, 1]])
    assert sorted(reciprocal_neighbours(rank, 0, 1)) == [0, 1]
    assert sorted(reciprocal_neighbours(rank, 2, 1)) == [2]
    expanded = expanded_reciprocal_sets(rank, 1)
    assert [e.tolist() for e in expanded] == [[0, 1], [0, 1], [2]]


def test_reference_normalise_is_transpose_of_column_scaled():
    """Step 1 on a non-symmetric matrix: Dn = transpose(D / column-max(D))."""
    D = np.array([[0.0, 2, 8], [4, 0, 1], [3, 6, 0]])
    expected = np.transpose(D / np.max(D, axis=0))
    np.testing.assert_array_equal(normalise(D), expected)


def test_reference_expansion_rule():
    """A candidate set joins R* only when more than 2/3 of it lies in R(i, k1): with k1 = 3
    (h = 2), points 0..3 form a tight group and 4, 5 sit next to 3 only."""
    x = np.array([[0.0], [0.1], [0.2], [0.3], [0.45], [0.5]])
    D = _sqeuclidean(x)
    _, rank = reference.topk_rows(normalise(D), 4)
    expanded = expanded_reciprocal_sets(rank, 3)
    h = int(np.around(3 / 2))
    for i in range(6):
        R_i = set(reciprocal_neighbours(rank, i, 3).tolist())
        union = set(R_i)
        for c in R_i:
            R_c = set(reciprocal_neighbours(rank, c, h).tolist())
            if len(R_c & R_i) > 2 / 3 * len(R_c):  # the float form of the rule
                union |= R_c
        assert expanded[i].tolist() == sorted(union)
        assert i in expanded[i]


@pytest.mark.parametrize("k1, k2", [(5, 1), (20, 6), (7, 8)])
def test_reference_encoding_properties(k1, k2, rng):
    """|R*(i)| <= (k1 + 1)(h + 2), and every point is in its own R*."""
    features = draw_features(rng, "clustered", 120, 16, k1, k2)
    _, rank = reference.topk_rows(normalise(_sqeuclidean(features)), k1 + 1)
    expanded = expanded_reciprocal_sets(rank, k1)
    h = int(np.around(k1 / 2))
    assert max(len(e) for e in expanded) <= (k1 + 1) * (h + 2)
    assert all(i in e for i, e in enumerate(expanded))


@pytest.mark.parametrize("kind", ["random", "clustered"])
def test_reference_conventions_agree(kind, rng):
    """The identities between the three input conventions, in float64:
    - any features f, e = Euclidean distances: rerank(f) = rerank_distances(e)
      (D = e^2 both ways) = rerank_similarities(1 - e / 2) (D = (2 - 2 (1 - e/2))^2 = e^2);
    - L2-normalised f, s = cosine similarity, sq = squared distances = 2 - 2 s:
      rerank_similarities(s) = rerank_distances(sq) (D = (2 - 2 s)^2 = sq^2);
    - Dn is invariant to scaling D, so also to scaling features and distance matrices, and
      to translating features."""
    q, g, k1, k2 = 30, 90, 10, 4
    f = draw_features(rng, kind, q + g, 12, k1, k2)
    e = np.sqrt(_sqeuclidean(f))
    ours = reference.rerank(f[:q], f[q:], k1, k2, 0.3)
    np.testing.assert_allclose(reference.rerank_distances(*_split(e, q), k1, k2, 0.3), ours, atol=1e-12)
    np.testing.assert_allclose(
        reference.rerank_similarities(*_split(1 - e / 2, q), k1, k2, 0.3), ours, atol=1e-12
    )
    np.testing.assert_allclose(reference.rerank(3 * f[:q] + 1, 3 * f[q:] + 1, k1, k2, 0.3), ours, atol=1e-12)
    np.testing.assert_allclose(
        reference.rerank_distances(*_split(7 * e, q), k1, k2, 0.3), ours, atol=1e-12
    )

    n = f / np.linalg.norm(f, axis=1, keepdims=True)
    s = n @ n.T
    sq = _sqeuclidean(n)
    if not _separated(sq**2, k1, k2):
        pytest.skip("near-tie in the drawn features")
    np.testing.assert_allclose(
        reference.rerank_similarities(*_split(s, q), k1, k2, 0.3),
        reference.rerank_distances(*_split(sq, q), k1, k2, 0.3),
        atol=1e-10,
    )


def test_reference_jaccard_by_hand():
    a = np.array([[1.0, 2, 0], [0.5, 0.5, 0], [0, 0, 0], [1, 1, 0]])
    b = np.array([[2.0, 1, 1], [0, 0.5, 0.5], [0, 0, 0], [2, 2, 0]])
    got = reference.jaccard_distance(a, b)
    expected = rt.dense_jaccard(a, b)
    np.testing.assert_allclose(got, expected, atol=1e-15)
    assert got[0, 0] == pytest.approx(1 - 2 / 5)  # min (1, 1, 0), max (2, 2, 1)
    assert got[1, 1] == pytest.approx(1 - 0.5 / 1.5)
    assert got[2, 2] == 1.0  # two empty rows
    assert got[2, 0] == 1.0  # empty against non-empty
    assert got[3, 3] == pytest.approx(0.5)  # proportional rows


def test_reference_jaccard_random(rng):
    a = rng.random((7, 30)) * (rng.random((7, 30)) < 0.3)
    b = rng.random((11, 30)) * (rng.random((11, 30)) < 0.3)
    np.testing.assert_allclose(reference.jaccard_distance(a, b), rt.dense_jaccard(a, b), atol=1e-14)


# --------------------------------------------------------------------------------------
# reid_fast.rerank against the reference
# --------------------------------------------------------------------------------------


@pytest.mark.parametrize("lambda_", LAMBDAS)
@pytest.mark.parametrize("k1, k2", K_PAIRS)
@pytest.mark.parametrize("kind", ["random", "clustered"])
def test_matches_reference(kind, k1, k2, lambda_, rng):
    q, g = 50, 250
    features = draw_features(rng, kind, q + g, 24, k1, k2)
    query, gallery = _f32(features[:q], features[q:])
    check_features(query, gallery, k1, k2, lambda_)


@pytest.mark.parametrize("k2", [1, 3])
@pytest.mark.parametrize("k1", [3, 7, 9, 11])
def test_odd_k1_round_half_to_even(k1, k2, rng):
    """h = round-half-to-even(k1 / 2): 3 -> 2 and 7 -> 4 (not floor: 1, 3), 9 -> 4 and
    11 -> 6 (not half-up: 5; 11 / 2 = 5.5 -> 6 either way). k1 in {1, 5, 20, 70} cannot
    tell these roundings apart."""
    q, g = 60, 240
    features = draw_features(rng, "clustered", q + g, 16, k1, k2)
    query, gallery = _f32(features[:q], features[q:])
    check_features(query, gallery, k1, k2, 0.3)


@pytest.mark.parametrize("dtype", rt.DTYPES)
@pytest.mark.parametrize("backend", rt.backend_params())
def test_frameworks_and_dtypes(backend, dtype, rng):
    """NumPy, torch (CPU, CUDA) and CuPy inputs; float32, float16 and bfloat16 features.
    The result is float32 of the input's framework and device.

    Half-precision features: the reference runs on the rounded values (exactly what the op
    reads), and the op computes distances from them in float32, so the same 1e-4 holds:
    rounding the features changes the problem, not the accuracy with which it is solved.
    (What could differ, near-ties created by the coarser values, is excluded when the
    features are drawn.)"""
    framework, device = backend
    rt.skip_unsupported(framework, dtype)
    q, g, k1, k2 = 40, 200, 20, 6
    features = draw_features(rng, "clustered", q + g, 32, k1, k2, dtype=dtype)
    query = rt.make_array(features[:q], framework, device, dtype)
    gallery = rt.make_array(features[q:], framework, device, dtype)
    check_features(query, gallery, k1, k2, 0.3, what=f"{framework}-{device} {dtype}")


@pytest.mark.parametrize("k1", [1, 5, 20])
@pytest.mark.parametrize("extra", [1, 2])
@pytest.mark.parametrize("q", [1, 2])
def test_n_barely_above_k1(k1, extra, q, rng):
    """N = k1 + 1 (rank(i) holds every item) and N = k1 + 2."""
    N = k1 + extra
    if q >= N:
        pytest.skip("needs at least one gallery item")
    for k2 in sorted({1, min(6, k1 + 1), k1 + 1}):
        features = draw_features(rng, "random", N, 8, k1, k2)
        query, gallery = _f32(features[:q], features[q:])
        for lambda_ in LAMBDAS:
            check_features(query, gallery, k1, k2, lambda_)


@pytest.mark.parametrize("k1, k2", [(5, 1), (5, 6), (20, 1), (20, 6), (20, 10), (70, 6)])
@pytest.mark.parametrize("copies", [2, 3, 5])
@pytest.mark.parametrize("kind", ["random", "clustered"])
def test_duplicated_features(kind, copies, k1, k2, rng):
    """Some points appear 2, 3 or 5 times (never more than k1 times, so every point is in
    its own reciprocal set): exact ties in every row, which the op must break by index
    exactly as the reference's stable sort does. k2 = 1 also checks that V' = V (not V of
    rank(i)[0], which is a lower-indexed copy of i)."""
    if copies > k1:
        pytest.skip("copies must not exceed k1")
    q, g = 60, 240
    features = draw_features(rng, kind, q + g, 16, k1, k2, copies=copies)
    query, gallery = _f32(features[:q], features[q:])
    check_features(query, gallery, k1, k2, 0.3)


@pytest.mark.parametrize("k1, k2", [(5, 1), (5, 6), (20, 6), (20, 10)])
def test_query_equals_gallery_items(k1, k2, rng):
    """Every query is also in the gallery (exact zero distances across the two sets)."""
    q, g = 30, 200
    for _ in range(50):
        features = draw_features(rng, "clustered", g, 16, k1, k2)
        all_features = np.concatenate([features[rng.choice(g, q, replace=False)], features])
        if _separated(_sqeuclidean(all_features), k1, k2):
            break
    else:
        raise RuntimeError("could not draw well-separated features")
    query, gallery = _f32(all_features[:q], all_features[q:])
    check_features(query, gallery, k1, k2, 0.3)


@pytest.mark.parametrize("k1, k2", [(1, 1), (5, 1), (5, 6), (20, 6), (20, 10)])
def test_integer_features(k1, k2, rng):
    """Features in {-2, ..., 2}: squared distances are small integers computed exactly in
    float32, so exact ties abound (also between different points); the op must reproduce
    the reference's stable, index-ordered neighbour lists and hence its sets exactly."""
    q, g, d = 40, 160, 6
    features = draw_features(rng, "integers", q + g, d, k1, k2)
    query, gallery = _f32(features[:q], features[q:])
    check_features(query, gallery, k1, k2, 0.3)


@pytest.mark.parametrize("kind", ["random", "clustered"])
@pytest.mark.parametrize("k1, k2", [(5, 6), (20, 6)])
def test_one_query(kind, k1, k2, rng):
    features = draw_features(rng, kind, 1 + 150, 16, k1, k2)
    query, gallery = _f32(features[:1], features[1:])
    check_features(query, gallery, k1, k2, 0.3)


@pytest.mark.parametrize("kind", ["random", "clustered"])
@pytest.mark.parametrize("k1, k2", [(5, 6), (20, 6), (20, 1)])
def test_far_more_queries_than_gallery(kind, k1, k2, rng):
    q, g = 200, 15
    features = draw_features(rng, kind, q + g, 16, k1, k2)
    query, gallery = _f32(features[:q], features[q:])
    check_features(query, gallery, k1, k2, 0.3)


def test_default_parameters(rng):
    """k1 = 20, k2 = 6, lambda_ = 0.3 by default."""
    features = draw_features(rng, "clustered", 150, 16, 20, 6)
    query, gallery = _f32(features[:30], features[30:])
    got = reid_fast.rerank(query, gallery)
    rt.assert_rerank_close(got, reference.rerank(query, gallery, 20, 6, 0.3), what="defaults")
    np.testing.assert_array_equal(got, reid_fast.rerank(query, gallery, k1=20, k2=6, lambda_=0.3))


@pytest.mark.parametrize("framework", ["numpy", "torch"])
@pytest.mark.parametrize("layout", rt.LAYOUTS)
def test_noncontiguous_features(layout, framework, rng):
    features = draw_features(rng, "clustered", 160, 12, 20, 6)
    query = rt.noncontiguous(features[:40], layout, framework, "cpu", "float32")
    gallery = rt.noncontiguous(features[40:], layout, framework, "cpu", "float32")
    check_features(query, gallery, 20, 6, 0.3)


def test_deterministic_and_inputs_untouched(rng):
    """Two calls give bitwise-identical results, and the inputs are not modified."""
    features = draw_features(rng, "clustered", 200, 16, 20, 6)
    query, gallery = _f32(features[:50], features[50:])
    query_copy, gallery_copy = query.copy(), gallery.copy()
    first = reid_fast.rerank(query, gallery)
    second = reid_fast.rerank(query, gallery)
    np.testing.assert_array_equal(first, second)
    np.testing.assert_array_equal(query, query_copy)
    np.testing.assert_array_equal(gallery, gallery_copy)

    e = _f32(np.sqrt(_sqeuclidean(features)))[0]
    blocks = [np.ascontiguousarray(b) for b in _split(e, 50)]
    copies = [b.copy() for b in blocks]
    np.testing.assert_array_equal(reid_fast.rerank_distances(*blocks), reid_fast.rerank_distances(*blocks))
    np.testing.assert_array_equal(
        reid_fast.rerank_similarities(*blocks), reid_fast.rerank_similarities(*blocks)
    )
    for block, copy in zip(blocks, copies):
        np.testing.assert_array_equal(block, copy)


# --------------------------------------------------------------------------------------
# The three input conventions
# --------------------------------------------------------------------------------------


def _unit_features(rng, kind, rows, d, k1, k2):
    """L2-normalised float32 features whose distances in every convention used below are
    free of near-ties; returned as the float64 values of the float32 array."""
    for _ in range(50):
        f = draw_features(rng, kind, rows, d, k1, k2, dtype="float64")
        f = _rounded(f / np.linalg.norm(f, axis=1, keepdims=True), "float32")
        sq = _sqeuclidean(f)
        if _separated(sq, k1, k2) and _separated(sq**2, k1, k2):
            return f
    raise RuntimeError("could not draw well-separated features")


@pytest.mark.parametrize("k1, k2, lambda_", [(20, 6, 0.3), (5, 1, 0.0), (20, 10, 1.0), (70, 6, 0.3)])
@pytest.mark.parametrize("kind", ["random", "clustered"])
def test_conventions_match_reference_and_each_other(kind, k1, k2, lambda_, rng):
    """From the same L2-normalised features f (float32), with e the Euclidean distances,
    sq = e^2 and s the cosine similarities (all float32 matrices):

    - rerank(f) = rerank_distances(e) = rerank_similarities(1 - e / 2)   (D = e^2);
    - rerank_distances(sq) = rerank_similarities(s)                       (D = sq^2, since
      2 - 2 s = sq for unit vectors).

    Each call is checked against the reference on the exact float32 matrices it was given,
    and the members of each identity against each other (2 x the tolerance: the matrices are
    rounded to float32 separately)."""
    q, g = 50, 200
    f = _unit_features(rng, kind, q + g, 24, k1, k2)
    e = np.sqrt(_sqeuclidean(f))
    sq = _sqeuclidean(f)
    s = f @ f.T
    params = dict(k1=k1, k2=k2, lambda_=lambda_)

    def run(op, ref, matrix):
        blocks = _f32(*_split(matrix, q))
        got = op(*blocks, **params)
        rt.assert_like(got, blocks[0], "float32", (q, g))
        expected = ref(*(b.astype(np.float64) for b in blocks), k1, k2, lambda_)
        rt.assert_rerank_close(got, expected, what=f"{op.__name__}")
        return got

    query, gallery = _f32(f[:q], f[q:])
    from_features = check_features(query, gallery, k1, k2, lambda_)
    from_distances = run(reid_fast.rerank_distances, reference.rerank_distances, e)
    from_similarities = run(reid_fast.rerank_similarities, reference.rerank_similarities, 1 - e / 2)
    np.testing.assert_allclose(from_distances, from_features, rtol=0, atol=2 * ATOL)
    np.testing.assert_allclose(from_similarities, from_features, rtol=0, atol=2 * ATOL)

    squared = run(reid_fast.rerank_distances, reference.rerank_distances, sq)
    cosine = run(reid_fast.rerank_similarities, reference.rerank_similarities, s)
    np.testing.assert_allclose(cosine, squared, rtol=0, atol=2 * ATOL)


@pytest.mark.parametrize("kind", ["random", "clustered"])
def test_similarities_of_unit_features_are_not_rerank_of_the_features(kind, rng):
    """What the documentation states about the cosine convention, pinned: for L2-normalised
    f with cosine similarities s and squared distances sq = 2 - 2 s,

    - rerank(f) re-ranks D = sq (= rerank_distances(sqrt(sq)));
    - rerank_similarities(s) re-ranks D = (2 - 2 s)^2 = sq^2 (the AICity 2020 seed's
      re_ranking.py: original_dist = 2 - 2 sim, then squared) = rerank_distances(sq);
    - the two differ: Dn = sq / max and (sq / max)^2 give the same neighbour lists but other
      exp(-Dn) weights and another lambda term, so their distances do not agree."""
    q, g, k1, k2 = 20, 60, 20, 6
    f = _unit_features(rng, kind, q + g, 16, k1, k2)
    sq = _sqeuclidean(f)
    query, gallery = _f32(f[:q], f[q:])
    features = rt.to_numpy(reid_fast.rerank(query, gallery, k1=k1, k2=k2, lambda_=0.3))
    cosine = reid_fast.rerank_similarities(*_f32(*_split(f @ f.T, q)), k1=k1, k2=k2, lambda_=0.3)
    np.testing.assert_allclose(
        reid_fast.rerank_distances(*_f32(*_split(np.sqrt(sq), q)), k1=k1, k2=k2, lambda_=0.3),
        features, rtol=0, atol=2 * ATOL)
    np.testing.assert_allclose(
        reid_fast.rerank_distances(*_f32(*_split(sq, q)), k1=k1, k2=k2, lambda_=0.3), cosine,
        rtol=0, atol=2 * ATOL)
    assert np.abs(cosine - features).max() > 0.01


@pytest.mark.parametrize("backend", rt.backend_params())
def test_matrix_conventions_frameworks(backend, rng):
    """rerank_distances / rerank_similarities on NumPy, torch (CPU, CUDA) and CuPy matrices."""
    framework, device = backend
    q, g, k1, k2 = 30, 120, 20, 6
    f = _unit_features(rng, "clustered", q + g, 16, k1, k2)
    for op, ref, matrix in (
        (reid_fast.rerank_distances, reference.rerank_distances, np.sqrt(_sqeuclidean(f))),
        (reid_fast.rerank_similarities, reference.rerank_similarities, f @ f.T),
    ):
        blocks64 = [b.astype(np.float32).astype(np.float64) for b in _split(matrix, q)]
        blocks = [rt.make_array(b, framework, device, "float32") for b in blocks64]
        got = op(*blocks, k1=k1, k2=k2, lambda_=0.3)
        rt.assert_like(got, blocks[0], "float32", (q, g))
        rt.assert_rerank_close(got, ref(*blocks64, k1, k2, 0.3), what=f"{op.__name__} {framework}-{device}")


@pytest.mark.parametrize("k1, k2", [(5, 1), (20, 6)])
def test_distance_matrix_not_from_features(k1, k2, rng):
    """rerank_distances on a symmetric non-negative matrix that is not a Euclidean distance
    matrix (random, zero diagonal): only the definition applies."""
    q, g = 40, 160
    N = q + g
    for _ in range(50):
        a = rng.random((N, N)) + 0.01
        matrix = (a + a.T) / 2
        np.fill_diagonal(matrix, 0.0)
        matrix = _f32(matrix)[0].astype(np.float64)
        if _separated(matrix**2, k1, k2):
            break
    else:
        raise RuntimeError("could not draw a well-separated matrix")
    blocks = _f32(*_split(matrix, q))
    got = reid_fast.rerank_distances(*blocks, k1=k1, k2=k2, lambda_=0.3)
    rt.assert_rerank_close(got, reference.rerank_distances(*blocks, k1, k2, 0.3))


@pytest.mark.parametrize("k1, k2", [(5, 1), (20, 6)])
def test_asymmetric_matrices_follow_the_definition(k1, k2, rng):
    """q_q and g_g need not be symmetric (e.g. after asymmetric camera penalties): step 1 is
    Dn = transpose(D / column-max(D)), Dn[i, j] = D[j, i] / max_k D[k, i], which is row i
    over its own maximum only for a symmetric D."""
    q, g = 40, 160
    N = q + g
    for _ in range(50):
        f = draw_features(rng, "clustered", N, 16, k1, k2)
        e = np.sqrt(_sqeuclidean(f))
        matrix = e * (1 + 0.2 * rng.random((N, N)))  # asymmetric
        matrix[:q, q:] = e[:q, q:]
        matrix[q:, :q] = e[:q, q:].T  # D is built from q_g and its transpose
        matrix = _f32(matrix)[0].astype(np.float64)
        if _separated(matrix**2, k1, k2):
            break
    else:
        raise RuntimeError("could not draw a well-separated matrix")
    q_g, q_q, g_g = _f32(*_split(matrix, q))
    assert not np.array_equal(q_q, q_q.T)
    got = reid_fast.rerank_distances(q_g, q_q, g_g, k1=k1, k2=k2, lambda_=0.3)
    rt.assert_rerank_close(got, reference.rerank_distances(q_g, q_q, g_g, k1, k2, 0.3))


def _no_reciprocal_pairs() -> tuple[np.ndarray, list[np.ndarray]]:
    """The (7, 7) matrix M = [[q_q^T, q_g], [q_g^T, g_g^T]] (the transposed D whose rows
    re-ranking ranks) of 1 query and 6 gallery items, and its (q_g, q_q, g_g) float32 blocks:
    with k1 = 1 item i's two nearest are i + 1 and i + 2 (mod 7), never i itself, and no two
    items are each other's, so every R(i, 1) is empty and V and V' have no entries at all."""
    n = 7
    m = np.full((n, n), 9.0)
    for i in range(n):
        m[i, (i + 1) % n], m[i, (i + 2) % n] = 0.5, 1.0
    m[0, 1:] = m[1:, 0] = [2, 3, 5, 5, 4, 4]  # q_g and its transpose
    return m, _f32(m[:1, 1:], m[:1, :1].T, m[1:, 1:].T)


@pytest.mark.parametrize("k2", [1, 2])
@pytest.mark.parametrize("backend", rt.backend_params())
def test_empty_neighbourhoods(backend, k2):
    """V and V' with nnz = 0: the fill phase of the two-phase steps has nothing to write (it
    was called with empty torch / CuPy indices, whose null data pointer the native op took
    for the count phase: 'counts must have shape (7,), got ()'). Every Jaccard distance of
    two empty rows is 1, so the result is (1 - lambda) + lambda Dn."""
    framework, device = backend
    m, blocks = _no_reciprocal_pairs()
    rank = np.argsort(m, axis=1, kind="stable")[:, :2]
    assert not any(i in rank[j] for i in range(7) for j in rank[i])  # the premise
    arrays = [rt.make_array(b, framework, device, "float32") for b in blocks]
    got = reid_fast.rerank_distances(*arrays, k1=1, k2=k2, lambda_=0.3)
    rt.assert_like(got, arrays[0], "float32", (1, 6))
    expected = 0.7 + 0.3 * m[:1, 1:] ** 2 / 81.0
    np.testing.assert_allclose(reference.rerank_distances(*blocks, 1, k2, 0.3), expected, atol=1e-12)
    np.testing.assert_allclose(rt.to_numpy(got), expected, rtol=0, atol=1e-6)
