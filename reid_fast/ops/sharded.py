"""Re-ranking sharded across processes with torch.distributed (docs/design.md 9).

Every process holds the same query and gallery features. The expensive part, the
all-vs-all nearest-neighbour search over the N = q + g items, is split by rows across the
processes and its small results (N x (k1 + 1) neighbour lists and N row maxima) are
gathered everywhere; each process then builds the sparse V' (O(N k1 k2), cheap) and
re-ranks its own slice of the queries against the whole gallery.

Works with any backend that gathers tensors of the features' device: gloo for CPU
tensors, NCCL for CUDA tensors. Launch with torchrun, e.g.
``torchrun --nproc-per-node 2 my_script.py``.
"""

from __future__ import annotations

from dataclasses import astuple
from typing import Any, NamedTuple

import torch
import torch.distributed as dist

from . import _arrays
from .distance import build_has_cuda, pairwise_distance
from .knn import knn
from .params import DEFAULT_RERANK, RerankParams
from .rerank import (
    blend_query_block,
    check_problem_size,
    expanded_neighbourhoods,
    row_scale,
    scaled_to_unit,
)


class QuerySlice(NamedTuple):
    """This process's share of a sharded re-ranking: query rows [start, stop) and their
    (stop - start, g) float32 re-ranked distances."""

    start: int
    stop: int
    distances: Any


def _share(total: int, parts: int, index: int) -> tuple[int, int]:
    """Rows [start, stop) of part ``index`` when ``total`` rows are split as evenly as
    possible into ``parts`` contiguous parts."""
    base, extra = divmod(total, parts)
    start = index * base + min(index, extra)
    return start, start + base + (1 if index < extra else 0)


def _all_gather_rows(local: Any, total: int, parts: int, group: Any) -> Any:
    """The row-wise concatenation of every process's ``local`` rows (torch tensors; the
    parts follow :func:`_share`)."""
    largest = _share(total, parts, 0)[1]
    padded = local.new_zeros((largest,) + tuple(local.shape[1:]))
    padded[: local.shape[0]] = local
    gathered = [torch.empty_like(padded) for _ in range(parts)]
    dist.all_gather(gathered, padded, group=group)
    pieces = []
    for index, piece in enumerate(gathered):
        start, stop = _share(total, parts, index)
        pieces.append(piece[: stop - start])
    return torch.cat(pieces)


def rerank(
    query: Any,
    gallery: Any,
    k1: int = DEFAULT_RERANK.k1,
    k2: int = DEFAULT_RERANK.k2,
    lambda_: float = DEFAULT_RERANK.lambda_,
    *,
    group: Any = None,
) -> QuerySlice:
    """k-reciprocal re-ranking from features, sharded by queries across processes.

    Call it on every process of ``group`` (default: the whole world) with the same
    ``query`` and ``gallery`` torch tensors; each gets the rows of the result for its
    share of the queries, identical to those of :func:`reid_fast.rerank`.

    Args:
        query: (q, d) float32 / float16 / bfloat16 torch tensor (CPU with gloo, CUDA with
            NCCL), q >= 1, finite.
        gallery: (g, d) of the same device and dtype.
        k1, k2, lambda_: as in :func:`reid_fast.rerank`.
        group: the torch.distributed process group (None: the default group).

    Returns:
        :class:`QuerySlice` (start, stop, distances (stop - start, g) float32).
    """
    if not dist.is_available() or not dist.is_initialized():
        raise RuntimeError("reid_fast.ops.sharded.rerank needs torch.distributed to be "
                           "initialised (torch.distributed.init_process_group, or torchrun)")
    k1, k2, lambda_ = astuple(RerankParams(k1, k2, lambda_))
    qa, ga = _arrays.feature_pair(query, gallery, build_has_cuda(), ("query", "gallery"),
                                  always_check_finite=True)
    if qa.framework != "torch":
        raise TypeError(f"query must be a torch.Tensor for torch.distributed, got {qa.framework}")
    q, g = qa.shape[0], ga.shape[0]
    check_problem_size(q, g, k1)
    parts, index = dist.get_world_size(group), dist.get_rank(group)

    features = scaled_to_unit(qa, torch.cat([qa.value, ga.value]))
    n = q + g
    start, stop = _share(n, parts, index)
    first, last = _share(q, parts, index)
    with _arrays.derived_inputs():  # the ops below take what re-ranking derived (ops.rerank)
        _, rank_part, max_part = knn(features[start:stop], features, k1 + 1, "sqeuclidean",
                                     return_row_max=True)
        rank = _all_gather_rows(rank_part, n, parts, group)
        row_max = _all_gather_rows(max_part, n, parts, group)

        scale = row_scale(qa, row_max)
        sparse = expanded_neighbourhoods(rank, scale, k2, features=features)
        dn_qg = pairwise_distance(features[first:last], features[q:], "sqeuclidean")
        dn_qg *= scale[first:last].reshape(last - first, 1)
        distances = blend_query_block(sparse, (first, last), q, dn_qg, lambda_)
    return QuerySlice(first, last, distances)
