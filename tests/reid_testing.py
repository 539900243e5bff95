"""Helpers shared by the tests: array construction per framework/device/dtype, conversion
of results to NumPy, tolerances, and a tie-aware comparison of k-nearest-neighbour lists.

Imported by the test modules as ``import reid_testing`` (pytest puts tests/ on sys.path,
since tests/ is not a package).
"""

from __future__ import annotations

import importlib
from typing import Any

import numpy as np
import pytest

import reid_fast

try:
    import torch
except ImportError:  # pragma: no cover - torch is a dependency of the package
    torch = None


def cupy_module() -> Any:
    """The cupy module, or None when it cannot be imported."""
    try:
        return importlib.import_module("cupy")
    except Exception:  # ImportError, or a CuPy that fails to find its CUDA libraries
        return None


# --------------------------------------------------------------------------------------
# CUDA gating
# --------------------------------------------------------------------------------------


def cuda_gate(status: dict[str, Any], torch_sees_cuda: bool) -> tuple[str, str]:
    """What a test that needs CUDA does, given reid_fast.cuda_status() and whether torch sees
    a CUDA device: ``("run", "")``; ``("skip", why)`` where there is no device to test on;
    ``("fail", why)`` where torch sees a device but reid_fast cannot use it, so that a
    broken build cannot pass on a GPU machine as a row of clean skips."""
    if torch_sees_cuda and status["usable"]:
        return "run", ""
    if torch_sees_cuda:
        return "fail", f"torch sees a CUDA device, but reid_fast cannot use it: {status['reason']}"
    return "skip", f"no CUDA device to test on (torch sees none; reid_fast: {status['reason']})"


def require_cuda() -> None:
    """Skips or fails the running test as :func:`cuda_gate` says."""
    sees = torch is not None and torch.cuda.is_available()
    action, reason = cuda_gate(reid_fast.cuda_status(), sees)
    if action == "fail":
        pytest.fail(reason, pytrace=False)
    if action == "skip":
        pytest.skip(reason)


# --------------------------------------------------------------------------------------
# Parametrisation over frameworks, devices and dtypes
# --------------------------------------------------------------------------------------

FRAMEWORK_DEVICES = (("numpy", "cpu"), ("torch", "cpu"), ("torch", "cuda"), ("cupy", "cuda"))
DTYPES = ("float32", "float16", "bfloat16")
METRICS = ("euclidean", "sqeuclidean", "cosine", "inner")


def backend_param(framework: str, device: str) -> Any:
    """A pytest.param for (framework, device), marked ``cuda`` / ``cupy`` as needed."""
    marks = []
    if device == "cuda":
        marks.append(pytest.mark.cuda)
    if framework == "cupy":
        marks.append(pytest.mark.cupy)
    return pytest.param((framework, device), id=f"{framework}-{device}", marks=marks)


def backend_params(frameworks: tuple[str, ...] = ("numpy", "torch", "cupy")) -> list[Any]:
    return [backend_param(f, d) for f, d in FRAMEWORK_DEVICES if f in frameworks]


def supports(framework: str, dtype: str) -> bool:
    """bfloat16 exists only in torch."""
    return dtype != "bfloat16" or framework == "torch"


def skip_unsupported(framework: str, dtype: str) -> None:
    if not supports(framework, dtype):
        pytest.skip(f"{framework} has no {dtype}")


# --------------------------------------------------------------------------------------
# Building inputs and reading outputs
# --------------------------------------------------------------------------------------


def make_array(values: np.ndarray, framework: str, device: str, dtype: str) -> Any:
    """``values`` (any real NumPy array) as a ``dtype`` array of ``framework`` on ``device``.

    The conversion rounds to ``dtype``; use :func:`to_float64` on the result to get the
    values the op actually sees.
    """
    values = np.asarray(values)
    if framework == "numpy":
        assert device == "cpu"
        return np.ascontiguousarray(values.astype(dtype))
    if framework == "torch":
        tensor = torch.from_numpy(np.ascontiguousarray(values, dtype=np.float32))
        return tensor.to(device=device, dtype=getattr(torch, dtype))
    if framework == "cupy":
        cupy = cupy_module()
        return cupy.asarray(values.astype(dtype))
    raise ValueError(framework)


def to_numpy(value: Any) -> np.ndarray:
    """A result of any framework as a NumPy array of the same dtype (bf16 -> float32)."""
    if isinstance(value, np.ndarray):
        return value
    if torch is not None and isinstance(value, torch.Tensor):
        value = value.detach().cpu()
        if value.dtype == torch.bfloat16:
            value = value.float()
        return value.numpy()
    cupy = cupy_module()
    if cupy is not None and isinstance(value, cupy.ndarray):
        return cupy.asnumpy(value)
    raise TypeError(f"not an array: {type(value)!r}")


def to_float64(value: Any) -> np.ndarray:
    """The exact values held by an input array (any framework, any float dtype) in float64."""
    if torch is not None and isinstance(value, torch.Tensor):
        return value.detach().to("cpu", torch.float64).numpy()
    return to_numpy(value).astype(np.float64)


def framework_of(value: Any) -> str:
    if isinstance(value, np.ndarray):
        return "numpy"
    if torch is not None and isinstance(value, torch.Tensor):
        return "torch"
    cupy = cupy_module()
    if cupy is not None and isinstance(value, cupy.ndarray):
        return "cupy"
    return type(value).__name__


def device_of(value: Any) -> str:
    """'cpu' or 'cuda:<index>'."""
    framework = framework_of(value)
    if framework == "numpy":
        return "cpu"
    if framework == "torch":
        return str(value.device) if value.device.type == "cpu" else f"cuda:{value.device.index}"
    return f"cuda:{value.device.id}"


def dtype_of(value: Any) -> str:
    name = str(value.dtype)
    return name[len("torch.") :] if name.startswith("torch.") else name


def assert_like(result: Any, like: Any, dtype: str, shape: tuple[int, ...]) -> None:
    """``result`` has ``like``'s framework and device, the given dtype and shape."""
    assert framework_of(result) == framework_of(like), (framework_of(result), framework_of(like))
    assert device_of(result) == device_of(like), (device_of(result), device_of(like))
    assert dtype_of(result) == dtype, (dtype_of(result), dtype)
    assert tuple(int(s) for s in result.shape) == tuple(shape), (tuple(result.shape), shape)


def random_features(rng: np.random.Generator, rows: int, d: int, scale: float = 1.0) -> np.ndarray:
    """(rows, d) float64 features: Gaussian around a random shared offset, like embeddings
    that are not centred (so that inner and cosine are not symmetric around zero)."""
    offset = rng.standard_normal(d) * 0.5
    return (rng.standard_normal((rows, d)) + offset) * scale


LAYOUTS = ("transposed", "strided-columns", "strided-rows", "offset-slice")


def noncontiguous(values: np.ndarray, layout: str, framework: str, device: str, dtype: str) -> Any:
    """An array holding ``values`` (rows, d) whose memory layout is not C-contiguous."""
    rows, d = values.shape
    if layout == "transposed":
        base = make_array(np.ascontiguousarray(values.T), framework, device, dtype)
        array = base.T
    elif layout == "strided-columns":
        wide = np.zeros((rows, 2 * d))
        wide[:, ::2] = values
        array = make_array(wide, framework, device, dtype)[:, ::2]
    elif layout == "strided-rows":
        tall = np.zeros((2 * rows, d))
        tall[::2] = values
        array = make_array(tall, framework, device, dtype)[::2]
    elif layout == "offset-slice":
        padded = np.zeros((rows + 3, d + 5))
        padded[2 : 2 + rows, 3 : 3 + d] = values
        array = make_array(padded, framework, device, dtype)[2 : 2 + rows, 3 : 3 + d]
    else:
        raise ValueError(layout)
    contiguous = array.is_contiguous() if framework == "torch" else array.flags.c_contiguous
    assert not contiguous, f"{layout} {array.shape}: expected a non-contiguous array"
    return array


# --------------------------------------------------------------------------------------
# Tolerances
# --------------------------------------------------------------------------------------

# The op reads the (already rounded) inputs exactly and accumulates in float32; the
# reference sees the same rounded values in float64. What remains is float32 rounding in
# the dot product and in |x|^2 + |y|^2 - 2<x, y>: at most about d * 2^-24 (6e-8) times the
# feature scale for naive summation, i.e. 3e-5 at d = 512 in the worst case and ~1e-6
# typically. 1e-4 of the feature scale is therefore a safe bound that still catches any
# real mistake (a wrong index, a missing term, half-precision accumulation: ~1e-3).
RTOL = 1e-4


def distance_tolerance(
    x64: np.ndarray, y64: np.ndarray, metric: str, reference: np.ndarray, rtol: float = RTOL
) -> np.ndarray:
    """(n, m) absolute tolerance for each distance, relative to the scale of the features.

    - inner:        rtol * |x| |y|
    - sqeuclidean:  rtol * (|x|^2 + |y|^2)   (cancellation in |x|^2 + |y|^2 - 2<x, y>)
    - euclidean:    the sqeuclidean tolerance t pushed through the square root:
                    |sqrt(a) - sqrt(b)| <= min(sqrt(|a - b|), |a - b| / sqrt(b)), so
                    min(sqrt(t), t / reference): tight for far pairs, sqrt(t) near zero
                    (the unavoidable cost of the expansion for near-duplicates).
    - cosine:       rtol (the distance is scale-free).
    """
    xs = np.sum(x64 * x64, axis=1)[:, None]
    ys = np.sum(y64 * y64, axis=1)[None, :]
    shape = (x64.shape[0], y64.shape[0])
    if metric == "inner":
        tol = rtol * np.sqrt(xs) * np.sqrt(ys)
    elif metric == "sqeuclidean":
        tol = rtol * (xs + ys)
    elif metric == "euclidean":
        squared = rtol * (xs + ys)
        with np.errstate(divide="ignore", invalid="ignore"):
            through_sqrt = np.where(reference > 0, squared / np.where(reference > 0, reference, 1), np.inf)
        tol = np.minimum(np.sqrt(squared), through_sqrt)
    elif metric == "cosine":
        tol = np.full(shape, rtol)
    else:
        raise ValueError(metric)
    # A floor far below any real error, so that an all-zero input still compares exactly-ish.
    return np.broadcast_to(tol, shape) + 1e-30


def assert_distances_close(got: np.ndarray, reference: np.ndarray, tol: np.ndarray, what: str = "") -> None:
    got = np.asarray(got, dtype=np.float64)
    assert got.shape == reference.shape, (got.shape, reference.shape)
    assert np.all(np.isfinite(got)), f"{what}: non-finite distances"
    error = np.abs(got - reference)
    bad = error > tol
    if bad.any():
        i, j = np.argwhere(bad)[0]
        raise AssertionError(
            f"{what}: {int(bad.sum())} of {bad.size} distances out of tolerance; first at "
            f"({i}, {j}): got {got[i, j]!r}, reference {reference[i, j]!r}, |error| "
            f"{error[i, j]:.3g} > tol {tol[i, j]:.3g}; max error/tol {np.max(error / tol):.3g}"
        )


# --------------------------------------------------------------------------------------
# Tie-aware kNN comparison
# --------------------------------------------------------------------------------------


def _fail(row: int, message: str, values: np.ndarray, indices: np.ndarray) -> None:
    raise AssertionError(
        f"knn row {row}: {message}\n  values  {values[row].tolist()}\n  indices {indices[row].tolist()}"
    )


def assert_valid_knn(
    values: np.ndarray, indices: np.ndarray, reference: np.ndarray, tol: np.ndarray, k: int
) -> None:
    """Check a kNN result against the reference distance matrix, allowing only the
    differences that rounding within ``tol`` can explain.

    Args:
        values: (n, k) float32 distances returned by the op.
        indices: (n, k) int64 indices returned by the op.
        reference: (n, m) float64 reference distances.
        tol: (n, m) absolute tolerance of each computed distance.

    Checks, for every row:
      1. every index is in [0, m) and none is repeated;
      2. the values are non-decreasing, and equal values come in increasing index order
         (ties by the lower index, on the values the op computed);
      3. each value is the reference distance of its own index, within that index's tol;
      4. the values are the reference's k smallest distances in order (the k-th order
         statistics), within the row's largest tol;
      5. it is a valid top-k: every excluded item is at least as far as every included
         one, up to their tolerances (ref_e + tol_e >= ref_j - tol_j).
    So the returned set and order may differ from the reference's only among items whose
    reference distances are within tolerance of each other.
    """
    n, m = reference.shape
    values = np.asarray(values)
    indices = np.asarray(indices)
    assert values.shape == (n, k), (values.shape, (n, k))
    assert indices.shape == (n, k), (indices.shape, (n, k))
    assert values.dtype == np.float32, values.dtype
    assert indices.dtype == np.int64, indices.dtype
    if n == 0:
        return
    v = values.astype(np.float64)

    in_range = (indices >= 0) & (indices < m)
    if not in_range.all():
        row = int(np.argwhere(~in_range.all(axis=1))[0][0])
        _fail(row, f"index out of [0, {m})", values, indices)
    repeated = np.any(np.diff(np.sort(indices, axis=1), axis=1) == 0, axis=1)
    if repeated.any():
        _fail(int(np.argmax(repeated)), "an index is repeated", values, indices)

    if not np.all(np.isfinite(v)):
        _fail(int(np.argmax(~np.isfinite(v).all(axis=1))), "non-finite value", values, indices)
    decreasing = np.any(np.diff(v, axis=1) < 0, axis=1)
    if decreasing.any():
        _fail(int(np.argmax(decreasing)), "values are not in ascending order", values, indices)
    tie = v[:, 1:] == v[:, :-1]
    misordered = np.any(tie & (indices[:, 1:] < indices[:, :-1]), axis=1)
    if misordered.any():
        _fail(int(np.argmax(misordered)), "equal values not in increasing index order", values, indices)

    ref_sel = np.take_along_axis(reference, indices, axis=1)
    tol_sel = np.take_along_axis(tol, indices, axis=1)
    wrong_value = np.abs(v - ref_sel) > tol_sel
    if wrong_value.any():
        row, col = np.argwhere(wrong_value)[0]
        _fail(
            int(row),
            f"value at position {col} is {v[row, col]!r} but the reference distance of index "
            f"{indices[row, col]} is {ref_sel[row, col]!r} (tol {tol_sel[row, col]:.3g})",
            values,
            indices,
        )

    row_tol = tol.max(axis=1, keepdims=True)
    ref_sorted = np.sort(reference, axis=1)[:, :k]
    wrong_order = np.abs(v - ref_sorted) > row_tol
    if wrong_order.any():
        row, col = np.argwhere(wrong_order)[0]
        _fail(
            int(row),
            f"value at position {col} is {v[row, col]!r}, the reference's {col + 1}-th smallest "
            f"distance is {ref_sorted[row, col]!r} (tol {row_tol[row, 0]:.3g})",
            values,
            indices,
        )

    included = np.zeros((n, m), dtype=bool)
    np.put_along_axis(included, indices, True, axis=1)
    farthest_included = np.max(ref_sel - tol_sel, axis=1)
    nearest_excluded = np.min(np.where(included, np.inf, reference + tol), axis=1)
    skipped = nearest_excluded < farthest_included
    if skipped.any():
        row = int(np.argmax(skipped))
        excluded_rank = np.where(included[row], np.inf, reference[row] + tol[row])
        e = int(np.argmin(excluded_rank))
        _fail(
            row,
            f"not a valid top-{k}: index {e} (reference distance {reference[row, e]!r}) was "
            f"left out although it is nearer than an included one "
            f"(reference {ref_sel[row].max()!r})",
            values,
            indices,
        )


def assert_same_knn_up_to_ties(
    indices: np.ndarray, other: np.ndarray, reference: np.ndarray, tol: np.ndarray
) -> None:
    """Two (n, k) kNN index lists of the same queries (two implementations) hold the same
    index at every position the reference leaves no doubt about: where the reference's j-th
    smallest distance of the row is more than twice the row's largest tolerance away from the
    (j - 1)-th and the (j + 1)-th (the (k + 1)-th included). Elsewhere rounding within ``tol``
    may order near-ties either way (:func:`assert_valid_knn` checks each list on its own).

    Args:
        indices, other: (n, k) int64 index lists.
        reference: (n, m) float64 reference distances.
        tol: (n, m) absolute tolerance of each computed distance.
    """
    indices, other = np.asarray(indices), np.asarray(other)
    assert indices.shape == other.shape, (indices.shape, other.shape)
    n, k = indices.shape
    if n == 0:
        return
    ordered = np.sort(reference, axis=1)
    edges = np.full((n, 1), np.inf)
    padded = np.concatenate([-edges, ordered, edges], axis=1)  # position j of a row is j + 1
    separation = 2 * tol.max(axis=1, keepdims=True)
    centre = padded[:, 1:k + 1]
    clear = (centre - padded[:, :k] > separation) & (padded[:, 2:k + 2] - centre > separation)
    differ = clear & (indices != other)
    if differ.any():
        row, col = (int(v) for v in np.argwhere(differ)[0])
        raise AssertionError(
            f"knn row {row}: position {col} holds index {indices[row, col]} in one list and "
            f"{other[row, col]} in the other, although the reference distance there "
            f"({ordered[row, col]!r}) is clear of its neighbours\n  {indices[row].tolist()}\n  "
            f"{other[row].tolist()}"
        )


def assert_row_max_close(row_max: np.ndarray, reference: np.ndarray, tol: np.ndarray) -> None:
    """Each row's maximum distance within the row's largest tolerance (a max of values each
    within tol of the reference is within max(tol) of the reference max)."""
    n = reference.shape[0]
    row_max = np.asarray(row_max)
    assert row_max.shape == (n,), row_max.shape
    assert row_max.dtype == np.float32, row_max.dtype
    if n == 0:
        return
    expected = reference.max(axis=1)
    error = np.abs(row_max.astype(np.float64) - expected)
    bound = tol.max(axis=1)
    bad = error > bound
    if bad.any():
        i = int(np.argmax(bad))
        raise AssertionError(f"row_max[{i}] = {row_max[i]!r}, reference {expected[i]!r}, tol {bound[i]:.3g}")


# --------------------------------------------------------------------------------------
# Checks run in a child process with another OpenMP thread count (tests/native/test_threads.py)
# --------------------------------------------------------------------------------------


def run_thread_checks() -> None:
    """kNN checks whose work split depends on the thread count (the CPU kernels split the
    gallery when there are fewer query blocks than threads, and merge the partial lists).
    Raises AssertionError on the first failure."""
    from reid_fast import reference

    rng = np.random.default_rng(1234)
    for metric in METRICS:
        # Identical gallery rows: exactly 0..k-1, from every split.
        for n, m, d, k in ((1, 5000, 32, 100), (3, 4096, 8, 4096), (2, 700, 5, 9)):
            x = random_features(rng, n, d).astype(np.float32)
            y = np.tile(random_features(rng, 1, d).astype(np.float32), (m, 1))
            values, indices, row_max = reid_fast.knn(x, y, k, metric, return_row_max=True)
            np.testing.assert_array_equal(
                indices, np.broadcast_to(np.arange(k), (n, k)), err_msg=f"{metric} {n, m, d, k}"
            )
            np.testing.assert_array_equal(row_max, values[:, 0])
        # Random features against the reference, tie-aware.
        for n, m, d, k in ((1, 5000, 64, 100), (5, 3001, 17, 3001), (300, 257, 9, 31)):
            x = random_features(rng, n, d).astype(np.float32)
            y = random_features(rng, m, d).astype(np.float32)
            values, indices, row_max = reid_fast.knn(x, y, k, metric, return_row_max=True)
            x64, y64 = x.astype(np.float64), y.astype(np.float64)
            expected = reference.pairwise_distance(x64, y64, metric)
            tol = distance_tolerance(x64, y64, metric, expected)
            assert_valid_knn(values, indices, expected, tol, k)
            assert_row_max_close(row_max, expected, tol)
    # Integer features: exact ties everywhere, the stable order exactly.
    for metric in ("sqeuclidean", "inner"):
        for n, m, d, k in ((2, 5000, 4, 50), (1, 3000, 3, 3000), (40, 333, 5, 20)):
            x = rng.integers(-2, 3, size=(n, d)).astype(np.float32)
            y = rng.integers(-2, 3, size=(m, d)).astype(np.float32)
            values, indices, row_max = reid_fast.knn(x, y, k, metric, return_row_max=True)
            ref_values, ref_indices, ref_max = reference.knn(x, y, k, metric, return_row_max=True)
            np.testing.assert_array_equal(indices, ref_indices, err_msg=f"{metric} {n, m, d, k}")
            np.testing.assert_array_equal(values, ref_values)
            np.testing.assert_array_equal(row_max, ref_max)
    # pairwise_distance is split by threads too.
    x = random_features(rng, 3, 40).astype(np.float32)
    y = random_features(rng, 5000, 40).astype(np.float32)
    for metric in METRICS:
        expected = reference.pairwise_distance(x, y, metric)
        tol = distance_tolerance(x.astype(np.float64), y.astype(np.float64), metric, expected)
        assert_distances_close(reid_fast.pairwise_distance(x, y, metric), expected, tol, metric)


def run_dtype_checks() -> None:
    """pairwise_distance and knn on float16 and bfloat16 torch inputs against the
    reference on the rounded values (the packing that converts them is compiled per
    instruction set)."""
    from reid_fast import reference

    rng = np.random.default_rng(99)
    for dtype in ("float16", "bfloat16"):
        for metric in METRICS:
            x = make_array(random_features(rng, 29, 70), "torch", "cpu", dtype)
            y = make_array(random_features(rng, 613, 70), "torch", "cpu", dtype)
            x64, y64 = to_float64(x), to_float64(y)
            expected = reference.pairwise_distance(x64, y64, metric)
            tol = distance_tolerance(x64, y64, metric, expected)
            assert_distances_close(to_numpy(reid_fast.pairwise_distance(x, y, metric)), expected, tol,
                                   f"{dtype} {metric}")
            values, indices = reid_fast.knn(x, y, 40, metric)
            assert_valid_knn(to_numpy(values), to_numpy(indices), expected, tol, 40)


# --------------------------------------------------------------------------------------
# Re-ranking, Jaccard distance and topk_rows (tests/ops/test_rerank.py, test_jaccard.py,
# test_topk_rows.py)
# --------------------------------------------------------------------------------------

# Re-ranked distances and Jaccard distances lie in [0, 1] (Dn is normalised by the row
# maximum, J is a ratio), so one absolute tolerance serves every case. The op reads the
# same rounded inputs as the float64 reference; what differs is float32 rounding in the
# distances (~1e-6 relative), in exp(-Dn), in the row sums of V and V' and in the sums of
# minima: a few 1e-7 each, ~1e-6 together. 1e-4 (docs/design.md 7) is two orders of magnitude
# above that and far below any real mistake (a missing or extra member of R*(i) moves
# distances by ~1e-2).
RERANK_ATOL = 1e-4


def clustered_features(
    rng: np.random.Generator, rows: int, d: int, identities: int, noise: float = 0.35
) -> tuple[np.ndarray, np.ndarray]:
    """(rows, d) float64 features of a few identities: each row is its identity's centre
    (unit-norm Gaussian direction) plus Gaussian noise of ``noise`` per unit norm, the
    realistic re-ranking case (several noisy samples per identity). Also returns the (rows,)
    int64 identity labels."""
    centres = rng.standard_normal((identities, d))
    centres /= np.linalg.norm(centres, axis=1, keepdims=True)
    labels = rng.integers(0, identities, size=rows)
    features = centres[labels] + noise / np.sqrt(d) * rng.standard_normal((rows, d))
    return features, labels


def boundary_gaps_ok(Dn: np.ndarray, positions: tuple[int, ...], min_gap: float = 2e-6) -> bool:
    """Whether every row of the normalised distances Dn (N, N) is free of near-ties at the
    given sorted positions: for each p, the (p+1)-th and (p+2)-th smallest values are either
    exactly equal (an exact tie, which the op must break by index like the reference) or at
    least ``min_gap`` apart.

    Re-ranking is discontinuous in its input: which items make the first k + 1 of a row
    (k = k1, h; and the first k2) decides the reciprocal sets. A float32 implementation can
    legitimately order two items whose float64 distances differ by ~1e-7 the other way (the
    float32 rounding of |x|^2 + |y|^2 - 2 <x, y> relative to the row maximum), and then its
    result differs from the reference by far more than any tolerance. Tests draw inputs
    without such near-ties (min_gap = 2e-6, 20x that rounding; a larger gap would reject
    most draws of a few hundred points), so that any disagreement is a real mistake.
    """
    s = np.sort(Dn, axis=1)
    n = s.shape[1]
    for p in positions:
        if p < 0 or p + 1 >= n:
            continue
        gap = s[:, p + 1] - s[:, p]
        if np.any((gap != 0) & (gap < min_gap)):
            return False
    return True


def rerank_boundaries(k1: int, k2: int) -> tuple[int, ...]:
    """Sorted positions whose near-ties matter for re-ranking (see boundary_gaps_ok): the
    last of rank_k1 (position k1), of rank_h (position h) and of the first k2 (k2 - 1)."""
    h = int(np.around(k1 / 2))
    return (k1, h, k2 - 1)


def assert_rerank_close(
    got: Any, expected: np.ndarray, atol: float = RERANK_ATOL, what: str = "", k: int = 10
) -> None:
    """A re-ranked (q, g) float32 result against the float64 reference.

    1. Same shape, float32, finite, every value within ``atol`` of the reference.
    2. Tie-aware rank lists: each row sorted by the op's values (stable, so equal values by
       the lower index) must be the reference's order except among items whose reference
       values differ by less than ``atol``: reading the reference values in the op's
       order, no item may come after one whose reference value is more than ``atol``
       larger.
    3. The op's top-k of each row is a valid reference top-k within ``atol``
       (assert_valid_knn: same order statistics, no nearer item left out).
    """
    got = to_numpy(got)
    expected = np.asarray(expected, dtype=np.float64)
    assert got.shape == expected.shape, (got.shape, expected.shape)
    assert got.dtype == np.float32, got.dtype
    tol = np.full(expected.shape, atol)
    assert_distances_close(got, expected, tol, what)
    n, m = expected.shape
    if n == 0 or m == 0:
        return
    order = np.argsort(got, axis=1, kind="stable")
    in_our_order = np.take_along_axis(expected, order, axis=1)
    overtaken = np.maximum.accumulate(in_our_order, axis=1) - in_our_order
    bad = overtaken > atol
    if bad.any():
        row, position = np.argwhere(bad)[0]
        earlier = int(np.argmax(in_our_order[row, : position + 1]))
        raise AssertionError(
            f"{what}: row {row}: gallery item {order[row, position]} (reference "
            f"{in_our_order[row, position]!r}) is ranked after item {order[row, earlier]} "
            f"(reference {in_our_order[row, earlier]!r}), more than {atol} apart"
        )
    k = min(k, m)
    values = np.take_along_axis(got, order[:, :k], axis=1)
    assert_valid_knn(values, order[:, :k], expected, tol, k)


def sparse_rows(
    dense: np.ndarray,
    framework: str = "numpy",
    device: str = "cpu",
    explicit_zeros: np.ndarray | None = None,
) -> Any:
    """reid_fast.SparseRows (CSR) holding the non-zero entries of ``dense`` (rows, L):
    indptr int64 (rows + 1,), indices int64 ascending within each row, values float32.
    ``explicit_zeros`` (bool, same shape) marks zero entries to store anyway."""
    dense = np.asarray(dense, dtype=np.float32)
    rows, columns = dense.shape
    stored = dense != 0
    if explicit_zeros is not None:
        stored = stored | np.asarray(explicit_zeros, dtype=bool)
    indptr = np.zeros(rows + 1, dtype=np.int64)
    indptr[1:] = np.cumsum(stored.sum(axis=1))
    r, c = np.nonzero(stored)  # row-major: ascending columns within each row
    indices = c.astype(np.int64)
    values = dense[r, c].astype(np.float32)
    return reid_fast.SparseRows(
        *(_on(a, framework, device) for a in (indptr, indices, values)), columns
    )


def _on(array: np.ndarray, framework: str, device: str) -> Any:
    """``array`` (any dtype, kept) as an array of ``framework`` on ``device``."""
    if framework == "numpy":
        return np.ascontiguousarray(array)
    if framework == "torch":
        return torch.from_numpy(np.ascontiguousarray(array)).to(device)
    if framework == "cupy":
        return cupy_module().asarray(array)
    raise ValueError(framework)


def random_rows(
    rng: np.random.Generator, rows: int, columns: int, density: float, empty_rows: float = 0.0
) -> np.ndarray:
    """(rows, columns) float32 non-negative rows with about ``density`` non-zeros, a
    fraction ``empty_rows`` of them all zero."""
    values = rng.random((rows, columns)).astype(np.float32) * 3
    values *= rng.random((rows, columns)) < density
    if rows and empty_rows:
        values[rng.random(rows) < empty_rows] = 0
    return values


def dense_jaccard(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """The Jaccard distance straight from its definition, by broadcasting (small inputs
    only): 1 - sum_l min(a_il, b_jl) / sum_l max(a_il, b_jl), 1 where the sum of maxima is 0."""
    a = np.asarray(a, dtype=np.float64)[:, None, :]
    b = np.asarray(b, dtype=np.float64)[None, :, :]
    minima = np.minimum(a, b).sum(axis=2)
    maxima = np.maximum(a, b).sum(axis=2)
    out = np.ones(minima.shape)
    np.divide(minima, maxima, out=out, where=maxima > 0)
    return np.where(maxima > 0, 1.0 - out, 1.0)
