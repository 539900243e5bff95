"""Ranking metrics of re-identification: mAP, CMC rank-k and mINP, with the junk rules.

Definitions (per query, over the gallery ordered by increasing distance, ties broken by
gallery index):
- junk gallery items are ignored (removed from the ranked list): identity -1, and, under
  the Market-1501 / VeRi-776 rule (``same_camera_junk``), items of the query's identity
  seen by the query's camera. An unknown query camera (-1) matches no camera, so such a
  query (AICity) is not camera-filtered.
- positives are the remaining items with the query's identity, at 1-based ranks
  r_1 < ... < r_n among the non-junk items.
- AP = (1/n) sum_j j / r_j;  CMC@k = [r_1 <= k];  INP = n / r_n (Ye et al. 2021).
- a query with no positive (n = 0) has no AP: it is excluded from the means and counted.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Sequence

import numpy as np
import torch

DEFAULT_RANKS = (1, 5, 10, 20)


@dataclass
class RankingMetrics:
    """Mean metrics over the valid queries, and the per-query values.

    ``average_precision`` and ``first_positive_rank`` have one entry per query (NaN / 0
    for a query without a valid positive); ``valid`` marks the queries that count.
    """

    mAP: float
    cmc: dict[int, float]
    mINP: float
    num_queries: int
    num_valid: int
    average_precision: np.ndarray = field(repr=False)
    first_positive_rank: np.ndarray = field(repr=False)
    valid: np.ndarray = field(repr=False)

    @property
    def num_without_positive(self) -> int:
        return self.num_queries - self.num_valid

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready summary: mAP, rank-k, mINP (fractions in [0, 1]) and the counts."""
        out: dict[str, Any] = {"mAP": self.mAP}
        out.update({f"rank{k}": v for k, v in self.cmc.items()})
        out.update(mINP=self.mINP, num_queries=self.num_queries, num_valid=self.num_valid)
        return out

    def summary(self) -> str:
        """One line: ``mAP 61.2%  R1 80.1%  R5 ...  mINP ...``, plus excluded queries."""
        parts = [f"mAP {100 * self.mAP:5.1f}%"]
        parts += [f"R{k} {100 * v:5.1f}%" for k, v in self.cmc.items()]
        parts.append(f"mINP {100 * self.mINP:5.1f}%")
        if self.num_without_positive:
            parts.append(f"({self.num_without_positive} of {self.num_queries} queries "
                         "without a valid positive excluded)")
        return "  ".join(parts)


def _as_long_tensor(values: Any, name: str, length: int, device: torch.device) -> torch.Tensor:
    out = torch.as_tensor(np.asarray(values) if not torch.is_tensor(values) else values)
    if out.dim() != 1 or out.shape[0] != length:
        raise ValueError(f"{name} must be a 1-D sequence of length {length}; got shape "
                         f"{tuple(out.shape)}")
    if out.is_floating_point() or out.is_complex():
        raise TypeError(f"{name} must hold integers; got dtype {out.dtype}")
    return out.to(device=device, dtype=torch.int64)


def evaluate_ranking(distances: Any, query_ids: Any, gallery_ids: Any,
                     query_cams: Any = None, gallery_cams: Any = None, *,
                     same_camera_junk: bool = True,
                     ranks: Sequence[int] = DEFAULT_RANKS,
                     chunk_rows: int = 256) -> RankingMetrics:
    """mAP, CMC and mINP of a query x gallery distance matrix (smaller = closer).

    Args:
        distances: (q, g) float torch tensor (CPU or CUDA) or NumPy array; finite.
        query_ids, gallery_ids: (q,) / (g,) integer identities; -1 = junk.
        query_cams, gallery_cams: (q,) / (g,) integer cameras, -1 unknown; None = all
            unknown (no camera filtering).
        same_camera_junk: ignore same-identity gallery items from the query's camera.
        ranks: the CMC ranks to report (each >= 1).
        chunk_rows: queries processed at once (memory ~ chunk_rows x g x 24 bytes).

    Runs on the device of ``distances``; returns Python floats and NumPy arrays.
    """
    dist = torch.as_tensor(distances) if not torch.is_tensor(distances) else distances
    if dist.dim() != 2:
        raise ValueError(f"distances must be 2-D (q, g); got shape {tuple(dist.shape)}")
    q, g = dist.shape
    device = dist.device
    if not all(int(k) >= 1 for k in ranks):
        raise ValueError(f"ranks must all be >= 1; got {list(ranks)}")
    qid = _as_long_tensor(query_ids, "query_ids", q, device)
    gid = _as_long_tensor(gallery_ids, "gallery_ids", g, device)
    unknown_q = torch.full((q,), -1, dtype=torch.int64)
    unknown_g = torch.full((g,), -1, dtype=torch.int64)
    qcam = _as_long_tensor(unknown_q if query_cams is None else query_cams, "query_cams", q, device)
    gcam = _as_long_tensor(unknown_g if gallery_cams is None else gallery_cams, "gallery_cams",
                           g, device)
    if dist.is_floating_point() and q and g:
        lo, hi = torch.aminmax(dist)
        if not (torch.isfinite(lo) and torch.isfinite(hi)):
            raise ValueError("distances must be finite; got NaN or Inf")

    ap = torch.full((q,), float("nan"), dtype=torch.float64, device=device)
    inp = torch.full((q,), float("nan"), dtype=torch.float64, device=device)
    first = torch.zeros(q, dtype=torch.int64, device=device)
    for start in range(0, q, chunk_rows):
        stop = min(start + chunk_rows, q)
        order = torch.argsort(dist[start:stop], dim=1, stable=True)
        ids, cams = gid[order], gcam[order]
        qi, qc = qid[start:stop, None], qcam[start:stop, None]
        junk = ids == -1
        if same_camera_junk:
            junk |= (ids == qi) & (cams == qc) & (qc != -1)
        good = (ids == qi) & ~junk & (qi != -1)
        position = torch.cumsum(~junk, dim=1)                  # 1-based rank among non-junk
        hits = torch.cumsum(good, dim=1)
        n = good.sum(dim=1)
        has = n > 0
        precision_at_hits = torch.where(good, hits.double() / position.double(), 0.0)
        ap[start:stop] = torch.where(has, precision_at_hits.sum(dim=1) / n.clamp(min=1), ap[start:stop])
        big = torch.iinfo(torch.int64).max
        first[start:stop] = torch.where(good, position, big).amin(dim=1).masked_fill(~has, 0)
        last = torch.where(good, position, 0).amax(dim=1)
        inp[start:stop] = torch.where(has, n.double() / last.clamp(min=1), inp[start:stop])

    valid = ~torch.isnan(ap)
    num_valid = int(valid.sum())
    first_np = first.cpu().numpy()
    valid_np = valid.cpu().numpy()
    if num_valid:
        mean_ap = float(ap[valid].mean())
        mean_inp = float(inp[valid].mean())
        cmc = {int(k): float(((first_np >= 1) & (first_np <= k))[valid_np].mean()) for k in ranks}
    else:
        mean_ap = mean_inp = 0.0
        cmc = {int(k): 0.0 for k in ranks}
    return RankingMetrics(mAP=mean_ap, cmc=cmc, mINP=mean_inp, num_queries=q,
                          num_valid=num_valid, average_precision=ap.cpu().numpy(),
                          first_positive_rank=first_np, valid=valid_np)
