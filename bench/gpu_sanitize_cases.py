"""Every CUDA kernel of reid_fast on odd sizes, small enough for compute-sanitizer.

    compute-sanitizer --tool memcheck python bench/gpu_sanitize_cases.py
    python bench/gpu_sanitize_cases.py --device cpu      # the same calls on the CPU

bench/gpu_check.py runs it under memcheck, racecheck, synccheck and initcheck (and, in its
dry run, once on the CPU). The cases: n = 1, sizes that are not multiples of the 64-row
tiles, d = 1, k = m, k1 + 1 = N, k2 = 1, empty Jaccard problems and rows, galleries split
across blocks (knn, topk_rows, Jaccard tiles), float16 and bfloat16 features, the three
re-ranking conventions, and knn / pairwise_distance on the framework-GEMM path (warp
queues of several lengths, the two-pass selection, tile boundaries). Each result is also
compared with the CPU implementation (loose tolerances: this is a sanitizer run; the tests
check agreement precisely), so that the run fails on a wrong answer too. Exit status 0 when every case ran and agreed.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
import torch

import reid_fast
from reid_fast.ops import distance_path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))
import reid_testing as rt  # noqa: E402  (tests/reid_testing.py: the CSR and random-row helpers)


def _close(name: str, got, want, atol: float = 1e-3) -> None:
    got = got.float().cpu().numpy() if isinstance(got, torch.Tensor) else np.asarray(got)
    want = want.float().cpu().numpy() if isinstance(want, torch.Tensor) else np.asarray(want)
    if got.shape != want.shape or not np.allclose(got, want, rtol=1e-3, atol=atol):
        error = np.max(np.abs(got - want)) if got.shape == want.shape else "shape"
        raise AssertionError(f"{name}: differs from the CPU (max error {error}, shapes "
                             f"{got.shape} vs {want.shape})")


def _features(rng: np.random.Generator, rows: int, d: int) -> torch.Tensor:
    return torch.from_numpy(rng.standard_normal((rows, d)).astype(np.float32))


def distance_cases(device: str, rng: np.random.Generator) -> int:
    count = 0
    for n, m, d in [(1, 1, 1), (70, 130, 17), (3, 200, 1)]:
        x, y = _features(rng, n, d), _features(rng, m, d)
        for dtype in (torch.float32, torch.float16, torch.bfloat16):
            xd, yd = x.to(device, dtype), y.to(device, dtype)
            xc, yc = xd.cpu(), yd.cpu()
            for metric in reid_fast.METRICS:
                _close(f"pairwise {metric} {n}x{m}x{d} {dtype}",
                       reid_fast.pairwise_distance(xd, yd, metric),
                       reid_fast.pairwise_distance(xc, yc, metric), atol=5e-2)
                count += 1
    # knn: one query, k = m, tile-odd sizes, and galleries split across blocks (2 x 25000:
    # more than 64 splits on an H100/H200, so the small-n path merges in two levels).
    for n, m, d, k in [(1, 1, 1, 1), (1, 70, 3, 70), (70, 130, 17, 5), (5, 4500, 8, 10),
                       (3, 9000, 4, 64), (2, 25000, 4, 3)]:
        x, y = _features(rng, n, d), _features(rng, m, d)
        for dtype in (torch.float32, torch.bfloat16):
            xd, yd = x.to(device, dtype), y.to(device, dtype)
            values, _, row_max = reid_fast.knn(xd, yd, k, "sqeuclidean", return_row_max=True)
            cpu_values, _, cpu_max = reid_fast.knn(xd.cpu(), yd.cpu(), k, "sqeuclidean", return_row_max=True)
            _close(f"knn {n}x{m}x{d} k={k} {dtype}", values, cpu_values, atol=5e-2)
            _close(f"knn row max {n}x{m}x{d}", row_max, cpu_max, atol=5e-2)
            count += 1
    for n, m, k in [(1, 1, 1), (5, 33, 33), (3, 5000, 50), (2, 20000, 5)]:
        matrix = torch.from_numpy(np.round(rng.random((n, m)) * 50).astype(np.float32))
        values, indices = reid_fast.topk_rows(matrix.to(device), k)
        cpu_values, cpu_indices = reid_fast.topk_rows(matrix, k)
        _close(f"topk_rows {n}x{m} k={k}", values, cpu_values, atol=0)
        _close(f"topk_rows indices {n}x{m} k={k}", indices, cpu_indices, atol=0)
        count += 1
    return count


def framework_path_cases(device: str, rng: np.random.Generator) -> int:
    """knn and pairwise_distance on the framework-GEMM path (docs/design.md 3.1) with small
    tiles (many tile boundaries, tiles narrower than k): warp queues of 32, 64 and 1024
    entries, the two-pass selection above k = 1024, one query; against the CPU's SIMT path."""
    count = 0
    default_tiles = distance_path.TILES
    distance_path.TILES = distance_path.Tiles(rows=5, columns=300)
    try:
        for n, m, d, k in [(1, 1, 1, 1), (7, 700, 9, 33), (70, 130, 17, 5), (3, 1100, 5, 1024),
                           (2, 2600, 4, 1025)]:
            x, y = _features(rng, n, d), _features(rng, m, d)
            for dtype in (torch.float32, torch.float16):
                xd, yd = x.to(device, dtype), y.to(device, dtype)
                values, _, row_max = reid_fast.knn(xd, yd, k, "euclidean", return_row_max=True,
                                                   path="framework")
                cpu_values, _, cpu_max = reid_fast.knn(xd.cpu(), yd.cpu(), k, "euclidean",
                                                       return_row_max=True, path="simt")
                _close(f"knn framework {n}x{m}x{d} k={k} {dtype}", values, cpu_values, atol=5e-2)
                _close(f"knn framework row max {n}x{m}x{d}", row_max, cpu_max, atol=5e-2)
                _close(f"pairwise framework {n}x{m}x{d} {dtype}",
                       reid_fast.pairwise_distance(xd, yd, "cosine", path="framework"),
                       reid_fast.pairwise_distance(xd.cpu(), yd.cpu(), "cosine", path="simt"),
                       atol=5e-2)
                count += 2
    finally:
        distance_path.TILES = default_tiles
    return count


def rerank_cases(device: str, rng: np.random.Generator) -> int:
    count = 0
    # k1 + 1 = N, k1 odd, k2 = 1 and the defaults; float16 / bfloat16 features.
    for q, g, d, k1, k2 in [(3, 4, 5, 6, 3), (1, 20, 8, 5, 1), (40, 60, 16, 20, 6)]:
        query, gallery = _features(rng, q, d), _features(rng, g, d)
        want = reid_fast.rerank(query, gallery, k1=k1, k2=k2)
        for dtype in (torch.float32, torch.float16, torch.bfloat16):
            got = reid_fast.rerank(query.to(device, dtype), gallery.to(device, dtype), k1=k1, k2=k2)
            if dtype == torch.float32:
                _close(f"rerank {q}x{g} k1={k1} k2={k2}", got, want, atol=1e-2)
            count += 1
        qn = torch.nn.functional.normalize(query, dim=1).to(device)
        gn = torch.nn.functional.normalize(gallery, dim=1).to(device)
        s_qg, s_qq, s_gg = qn @ gn.T, qn @ qn.T, gn @ gn.T
        reid_fast.rerank_similarities(s_qg, s_qq, s_gg, k1=k1, k2=k2)
        reid_fast.rerank_distances(torch.cdist(qn, gn), torch.cdist(qn, qn), torch.cdist(gn, gn), k1=k1, k2=k2)
        count += 2
    return count


def _sparse(rng: np.random.Generator, rows: int, columns: int, density: float, device: str):
    return rt.sparse_rows(rt.random_rows(rng, rows, columns, density, empty_rows=0.2), "torch", device)


def jaccard_cases(device: str, rng: np.random.Generator) -> int:
    count = 0
    columns = 40
    for q_rows, g_rows, q_splits, g_splits in [
        (9, 20, [0, 4, 4, 9], [0, 12, 15, 20]),      # a problem without queries
        (9, 20, [0, 3, 9, 9], [0, 0, 10, 20]),        # without gallery, then without queries
        (3, 9000, [0, 1, 3], [0, 5000, 9000]),        # several 4,096-row tiles
    ]:
        seed = int(rng.integers(1 << 31))
        sides = []
        for where in (device, "cpu"):
            local = np.random.default_rng(seed)
            sides.append((_sparse(local, q_rows, columns, 0.3, where), _sparse(local, g_rows, columns, 0.1, where)))
        got = reid_fast.jaccard_distance_batched(*sides[0], q_splits, g_splits)
        want = reid_fast.jaccard_distance_batched(*sides[1], q_splits, g_splits)
        for b, (a, w) in enumerate(zip(got, want)):
            _close(f"jaccard problem {b} of {q_rows}x{g_rows}", a, w, atol=1e-5)
        count += 1
    return count


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--device", default="cuda", help="cuda (default) or cpu")
    args = parser.parse_args(argv)
    if args.device != "cpu" and not reid_fast.cuda_available():
        print(f"error: CUDA is not usable: {reid_fast.cuda_status()['reason']}", file=sys.stderr)
        return 2
    rng = np.random.default_rng(0)
    start = time.perf_counter()
    counts = {}
    for name, cases in (("distance", distance_cases), ("framework_path", framework_path_cases),
                        ("rerank", rerank_cases), ("jaccard", jaccard_cases)):
        counts[name] = cases(args.device, rng)
        if args.device != "cpu":
            torch.cuda.synchronize()
    print(f"gpu_sanitize_cases: {sum(counts.values())} cases on {args.device} ({counts}) in "
          f"{time.perf_counter() - start:.1f} s, all agree with the CPU")
    return 0


if __name__ == "__main__":
    sys.exit(main())
