"""Every CUDA kernel of reid_fast, run through the CUDA emulator (tests/emulated_cuda.py, whose
docstring says what the emulation checks and what it cannot), on small and odd sizes:
n = 1, sizes that are not tile multiples, d = 1, k = m, k1 + 1 = N, empty Jaccard problems,
several gallery splits, float16 / bfloat16 features, a device other than the current one, and
the framework-GEMM path's kernels over column tiles of dot products computed on the host
(every warp queue length of knn_select, and k > 1024).

Each op's emulated CUDA result is compared
- bit for bit with a NumPy model of the kernels' float32 arithmetic order (distances: a
  sequential dot product over the features and a butterfly reduction of 32 lane sums for
  the row norms, every product and sum rounded to float32, as the emulation compiles them
  without FMA contraction), or with the CPU implementation where both compute in the same
  order (selection, sparse set logic, sums in ascending column order);
- within the float32 tolerances of the other tests with the CPU implementation and the
  float64 NumPy references where the orders differ.
"""

from __future__ import annotations

import numpy as np
import pytest

import emulated_cuda as emu
import reid_fast
import reid_testing as rt
from reid_fast import reference
from reid_fast._native import _C
from reid_fast.ops.rerank import expanded_neighbourhoods
from reid_fast.reference.rerank import expanded_reciprocal_sets

pytestmark = pytest.mark.emulated

METRIC_CODES = {"euclidean": 0, "sqeuclidean": 1, "cosine": 2, "inner": 3}
SCHEDULES = ["forward", "reverse", "random:7"]


@pytest.fixture(scope="module")
def driver():
    return emu.build_driver()


# --------------------------------------------------------------------------------------
# Inputs and the model of the kernels' float32 arithmetic
# --------------------------------------------------------------------------------------


def as_dtype(values: np.ndarray, dtype: str):
    """``(float32 values as the op sees them, emulator input)`` for float32 ``values`` given to
    the op as ``dtype``: float32 / float16 NumPy, or ("bfloat16", bits)."""
    values = np.ascontiguousarray(values, dtype=np.float32)
    if dtype == "float16":
        half = values.astype(np.float16)
        return half.astype(np.float32), half
    if dtype == "bfloat16":
        bits = (values.view(np.uint32) >> 16).astype(np.uint16)  # truncated: any bf16 value will do
        return (bits.astype(np.uint32) << 16).view(np.float32), ("bfloat16", bits)
    return values, values


def features(rng: np.random.Generator, rows: int, d: int, dtype: str, duplicates: int = 0):
    """(rows, d) Gaussian features through :func:`as_dtype`; the first ``duplicates`` rows
    repeat the last ones, so that distances tie exactly."""
    values = rng.standard_normal((rows, d)).astype(np.float32)
    if duplicates:
        values[:duplicates] = values[rows - duplicates:]
    return as_dtype(values, dtype)


def model_row_aux(values: np.ndarray, metric: str) -> np.ndarray:
    """row_aux_kernel in float32: lane l sums the squares of features l, l + 32, ... in order,
    then the 32 lane sums are combined by the xor butterfly (offsets 16, 8, 4, 2, 1)."""
    rows, d = values.shape
    lanes = np.zeros((rows, 32), np.float32)
    for f in range(d):
        lanes[:, f % 32] += values[:, f] * values[:, f]
    for offset in (16, 8, 4, 2, 1):
        lanes = lanes + lanes[:, np.arange(32) ^ offset]
    sums = lanes[:, 0]
    if metric in ("euclidean", "sqeuclidean"):
        return sums
    if metric == "cosine":
        return np.float32(1) / np.maximum(np.sqrt(sums), np.float32(1e-12))
    return np.zeros(rows, np.float32)


def model_distances(x: np.ndarray, y: np.ndarray, metric: str) -> np.ndarray:
    """(n, m) float32 distances in the CUDA kernels' order: tile_dot accumulates the products
    feature by feature, then finalize_distance combines them with the row terms."""
    dot = np.zeros((x.shape[0], y.shape[0]), np.float32)
    for f in range(x.shape[1]):
        dot += x[:, f, None] * y[None, :, f]
    return model_finalize(dot, model_row_aux(x, metric), model_row_aux(y, metric), metric)


def model_finalize(dot: np.ndarray, x_aux: np.ndarray, y_aux: np.ndarray, metric: str) -> np.ndarray:
    """finalize_distance in float32: (n, m) distances from dot products (n, m) and the row
    terms x_aux (n,), y_aux (m,)."""
    xa = x_aux[:, None]
    ya = y_aux[None, :]
    if metric in ("euclidean", "sqeuclidean"):
        squared = np.maximum((xa + ya) - np.float32(2) * dot, np.float32(0))
        return np.sqrt(squared) if metric == "euclidean" else squared
    if metric == "cosine":
        return np.float32(1) - dot * xa * ya
    return -dot


def model_topk(distances: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """The k smallest of each float32 row, ascending, ties by the lower index."""
    order = np.ascontiguousarray(reference.rank_rows(distances)[:, :k])
    return np.take_along_axis(distances, order, axis=1), order


# --------------------------------------------------------------------------------------
# pairwise_distance and knn
# --------------------------------------------------------------------------------------

PAIRWISE_SHAPES = [(1, 1, 1), (1, 64, 16), (3, 200, 1), (70, 130, 17), (65, 257, 33), (128, 64, 5)]


@pytest.mark.parametrize("dtype", ["float32", "float16", "bfloat16"])
@pytest.mark.parametrize("metric", list(METRIC_CODES))
def test_pairwise_distance(driver, rng, metric, dtype):
    inputs = [(features(rng, n, d, dtype), features(rng, m, d, dtype)) for n, m, d in PAIRWISE_SHAPES]
    cases = [emu.Case("pairwise_distance", {"x": x_in, "y": y_in}, {"metric": METRIC_CODES[metric]})
             for (_, x_in), (_, y_in) in inputs]
    for ((x, _), (y, _)), result in zip(inputs, emu.run_cases(cases, driver)):
        got = result["out"]
        np.testing.assert_array_equal(got, model_distances(x, y, metric))
        x64, y64 = x.astype(np.float64), y.astype(np.float64)
        expected = reference.pairwise_distance(x64, y64, metric)
        tol = rt.distance_tolerance(x64, y64, metric, expected)
        rt.assert_distances_close(got, expected, tol, f"emulated CUDA {metric} {dtype}")
        cpu = reid_fast.pairwise_distance(x, y, metric)
        rt.assert_distances_close(got, cpu.astype(np.float64), 2 * tol, "emulated CUDA vs CPU")
        assert result.launches == {"row_aux_kernel": 2, "pairwise_kernel": 1}


# (n, m, d, k, multiprocessors, merge launches): k = m, n = 1, d = 1, and gallery splits
# (S = 8 on a 4-multiprocessor device: two blocks per multiprocessor for fewer than 64 queries).
KNN_CASES = [
    (1, 1, 1, 1, 132, 0), (1, 70, 3, 70, 132, 0), (70, 130, 17, 5, 132, 0),
    (65, 64, 2, 64, 132, 0), (5, 4500, 8, 10, 4, 1), (3, 9000, 4, 64, 4, 1),
]

# Fewer than 64 queries: the gallery is split into two blocks per multiprocessor, each of at
# least 128 and k columns, merged in one level up to 64 splits and in two above (groups of 64).
# Every n of 1 .. 63 on 700 columns (S = 5; a single block before the small-query path), then on
# a 132-multiprocessor device S = 64 (78 wanted), S = 128 and S = 192 (two-level merges of 2 and
# 3 groups), and S = 16 limited by S k <= m.
SMALL_QUERY_KNN_CASES = [(n, 700, 3, 7, 132, 1) for n in range(1, 64)] + [
    (1, 10000, 2, 5, 132, 1), (63, 16500, 2, 21, 132, 2), (2, 25000, 2, 3, 132, 2),
    (7, 2000, 3, 125, 132, 1),
]


def check_knn(driver, rng, metric: str, dtype: str, specs=KNN_CASES) -> None:
    """knn on the cases of ``specs`` (galleries with exact duplicates, so distances tie): bit
    for bit with the model, a valid top-k of the float64 reference, close to the CPU op, with
    the number of merge launches the case names."""
    cases, models = [], []
    for n, m, d, k, sms, _ in specs:
        (x, x_in), (y, y_in) = features(rng, n, d, dtype), features(rng, m, d, dtype, duplicates=m // 3)
        cases.append(emu.Case("knn", {"x": x_in, "y": y_in},
                              {"k": k, "metric": METRIC_CODES[metric], "row_max": int(n % 2)},
                              multiprocessors=sms))
        models.append((x, y, k))
    results = emu.run_cases(cases, driver)
    for (x, y, k), case, result, spec in zip(models, cases, results, specs):
        distances = model_distances(x, y, metric)
        values, indices = model_topk(distances, k)
        np.testing.assert_array_equal(result["values"], values)
        np.testing.assert_array_equal(result["indices"], indices)
        if case.params["row_max"]:
            np.testing.assert_array_equal(result["row_max"], distances.max(axis=1))
        x64, y64 = x.astype(np.float64), y.astype(np.float64)
        expected = reference.pairwise_distance(x64, y64, metric)
        rt.assert_valid_knn(result["values"], result["indices"], expected,
                            rt.distance_tolerance(x64, y64, metric, expected), k)
        cpu_values, _ = reid_fast.knn(x, y, k, metric)
        np.testing.assert_allclose(result["values"], cpu_values, rtol=1e-5, atol=1e-5)
        assert result.launches.get("merge_partial_topk_kernel", 0) == spec[-1], result.launches


@pytest.mark.parametrize("dtype", ["float32", "float16", "bfloat16"])
@pytest.mark.parametrize("metric", list(METRIC_CODES))
def test_knn(driver, rng, metric, dtype):
    check_knn(driver, rng, metric, dtype)


@pytest.mark.parametrize("metric, dtype", [("sqeuclidean", "float32"), ("cosine", "float16")])
def test_knn_few_queries(driver, rng, metric, dtype):
    check_knn(driver, rng, metric, dtype, SMALL_QUERY_KNN_CASES)


def test_knn_runs_on_the_arrays_device(driver, rng):
    """Arrays on device 1 while device 0 is current: the launcher's device guard switches to
    device 1 for every launch (the emulator fails a launch on the wrong device) and restores
    device 0 afterwards (the driver fails otherwise)."""
    (x, x_in), (y, y_in) = features(rng, 5, 8, "float32"), features(rng, 4500, 8, "float32")
    case = emu.Case("knn", {"x": x_in, "y": y_in}, {"k": 7, "metric": 1, "row_max": 1},
                    device=1, devices=2, multiprocessors=4)
    result = emu.run_case(case, driver)
    values, indices = model_topk(model_distances(x, y, "sqeuclidean"), 7)
    np.testing.assert_array_equal(result["indices"], indices)
    np.testing.assert_array_equal(result["values"], values)


# --------------------------------------------------------------------------------------
# The framework-GEMM path of knn and pairwise_distance: row_aux, knn_select, distance_tile
# --------------------------------------------------------------------------------------

# (n, m, k, tile columns): n = 1, k = 1, k = m, every warp queue length (32 .. 1024) reached
# through k, tiles narrower than k, a tile of one column, and k > 1024 (the two-pass
# selection: its first tile, then merges).
SELECT_CASES = [
    (1, 1, 1, 1), (5, 70, 1, 32), (4, 100, 100, 33), (3, 130, 33, 64), (6, 300, 64, 100),
    (2, 500, 65, 128), (3, 700, 200, 300), (2, 1100, 513, 400), (2, 2100, 1024, 700),
    (1, 2600, 1025, 900), (2, 3000, 2000, 1100),
]


def dot_problem(rng: np.random.Generator, n: int, m: int, metric: str, d: int = 24):
    """x (n, d) and y (m, d) float32 features (y with exact duplicates, so distances tie),
    their float32 dot products as the host's GEMM gives them (the framework's role), and the
    metric's row terms x_aux (n,), y_aux (m,)."""
    x, _ = features(rng, n, d, "float32")
    y, _ = features(rng, m, d, "float32", duplicates=m // 3)
    aux = [np.ascontiguousarray(model_row_aux(f, metric)) for f in (x, y)]
    return x, y, np.matmul(x, y.T), *aux


def column_tiles(m: int, tile: int) -> list[slice]:
    return [slice(c0, min(m, c0 + tile)) for c0 in range(0, m, tile)]


def cpu_knn_select(dots: np.ndarray, x_aux: np.ndarray, y_aux: np.ndarray, k: int, metric: str,
                   tile: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The CPU twin of knn_select (reid_fast._C on NumPy arrays) over the same column tiles:
    (values, indices, row_max)."""
    n, m = dots.shape
    values, indices = np.empty((n, k), np.float32), np.empty((n, k), np.int64)
    row_max = np.empty(n, np.float32)
    scratch = np.empty(_C.knn_select_workspace_bytes(n, tile, k, "cpu"), np.uint8)
    for columns in column_tiles(m, tile):
        arrays = (np.ascontiguousarray(dots[:, columns]), x_aux, np.ascontiguousarray(y_aux[columns]),
                  values, indices, row_max, scratch)
        _C.knn_select(*(a.__dlpack__() for a in arrays), k, METRIC_CODES[metric], columns.start, 0)
    return values, indices, row_max


def select_case(dots, x_aux, y_aux, k: int, metric: str, tile: int) -> emu.Case:
    return emu.Case("knn_select", {"dots": dots, "x_aux": x_aux, "y_aux": y_aux},
                    {"k": k, "metric": METRIC_CODES[metric], "tile": tile, "row_max": 1})


def select_launches(m: int, k: int, tile: int) -> dict[str, int]:
    """The kernels knn_select launches over the column tiles of m: the warp-queue selection up
    to k = 1024, else the two-pass selection (a merge from the second tile on)."""
    tiles = len(column_tiles(m, tile))
    if k <= 1024:
        return {"warp_select_kernel": tiles}
    return {"heap_select_kernel": tiles, **({"merge_partial_topk_kernel": tiles - 1} if tiles > 1 else {})}


@pytest.mark.parametrize("metric", list(METRIC_CODES))
def test_knn_select(driver, rng, metric):
    """knn_select over column tiles of host-computed dot products, on SELECT_CASES: bit for
    bit the k smallest of the model's distances (ties by the lower index) and the CPU twin's
    lists, and a valid top-k of the float64 reference."""
    problems = [(dot_problem(rng, n, m, metric), k, tile) for n, m, k, tile in SELECT_CASES]
    cases = [select_case(dots, xa, ya, k, metric, tile) for (_, _, dots, xa, ya), k, tile in problems]
    for ((x, y, dots, xa, ya), k, tile), result in zip(problems, emu.run_cases(cases, driver)):
        distances = model_finalize(dots, xa, ya, metric)
        values, indices = model_topk(distances, k)
        np.testing.assert_array_equal(result["values"], values)
        np.testing.assert_array_equal(result["indices"], indices)
        np.testing.assert_array_equal(result["row_max"], distances.max(axis=1))
        for got, twin in zip((result["values"], result["indices"], result["row_max"]),
                             cpu_knn_select(dots, xa, ya, k, metric, tile)):
            np.testing.assert_array_equal(got, twin)
        x64, y64 = x.astype(np.float64), y.astype(np.float64)
        expected = reference.pairwise_distance(x64, y64, metric)
        rt.assert_valid_knn(result["values"], result["indices"], expected,
                            rt.distance_tolerance(x64, y64, metric, expected), k)
        assert result.launches == select_launches(dots.shape[1], k, tile)


@pytest.mark.parametrize("schedule", SCHEDULES[1:])
def test_knn_select_schedules(driver, rng, schedule):
    """The warp-synchronous selection does not depend on the order the lanes run in: several
    merges per tile (k = 64, 256) and the two-pass selection, under other schedules."""
    specs = [(3, 900, 64, 300), (2, 1000, 256, 450), (1, 2600, 1025, 900)]
    problems = [(dot_problem(rng, n, m, "euclidean"), k, tile) for n, m, k, tile in specs]
    cases = [select_case(dots, xa, ya, k, "euclidean", tile) for (_, _, dots, xa, ya), k, tile in problems]
    for ((_, _, dots, xa, ya), k, _), result in zip(problems, emu.run_cases(cases, driver, schedule)):
        values, indices = model_topk(model_finalize(dots, xa, ya, "euclidean"), k)
        np.testing.assert_array_equal(result["values"], values)
        np.testing.assert_array_equal(result["indices"], indices)


@pytest.mark.parametrize("metric", list(METRIC_CODES))
def test_distance_tile(driver, rng, metric):
    """distance_tile over column tiles: every column block of out written, bit for bit the
    model's distances and the CPU twin's, within tolerance of the float64 reference."""
    specs = [(1, 1, 1), (5, 70, 32), (33, 257, 100), (7, 1000, 1000)]
    problems = [(dot_problem(rng, n, m, metric), tile) for n, m, tile in specs]
    cases = [emu.Case("distance_tile", {"dots": dots, "x_aux": xa, "y_aux": ya},
                      {"metric": METRIC_CODES[metric], "tile": tile})
             for (_, _, dots, xa, ya), tile in problems]
    for ((x, y, dots, xa, ya), tile), result in zip(problems, emu.run_cases(cases, driver)):
        got = result["out"]
        np.testing.assert_array_equal(got, model_finalize(dots, xa, ya, metric))
        twin = np.empty_like(got)
        for columns in column_tiles(dots.shape[1], tile):
            arrays = (np.ascontiguousarray(dots[:, columns]), xa, np.ascontiguousarray(ya[columns]), twin)
            _C.distance_tile(*(a.__dlpack__() for a in arrays), METRIC_CODES[metric], columns.start, 0)
        np.testing.assert_array_equal(got, twin)
        x64, y64 = x.astype(np.float64), y.astype(np.float64)
        expected = reference.pairwise_distance(x64, y64, metric)
        rt.assert_distances_close(got, expected, rt.distance_tolerance(x64, y64, metric, expected),
                                  f"emulated distance_tile {metric}")
        assert result.launches == {"distance_tile_kernel": len(column_tiles(dots.shape[1], tile))}


@pytest.mark.parametrize("dtype", ["float32", "float16", "bfloat16"])
def test_row_aux(driver, rng, dtype):
    """row_aux (the framework path's row terms): bit for bit the model of row_aux_kernel, and
    within float32 rounding of the CPU's, which sums the same values (the float32 values the
    op sees) in another order: both within d * 2^-24 relative of the exact sum of squares."""
    inputs = [features(rng, rows, d, dtype) for rows, d in [(1, 1), (40, 7), (9, 130)]]
    cases = [emu.Case("row_aux", {"features": f_in}, {"metric": code})
             for _, f_in in inputs for code in METRIC_CODES.values()]
    results = iter(emu.run_cases(cases, driver))
    for f, f_in in inputs:
        for metric, code in METRIC_CODES.items():
            got = next(results)["out"]
            np.testing.assert_array_equal(got, model_row_aux(f, metric))
            cpu = np.empty(f.shape[0], np.float32)
            _C.row_aux(f.__dlpack__(), cpu.__dlpack__(), code, 0)
            np.testing.assert_allclose(got, cpu, rtol=2 * f.shape[1] * 2.0**-24, atol=0)


def test_query_devices(driver):
    """What reid_fast.cuda_status() reports: the runtime's device count, or why there is none
    (no device, no driver, a driver older than the runtime)."""
    cases = [emu.Case("query_devices", devices=3), emu.Case("query_devices", devices=0),
             emu.Case("query_devices", driver=0), emu.Case("query_devices", driver=12040)]
    three, no_device, no_driver, old_driver = emu.run_cases(cases, driver)
    assert three["count"].tolist() == [3] and three["error"].size == 0
    errors = [r["error"].tobytes().decode() for r in (no_device, no_driver, old_driver)]
    assert [r["count"].tolist() for r in (no_device, no_driver, old_driver)] == [[0]] * 3
    # No device and no driver mean "nothing to run on"; an old driver is a problem to report.
    assert [r["absent"].tolist() for r in (three, no_device, no_driver, old_driver)] == [[0], [1], [1], [0]]
    assert errors == [
        "no CUDA-capable device is detected",
        "no CUDA driver is installed",
        "CUDA driver version is insufficient for CUDA runtime version (the driver supports CUDA "
        "12.4, reid_fast's runtime is CUDA 13.0)",
    ]


# --------------------------------------------------------------------------------------
# topk_rows
# --------------------------------------------------------------------------------------

# (n, m, k, multiprocessors, misalign): one row, k = m, tile-odd widths, splits S = 2 and
# S = 9; then for the float4 loads: rows shorter than one load, widths 4 j + 1 .. 3 (rows start
# at every offset from a 16-byte boundary, so heads and tails of 0 .. 3 columns), widths of
# 4 j with the matrix shifted by 1 .. 3 floats (driver param misalign), and splits whose
# chunks (2,049 columns) are not a multiple of 4.
TOPK_CASES = [
    (1, 1, 1, 132, 0), (5, 33, 33, 132, 0), (40, 100, 7, 132, 0), (3, 5000, 50, 4, 0),
    (2, 20000, 5, 4, 0),
    (4, 3, 2, 132, 0), (9, 257, 9, 132, 0), (6, 258, 20, 132, 0), (5, 259, 259, 132, 0),
    (3, 256, 11, 132, 1), (3, 512, 4, 132, 2), (4, 200, 16, 132, 3), (2, 6147, 5, 4, 0),
    (1, 8196, 3, 4, 2),
]


def check_topk_rows(driver, matrices, specs, schedule="forward"):
    """The emulated topk_rows of each matrix (k, multiprocessors, misalign from specs) against
    the CPU, bit for bit (values, indices, row maxima), and the literal reference."""
    cases = [emu.Case("topk_rows", {"matrix": a}, {"k": k, "row_max": 1, "misalign": misalign},
                      multiprocessors=sms)
             for a, (_, _, k, sms, misalign) in zip(matrices, specs)]
    for a, case, result in zip(matrices, cases, emu.run_cases(cases, driver, schedule)):
        k = case.params["k"]
        cpu_values, cpu_indices, cpu_max = reid_fast.topk_rows(a, k, return_row_max=True)
        np.testing.assert_array_equal(result["values"], cpu_values)
        np.testing.assert_array_equal(result["indices"], cpu_indices)
        np.testing.assert_array_equal(result["row_max"], cpu_max)
        ref_values, ref_indices = reference.topk_rows(a, k)
        np.testing.assert_array_equal(result["indices"], ref_indices)
        np.testing.assert_array_equal(result["values"], ref_values)


@pytest.mark.parametrize("schedule", SCHEDULES)
def test_topk_rows(driver, rng, schedule):
    """Rounded values: many exact ties, which must go to the lower column."""
    matrices = [np.round(rng.random((n, m)) * 50).astype(np.float32) for n, m, *_ in TOPK_CASES]
    check_topk_rows(driver, matrices, TOPK_CASES, schedule)


def test_topk_rows_every_column_enters(driver):
    """Descending rows: every column displaces the heap's root, so every quarter of every
    float4 step pushes (the slow path of the vector scan), across heads, bodies and tails."""
    specs = [(3, 259, 17, 132, 1), (2, 6147, 40, 4, 3)]
    matrices = [np.tile(np.arange(m, 0, -1, dtype=np.float32), (n, 1)) for n, m, *_ in specs]
    check_topk_rows(driver, matrices, specs)


# --------------------------------------------------------------------------------------
# Re-ranking's sparse steps: V (reciprocal sets, expansion, weights) and V' (query expansion)
# --------------------------------------------------------------------------------------


def rerank_problem(rng: np.random.Generator, rows: int, k1: int, d: int = 8, dtype: str = "float32"):
    """Clustered features (as :func:`as_dtype` gives them), their float32 squared distances D,
    row_scale = 1 / row max and the rank lists (the k1 + 1 nearest under Dn, ties by index)
    that re-ranking feeds the kernels."""
    clustered, _ = rt.clustered_features(rng, rows, d, identities=max(1, rows // 6))
    f, f_in = as_dtype(clustered, dtype)
    dense = reid_fast.pairwise_distance(f, f, "sqeuclidean")
    row_scale = (np.float32(1) / dense.max(axis=1)).astype(np.float32)
    rank = model_topk(dense * row_scale[:, None], k1 + 1)[1]
    return (f, f_in), dense, row_scale, rank


def csr(result) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    return result["indptr"], result["indices"], result["values"]


# (rows, k1): k1 + 1 = N, an odd k1 (h rounds half to even), k1 = 1, and the defaults.
RERANK_CASES = [(7, 6), (40, 5), (33, 1), (150, 20)]


@pytest.mark.parametrize("schedule", SCHEDULES)
def test_reciprocal_sets_dense(driver, rng, schedule):
    problems = [rerank_problem(rng, rows, k1) for rows, k1 in RERANK_CASES]
    cases = [emu.Case("rerank_reciprocal", {"rank": rank, "dense": dense, "row_scale": scale})
             for _, dense, scale, rank in problems]
    for (_, dense, scale, rank), result in zip(problems, emu.run_cases(cases, driver, schedule)):
        cpu = expanded_neighbourhoods(rank, scale, 1, dense=dense)
        np.testing.assert_array_equal(result["counts"], np.diff(cpu.indptr))
        for got, want in zip(csr(result), (cpu.indptr, cpu.indices, cpu.values)):
            np.testing.assert_array_equal(got, want)
        sets = expanded_reciprocal_sets(rank, rank.shape[1] - 1)
        indptr, indices, _ = csr(result)
        for i, expected in enumerate(sets):
            np.testing.assert_array_equal(indices[indptr[i]:indptr[i + 1]], np.sort(expected))
        assert set(result.launches) == {"reciprocal_sets_kernel", "expansion_kernel"}


@pytest.mark.parametrize("dtype", ["float32", "float16", "bfloat16"])
def test_reciprocal_sets_from_features(driver, rng, dtype):
    """Weights from features: the warp-parallel dot products differ in order from the CPU's,
    so the weights agree within float32 rounding (the sets exactly)."""
    problems = [rerank_problem(rng, rows, k1, d=40, dtype=dtype) for rows, k1 in RERANK_CASES]
    cases = [emu.Case("rerank_reciprocal", {"rank": rank, "features": f_in, "row_scale": scale})
             for (_, f_in), _, scale, rank in problems]
    for ((f32, _), _, scale, rank), result in zip(problems, emu.run_cases(cases, driver)):
        cpu = expanded_neighbourhoods(rank, scale, 1, features=f32)
        np.testing.assert_array_equal(result["indptr"], cpu.indptr)
        np.testing.assert_array_equal(result["indices"], cpu.indices)
        np.testing.assert_allclose(result["values"], cpu.values, rtol=1e-5, atol=1e-7)
        assert "row_aux_kernel" in result.launches


@pytest.mark.parametrize("schedule", SCHEDULES)
def test_query_expansion(driver, rng, schedule):
    """V' from the CPU's V: a k2-way merge summing each column in the order r = 0 .. k2 - 1,
    as the CPU does, so bit for bit; k2 = 1 (a copy) and k2 = k1 + 1 included."""
    cases, expected = [], []
    for (rows, k1), k2 in zip(RERANK_CASES, (7, 3, 1, 6)):
        _, dense, scale, rank = rerank_problem(rng, rows, k1)
        v = expanded_neighbourhoods(rank, scale, 1, dense=dense)
        cases.append(emu.Case("rerank_query_expansion",
                              {"rank": rank, "v_indptr": v.indptr, "v_indices": v.indices,
                               "v_values": v.values}, {"k2": k2}))
        expected.append(expanded_neighbourhoods(rank, scale, k2, dense=dense) if k2 > 1 else v)
    for want, result in zip(expected, emu.run_cases(cases, driver, schedule)):
        for got, value in zip(csr(result), (want.indptr, want.indices, want.values)):
            np.testing.assert_array_equal(got, value)
        assert set(result.launches) == {"query_expansion_kernel"}


def test_reciprocal_sets_more_rows_than_warp_slots(driver, rng):
    """N = 8,300 rows: more than the 8,192 warp slots of the expansion kernel, so slots take a
    second row (the grid-stride path); sets and counts against the CPU."""
    f = rng.standard_normal((8300, 4)).astype(np.float32)
    values, rank, row_max = reid_fast.knn(f, f, 3, "sqeuclidean", return_row_max=True)
    scale = (np.float32(1) / row_max).astype(np.float32)
    case = emu.Case("rerank_reciprocal", {"rank": rank, "features": f, "row_scale": scale})
    result = emu.run_case(case, driver)
    cpu = expanded_neighbourhoods(rank, scale, 1, features=f)
    np.testing.assert_array_equal(result["indptr"], cpu.indptr)
    np.testing.assert_array_equal(result["indices"], cpu.indices)
    np.testing.assert_allclose(result["values"], cpu.values, rtol=1e-5, atol=1e-7)


def check_reciprocal_sets(driver, problems):
    """The emulated V of each (dense, row_scale, rank) against the CPU, bit for bit, and its
    sets against the reference's."""
    cases = [emu.Case("rerank_reciprocal", {"rank": rank, "dense": dense, "row_scale": scale})
             for dense, scale, rank in problems]
    for (dense, scale, rank), result in zip(problems, emu.run_cases(cases, driver)):
        cpu = expanded_neighbourhoods(rank, scale, 1, dense=dense)
        for got, want in zip(csr(result), (cpu.indptr, cpu.indices, cpu.values)):
            np.testing.assert_array_equal(got, want)
        indptr, indices, _ = csr(result)
        for i, expected in enumerate(expanded_reciprocal_sets(rank, rank.shape[1] - 1)):
            np.testing.assert_array_equal(indices[indptr[i]:indptr[i + 1]], expected)


def test_reciprocal_sets_k1_near_n(driver, rng):
    """k1 + 1 = N and k1 = N - 3 (an odd k1 too): R(i, k1) holds almost every item and nearly
    every R(c, h) joins, so the expansion list of a row has about N (h + 2) entries, most
    columns repeated h times. The warp's merge sort runs 6 merge rounds on lists of 1,900
    entries, and its dedup must give the CPU's std::sort + unique."""
    problems = [rerank_problem(rng, rows, k1)[1:] for rows, k1 in ((60, 59), (45, 42), (31, 28))]
    check_reciprocal_sets(driver, problems)


def test_reciprocal_sets_random_rank_lists(driver, rng):
    """Rank lists of random items (each row starting with itself): sets without structure, so
    expansion lists of every length (one entry to several runs of 32) and few repeats, in no
    order; k1 = 1 (h = 0: candidate sets of one entry) included."""
    problems = []
    for rows, k1 in ((70, 40), (50, 13), (9, 1)):
        rank = np.empty((rows, k1 + 1), np.int64)
        for i in range(rows):
            rank[i] = np.concatenate([[i], rng.permutation(np.delete(np.arange(rows), i))[:k1]])
        dense = rng.random((rows, rows)).astype(np.float32)
        problems.append((dense, (np.float32(1) / dense.max(axis=1)).astype(np.float32), rank))
    check_reciprocal_sets(driver, problems)


# --------------------------------------------------------------------------------------
# Batched Jaccard distance
# --------------------------------------------------------------------------------------


def jaccard_case(query_dense, gallery_dense, query_splits, gallery_splits, out_initial=None,
                 weight=1.0, multiprocessors=132, problem_rows_only=False) -> emu.Case:
    """The op on CSR forms of the dense rows; with ``problem_rows_only`` as
    reid_fast.ops.jaccard calls it: only the rows from the first to the last split, as slices
    of indptr (so not starting at 0) with the splits shifted to match."""
    q = rt.sparse_rows(query_dense)
    g = rt.sparse_rows(gallery_dense)
    sizes = [(q1 - q0) * (g1 - g0) for q0, q1, g0, g1 in
             zip(query_splits, query_splits[1:], gallery_splits, gallery_splits[1:])]
    out_offsets = np.concatenate([[0], np.cumsum(sizes)]).astype(np.int64)
    query_offsets = np.asarray(query_splits, np.int64)
    gallery_offsets = np.asarray(gallery_splits, np.int64)
    q_indptr, g_indptr = q.indptr, g.indptr
    if problem_rows_only:
        q_indptr = q_indptr[query_offsets[0]:query_offsets[-1] + 1]
        g_indptr = g_indptr[gallery_offsets[0]:gallery_offsets[-1] + 1]
        query_offsets = query_offsets - query_offsets[0]
        gallery_offsets = gallery_offsets - gallery_offsets[0]
    arrays = {"q_indptr": q_indptr, "q_indices": q.indices, "q_values": q.values,
              "g_indptr": g_indptr, "g_indices": g.indices, "g_values": g.values,
              "query_offsets": query_offsets, "gallery_offsets": gallery_offsets,
              "out_offsets": out_offsets}
    params = {"num_columns": q.num_columns, "weight": weight, "keep": 0.0, "out_size": int(out_offsets[-1])}
    if out_initial is not None:
        arrays["out_initial"] = out_initial.astype(np.float32)
        params["keep"] = 1.0
    return emu.Case("jaccard", arrays, params, multiprocessors=multiprocessors)


@pytest.mark.parametrize("schedule", SCHEDULES)
def test_jaccard(driver, rng, schedule):
    """Problems with empty query or gallery blocks, a gallery over several 4,096-row tiles
    (tile splits), empty rows, and the in-place blend; bit for bit with the CPU (both sum the
    minima in ascending column order), and the float64 definition within 1e-5."""
    columns = 50
    small_q = rt.random_rows(rng, 9, columns, 0.3, empty_rows=0.1)
    small_g = rt.random_rows(rng, 20, columns, 0.3, empty_rows=0.1)
    big_q = rt.random_rows(rng, 3, columns, 0.2, empty_rows=0.1)
    big_g = rt.random_rows(rng, 9000, columns, 0.1, empty_rows=0.1)
    problems = [
        (small_q, small_g, [0, 4, 4, 9], [0, 12, 15, 20]),       # the middle problem has no queries
        (small_q, small_g, [0, 3, 9, 9], [0, 0, 10, 20]),         # no gallery, then no queries
        (small_q, small_g, [2, 7], [5, 19]),                       # rows outside the offsets
        (big_q, big_g, [0, 1, 3], [0, 5000, 9000]),                # tiles split across blocks
        (small_q[:1], small_g[:1], [0, 1], [0, 1]),
    ]
    cases = [jaccard_case(q, g, qs, gs, multiprocessors=4) for q, g, qs, gs in problems]
    blend_initial = rng.random(9 * 15).astype(np.float32)
    cases.append(jaccard_case(small_q, small_g[:15], [0, 9], [0, 15], blend_initial, weight=0.7))
    results = emu.run_cases(cases, driver, schedule)
    for (q, g, qs, gs), result in zip(problems, results):
        cpu = reid_fast.jaccard_distance_batched(rt.sparse_rows(q), rt.sparse_rows(g), qs, gs)
        got = result["out"]
        np.testing.assert_array_equal(got, np.concatenate([b.reshape(-1) for b in cpu]))
        offset = 0
        for q0, q1, g0, g1 in zip(qs, qs[1:], gs, gs[1:]):
            block = got[offset:offset + (q1 - q0) * (g1 - g0)].reshape(q1 - q0, g1 - g0)
            offset += block.size
            if block.size:
                np.testing.assert_allclose(block, rt.dense_jaccard(q[q0:q1], g[g0:g1]), rtol=0, atol=1e-5)
    blended = results[-1]["out"]
    cpu_out = blend_initial.copy()
    reid_fast.ops.jaccard.blend_jaccard_batched(rt.sparse_rows(small_q), rt.sparse_rows(small_g[:15]),
                                                [0, 9], [0, 15], out=cpu_out, weight=0.7)
    np.testing.assert_array_equal(blended, cpu_out)


def test_jaccard_few_problem_rows(driver, rng):
    """Problems with few query rows out of many, as reid_fast.ops.jaccard passes them (the
    problems' rows only, indptr slices not starting at 0): 1, 0 and 3 query rows of 200 against
    gallery blocks across three 4,096-row tiles, the tiles split across blocks (the splits now
    come from the 4 query rows, not 200); bit for bit with the CPU op on the whole CSRs."""
    columns = 40
    query = rt.random_rows(rng, 200, columns, 0.3, empty_rows=0.1)
    gallery = rt.random_rows(rng, 9300, columns, 0.05, empty_rows=0.1)
    query_splits, gallery_splits = [120, 121, 121, 124], [300, 4400, 4500, 9200]
    case = jaccard_case(query, gallery, query_splits, gallery_splits, multiprocessors=4,
                        problem_rows_only=True)
    got = emu.run_case(case, driver)["out"]
    cpu = reid_fast.jaccard_distance_batched(rt.sparse_rows(query), rt.sparse_rows(gallery),
                                             query_splits, gallery_splits)
    np.testing.assert_array_equal(got, np.concatenate([b.reshape(-1) for b in cpu]))
    offset = 0
    for q0, q1, g0, g1 in zip(query_splits, query_splits[1:], gallery_splits, gallery_splits[1:]):
        block = got[offset:offset + (q1 - q0) * (g1 - g0)].reshape(q1 - q0, g1 - g0)
        offset += block.size
        np.testing.assert_allclose(block, rt.dense_jaccard(query[q0:q1], gallery[g0:g1]), rtol=0,
                                   atol=1e-5)


def test_every_kernel_is_covered(driver, rng):
    """The cases above launch every __global__ kernel in csrc/cuda; this runs one small case
    per op and checks the union of the launches against the sources, so that a new kernel
    without an emulated test fails here."""
    (x, x_in), (y, y_in) = features(rng, 3, 5, "float32"), features(rng, 4500, 5, "float32")
    (f, _), dense, scale, rank = rerank_problem(rng, 12, 3)
    v = expanded_neighbourhoods(rank, scale, 1, dense=dense)
    q = rt.random_rows(rng, 4, 10, 0.5, empty_rows=0.1)
    cases = [
        emu.Case("pairwise_distance", {"x": x_in, "y": y_in[:10]}, {"metric": 0}),
        emu.Case("knn", {"x": x_in, "y": y_in}, {"k": 3, "metric": 0, "row_max": 1}, multiprocessors=4),
        emu.Case("topk_rows", {"matrix": dense}, {"k": 2, "row_max": 0}),
        emu.Case("rerank_reciprocal", {"rank": rank, "features": f, "row_scale": scale}),
        emu.Case("rerank_query_expansion", {"rank": rank, "v_indptr": v.indptr,
                                            "v_indices": v.indices, "v_values": v.values}, {"k2": 2}),
        jaccard_case(q, q, [0, 4], [0, 4]),
        emu.Case("row_aux", {"features": x_in}, {"metric": 2}),
    ]
    _, _, dots, xa, ya = dot_problem(rng, 2, 1100, "cosine")
    cases += [select_case(dots, xa, ya, k, "cosine", 600) for k in (3, 1100)]  # warp queue, two-pass
    cases.append(emu.Case("distance_tile", {"dots": dots, "x_aux": xa, "y_aux": ya},
                          {"metric": 0, "tile": 700}))
    launched = set()
    for result in emu.run_cases(cases, driver):
        launched.update(result.launches)
    assert launched == emu.kernel_names()
