"""Exact k-reciprocal re-ranking: reid_fast.rerank against the literal NumPy reference.

- AICity 2020 test size (q = 1,052, g = 18,290, d = 512; N = 19,342), clustered
  L2-normalised features (reid_bench.make_clustered_inputs), k1 = 20, k2 = 6,
  lambda = 0.3: ours (CPU float32; CUDA float32 / float16 where available) and the
  literal float64 reference (reid_bench.reference_rerank: D by a float64 GEMM, then
  reid_fast.reference.rerank_from_matrix, which holds D, Dn, V and V' as dense N x N
  float64 arrays, ~3 GB each, ~12 GB together) on the same inputs in the same run. The
  reference is timed once (rounds = 1). Both sides' peak memory is measured in a fresh
  process (reid_bench.measure_rerank_peak_memory), which runs the call once more. The
  run's JSON holds the time and memory ratios (conftest: ``ratios``, op "rerank"), and the
  reference entry an agreement summary of the two results.
- MSMT17 test size (q = 11,659, g = 82,161, d = 512; N = 93,820), ours only, marked
  ``large`` and ``msmt``, rounds = 1: time and peak memory. The reference cannot run there;
  its estimated memory is recorded instead (extra_info ``reference_estimated_memory_bytes``:
  about 20 bytes x N^2 = 176 GB for the public implementations, and 32 bytes x N^2 = 282 GB
  for this package's float64 reference).
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

AICITY = reid_bench.RERANK_SIZES["aicity"]
MSMT17 = reid_bench.RERANK_SIZES["msmt17"]

# Inputs of the current size (one problem alive at a time) and ours' AICity result per
# (device, dtype), kept so that the reference run can report how closely they agree.
_INPUTS: dict[tuple[str, str, str], tuple] = {}
_OURS_RESULTS: dict[tuple[str, str, str], np.ndarray] = {}


def _inputs(size: reid_bench.Size, device: str, dtype: str) -> tuple:
    key = (size.name, device, dtype)
    if key not in _INPUTS:
        _INPUTS.clear()
        _INPUTS[key] = reid_bench.make_clustered_inputs(size, device, dtype)
    return _INPUTS[key]


def _fields(side: str, size: reid_bench.Size, device: str, dtype: str) -> dict:
    n = size.n + size.m
    return {
        "op": "rerank",
        "side": side,
        "impl": reid_bench.RERANK_OPS[side][0],
        "size": size.name,
        "device": device,
        "dtype": dtype,
        "shapes": {"query": [size.n, size.d], "gallery": [size.m, size.d], "N": n},
        "params": dict(reid_bench.RERANK_PARAMS),
        "features": (
            f"clustered, L2-normalised: ~{reid_bench.CLUSTER_IMAGES_PER_IDENTITY} images per identity, "
            f"noise {reid_bench.CLUSTER_NOISE}"
        ),
    }


def _ours_rounds(config: pytest.Config, device: str, size: reid_bench.Size) -> tuple[int, int]:
    """(rounds, warm-up rounds) for our side."""
    chosen = config.getoption("--reid-rounds")
    if size.large:
        return chosen or (3 if device == "cuda" else 1), (1 if device == "cuda" else 0)
    if device == "cuda":
        return chosen or 20, 3
    return chosen or 3, 1


def _run_ours(benchmark, record, request, size, config):
    device, dtype = config
    x, y = _inputs(size, device, dtype)

    def call():
        out = reid_bench.ours_rerank(x, y, size.k)
        reid_bench.synchronize(device)
        return out

    benchmark.group = f"rerank {size.name} {device} {dtype}"
    rounds, warmup = _ours_rounds(request.config, device, size)
    result = benchmark.pedantic(call, rounds=rounds, warmup_rounds=warmup, iterations=1)
    assert tuple(result.shape) == (size.n, size.m)
    if not size.large:
        _OURS_RESULTS[(size.name, device, dtype)] = result.float().cpu().numpy()
    del result
    fields = _fields("ours", size, device, dtype)
    if not request.config.getoption("--reid-no-memory"):
        fields.update(reid_bench.measure_rerank_peak_memory("ours", size, device, dtype))
    return fields


@pytest.mark.parametrize("config", CONFIGS)
def test_rerank_aicity_ours(benchmark, record, request, config):
    fields = _run_ours(benchmark, record, request, AICITY, config)
    benchmark.extra_info.update(fields)
    record(benchmark, **fields)


def _agreement(ours: np.ndarray, reference: np.ndarray) -> dict:
    """How closely our float32 result matches the float64 reference. At this size some
    rows have near-ties (~1e-6) at the k1 + 1 / h + 1 / k2 boundaries, where float32 and
    float64 may legitimately pick different neighbours (tests/ops/test_rerank.py draws inputs
    without them), so a small fraction of entries may differ by more than 1e-4."""
    error = np.abs(ours.astype(np.float64) - reference)
    top1_ours = np.argmin(ours, axis=1)
    top1_ref = np.argmin(reference, axis=1)
    # Rank-1 agreement up to ties: our top-1 is within 1e-4 of the reference's best.
    rows = np.arange(reference.shape[0])
    top1_tied = reference[rows, top1_ours] <= reference[rows, top1_ref] + 1e-4
    return {
        "max_abs_error": float(error.max()),
        "mean_abs_error": float(error.mean()),
        "fraction_within_1e-4": float(np.mean(error <= 1e-4)),
        "fraction_within_1e-3": float(np.mean(error <= 1e-3)),
        "rows_all_within_1e-4": float(np.mean(np.all(error <= 1e-4, axis=1))),
        "rank1_agreement_up_to_ties": float(np.mean(top1_tied)),
    }


def test_rerank_aicity_reference(benchmark, record, request):
    """The literal reference, CPU float32 inputs (computed in float64), once."""
    device, dtype = "cpu", "float32"
    x, y = _inputs(AICITY, device, dtype)
    benchmark.group = f"rerank {AICITY.name} {device} {dtype}"
    result = benchmark.pedantic(
        lambda: reid_bench.reference_rerank(x, y, AICITY.k), rounds=1, warmup_rounds=0, iterations=1
    )
    assert result.shape == (AICITY.n, AICITY.m)
    fields = _fields("baseline", AICITY, device, dtype)
    fields["reference_dense_bytes"] = reid_bench.REFERENCE_RERANK_BYTES_PER_N2 * (AICITY.n + AICITY.m) ** 2
    ours = _OURS_RESULTS.get((AICITY.name, device, dtype))
    if ours is not None:
        agreement = _agreement(ours, result)
        fields["agreement_with_ours"] = agreement
        # A loose sanity check (the exact agreement is tests/ops/test_rerank.py's job).
        assert agreement["fraction_within_1e-3"] > 0.99, agreement
    del result
    if not request.config.getoption("--reid-no-memory"):
        fields.update(reid_bench.measure_rerank_peak_memory("baseline", AICITY, device, dtype))
    benchmark.extra_info.update(fields)
    record(benchmark, **fields)


@pytest.mark.large
@pytest.mark.msmt
@pytest.mark.parametrize("config", CONFIGS)
def test_rerank_msmt17_ours(benchmark, record, request, config):
    """Ours at MSMT17 size; the reference would need O(N^2) memory (not run)."""
    fields = _run_ours(benchmark, record, request, MSMT17, config)
    n = MSMT17.n + MSMT17.m
    fields["reference_estimated_memory_bytes"] = reid_bench.PUBLIC_RERANK_BYTES_PER_N2 * n**2
    fields["reference_estimate"] = (
        f"public implementations: about {reid_bench.PUBLIC_RERANK_BYTES_PER_N2} bytes x N^2 "
        f"(N = {n}); this package's float64 reference: "
        f"{reid_bench.REFERENCE_RERANK_BYTES_PER_N2} bytes x N^2 = "
        f"{reid_bench.REFERENCE_RERANK_BYTES_PER_N2 * n**2 / 1e9:.0f} GB; not run"
    )
    benchmark.extra_info.update(fields)
    record(benchmark, **fields)
