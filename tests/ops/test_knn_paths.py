"""knn and pairwise_distance on their two paths (docs/design.md 3.1): ``path="simt"``
(reid_fast's fused kernels) and ``path="framework"`` (the framework's GEMM per tile, then
reid_fast's knn_select / distance_tile), chosen by the ``path`` argument or the environment
variable REID_FAST_DISTANCE_PATH.

On the CPU the framework path runs numpy.matmul / torch.mm and the CPU twin of the CUDA
selection; with small tiles (``distance_path.TILES``) every list crosses many tile
boundaries. The framework path is checked against the float64 reference
(reid_testing.assert_valid_knn, distance_tolerance) and against the SIMT path: values within
1e-5 (relative and absolute), indices identical wherever the reference leaves no doubt
(reid_testing.assert_same_knn_up_to_ties), and identical everywhere on integer features,
whose float32 arithmetic is exact in any order, so that ties are exact and go to the lower
index on both paths. The CUDA cases (torch and CuPy) are marked ``cuda``.
"""

from __future__ import annotations

import numpy as np
import pytest

import reid_fast
import reid_testing as rt
from reid_fast import reference
from reid_fast.ops import _arrays, distance_path
from reid_fast.ops import distance as distance_module
from reid_fast.ops import knn as knn_module
from reid_fast.ops.distance_path import Tiles

# Framework vs SIMT: the same distances up to float32 rounding in a different order.
PATH_RTOL = PATH_ATOL = 1e-5

# (n, m, d, k): one query, k = 1, k = m, odd sizes, k = 1024 (the longest warp queue),
# k > 1024 (the two-pass selection) and k = m > 1024.
KNN_SHAPES = [
    pytest.param((1, 1, 1, 1), id="1x1x1"),
    pytest.param((1, 37, 5, 1), id="n1-k1"),
    pytest.param((13, 53, 19, 53), id="odd-k=m"),
    pytest.param((29, 301, 17, 10), id="odd-k10"),
    pytest.param((4, 1500, 8, 1024), id="k1024"),
    pytest.param((3, 1400, 6, 1100), id="k1100"),
    pytest.param((2, 2100, 4, 2100), id="k=m-2100"),
]

# Default tiles, tiles narrower than k = 1024 (and the rows in blocks of 5), short wide tiles.
TILES = [
    pytest.param(Tiles(), id="tiles-default"),
    pytest.param(Tiles(rows=5, columns=97), id="tiles-5x97"),
    pytest.param(Tiles(rows=2, columns=300), id="tiles-2x300"),
]


@pytest.fixture
def tiles(request, monkeypatch):
    """The framework path's tiles for the test (a parameter of the test)."""
    monkeypatch.setattr(distance_path, "TILES", request.param)
    return request.param


def make_pair(rng, n: int, m: int, d: int, framework: str, device: str, dtype: str):
    """x (n, d) and y (m, d) of random features, y's first third repeating its last rows (exact
    ties); returned as the op's inputs and as the float64 values the op sees."""
    y = rt.random_features(rng, m, d)
    y[: m // 3] = y[m - m // 3:]
    x = rt.make_array(rt.random_features(rng, n, d), framework, device, dtype)
    y = rt.make_array(y, framework, device, dtype)
    return x, y, rt.to_float64(x), rt.to_float64(y)


def check_paths_agree(framework_result, simt_result, expected, tol, k):
    """The framework path's knn is a valid top-k of the reference and agrees with the SIMT
    path's (values within PATH_RTOL / PATH_ATOL, indices up to near-ties, row maxima)."""
    values, indices, row_max = (rt.to_numpy(r) for r in framework_result)
    simt_values, simt_indices, simt_max = (rt.to_numpy(r) for r in simt_result)
    rt.assert_valid_knn(values, indices, expected, tol, k)
    rt.assert_row_max_close(row_max, expected, tol)
    np.testing.assert_allclose(values, simt_values, rtol=PATH_RTOL, atol=PATH_ATOL)
    np.testing.assert_allclose(row_max, simt_max, rtol=PATH_RTOL, atol=PATH_ATOL)
    rt.assert_same_knn_up_to_ties(indices, simt_indices, expected, tol)


# --------------------------------------------------------------------------------------
# knn
# --------------------------------------------------------------------------------------


@pytest.mark.parametrize("tiles", TILES, indirect=True)
@pytest.mark.parametrize("shape", KNN_SHAPES)
@pytest.mark.parametrize("dtype", rt.DTYPES)
@pytest.mark.parametrize("metric", rt.METRICS)
@pytest.mark.parametrize("backend", rt.backend_params())
def test_knn_framework_path(backend, metric, dtype, shape, tiles, rng):
    framework, device = backend
    rt.skip_unsupported(framework, dtype)
    n, m, d, k = shape
    x, y, x64, y64 = make_pair(rng, n, m, d, framework, device, dtype)
    result = reid_fast.knn(x, y, k, metric, return_row_max=True, path="framework")
    rt.assert_like(result[0], x, "float32", (n, k))
    rt.assert_like(result[1], x, "int64", (n, k))
    rt.assert_like(result[2], x, "float32", (n,))
    simt = reid_fast.knn(x, y, k, metric, return_row_max=True, path="simt")
    expected = reference.pairwise_distance(x64, y64, metric)
    check_paths_agree(result, simt, expected, rt.distance_tolerance(x64, y64, metric, expected), k)


@pytest.mark.parametrize(
    "tiles", [*TILES, pytest.param(Tiles(rows=3, columns=1), id="tiles-3x1")], indirect=True)
@pytest.mark.parametrize("k", [1, 4, 64, 65, 300])
@pytest.mark.parametrize("metric", ["euclidean", "sqeuclidean", "inner"])
@pytest.mark.parametrize("backend", rt.backend_params())
def test_knn_exact_ties_on_both_paths(backend, metric, k, tiles, rng):
    """Small integer features with many duplicated rows: every dot product and distance is
    exact on both paths (integers, and the correctly rounded square root of one), so ties are
    exact and both paths return the reference's order exactly, the lower index first.
    (Cosine is not exact in float32: scaled copies of a vector tie in float64 only; its ties
    are checked bit for bit against a float32 model in tests/native/test_cuda_emulated.py.)"""
    framework, device = backend
    base = rng.integers(-3, 4, size=(40, 6)).astype(np.float64)
    y_values = base[rng.integers(0, 40, size=300)]
    x_values = np.concatenate([base[:9], y_values[:4]])
    x = rt.make_array(x_values, framework, device, "float32")
    y = rt.make_array(y_values, framework, device, "float32")
    values, indices = reid_fast.knn(x, y, k, metric, path="framework")
    simt_values, simt_indices = reid_fast.knn(x, y, k, metric, path="simt")
    expected = reference.pairwise_distance(x_values, y_values, metric)
    order = reference.rank_rows(expected)[:, :k]
    np.testing.assert_array_equal(rt.to_numpy(indices), order)
    np.testing.assert_array_equal(rt.to_numpy(simt_indices), order)
    np.testing.assert_array_equal(rt.to_numpy(values), rt.to_numpy(simt_values))


@pytest.mark.parametrize("backend", rt.backend_params())
def test_knn_framework_path_without_queries(backend):
    framework, device = backend
    x = rt.make_array(np.zeros((0, 8)), framework, device, "float32")
    y = rt.make_array(np.ones((5, 8)), framework, device, "float32")
    values, indices, row_max = reid_fast.knn(x, y, 3, return_row_max=True, path="framework")
    rt.assert_like(values, x, "float32", (0, 3))
    rt.assert_like(indices, x, "int64", (0, 3))
    rt.assert_like(row_max, x, "float32", (0,))


@pytest.mark.parametrize("op", ["knn", "pairwise_distance"])
def test_framework_path_rejects_nan(op):
    """The CPU's fused kernels find NaN/Inf while packing; the framework path checks first."""
    x = np.ones((4, 3), np.float32)
    x[2, 1] = np.nan
    y = np.ones((5, 3), np.float32)
    message = r"x must be finite, got 1 NaN or Inf value\(s\), the first at index \(2, 1\)"
    with pytest.raises(ValueError, match=message):
        getattr(reid_fast, op)(x, y, *([2] if op == "knn" else []), path="framework")


@pytest.mark.cuda
@pytest.mark.parametrize("framework", ["torch", pytest.param("cupy", marks=pytest.mark.cupy)])
def test_framework_path_on_the_second_device_while_the_first_is_current(framework):
    """The GEMM, the row terms and knn_select all run on the arrays' device (cuda:1) while
    cuda:0 is current, which is current again afterwards."""
    torch = rt.torch
    if torch.cuda.device_count() < 2:
        pytest.skip("needs two CUDA devices")
    current = torch.cuda.device if framework == "torch" else rt.cupy_module().cuda.Device
    rng = np.random.default_rng(0)
    x, y = rng.standard_normal((33, 80)), rng.standard_normal((300, 80))
    with current(1):
        xd, yd = (rt.make_array(a, framework, "cuda", "float32") for a in (x, y))
    with current(0):
        values, indices = reid_fast.knn(xd, yd, 5, path="framework")
        assert torch.cuda.current_device() == 0
    assert rt.device_of(values) == rt.device_of(xd) == "cuda:1"
    distances = reference.pairwise_distance(x, y, "euclidean")
    rt.assert_valid_knn(rt.to_numpy(values), rt.to_numpy(indices), distances,
                        rt.distance_tolerance(x, y, "euclidean", distances), 5)


# --------------------------------------------------------------------------------------
# pairwise_distance
# --------------------------------------------------------------------------------------

PAIRWISE_SHAPES = [
    pytest.param((1, 1, 1), id="1x1x1"),
    pytest.param((1, 64, 16), id="n1"),
    pytest.param((37, 53, 19), id="odd"),
    pytest.param((70, 1030, 33), id="wide"),
]


@pytest.mark.parametrize("tiles", TILES, indirect=True)
@pytest.mark.parametrize("shape", PAIRWISE_SHAPES)
@pytest.mark.parametrize("dtype", rt.DTYPES)
@pytest.mark.parametrize("metric", rt.METRICS)
@pytest.mark.parametrize("backend", rt.backend_params())
def test_pairwise_framework_path(backend, metric, dtype, shape, tiles, rng):
    framework, device = backend
    rt.skip_unsupported(framework, dtype)
    n, m, d = shape
    x, y, x64, y64 = make_pair(rng, n, m, d, framework, device, dtype)
    got = reid_fast.pairwise_distance(x, y, metric, path="framework")
    rt.assert_like(got, x, "float32", (n, m))
    expected = reference.pairwise_distance(x64, y64, metric)
    tol = rt.distance_tolerance(x64, y64, metric, expected)
    rt.assert_distances_close(rt.to_numpy(got), expected, tol, f"framework path {metric} {dtype}")
    simt = reid_fast.pairwise_distance(x, y, metric, path="simt")
    np.testing.assert_allclose(rt.to_numpy(got), rt.to_numpy(simt), rtol=PATH_RTOL, atol=PATH_ATOL)


@pytest.mark.parametrize("backend", rt.backend_params())
def test_pairwise_framework_path_empty(backend):
    framework, device = backend
    for n, m in [(0, 4), (3, 0)]:
        x = rt.make_array(np.ones((n, 8)), framework, device, "float32")
        y = rt.make_array(np.ones((m, 8)), framework, device, "float32")
        rt.assert_like(reid_fast.pairwise_distance(x, y, path="framework"), x, "float32", (n, m))


# --------------------------------------------------------------------------------------
# Which path runs: the argument, the environment variable, the auto rule
# --------------------------------------------------------------------------------------


@pytest.fixture
def taken(monkeypatch) -> list[str]:
    """The paths the ops take, in call order: "framework" when the framework path's
    orchestration runs, "simt" when the fused kernel runs."""
    log: list[str] = []
    for module, framework_fn, native in [(knn_module, "_framework_knn", "knn"),
                                         (distance_module, "_framework_pairwise", "pairwise_distance")]:
        original_framework = getattr(module, framework_fn)
        original_native = getattr(module._C, native)

        def framework_spy(*args, _original=original_framework):
            log.append("framework")
            return _original(*args)

        def native_spy(*args, _original=original_native):
            log.append("simt")
            return _original(*args)

        monkeypatch.setattr(module, framework_fn, framework_spy)
        monkeypatch.setattr(module, "_C", _NativeWithSpy(module._C, native, native_spy))
    return log


class _NativeWithSpy:
    """reid_fast._C with one function replaced (the module itself is read-only)."""

    def __init__(self, native, name: str, spy) -> None:
        self._native, self._name, self._spy = native, name, spy

    def __getattr__(self, name: str):
        return self._spy if name == self._name else getattr(self._native, name)


def run_both(path=None):
    x = np.ones((3, 4), np.float32)
    y = np.arange(20, dtype=np.float32).reshape(5, 4)
    reid_fast.knn(x, y, 2, path=path)
    reid_fast.pairwise_distance(x, y, path=path)


@pytest.mark.parametrize(
    "variable, argument, expected",
    [
        (None, None, "simt"),              # auto on the CPU: the fused kernels
        ("auto", None, "simt"),
        ("framework", None, "framework"),
        ("simt", None, "simt"),
        ("simt", "framework", "framework"),  # the argument overrides the variable
        ("framework", "simt", "simt"),
        ("framework", "auto", "simt"),
        ("bogus", "simt", "simt"),           # an argument means the variable is not read
    ],
)
def test_argument_and_environment_choose_the_path(monkeypatch, taken, variable, argument, expected):
    if variable is None:
        monkeypatch.delenv(distance_path.PATH_VARIABLE, raising=False)
    else:
        monkeypatch.setenv(distance_path.PATH_VARIABLE, variable)
    run_both(argument)
    assert taken == [expected, expected]


def test_environment_is_read_on_each_call(monkeypatch, taken):
    monkeypatch.setenv(distance_path.PATH_VARIABLE, "framework")
    run_both()
    monkeypatch.setenv(distance_path.PATH_VARIABLE, "simt")
    run_both()
    assert taken == ["framework", "framework", "simt", "simt"]


def test_auto_rule():
    """auto: the framework path for CUDA arrays with d >= FRAMEWORK_MIN_DIM (torch or CuPy),
    the fused kernels for smaller d and for every CPU array."""
    def features(framework, device, d):
        return _arrays.Array("x", np.zeros((2, d), np.float32), framework, device, 0)

    low, high = distance_path.FRAMEWORK_MIN_DIM - 1, distance_path.FRAMEWORK_MIN_DIM
    choose = distance_path.distance_path
    assert choose("auto", features("torch", "cuda", high)) == "framework"
    assert choose("auto", features("cupy", "cuda", 4 * high)) == "framework"
    assert choose("auto", features("torch", "cuda", low)) == "simt"
    assert choose("auto", features("torch", "cpu", 4 * high)) == "simt"
    assert choose("auto", features("numpy", "cpu", 4 * high)) == "simt"
    assert choose("framework", features("numpy", "cpu", 1)) == "framework"
    assert choose("simt", features("torch", "cuda", 4 * high)) == "simt"


@pytest.mark.parametrize("op", ["knn", "pairwise_distance"])
@pytest.mark.parametrize("path", ["fast", "SIMT", "", "gemm"])
def test_bad_path_argument(op, path):
    with pytest.raises(ValueError, match=r"path must be one of 'auto', 'simt', 'framework', got "
                                         + repr(path)):
        getattr(reid_fast, op)(np.ones((3, 4), np.float32), np.ones((5, 4), np.float32),
                               *([2] if op == "knn" else []), path=path)


@pytest.mark.parametrize("op", ["knn", "pairwise_distance"])
def test_path_argument_not_a_string(op):
    with pytest.raises(TypeError, match=r"path must be a string, got int 1"):
        getattr(reid_fast, op)(np.ones((3, 4), np.float32), np.ones((5, 4), np.float32),
                               *([2] if op == "knn" else []), path=1)


@pytest.mark.parametrize("op", ["knn", "pairwise_distance"])
def test_bad_environment_variable(monkeypatch, op):
    monkeypatch.setenv(distance_path.PATH_VARIABLE, "turbo")
    with pytest.raises(ValueError, match=r"the environment variable REID_FAST_DISTANCE_PATH must "
                                         r"be one of 'auto', 'simt', 'framework', got 'turbo'"):
        getattr(reid_fast, op)(np.ones((3, 4), np.float32), np.ones((5, 4), np.float32),
                               *([2] if op == "knn" else []))


# --------------------------------------------------------------------------------------
# The native ops' own checks (the second line, for direct reid_fast._C callers)
# --------------------------------------------------------------------------------------


def call_select(dots, x_aux, y_aux, values, indices, k=2, column_offset=0):
    native = knn_module._C
    scratch = np.empty(native.knn_select_workspace_bytes(dots.shape[0], dots.shape[1], k, "cpu"), np.uint8)
    native.knn_select(dots.__dlpack__(), x_aux.__dlpack__(), y_aux.__dlpack__(), values.__dlpack__(),
                      indices.__dlpack__(), None, scratch.__dlpack__(), k, 0, column_offset, 0)


def zeros(*shape, dtype=np.float32):
    return np.zeros(shape, dtype)


@pytest.mark.parametrize(
    "arrays, kwargs, error, message",
    [
        ((zeros(3, 4, dtype=np.float64), zeros(3), zeros(4), zeros(3, 2), zeros(3, 2, dtype=np.int64)),
         {}, TypeError, r"dots must be float32, got float64"),
        ((zeros(3, 4), zeros(2), zeros(4), zeros(3, 2), zeros(3, 2, dtype=np.int64)),
         {}, ValueError, r"x_aux must have shape \(3,\), got \(2,\)"),
        ((zeros(3, 4), zeros(3), zeros(5), zeros(3, 2), zeros(3, 2, dtype=np.int64)),
         {}, ValueError, r"y_aux must have shape \(4,\), got \(5,\)"),
        ((zeros(3, 4), zeros(3), zeros(4), zeros(3, 3), zeros(3, 2, dtype=np.int64)),
         {}, ValueError, r"values must have shape \(3, 2\), got \(3, 3\)"),
        ((zeros(3, 4), zeros(3), zeros(4), zeros(3, 2), zeros(3, 2, dtype=np.int64)),
         {"column_offset": -1}, ValueError, r"column_offset must be >= 0, got -1"),
        ((zeros(3, 4), zeros(3), zeros(4), zeros(3, 0), zeros(3, 0, dtype=np.int64)),
         {"k": 0}, ValueError, r"k must be >= 1, got 0"),
    ],
)
def test_knn_select_binding_checks(arrays, kwargs, error, message):
    with pytest.raises(error, match=message):
        call_select(*arrays, **kwargs)


def test_distance_tile_binding_checks():
    native = distance_module._C
    dots, out = zeros(3, 4), zeros(3, 5)
    with pytest.raises(ValueError, match=r"out must have the rows of dots \(3\) and at least "
                                         r"column_offset \+ its columns \(6\), got shape \(3, 5\)"):
        native.distance_tile(dots.__dlpack__(), zeros(3).__dlpack__(), zeros(4).__dlpack__(),
                             out.__dlpack__(), 0, 2, 0)


def test_row_aux_binding_checks():
    native = distance_module._C
    with pytest.raises(TypeError, match=r"features must be float32, float16 or bfloat16, got int64"):
        native.row_aux(zeros(3, 4, dtype=np.int64).__dlpack__(), zeros(3).__dlpack__(), 0, 0)
    with pytest.raises(ValueError, match=r"metric must be 0..3"):
        native.row_aux(zeros(3, 4).__dlpack__(), zeros(3).__dlpack__(), 7, 0)
