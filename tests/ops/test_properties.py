"""Property tests: knn and pairwise_distance against the reference on small random shapes,
dtypes, metrics and value distributions (including integer-valued features, which produce
many exact ties). Tolerances are those of reid_testing.distance_tolerance."""

from __future__ import annotations

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import reid_fast
import reid_testing as rt
from reid_fast import reference

SETTINGS = settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)


@st.composite
def problems(draw):
    n = draw(st.integers(0, 7))
    m = draw(st.integers(1, 40))
    d = draw(st.integers(1, 12))
    k = draw(st.integers(1, m))
    metric = draw(st.sampled_from(rt.METRICS))
    dtype = draw(st.sampled_from(rt.DTYPES))
    framework = "torch" if dtype == "bfloat16" else draw(st.sampled_from(["numpy", "torch"]))
    kind = draw(st.sampled_from(["gaussian", "integers", "duplicates"]))
    seed = draw(st.integers(0, 2**32 - 1))
    rng = np.random.default_rng(seed)
    if kind == "integers":
        x = rng.integers(-2, 3, size=(n, d)).astype(np.float64)
        y = rng.integers(-2, 3, size=(m, d)).astype(np.float64)
    else:
        scale = draw(st.sampled_from([1e-2, 1.0, 10.0]))
        x = rt.random_features(rng, n, d, scale)
        y = rt.random_features(rng, m, d, scale)
        if kind == "duplicates" and m > 1:
            # Copy some gallery rows onto others, and some onto the queries.
            sources = rng.integers(0, m, size=m // 2)
            targets = rng.integers(0, m, size=m // 2)
            y[targets] = y[sources]
            if n:
                x[rng.integers(0, n, size=n)] = y[rng.integers(0, m, size=n)]
    return x, y, k, metric, dtype, framework


@SETTINGS
@given(problems())
def test_knn_matches_reference(problem):
    x_np, y_np, k, metric, dtype, framework = problem
    x = rt.make_array(x_np, framework, "cpu", dtype)
    y = rt.make_array(y_np, framework, "cpu", dtype)
    values, indices, row_max = (rt.to_numpy(r) for r in reid_fast.knn(x, y, k, metric, return_row_max=True))
    x64, y64 = rt.to_float64(x), rt.to_float64(y)
    expected = reference.pairwise_distance(x64, y64, metric)
    tol = rt.distance_tolerance(x64, y64, metric, expected)
    rt.assert_valid_knn(values, indices, expected, tol, k)
    rt.assert_row_max_close(row_max, expected, tol)
    # Bitwise-identical gallery rows give bitwise-identical distances: whenever two
    # identical rows are both returned, the lower index comes first, and when only one of
    # them is, it is the lowest-indexed copy of those not ranked after it.
    for row in range(x64.shape[0]):
        first_seen: dict[bytes, int] = {}
        for index in indices[row]:
            key = y64[index].tobytes()
            if key in first_seen:
                assert first_seen[key] < index
            else:
                first_seen[key] = int(index)
        returned = set(int(i) for i in indices[row])
        for key, index in first_seen.items():
            copies = [j for j in range(y64.shape[0]) if y64[j].tobytes() == key]
            lower_missing = [j for j in copies if j < index and j not in returned]
            assert not lower_missing, (
                f"row {row}: index {index} returned but its identical lower copies {lower_missing} are not"
            )


@SETTINGS
@given(problems())
def test_pairwise_matches_reference(problem):
    x_np, y_np, _, metric, dtype, framework = problem
    x = rt.make_array(x_np, framework, "cpu", dtype)
    y = rt.make_array(y_np, framework, "cpu", dtype)
    out = rt.to_numpy(reid_fast.pairwise_distance(x, y, metric))
    x64, y64 = rt.to_float64(x), rt.to_float64(y)
    expected = reference.pairwise_distance(x64, y64, metric)
    rt.assert_distances_close(out, expected, rt.distance_tolerance(x64, y64, metric, expected))
    if metric == "sqeuclidean":
        assert np.all(out >= 0)
