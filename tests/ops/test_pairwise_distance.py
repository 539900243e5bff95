"""reid_fast.pairwise_distance against the literal float64 reference.

Tolerances: see reid_testing.distance_tolerance (1e-4 of the feature scale). For float16
and bfloat16 inputs the reference is computed from the *rounded* half-precision values
(converted exactly to float64), so the only difference left is the op's float32
accumulation and the tolerance stays as tight as for float32.
"""

from __future__ import annotations

import numpy as np
import pytest

import reid_fast
import reid_testing as rt
from reid_fast import reference

SHAPES = [
    pytest.param((0, 5, 3), id="n0"),
    pytest.param((4, 1, 3), id="m1"),
    pytest.param((5, 7, 1), id="d1"),
    pytest.param((1, 1, 1), id="1x1x1"),
    pytest.param((37, 53, 19), id="odd-37x53x19"),
    pytest.param((65, 129, 33), id="tile-plus-one-65x129x33"),
    pytest.param((8, 16, 512), id="aligned-8x16x512"),
    pytest.param((300, 700, 130), id="large-300x700x130"),
]


def _run_and_check(x_np, y_np, framework, device, dtype, metric):
    x = rt.make_array(x_np, framework, device, dtype)
    y = rt.make_array(y_np, framework, device, dtype)
    out = reid_fast.pairwise_distance(x, y, metric)
    n, m = x.shape[0], y.shape[0]
    rt.assert_like(out, x, "float32", (n, m))
    x64, y64 = rt.to_float64(x), rt.to_float64(y)
    expected = reference.pairwise_distance(x64, y64, metric)
    tol = rt.distance_tolerance(x64, y64, metric, expected)
    rt.assert_distances_close(rt.to_numpy(out), expected, tol, f"{metric} {dtype} {framework}-{device}")
    return out, expected


@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("dtype", rt.DTYPES)
@pytest.mark.parametrize("metric", rt.METRICS)
@pytest.mark.parametrize("backend", rt.backend_params())
def test_matches_reference(backend, metric, dtype, shape, rng):
    framework, device = backend
    rt.skip_unsupported(framework, dtype)
    n, m, d = shape
    _run_and_check(
        rt.random_features(rng, n, d), rt.random_features(rng, m, d), framework, device, dtype, metric
    )


@pytest.mark.parametrize("scale", [1e-3, 30.0, 1e3])
@pytest.mark.parametrize("metric", rt.METRICS)
def test_feature_scale(metric, scale, rng):
    """The tolerance is relative to the feature scale; check far from unit scale too."""
    _run_and_check(
        rt.random_features(rng, 23, 64, scale),
        rt.random_features(rng, 31, 64, scale),
        "torch",
        "cpu",
        "float32",
        metric,
    )


@pytest.mark.parametrize("dtype", ["float32", "float16"])
@pytest.mark.parametrize("backend", rt.backend_params())
def test_empty_gallery(backend, dtype):
    """m = 0 is allowed for pairwise_distance: an (n, 0) result."""
    framework, device = backend
    x = rt.make_array(np.ones((3, 4)), framework, device, dtype)
    y = rt.make_array(np.ones((0, 4)), framework, device, dtype)
    out = reid_fast.pairwise_distance(x, y)
    rt.assert_like(out, x, "float32", (3, 0))


LAYOUTS = rt.LAYOUTS


@pytest.mark.parametrize("layout", LAYOUTS)
@pytest.mark.parametrize("dtype", rt.DTYPES)
@pytest.mark.parametrize("backend", rt.backend_params())
def test_noncontiguous_inputs(backend, dtype, layout, rng):
    framework, device = backend
    rt.skip_unsupported(framework, dtype)
    x = rt.noncontiguous(rt.random_features(rng, 29, 21), layout, framework, device, dtype)
    y = rt.noncontiguous(rt.random_features(rng, 41, 21), layout, framework, device, dtype)
    for metric in rt.METRICS:
        out = reid_fast.pairwise_distance(x, y, metric)
        rt.assert_like(out, x, "float32", (29, 41))
        x64, y64 = rt.to_float64(x), rt.to_float64(y)
        expected = reference.pairwise_distance(x64, y64, metric)
        rt.assert_distances_close(
            rt.to_numpy(out),
            expected,
            rt.distance_tolerance(x64, y64, metric, expected),
            f"{layout} {metric}",
        )


def test_numpy_negative_strides_and_readonly(rng):
    """NumPy views with negative strides and read-only arrays are accepted."""
    x_np = rt.random_features(rng, 13, 9).astype(np.float32)
    y_np = rt.random_features(rng, 17, 9).astype(np.float32)
    x = x_np[::-1, ::-1]
    y = y_np.copy()
    y.flags.writeable = False
    out = reid_fast.pairwise_distance(x, y, "sqeuclidean")
    rt.assert_like(out, x, "float32", (13, 17))
    expected = reference.pairwise_distance(x, y, "sqeuclidean")
    tol = rt.distance_tolerance(x.astype(np.float64), y.astype(np.float64), "sqeuclidean", expected)
    rt.assert_distances_close(out, expected, tol)


def test_inputs_not_modified(rng):
    x = rt.random_features(rng, 7, 5).astype(np.float32)
    y = rt.random_features(rng, 9, 5).astype(np.float32)
    x_copy, y_copy = x.copy(), y.copy()
    for metric in rt.METRICS:
        reid_fast.pairwise_distance(x, y, metric)
    np.testing.assert_array_equal(x, x_copy)
    np.testing.assert_array_equal(y, y_copy)


def test_torch_requires_grad_input(rng):
    """Tensors that require grad are accepted (the op reads a detached view)."""
    torch = rt.torch
    x = torch.tensor(rt.random_features(rng, 6, 4), dtype=torch.float32, requires_grad=True)
    y = torch.tensor(rt.random_features(rng, 8, 4), dtype=torch.float32)
    out = reid_fast.pairwise_distance(x, y)
    rt.assert_like(out, x, "float32", (6, 8))


def test_default_metric_is_euclidean(rng):
    x = rt.random_features(rng, 5, 6).astype(np.float32)
    y = rt.random_features(rng, 4, 6).astype(np.float32)
    np.testing.assert_array_equal(
        reid_fast.pairwise_distance(x, y), reid_fast.pairwise_distance(x, y, "euclidean")
    )


def test_metrics_constant():
    assert tuple(reid_fast.METRICS) == ("euclidean", "sqeuclidean", "cosine", "inner")


@pytest.mark.parametrize("dtype", rt.DTYPES)
@pytest.mark.parametrize("backend", rt.backend_params())
def test_sqeuclidean_never_negative_on_duplicates(backend, dtype, rng):
    """x == y (and duplicate rows within y): cancellation in |x|^2 + |y|^2 - 2<x, y> must
    be clamped, so no distance is negative, and the self-distances are ~0."""
    framework, device = backend
    rt.skip_unsupported(framework, dtype)
    points = rt.random_features(rng, 50, 37, scale=10.0)
    points[25:] = points[:25]  # every point twice
    x = rt.make_array(points, framework, device, dtype)
    for metric in ("sqeuclidean", "euclidean"):
        out = rt.to_numpy(reid_fast.pairwise_distance(x, x, metric))
        assert np.all(out >= 0), f"{metric}: min {out.min()!r}"
        x64 = rt.to_float64(x)
        zero = np.zeros((50, 50))
        tol = rt.distance_tolerance(x64, x64, metric, zero)
        diag = np.arange(50)
        assert np.all(out[diag, diag] <= tol[diag, diag]), out[diag, diag].max()
        assert np.all(out[diag, (diag + 25) % 50] <= tol[diag, diag])  # the duplicates
    # The same with different, but equal, x and y arrays.
    y = rt.make_array(points, framework, device, dtype)
    assert np.all(rt.to_numpy(reid_fast.pairwise_distance(x, y, "sqeuclidean")) >= 0)


@pytest.mark.parametrize("dtype", rt.DTYPES)
@pytest.mark.parametrize("backend", rt.backend_params())
def test_cosine_zero_vector(backend, dtype, rng):
    """Norms are clamped at 1e-12: a zero vector is at cosine distance exactly 1 from
    everything (including another zero vector), never NaN."""
    framework, device = backend
    rt.skip_unsupported(framework, dtype)
    x_np = rt.random_features(rng, 4, 8)
    y_np = rt.random_features(rng, 5, 8)
    x_np[1] = 0.0
    y_np[3] = 0.0
    x = rt.make_array(x_np, framework, device, dtype)
    y = rt.make_array(y_np, framework, device, dtype)
    out = rt.to_numpy(reid_fast.pairwise_distance(x, y, "cosine"))
    assert np.all(np.isfinite(out))
    np.testing.assert_array_equal(out[1], np.ones(5, np.float32))
    np.testing.assert_array_equal(out[:, 3], np.ones(4, np.float32))
    expected = reference.pairwise_distance(rt.to_float64(x), rt.to_float64(y), "cosine")
    np.testing.assert_allclose(out, expected, rtol=0, atol=rt.RTOL)
    # inner product with a zero vector is exactly zero.
    inner = rt.to_numpy(reid_fast.pairwise_distance(x, y, "inner"))
    np.testing.assert_array_equal(inner[1], np.zeros(5, np.float32))


@pytest.mark.parametrize("metric", rt.METRICS)
def test_integer_features_exact(metric, rng):
    """Small integer features make every float32 product and sum exact: sqeuclidean and
    inner must then equal the reference exactly, euclidean to the float32 rounding of
    the square root (2^-24 relative)."""
    x = rng.integers(-3, 4, size=(19, 7)).astype(np.float32)
    y = rng.integers(-3, 4, size=(23, 7)).astype(np.float32)
    out = reid_fast.pairwise_distance(x, y, metric).astype(np.float64)
    expected = reference.pairwise_distance(x, y, metric)
    if metric in ("sqeuclidean", "inner"):
        np.testing.assert_array_equal(out, expected)
    elif metric == "euclidean":
        np.testing.assert_allclose(out, expected, rtol=2**-23, atol=0)
    else:
        np.testing.assert_allclose(out, expected, rtol=0, atol=rt.RTOL)


def test_self_distance_cosine_and_inner(rng):
    """Cosine distance of a vector to itself is ~0 and inner is -|x|^2."""
    x = rt.random_features(rng, 20, 16).astype(np.float32)
    cosine = reid_fast.pairwise_distance(x, x, "cosine")
    np.testing.assert_allclose(np.diag(cosine), 0.0, atol=rt.RTOL)
    inner = reid_fast.pairwise_distance(x, x, "inner")
    squares = np.sum(x.astype(np.float64) ** 2, axis=1)
    np.testing.assert_allclose(np.diag(inner), -squares, rtol=rt.RTOL)


def test_deterministic(device, rng):
    """Two calls on the same inputs give bitwise-identical results."""
    x = rt.make_array(rt.random_features(rng, 61, 45), "torch", device, "float32")
    y = rt.make_array(rt.random_features(rng, 203, 45), "torch", device, "float32")
    for metric in rt.METRICS:
        first = rt.to_numpy(reid_fast.pairwise_distance(x, y, metric))
        np.testing.assert_array_equal(first, rt.to_numpy(reid_fast.pairwise_distance(x, y, metric)))


@pytest.mark.cuda
@pytest.mark.parametrize("metric", rt.METRICS)
def test_cuda_matches_cpu(metric, rng):
    """The CUDA and CPU implementations agree within tolerance on the same inputs."""
    torch = rt.torch
    x = torch.tensor(rt.random_features(rng, 70, 96), dtype=torch.float32)
    y = torch.tensor(rt.random_features(rng, 150, 96), dtype=torch.float32)
    cpu = reid_fast.pairwise_distance(x, y, metric).numpy()
    gpu = reid_fast.pairwise_distance(x.cuda(), y.cuda(), metric).cpu().numpy()
    x64, y64 = x.double().numpy(), y.double().numpy()
    expected = reference.pairwise_distance(x64, y64, metric)
    tol = rt.distance_tolerance(x64, y64, metric, expected)
    rt.assert_distances_close(gpu, cpu.astype(np.float64), 2 * tol, "cuda vs cpu")


@pytest.mark.cuda
def test_cuda_current_stream(rng):
    """On CUDA the op is enqueued on torch's current stream and results are correct when
    read on that stream."""
    torch = rt.torch
    x = torch.tensor(rt.random_features(rng, 33, 20), dtype=torch.float32, device="cuda")
    y = torch.tensor(rt.random_features(rng, 44, 20), dtype=torch.float32, device="cuda")
    stream = torch.cuda.Stream()
    stream.wait_stream(torch.cuda.current_stream())
    with torch.cuda.stream(stream):
        out = reid_fast.pairwise_distance(x, y, "sqeuclidean")
        result = out.cpu()
    x64, y64 = x.double().cpu().numpy(), y.double().cpu().numpy()
    expected = reference.pairwise_distance(x64, y64, "sqeuclidean")
    rt.assert_distances_close(
        result.numpy(), expected, rt.distance_tolerance(x64, y64, "sqeuclidean", expected)
    )


@pytest.mark.parametrize("metric", rt.METRICS)
@pytest.mark.parametrize("framework", ["numpy", "torch"])
def test_float16_subnormals(framework, metric, rng):
    """float16 values below 6.1e-5 are subnormal; they must be widened exactly."""
    x_np = rt.random_features(rng, 9, 16, scale=2e-5)
    y_np = rt.random_features(rng, 11, 16, scale=2e-5)
    x = rt.make_array(x_np, framework, "cpu", "float16")
    y = rt.make_array(y_np, framework, "cpu", "float16")
    x64, y64 = rt.to_float64(x), rt.to_float64(y)
    assert np.mean(np.abs(x64) < 2**-14) > 0.5  # mostly subnormal
    out = rt.to_numpy(reid_fast.pairwise_distance(x, y, metric))
    expected = reference.pairwise_distance(x64, y64, metric)
    rt.assert_distances_close(out, expected, rt.distance_tolerance(x64, y64, metric, expected), metric)
