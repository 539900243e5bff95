"""Query-sharded re-ranking with torch.distributed: two CPU processes on gloo must give
exactly the rows of the single-process result."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.distributed as dist
import torch.multiprocessing as mp

import reid_fast
import reid_fast.ops.sharded


def _features(seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    generator = torch.Generator().manual_seed(seed)
    query = torch.randn(23, 16, generator=generator)
    gallery = torch.randn(140, 16, generator=generator)
    return query, gallery


def _worker(rank: int, world: int, init_file: str, out_dir: str, k1: int, k2: int) -> None:
    dist.init_process_group("gloo", init_method=f"file://{init_file}", rank=rank, world_size=world)
    try:
        query, gallery = _features(7)
        part = reid_fast.ops.sharded.rerank(query, gallery, k1=k1, k2=k2, lambda_=0.3)
        np.savez(f"{out_dir}/rank{rank}.npz", start=part.start, stop=part.stop,
                 distances=part.distances.numpy())
    finally:
        dist.destroy_process_group()


@pytest.mark.parametrize("k1, k2", [(20, 6), (5, 1)])
def test_two_gloo_processes_match_single_process(tmp_path, k1, k2):
    world = 2
    mp.spawn(_worker, args=(world, str(tmp_path / "init"), str(tmp_path), k1, k2), nprocs=world,
             join=True)
    query, gallery = _features(7)
    expected = reid_fast.rerank(query, gallery, k1=k1, k2=k2, lambda_=0.3).numpy()
    covered = 0
    for rank in range(world):
        part = np.load(tmp_path / f"rank{rank}.npz")
        start, stop = int(part["start"]), int(part["stop"])
        assert start == covered, "the slices must tile the queries in rank order"
        # Same arithmetic per element whatever the row split: bitwise equal.
        np.testing.assert_array_equal(part["distances"], expected[start:stop])
        covered = stop
    assert covered == query.shape[0]


def test_needs_an_initialised_process_group():
    query, gallery = _features(1)
    with pytest.raises(RuntimeError, match="init_process_group"):
        reid_fast.ops.sharded.rerank(query, gallery)
