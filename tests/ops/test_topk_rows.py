"""reid_fast.topk_rows: the k smallest entries of each row of a dense float32 matrix,
ascending, ties by the lower column index, against a stable argsort
(reid_fast.reference.topk_rows).

The op only compares and copies the input values, so the results must equal the
reference exactly: values bit for bit, indices including the order of ties.
"""

from __future__ import annotations

import numpy as np
import pytest

import reid_fast
import reid_testing as rt
from reid_fast import reference


def check(matrix, k, return_row_max=True):
    """Runs topk_rows on ``matrix`` (any framework) and compares it exactly with the
    reference; returns the NumPy results."""
    result = reid_fast.topk_rows(matrix, k, return_row_max=return_row_max)
    n = matrix.shape[0]
    assert isinstance(result, tuple) and len(result) == (3 if return_row_max else 2)
    rt.assert_like(result[0], matrix, "float32", (n, k))
    rt.assert_like(result[1], matrix, "int64", (n, k))
    if return_row_max:
        rt.assert_like(result[2], matrix, "float32", (n,))
    expected = reference.topk_rows(rt.to_float64(matrix), k, return_row_max=return_row_max)
    got = [rt.to_numpy(r) for r in result]
    np.testing.assert_array_equal(got[1], expected[1], err_msg="indices")
    np.testing.assert_array_equal(got[0], expected[0].astype(np.float32), err_msg="values")
    if return_row_max and n:
        np.testing.assert_array_equal(got[2], expected[2].astype(np.float32), err_msg="row_max")
    return got


# (n, m, k)
SHAPES = [
    pytest.param((1, 1, 1), id="1x1-k1"),
    pytest.param((5, 7, 3), id="5x7-k3"),
    pytest.param((5, 7, 7), id="5x7-k=m"),
    pytest.param((40, 1000, 21), id="40x1000-k21"),
    pytest.param((40, 1000, 1000), id="40x1000-k=m"),
    pytest.param((3, 20000, 100), id="3x20000-k100"),
    pytest.param((2, 5000, 5000), id="2x5000-k=m"),
    pytest.param((500, 30, 1), id="500x30-k1"),
    pytest.param((300, 50, 50), id="300x50-k=m"),
    pytest.param((0, 5, 2), id="n0"),
]


@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("backend", rt.backend_params())
def test_matches_stable_argsort(backend, shape, rng):
    framework, device = backend
    n, m, k = shape
    values = rng.standard_normal((n, m)) * 10
    check(rt.make_array(values, framework, device, "float32"), k)


@pytest.mark.parametrize("shape", [(20, 300, 40), (20, 300, 300), (4, 6000, 250), (200, 9, 5)])
@pytest.mark.parametrize("backend", rt.backend_params())
def test_ties_by_lower_index(backend, shape, rng):
    """Values in {0, 1, 2, 3}: every row is full of exact ties."""
    framework, device = backend
    n, m, k = shape
    check(rt.make_array(rng.integers(0, 4, size=(n, m)), framework, device, "float32"), k)


@pytest.mark.parametrize("k", [1, 7, 64, 999, 1000])
def test_constant_rows(k):
    """Every entry equal: the indices are exactly 0, 1, ..., k - 1."""
    matrix = np.full((6, 1000), 0.25, dtype=np.float32)
    _, indices, row_max = check(matrix, k)
    np.testing.assert_array_equal(indices, np.broadcast_to(np.arange(k), (6, k)))
    np.testing.assert_array_equal(row_max, 0.25)


def test_signed_zeros_tie():
    """-0.0 and 0.0 are equal values: ordered by index, not by sign bit."""
    matrix = np.array([[0.0, -0.0, 1.0, -0.0, 0.0], [-0.0, 0.0, -1.0, 0.0, -0.0]], dtype=np.float32)
    _, indices, _ = check(matrix, 5)
    np.testing.assert_array_equal(indices, [[0, 1, 3, 4, 2], [2, 0, 1, 3, 4]])


def test_negative_and_large_values(rng):
    matrix = (rng.standard_normal((30, 200)) * np.float32(1e30)).astype(np.float32)
    matrix[:, ::7] = -np.finfo(np.float32).max
    matrix[:, ::11] = np.finfo(np.float32).max
    check(matrix, 50)


@pytest.mark.parametrize("return_row_max", [False, True])
def test_return_row_max(return_row_max, rng):
    """row_max is each row's maximum over all m columns (not just the k kept), and asking
    for it leaves values and indices unchanged."""
    matrix = rng.standard_normal((25, 400)).astype(np.float32)
    got = check(matrix, 10, return_row_max=return_row_max)
    plain = reid_fast.topk_rows(matrix, 10)
    np.testing.assert_array_equal(got[0], plain[0])
    np.testing.assert_array_equal(got[1], plain[1])
    if return_row_max:
        np.testing.assert_array_equal(got[2], matrix.max(axis=1))


@pytest.mark.parametrize("layout", ["transposed", "strided-columns", "strided-rows", "offset-slice"])
@pytest.mark.parametrize("framework", ["numpy", "torch"])
def test_noncontiguous(layout, framework, rng):
    matrix = rt.noncontiguous(rng.standard_normal((33, 77)), layout, framework, "cpu", "float32")
    check(matrix, 12)


def test_input_unchanged(rng):
    matrix = rng.standard_normal((10, 100)).astype(np.float32)
    copy = matrix.copy()
    reid_fast.topk_rows(matrix, 100, return_row_max=True)
    np.testing.assert_array_equal(matrix, copy)
