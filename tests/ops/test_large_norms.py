"""Finite features whose float32 distances cannot be computed are refused, and those that
can are computed correctly (issue 17, item 2).

A row's squared norm must be at most reid_fast._C.MAX_SQUARED_NORM, float32's largest
value / 4 (a norm of about 9.2e18), so that every intermediate of every metric stays finite.
Before the check, rows of norm 1e20 gave distances of 0, Inf or NaN and knn indices of
2**63 - 1, outside the gallery. Both paths (fused kernels, framework GEMM) and both sides are
checked, also when the other side is empty; just under the limit the results match the
float64 reference within reid_testing.distance_tolerance.
"""

from __future__ import annotations

import numpy as np
import pytest

import reid_fast
import reid_testing as rt
from reid_fast import reference
from reid_fast._native import _C

torch = rt.torch

PATHS = ("simt", "framework")


def too_large(name: str, row: int) -> str:
    return rf"{name} row {row} is too large for float32 distances: its squared norm exceeds 8\.5"


def features(rows: int, d: int = 8, seed: int = 0, norm: float = 1.0) -> np.ndarray:
    """Random rows scaled to the given norm each."""
    x = np.random.default_rng(seed).standard_normal((rows, d))
    return x / np.linalg.norm(x, axis=1, keepdims=True) * norm


def test_the_limit_is_a_quarter_of_float32s_largest_value():
    assert _C.MAX_SQUARED_NORM == pytest.approx(float(np.finfo(np.float32).max) / 4, rel=1e-7)


@pytest.mark.parametrize("path", PATHS)
@pytest.mark.parametrize("metric", rt.METRICS)
@pytest.mark.parametrize("side", ["x", "y"])
@pytest.mark.parametrize("dtype, framework", [("float32", "numpy"), ("float32", "torch"),
                                              ("bfloat16", "torch")])
def test_rows_beyond_the_limit_are_refused(path, metric, side, dtype, framework):
    x, y = features(3), features(5, seed=1)
    bad = x if side == "x" else y
    bad[2] *= 1e20  # finite in float32 and bfloat16; its square overflows
    x, y = (rt.make_array(a, framework, "cpu", dtype) for a in (x, y))
    with pytest.raises(ValueError, match=too_large(side, 2)):
        reid_fast.pairwise_distance(x, y, metric, path=path)
    with pytest.raises(ValueError, match=too_large(side, 2)):
        reid_fast.knn(x, y, 3, metric, path=path)


@pytest.mark.parametrize("path", PATHS)
def test_one_large_component_is_enough(path):
    """The squared norm decides, not the largest value: 16 components of 3e18 (each square
    finite) sum to 1.4e38, beyond the limit."""
    y = np.zeros((4, 16), np.float32)
    y[1] = 3e18
    with pytest.raises(ValueError, match=too_large("y", 1)):
        reid_fast.knn(np.ones((2, 16), np.float32), y, 2, path=path)


@pytest.mark.parametrize("empty", ["x", "y"])
def test_refused_when_the_other_side_is_empty(empty):
    big = features(4, norm=1e20).astype(np.float32)
    none = np.zeros((0, 8), np.float32)
    x, y, name = (none, big, "y") if empty == "x" else (big, none, "x")
    with pytest.raises(ValueError, match=too_large(name, 0)):
        reid_fast.pairwise_distance(x, y)


def test_nan_is_still_reported_as_nan():
    x = features(3, norm=1e20).astype(np.float32)
    x[1, 0] = np.nan
    with pytest.raises(ValueError, match=r"x must be finite, got 1 NaN or Inf value\(s\), the first at index \(1, 0\)"):
        reid_fast.pairwise_distance(x, features(2).astype(np.float32), path="framework")


def test_rerank_refuses_them():
    query, gallery = features(3), features(6, seed=1)
    gallery[4] *= 1e20
    with pytest.raises(ValueError, match=too_large("gallery", 4)):
        reid_fast.rerank(query.astype(np.float32), gallery.astype(np.float32), k1=3, k2=2)


@pytest.mark.parametrize("path", PATHS)
@pytest.mark.parametrize("metric", rt.METRICS)
def test_just_under_the_limit_is_correct(path, metric):
    """Norms of 4.5e18 and 9e18 (squared 2e37 and 8.1e37, under 8.5e37): every distance is
    finite and matches the float64 reference, every knn index lies in the gallery and the
    lists are the reference's up to rounding."""
    x = features(6, norm=4.5e18).astype(np.float32)
    y = np.concatenate([features(9, seed=1, norm=9e18), features(9, seed=2, norm=1e18)]).astype(np.float32)
    x64, y64 = x.astype(np.float64), y.astype(np.float64)
    expected = reference.pairwise_distance(x64, y64, metric)
    tol = rt.distance_tolerance(x64, y64, metric, expected)
    out = reid_fast.pairwise_distance(x, y, metric, path=path)
    assert np.isfinite(out).all()
    rt.assert_distances_close(out, expected, tol)
    values, indices = reid_fast.knn(x, y, 5, metric, path=path)
    assert ((indices >= 0) & (indices < y.shape[0])).all()
    rt.assert_valid_knn(values, indices, expected, tol, 5)


def test_rerank_just_under_the_limit_matches_unit_features():
    """Re-ranking is scale-free (each row's distances are divided by their maximum): at a
    norm of 4e18 it gives what the same features at norm 1 give."""
    query, gallery = features(4), features(12, seed=1)
    unit = reid_fast.rerank(query.astype(np.float32), gallery.astype(np.float32), k1=5, k2=3)
    large = reid_fast.rerank((query * 4e18).astype(np.float32), (gallery * 4e18).astype(np.float32),
                             k1=5, k2=3)
    np.testing.assert_allclose(large, unit, rtol=0, atol=rt.RERANK_ATOL)
