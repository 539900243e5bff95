"""The float64 oracles themselves, on cases small enough to check by hand."""

from __future__ import annotations

import numpy as np
import pytest

from reid_fast import reference

X = np.array([[0.0, 0.0], [3.0, 4.0]])
Y = np.array([[0.0, 0.0], [1.0, 0.0], [3.0, 4.0]])


def test_euclidean_by_hand():
    expected = [[0.0, 1.0, 5.0], [5.0, np.sqrt(4 + 16), 0.0]]
    np.testing.assert_allclose(reference.pairwise_distance(X, Y, "euclidean"), expected, rtol=1e-15)


def test_sqeuclidean_by_hand():
    expected = [[0.0, 1.0, 25.0], [25.0, 20.0, 0.0]]
    np.testing.assert_array_equal(reference.pairwise_distance(X, Y, "sqeuclidean"), expected)


def test_inner_by_hand():
    expected = [[0.0, 0.0, 0.0], [0.0, -3.0, -25.0]]
    np.testing.assert_array_equal(reference.pairwise_distance(X, Y, "inner"), expected)


def test_cosine_by_hand():
    """Zero vectors: norm clamped to 1e-12, distance 1."""
    expected = [[1.0, 1.0, 1.0], [1.0, 1.0 - 3.0 / 5.0, 0.0]]
    np.testing.assert_allclose(reference.pairwise_distance(X, Y, "cosine"), expected, rtol=0, atol=1e-15)


def test_default_metric_and_dtype():
    out = reference.pairwise_distance(X.astype(np.float16), Y.tolist())
    assert out.dtype == np.float64
    np.testing.assert_allclose(out, reference.pairwise_distance(X, Y, "euclidean"))


def test_blocking_is_invisible():
    """Large inputs are processed in row blocks; the result matches a one-shot formula."""
    rng = np.random.default_rng(0)
    x = rng.standard_normal((300, 50))
    y = rng.standard_normal((400, 50))
    direct = ((x[:, None, :] - y[None, :, :]) ** 2).sum(axis=2)
    np.testing.assert_array_equal(reference.pairwise_distance(x, y, "sqeuclidean"), direct)


def test_knn_ties_by_lower_index():
    x = np.array([[0.0], [10.0]])
    y = np.array([[1.0], [-1.0], [2.0], [1.0], [-1.0]])
    values, indices, row_max = reference.knn(x, y, 4, "euclidean", return_row_max=True)
    np.testing.assert_array_equal(indices[0], [0, 1, 3, 4])
    np.testing.assert_array_equal(values[0], [1.0, 1.0, 1.0, 1.0])
    np.testing.assert_array_equal(indices[1], [2, 0, 3, 1])
    np.testing.assert_array_equal(values[1], [8.0, 9.0, 9.0, 11.0])
    np.testing.assert_array_equal(row_max, [2.0, 11.0])
    assert indices.dtype == np.int64


def test_knn_empty_queries():
    values, indices, row_max = reference.knn(np.zeros((0, 3)), np.ones((4, 3)), 2, return_row_max=True)
    assert values.shape == (0, 2) and indices.shape == (0, 2) and row_max.shape == (0,)


def test_rank_rows():
    np.testing.assert_array_equal(reference.rank_rows([[3.0, 1.0, 3.0, 0.0]]), [[3, 1, 0, 2]])


@pytest.mark.parametrize("k", [0, 5])
def test_knn_bad_k(k):
    with pytest.raises(ValueError):
        reference.knn(np.ones((2, 2)), np.ones((4, 2)), k)


def test_bad_metric():
    with pytest.raises(ValueError):
        reference.pairwise_distance(X, Y, "manhattan")
