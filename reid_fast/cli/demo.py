"""A short demonstration of the native ops: ``reid-fast demo``.

Builds random gallery/query features at the AICity 2020 test size, runs
:func:`reid_fast.knn` and :func:`reid_fast.pairwise_distance`, checks a few rows against
torch, and prints what was compiled and how long each op took. Uses a CUDA device when
one is usable (``--device cpu`` forces the CPU).
"""

from __future__ import annotations

import argparse
import time

import torch

import reid_fast

from .. import validation
from ..devices import resolve_device
from . import _common


def _timed(fn, device: torch.device) -> tuple[object, float]:
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    start = time.perf_counter()
    result = fn()
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    return result, time.perf_counter() - start


def build_parser() -> argparse.ArgumentParser:
    p = _common.parser("demo", "a short demonstration and timing of the native ops")
    p.add_argument("--queries", type=int, default=1052, help="n (default: AICity 2020 test)")
    p.add_argument("--gallery", type=int, default=18290, help="m (default: AICity 2020 test)")
    p.add_argument("--dim", type=int, default=512, help="feature dimension")
    p.add_argument("--k", type=int, default=100, help="neighbours per query")
    p.add_argument("--seed", type=int, default=0, help="seed of the random features")
    _common.add_device(p)
    _common.add_json(p)
    return p


def demo(args: argparse.Namespace) -> int:
    validation.integer("--queries", args.queries, 1)
    validation.integer("--gallery", args.gallery, 1)
    validation.integer("--dim", args.dim, 1)
    validation.integer("--k", args.k, 1, args.gallery, high_name="--gallery")
    device = resolve_device(args.device)

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
    text = (f"reid_fast {reid_fast.__version__} on {device}: {reid_fast.build_info()}\n"
            f"knn: {args.queries} queries x {args.gallery} gallery, d = {args.dim}, "
            f"k = {args.k}: {knn_seconds * 1e3:.1f} ms\n"
            f"largest error against float64 torch.cdist: {max_error:.2e}; "
            f"knn agrees with pairwise_distance: {consistent}")
    _common.emit(args, text, summary)
    return 0 if max_error < 1e-4 and consistent else 1


def main(argv: list[str] | None = None) -> int:
    return _common.run(demo, build_parser().parse_args(argv))
