"""reid_fast.knn against the literal float64 reference, with tie-aware comparisons.

Values are compared within reid_testing.distance_tolerance (1e-4 of the feature scale);
indices with reid_testing.assert_valid_knn, which lets the returned set/order differ from
the reference only among items whose reference distances are within tolerance of each
other. Where ties are exact by construction (bitwise-identical gallery rows, or small
integer features whose float32 arithmetic is exact) the order is checked exactly: the
lower index first.
"""

from __future__ import annotations

import numpy as np
import pytest

import reid_fast
import reid_testing as rt
from reid_fast import reference

# (n, m, d, k)
SHAPES = [
    pytest.param((0, 5, 3, 2), id="n0"),
    pytest.param((1, 1, 1, 1), id="1x1x1-k1"),
    pytest.param((4, 1, 3, 1), id="m1"),
    pytest.param((6, 9, 1, 4), id="d1"),
    pytest.param((37, 53, 19, 1), id="odd-k1"),
    pytest.param((37, 53, 19, 10), id="odd-k10"),
    pytest.param((37, 53, 19, 53), id="odd-k=m"),
    pytest.param((300, 700, 130, 21), id="large-300x700x130-k21"),
    pytest.param((1, 5000, 64, 100), id="split-n1-m5000-k100"),
    pytest.param((3, 2500, 8, 2500), id="split-k=m-2500"),
    pytest.param((2000, 7, 16, 3), id="n2000-m7-k3"),
    pytest.param((2000, 7, 16, 7), id="n2000-m7-k=m"),
]


def _check(x, y, k, metric, return_row_max=True):
    """Runs knn and checks it against the reference; returns the numpy results."""
    result = reid_fast.knn(x, y, k, metric, return_row_max=return_row_max)
    n = x.shape[0]
    assert len(result) == (3 if return_row_max else 2)
    rt.assert_like(result[0], x, "float32", (n, k))
    rt.assert_like(result[1], x, "int64", (n, k))
    if return_row_max:
        rt.assert_like(result[2], x, "float32", (n,))
    x64, y64 = rt.to_float64(x), rt.to_float64(y)
    expected = reference.pairwise_distance(x64, y64, metric)
    tol = rt.distance_tolerance(x64, y64, metric, expected)
    values, indices = rt.to_numpy(result[0]), rt.to_numpy(result[1])
    rt.assert_valid_knn(values, indices, expected, tol, k)
    if return_row_max:
        rt.assert_row_max_close(rt.to_numpy(result[2]), expected, tol)
    return [rt.to_numpy(r) for r in result]


@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("dtype", rt.DTYPES)
@pytest.mark.parametrize("metric", rt.METRICS)
@pytest.mark.parametrize("backend", rt.backend_params())
def test_matches_reference(backend, metric, dtype, shape, rng):
    framework, device = backend
    rt.skip_unsupported(framework, dtype)
    n, m, d, k = shape
    x = rt.make_array(rt.random_features(rng, n, d), framework, device, dtype)
    y = rt.make_array(rt.random_features(rng, m, d), framework, device, dtype)
    _check(x, y, k, metric)


@pytest.mark.parametrize("metric", rt.METRICS)
def test_queries_are_gallery_items(metric, rng):
    """The re-ranking use: x is a subset of y, so each query's nearest is itself (for the
    distance metrics), with a near-zero distance."""
    points = rt.random_features(rng, 400, 32)
    x = rt.make_array(points[:50], "torch", "cpu", "float32")
    y = rt.make_array(points, "torch", "cpu", "float32")
    values, indices, _ = _check(x, y, 20, metric)
    if metric != "inner":  # inner is not a distance: the nearest is the longest vector
        np.testing.assert_array_equal(indices[:, 0], np.arange(50))


@pytest.mark.parametrize("return_row_max", [False, True])
def test_return_row_max_flag(return_row_max, rng):
    x = rt.random_features(rng, 5, 6).astype(np.float32)
    y = rt.random_features(rng, 9, 6).astype(np.float32)
    result = reid_fast.knn(x, y, 3, return_row_max=return_row_max)
    assert isinstance(result, tuple)
    assert len(result) == (3 if return_row_max else 2)


@pytest.mark.parametrize("metric", rt.METRICS)
def test_row_max_does_not_change_neighbours(metric, rng):
    """Asking for row_max leaves values and indices bitwise unchanged; row_max is at least
    the k-th value (and equals the last value when k = m)."""
    x = rt.random_features(rng, 40, 24).astype(np.float32)
    y = rt.random_features(rng, 300, 24).astype(np.float32)
    values, indices = reid_fast.knn(x, y, 17, metric)
    values2, indices2, row_max = reid_fast.knn(x, y, 17, metric, return_row_max=True)
    np.testing.assert_array_equal(values, values2)
    np.testing.assert_array_equal(indices, indices2)
    assert np.all(row_max >= values[:, -1])
    all_values, _, all_max = reid_fast.knn(x, y, 300, metric, return_row_max=True)
    np.testing.assert_array_equal(all_max, all_values[:, -1])


@pytest.mark.parametrize("backend", rt.backend_params())
def test_empty_queries(backend):
    """n = 0: (0, k) results and a (0,) row_max, of the input's framework and device."""
    framework, device = backend
    x = rt.make_array(np.zeros((0, 4)), framework, device, "float32")
    y = rt.make_array(np.ones((6, 4)), framework, device, "float32")
    values, indices, row_max = reid_fast.knn(x, y, 6, return_row_max=True)
    rt.assert_like(values, x, "float32", (0, 6))
    rt.assert_like(indices, x, "int64", (0, 6))
    rt.assert_like(row_max, x, "float32", (0,))


# --------------------------------------------------------------------------------------
# Exact ties
# --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "shape",
    [
        pytest.param((3, 50, 16, 7), id="m50-k7"),
        pytest.param((2, 50, 16, 50), id="m50-k=m"),
        pytest.param((1, 5000, 32, 100), id="split-n1-m5000"),
        pytest.param((4, 3000, 8, 3000), id="split-k=m"),
        pytest.param((500, 9, 5, 4), id="n500-m9"),
    ],
)
@pytest.mark.parametrize("dtype", rt.DTYPES)
@pytest.mark.parametrize("metric", rt.METRICS)
@pytest.mark.parametrize("backend", rt.backend_params(("numpy", "torch")))
def test_identical_gallery(backend, metric, dtype, shape, rng):
    """Every gallery row is the same vector, so every distance of a row is bitwise equal:
    the indices must be exactly 0, 1, ..., k-1 (ties by the lower index), whatever tiling
    or gallery split the implementation uses."""
    framework, device = backend
    rt.skip_unsupported(framework, dtype)
    n, m, d, k = shape
    x = rt.make_array(rt.random_features(rng, n, d), framework, device, dtype)
    y = rt.make_array(np.tile(rt.random_features(rng, 1, d), (m, 1)), framework, device, dtype)
    values, indices, row_max = (rt.to_numpy(r) for r in reid_fast.knn(x, y, k, metric, return_row_max=True))
    np.testing.assert_array_equal(indices, np.broadcast_to(np.arange(k), (n, k)))
    np.testing.assert_array_equal(values, np.broadcast_to(values[:, :1], (n, k)))
    np.testing.assert_array_equal(row_max, values[:, 0])


@pytest.mark.parametrize("k", [1, 2, 3, 4, 10])
@pytest.mark.parametrize("dtype", rt.DTYPES)
@pytest.mark.parametrize("metric", rt.METRICS)
def test_duplicate_rows_lower_index_first(metric, dtype, k, rng):
    """Copies of one gallery row at positions 311, 47, 4000, 1999 (in that order of
    creation); the query is next to that row, so the copies are its nearest neighbours
    and, being bitwise-identical, must come in increasing index order: 47, 311, 1999,
    4000. With k < 4 the lowest-indexed copies win. m = 4500 crosses any gallery split."""
    m, d = 4500, 24
    y_np = rt.random_features(rng, m, d)
    source = rt.random_features(rng, 1, d)[0] * 3.0
    copies = [311, 47, 4000, 1999]
    y_np[copies] = source
    x_np = np.stack([source + 1e-2 * rng.standard_normal(d) for _ in range(3)])
    if metric == "inner":
        # For inner, "nearest" means largest <x, y>: make the copies the longest vectors
        # in the direction of the queries.
        y_np[copies] = source * 5.0
    x = rt.make_array(x_np, "torch", "cpu", dtype)
    y = rt.make_array(y_np, "torch", "cpu", dtype)
    values, indices, _ = _check(x, y, k, metric)
    expected = np.array(sorted(copies) + [-1] * max(0, k - 4))[:k]
    for row in range(3):
        top = indices[row, : min(k, 4)]
        np.testing.assert_array_equal(top, expected[: min(k, 4)], err_msg=f"row {row}")
        assert np.all(values[row, : min(k, 4)] == values[row, 0])


@pytest.mark.parametrize(
    "shape",
    [
        pytest.param((20, 400, 6, 30), id="m400-k30"),
        pytest.param((20, 400, 6, 400), id="m400-k=m"),
        pytest.param((2, 5000, 4, 50), id="split-m5000-k50"),
        pytest.param((300, 40, 3, 7), id="n300-m40"),
        pytest.param((5, 60, 1, 20), id="d1"),
    ],
)
@pytest.mark.parametrize("dtype", rt.DTYPES)
@pytest.mark.parametrize("metric", ["sqeuclidean", "inner", "euclidean"])
@pytest.mark.parametrize("backend", rt.backend_params())
def test_integer_features_exact_order(backend, metric, dtype, shape, rng):
    """Features in {-2, ..., 2}: every float32 product and sum is exact (also from float16
    and bfloat16), so sqeuclidean and inner distances are exact integers and euclidean
    their correctly-rounded square roots (a monotone map). Many distances tie exactly, and
    the whole (values, indices) result must equal the reference's stable sort exactly."""
    framework, device = backend
    rt.skip_unsupported(framework, dtype)
    n, m, d, k = shape
    x = rt.make_array(rng.integers(-2, 3, size=(n, d)), framework, device, dtype)
    y = rt.make_array(rng.integers(-2, 3, size=(m, d)), framework, device, dtype)
    values, indices, row_max = (rt.to_numpy(r) for r in reid_fast.knn(x, y, k, metric, return_row_max=True))
    ref_values, ref_indices, ref_max = reference.knn(
        rt.to_float64(x), rt.to_float64(y), k, metric, return_row_max=True
    )
    np.testing.assert_array_equal(indices, ref_indices)
    if metric == "euclidean":
        np.testing.assert_array_equal(values, ref_values.astype(np.float32))
        np.testing.assert_array_equal(row_max, ref_max.astype(np.float32))
    else:
        np.testing.assert_array_equal(values, ref_values)
        np.testing.assert_array_equal(row_max, ref_max)


@pytest.mark.parametrize("dtype", rt.DTYPES)
def test_integer_features_cosine(dtype, rng):
    """Cosine on integer features: exact ties between rows with the same norm and the same
    dot product (bitwise-equal float32 results) must still be ordered by index; other
    near-ties are compared with the tie-aware check."""
    x = rt.make_array(rng.integers(-2, 3, size=(20, 5)), "torch", "cpu", dtype)
    y = rt.make_array(rng.integers(-2, 3, size=(600, 5)), "torch", "cpu", dtype)
    values, indices, _ = _check(x, y, 40, "cosine")
    # Among identical gallery rows that are both returned, the lower index comes first.
    y_rows = rt.to_float64(y)
    for row in range(20):
        seen: dict[bytes, int] = {}
        for position, index in enumerate(indices[row]):
            key = y_rows[index].tobytes()
            if key in seen:
                assert indices[row, seen[key]] < index
            else:
                seen[key] = position


# --------------------------------------------------------------------------------------
# Layouts, frameworks, consistency
# --------------------------------------------------------------------------------------


@pytest.mark.parametrize("layout", rt.LAYOUTS)
@pytest.mark.parametrize("dtype", rt.DTYPES)
@pytest.mark.parametrize("backend", rt.backend_params())
def test_noncontiguous_inputs(backend, dtype, layout, rng):
    framework, device = backend
    rt.skip_unsupported(framework, dtype)
    x = rt.noncontiguous(rt.random_features(rng, 29, 21), layout, framework, device, dtype)
    y = rt.noncontiguous(rt.random_features(rng, 141, 21), layout, framework, device, dtype)
    for metric in rt.METRICS:
        _check(x, y, 12, metric)


def test_numpy_negative_strides_and_readonly(rng):
    x_np = rt.random_features(rng, 13, 9).astype(np.float32)
    y_np = rt.random_features(rng, 70, 9).astype(np.float32)
    y = y_np.copy()
    y.flags.writeable = False
    _check(x_np[::-1, ::-1], y[:, ::-1], 5, "euclidean")


@pytest.mark.parametrize("shape", [(40, 300, 24, 17), (7, 5000, 16, 64), (1, 1, 3, 1)])
@pytest.mark.parametrize("dtype", rt.DTYPES)
@pytest.mark.parametrize("metric", rt.METRICS)
def test_values_equal_sorted_pairwise(metric, dtype, shape, device, rng):
    """knn's values are the k smallest of pairwise_distance's row, in ascending order.

    Both are float32 computations of the same quantity that may sum the dot products in
    different orders, so they are compared within twice the distance tolerance; where the
    two agree on the values, the indices must also be the stable sort's."""
    n, m, d, k = shape
    x = rt.make_array(rt.random_features(rng, n, d), "torch", device, dtype)
    y = rt.make_array(rt.random_features(rng, m, d), "torch", device, dtype)
    values, indices = (rt.to_numpy(r) for r in reid_fast.knn(x, y, k, metric))
    full = rt.to_numpy(reid_fast.pairwise_distance(x, y, metric))
    order = np.argsort(full, axis=1, kind="stable")[:, :k]
    sorted_values = np.take_along_axis(full, order, axis=1)
    x64, y64 = rt.to_float64(x), rt.to_float64(y)
    expected = reference.pairwise_distance(x64, y64, metric)
    tol = rt.distance_tolerance(x64, y64, metric, expected)
    row_tol = np.broadcast_to(tol.max(axis=1, keepdims=True), values.shape)
    rt.assert_distances_close(values, sorted_values.astype(np.float64), 2 * row_tol, "knn vs sorted pairwise")
    if np.array_equal(values, sorted_values):
        np.testing.assert_array_equal(indices, order)


def test_deterministic(device, rng):
    """Two calls give bitwise-identical values and indices."""
    x = rt.make_array(rt.random_features(rng, 64, 48), "torch", device, "float32")
    y = rt.make_array(rt.random_features(rng, 3000, 48), "torch", device, "float32")
    for metric in rt.METRICS:
        first = reid_fast.knn(x, y, 25, metric, return_row_max=True)
        second = reid_fast.knn(x, y, 25, metric, return_row_max=True)
        for a, b in zip(first, second):
            np.testing.assert_array_equal(rt.to_numpy(a), rt.to_numpy(b))


def test_numpy_integer_k(rng):
    """k may be any integer type (operator.index), e.g. numpy.int64."""
    x = rt.random_features(rng, 3, 4).astype(np.float32)
    y = rt.random_features(rng, 8, 4).astype(np.float32)
    values, indices = reid_fast.knn(x, y, np.int64(5))
    assert values.shape == (3, 5) and indices.shape == (3, 5)


def test_same_result_numpy_and_torch(rng):
    """The framework only changes the container: numpy and torch CPU inputs give the
    same bits."""
    torch = rt.torch
    x = rt.random_features(rng, 30, 20).astype(np.float32)
    y = rt.random_features(rng, 500, 20).astype(np.float32)
    for metric in rt.METRICS:
        a = reid_fast.knn(x, y, 9, metric, return_row_max=True)
        b = reid_fast.knn(torch.from_numpy(x), torch.from_numpy(y), 9, metric, return_row_max=True)
        for u, v in zip(a, b):
            np.testing.assert_array_equal(u, v.numpy())


@pytest.mark.cuda
@pytest.mark.parametrize("dtype", rt.DTYPES)
@pytest.mark.parametrize("metric", rt.METRICS)
def test_cuda_matches_reference_large(metric, dtype, rng):
    """A gallery big enough for several CUDA tiles / splits (sizes kept small enough for
    the float64 reference to stay fast)."""
    x = rt.make_array(rt.random_features(rng, 67, 72), "torch", "cuda", dtype)
    y = rt.make_array(rt.random_features(rng, 20011, 72), "torch", "cuda", dtype)
    _check(x, y, 100, metric)


@pytest.mark.cuda
def test_cuda_current_stream(rng):
    torch = rt.torch
    x = rt.make_array(rt.random_features(rng, 33, 20), "torch", "cuda", "float32")
    y = rt.make_array(rt.random_features(rng, 900, 20), "torch", "cuda", "float32")
    stream = torch.cuda.Stream()
    stream.wait_stream(torch.cuda.current_stream())
    with torch.cuda.stream(stream):
        values, indices = reid_fast.knn(x, y, 10, "euclidean")
        values, indices = values.cpu(), indices.cpu()
    x64, y64 = rt.to_float64(x), rt.to_float64(y)
    expected = reference.pairwise_distance(x64, y64, "euclidean")
    rt.assert_valid_knn(
        values.numpy(), indices.numpy(), expected, rt.distance_tolerance(x64, y64, "euclidean", expected), 10
    )


@pytest.mark.parametrize("framework", ["numpy", "torch"])
def test_stride_zero_gallery(framework, rng):
    """A broadcast (stride-0) gallery: one row viewed m times, read-only in NumPy."""
    torch = rt.torch
    row = rt.random_features(rng, 1, 12).astype(np.float32)
    x = rt.random_features(rng, 4, 12).astype(np.float32)
    if framework == "numpy":
        y = np.broadcast_to(row, (3000, 12))
    else:
        x, y = torch.from_numpy(x), torch.from_numpy(row).expand(3000, 12)
    for metric in rt.METRICS:
        values, indices = (rt.to_numpy(r) for r in reid_fast.knn(x, y, 50, metric))
        np.testing.assert_array_equal(indices, np.broadcast_to(np.arange(50), (4, 50)))
        np.testing.assert_array_equal(values, np.broadcast_to(values[:, :1], (4, 50)))
