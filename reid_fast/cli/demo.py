"""A short demonstration of the native ops: ``reid-fast demo``.

Builds random gallery/query features at the AICity 2020 test size, runs
:func:`reid_fast.knn` and :func:`reid_fast.pairwise_distance`, checks a few rows against
torch, and prints what was compiled and how long each op took. Uses a CUDA device when
one is usable (``--device cpu`` forces the CPU).
"""

from __future__ import annotations

import argparse
import json
import time

import torch

import reid_fast


def _timed(fn, device: torch.device) -> tuple[object, float]:
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    start = time.perf_counter()
    result = fn()
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    return result, time.perf_counter() - start


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="reid-fast demo", description=__doc__)
    parser.add_argument("--queries", type=int, default=1052, help="n (default: AICity 2020 test)")
    parser.add_argument("--gallery", type=int, default=18290, help="m (default: AICity 2020 test)")
    parser.add_argument("--dim", type=int, default=512, help="feature dimension")
    parser.add_argument("--k", type=int, default=100, help="neighbours per query")
    parser.add_argument("--device", choices=("auto", "cpu", "cuda"), default="auto")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--json", action="store_true", help="print the summary as JSON")
    args = parser.parse_args(argv)

    use_cuda = args.device == "cuda" or (args.device == "auto" and reid_fast.cuda_available())
    if use_cuda and not reid_fast.cuda_available():
        parser.error("--device cuda: no usable CUDA device (see reid_fast.build_info())")
    device = torch.device("cuda" if use_cuda else "cpu")

    generator = torch.Generator().manual_seed(args.seed)
    query = torch.randn(args.queries, args.dim, generator=generator).to(device)
    gallery = torch.randn(args.gallery, args.dim, generator=generator).to(device)
    query = torch.nn.functional.normalize(query, dim=1)
    gallery = torch.nn.functional.normalize(gallery, dim=1)

    reid_fast.knn(query[:8], gallery, args.k)  # warm-up: threads, allocator, kernels
    (values, indices), knn_seconds = _timed(lambda: reid_fast.knn(query, gallery, args.k), device)
    sample = query[: min(16, args.queries)]
    distances, pairwise_seconds = _timed(
        lambda: reid_fast.pairwise_distance(sample, gallery), device
    )
    expected = torch.cdist(sample.double(), gallery.double()).topk(args.k, largest=False).values
    max_error = float((values[: sample.shape[0]].double() - expected).abs().max())
    consistent = bool(torch.allclose(distances.gather(1, indices[: sample.shape[0]]),
                                     values[: sample.shape[0]], rtol=0, atol=1e-5))

    summary = {
        "device": str(device),
        "queries": args.queries,
        "gallery": args.gallery,
        "dim": args.dim,
        "k": args.k,
        "knn_seconds": round(knn_seconds, 4),
        "pairwise_seconds_16_rows": round(pairwise_seconds, 4),
        "max_abs_error_vs_float64": max_error,
        "knn_matches_pairwise": consistent,
        "build": reid_fast.build_info(),
    }
    if args.json:
        print(json.dumps(summary, indent=2))
    else:
        print(f"reid_fast {reid_fast.__version__} on {device}: {reid_fast.build_info()}")
        print(f"knn: {args.queries} queries x {args.gallery} gallery, d = {args.dim}, "
              f"k = {args.k}: {knn_seconds * 1e3:.1f} ms")
        print(f"largest error against float64 torch.cdist: {max_error:.2e}; "
              f"knn agrees with pairwise_distance: {consistent}")
    return 0 if max_error < 1e-4 and consistent else 1
