"""Evaluation and the post-processing chain.

- evaluate: reid_fast.evaluate_ranking (positive ranks by counting, no sort of q x g)
  against the literal reference reid_fast.reference.ranking_metrics (a full stable
  argsort of every query's row, then the positives' positions, as the public Market-1501
  scripts do) on the same (q, g) float32 distance matrix in the same run, at AICity 2020
  size (q = 1,052, g = 18,290, AICity rule: no camera filtering) and at MSMT17 size
  (q = 11,659, g = 82,161, Market rule with cameras; ``large``). Both results must agree
  (mAP to 1e-12, identical first-positive ranks). Peak memory: resident-set growth during
  the call (the input matrix exists before it), or torch's CUDA allocator peak.
- post: the AICity chain on clustered AICity-size features (d = 512): alpha query
  expansion, gallery track averaging, camera penalties, penalised re-ranking and the
  evaluation, each timed (ours only: the literal references of these steps are loops
  that take minutes at this size).
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

import reid_bench
from reid_fast.eval import evaluate_ranking
from reid_fast.reference import ranking_metrics

SIZES = reid_bench.EVALUATION_SIZES
_INPUTS: dict = {}
_RESULTS: dict = {}


def _inputs(name: str):
    """Distances where positives are closer on average (a realistic mAP of ~0.4),
    identities and cameras; one size alive at a time."""
    if name not in _INPUTS:
        _INPUTS.clear()
        spec = SIZES[name]
        rng = np.random.default_rng(0)
        qid = rng.integers(0, spec["ids"], spec["q"])
        gid = rng.integers(0, spec["ids"], spec["g"])
        gid[rng.random(spec["g"]) < 0.02] = -1                    # distractors
        qcam = rng.integers(0, spec["cams"], spec["q"]) if spec["query_cams"] else np.full(spec["q"], -1)
        gcam = rng.integers(0, spec["cams"], spec["g"])
        d = rng.random((spec["q"], spec["g"]), dtype=np.float32)
        for start in range(0, spec["q"], 1024):                   # positives drawn closer
            rows = slice(start, start + 1024)
            d[rows] *= np.where(qid[rows, None] == gid[None, :], np.float32(0.35), np.float32(1.0))
        _INPUTS[name] = (d, qid, gid, qcam, gcam)
    return _INPUTS[name]


def _fields(side: str, name: str, device: str) -> dict:
    spec = SIZES[name]
    return {"op": "evaluate", "side": side, "size": spec["label"], "device": device, "dtype": "float32",
            "impl": "reid_fast.evaluate_ranking" if side == "ours"
            else "reid_fast.reference.ranking_metrics (per-query argsort)",
            "shapes": {"distances": [spec["q"], spec["g"]]},
            "same_camera_junk": spec["same_camera_junk"]}


def _ours(benchmark, record, name, device):
    d, qid, gid, qcam, gcam = _inputs(name)
    dist = torch.from_numpy(d).to(device)
    junk = SIZES[name]["same_camera_junk"]

    def call():
        out = evaluate_ranking(dist, qid, gid, qcam, gcam, same_camera_junk=junk)
        reid_bench.synchronize(device)
        return out

    benchmark.group = f"evaluate {name}"
    rounds = 5 if name == "aicity" else 2
    result = benchmark.pedantic(call, rounds=rounds, warmup_rounds=1, iterations=1)
    _RESULTS[(name, device)] = result
    fields = _fields("ours", name, device)
    if device == "cuda":
        peak, method = reid_bench.cuda_peak_allocated(call)
    else:
        peak, method = reid_bench.peak_rss_growth(call)
    fields.update(peak_memory_bytes=peak, peak_memory_method=method, mAP=result.mAP)
    benchmark.extra_info.update(fields)
    record(benchmark, **fields)


def _reference(benchmark, record, name):
    d, qid, gid, qcam, gcam = _inputs(name)
    junk = SIZES[name]["same_camera_junk"]
    benchmark.group = f"evaluate {name}"
    holder = {}

    def call():
        holder["ref"] = ranking_metrics(d, qid, gid, qcam, gcam, same_camera_junk=junk)
        return holder["ref"]

    peak, method = reid_bench.peak_rss_growth(
        lambda: benchmark.pedantic(call, rounds=1, warmup_rounds=0, iterations=1))
    ref = holder["ref"]
    ours = _RESULTS.get((name, "cpu"))
    fields = _fields("baseline", name, "cpu")
    fields.update(peak_memory_bytes=peak, peak_memory_method=method, mAP=ref["mAP"])
    if ours is not None:
        assert ours.mAP == pytest.approx(ref["mAP"], abs=1e-12)
        np.testing.assert_array_equal(ours.first_positive_rank, ref["first"])
        fields["agrees_with_ours"] = True
    benchmark.extra_info.update(fields)
    record(benchmark, **fields)


@pytest.mark.parametrize("device", ["cpu", pytest.param("cuda", marks=pytest.mark.cuda)])
def test_evaluate_aicity_ours(benchmark, record, device):
    _ours(benchmark, record, "aicity", device)


def test_evaluate_aicity_reference(benchmark, record):
    _reference(benchmark, record, "aicity")


@pytest.mark.large
@pytest.mark.parametrize("device", ["cpu", pytest.param("cuda", marks=pytest.mark.cuda)])
def test_evaluate_msmt17_ours(benchmark, record, device):
    _ours(benchmark, record, "msmt17", device)


@pytest.mark.large
def test_evaluate_msmt17_reference(benchmark, record):
    _reference(benchmark, record, "msmt17")


@pytest.mark.parametrize("device", ["cpu", pytest.param("cuda", marks=pytest.mark.cuda)])
def test_post_processing_chain_aicity(benchmark, record, device):
    from reid_fast.post import (Penalties, alpha_query_expansion, camera_penalty,
                                penalised_rerank, track_average)

    size = reid_bench.RERANK_SIZES["aicity"]
    x, y = reid_bench.make_clustered_inputs(size, device, "float32")
    rng = np.random.default_rng(1)
    tracks = np.repeat(np.arange(size.m // 6 + 1), 6)[: size.m]      # tracks of 6 images
    qcam, gcam = rng.integers(0, 40, size.n), rng.integers(0, 40, size.m)
    gid = tracks // 8
    qid = rng.integers(0, gid.max() + 1, size.n)
    steps: dict[str, float] = {}

    def timed(label, fn):
        import time
        reid_bench.synchronize(device)
        start = time.perf_counter()
        out = fn()
        reid_bench.synchronize(device)
        steps[label] = steps.get(label, 0.0) + time.perf_counter() - start
        return out

    def chain():
        q = timed("alpha_query_expansion", lambda: alpha_query_expansion(x, y, 2, 3.0))
        g = timed("track_average", lambda: track_average(y, tracks, 1.0))
        p = timed("camera_penalties", lambda: Penalties(camera_penalty(qcam, gcam, 0.1, device=device),
                                                        camera_penalty(qcam, qcam, 0.1, device=device),
                                                        camera_penalty(gcam, gcam, 0.1, device=device)))
        d = timed("penalised_rerank", lambda: penalised_rerank(q @ g.T, q @ q.T, g @ g.T, p, 20, 6, 0.3))
        return timed("evaluate", lambda: evaluate_ranking(d, qid, gid, qcam, gcam,
                                                          same_camera_junk=False))

    benchmark.group = "post-processing chain aicity"
    rounds = 3
    benchmark.pedantic(chain, rounds=rounds, warmup_rounds=0, iterations=1)
    fields = {"op": "post_chain", "side": "ours", "size": size.name, "device": device,
              "dtype": "float32", "impl": "reid_fast.post + evaluate_ranking",
              "shapes": {"query": [size.n, size.d], "gallery": [size.m, size.d]},
              "step_mean_s": {k: v / rounds for k, v in steps.items()}}
    benchmark.extra_info.update(fields)
    record(benchmark, **fields)
