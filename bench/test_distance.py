"""reid_fast.knn and reid_fast.pairwise_distance against torch on the same inputs.

- knn: reid_fast.knn(metric="sqeuclidean") vs "torch addmm + topk"
  (d2 = addmm(|y|^2, x, y^T, beta=1, alpha=-2) + |x|^2, then topk(k, largest=False)).
- pairwise_distance: reid_fast.pairwise_distance(metric="euclidean") vs torch.cdist.

Sizes: AICity 2020 test (1,052 x 18,290, d = 512, k = 100) and all-vs-all over query +
gallery (19,342 x 19,342, k = 21; marked ``large``). float32 on the CPU; float32 and
float16 on CUDA (skipped without CUDA). Each benchmark also measures its peak memory
(CPU: resident-set growth of one call in a fresh process; CUDA: torch's peak allocated).
"""

from __future__ import annotations

import numpy as np
import pytest

import reid_bench

CONFIGS = [
    pytest.param(("cpu", "float32"), id="cpu-float32"),
    pytest.param(("cuda", "float32"), id="cuda-float32", marks=pytest.mark.cuda),
    pytest.param(("cuda", "float16"), id="cuda-float16", marks=pytest.mark.cuda),
]
SIZES = [
    pytest.param(reid_bench.SIZES["aicity"], id="aicity"),
    pytest.param(reid_bench.SIZES["aicity-all-vs-all"], id="all-vs-all", marks=pytest.mark.large),
]
SIDES = ["ours", *reid_bench.PATH_SIDES, "baseline"]


def _rounds(config: pytest.Config, device: str, size: reid_bench.Size) -> tuple[int, int]:
    """(rounds, warm-up rounds)."""
    chosen = config.getoption("--reid-rounds")
    if device == "cuda":
        return chosen or 20, 3
    return chosen or (2 if size.large else 5), 1


def _check_agreement(op: str, result_ours, result_base, dtype: str) -> None:
    """A cheap sanity check that both sides computed the same thing (float32 only: the
    float16 baseline accumulates in half precision). Features are L2-normalised, so
    distances lie in [0, 2] (squared: [0, 4]) and 1e-3 absolute is far above float32
    rounding but far below any real mistake."""
    if dtype != "float32":
        return
    if op == "knn":
        ours_values = result_ours[0].float().cpu().numpy()
        base_values = result_base.values.float().cpu().numpy()
        np.testing.assert_allclose(ours_values, base_values, rtol=0, atol=1e-3)
    else:
        rows = slice(0, 64)  # a block is enough, and keeps the check cheap
        np.testing.assert_allclose(
            result_ours[rows].float().cpu().numpy(),
            result_base[rows].float().cpu().numpy(),
            rtol=0,
            atol=1e-3,
        )


def _run(benchmark, record, request, bench_inputs, op, side, size, config):
    device, dtype = config
    if side in reid_bench.PATH_SIDES and device != "cuda":
        pytest.skip("the two distance paths differ on CUDA only (the CPU runs its fused kernels)")
    x, y = bench_inputs(size, device, dtype)
    impl, fn = reid_bench.OPS[op][side]
    k = size.k

    def call():
        out = fn(x, y, k)
        reid_bench.synchronize(device)
        return out

    benchmark.group = f"{op} {size.name} {device} {dtype}"
    rounds, warmup = _rounds(request.config, device, size)
    result = benchmark.pedantic(call, rounds=rounds, warmup_rounds=warmup, iterations=1)

    # Agreement with the baseline, once per size and config (on the ours run).
    if side.startswith("ours"):
        _check_agreement(op, result, _baseline_once(op, x, y, k, device), dtype)
    del result

    fields = {
        "op": op,
        "side": side,
        "impl": impl,
        "size": size.name,
        "device": device,
        "dtype": dtype,
        "shapes": {"x": [size.n, size.d], "y": [size.m, size.d], "k": k if op == "knn" else None},
    }
    if not request.config.getoption("--reid-no-memory"):
        fields.update(reid_bench.measure_peak_memory(op, side, size, device, dtype))
    benchmark.extra_info.update(fields)
    record(benchmark, **fields)


def _baseline_once(op, x, y, k, device):
    out = reid_bench.OPS[op]["baseline"][1](x, y, k)
    reid_bench.synchronize(device)
    return out


@pytest.mark.parametrize("side", SIDES)
@pytest.mark.parametrize("config", CONFIGS)
@pytest.mark.parametrize("size", SIZES)
def test_knn(benchmark, record, request, bench_inputs, size, config, side):
    _run(benchmark, record, request, bench_inputs, "knn", side, size, config)


@pytest.mark.parametrize("side", SIDES)
@pytest.mark.parametrize("config", CONFIGS)
@pytest.mark.parametrize("size", SIZES)
def test_pairwise_distance(benchmark, record, request, bench_inputs, size, config, side):
    _run(benchmark, record, request, bench_inputs, "pairwise_distance", side, size, config)
