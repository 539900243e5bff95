"""Ranking metrics of re-identification: mAP, CMC rank-k, mINP and the AICity mAP@100,
with the junk rules, computed without sorting the query x gallery matrix.

Definitions (per query, over the gallery ordered by increasing distance, ties broken by
gallery index):
- junk gallery items are ignored (removed from the ranked list): identity -1, and, under
  the Market-1501 / VeRi-776 rule (``same_camera_junk``), items of the query's identity
  seen by the query's camera. An unknown query camera (-1) matches no camera, so such a
  query (AICity) is not camera-filtered.
- positives are the remaining items with the query's identity, at 1-based ranks
  r_1 < ... < r_n among the non-junk items.
- AP = (1/n) sum_j j / r_j;  CMC@k = [r_1 <= k];  INP = n / r_n (Ye et al. 2021).
- AP@K (the AICity server's rank-K mAP, K = 100) = (1 / min(n, K)) sum_{j: r_j <= K} j / r_j:
  only the top K of the list count, normalised by the number of positives that fit in it.
- a query with no positive (n = 0) has no AP: it is excluded from the means and counted.

How (docs/design.md 3.4): only the ranks of the positives are needed. With a query's n
positives sorted by (distance, index), a non-junk negative that precedes exactly b of
them adds one to the rank of every later positive, so r_{j+1} = 1 + j + #{negatives with
b <= j}. b comes from a binary search of each distance among the query's n positive
distances (ties resolved by index), and the counts from a histogram over b: O(q g log n)
work and O(chunk x g) memory instead of a full O(q g log g) sort.
"""

from __future__ import annotations

import numbers
from dataclasses import dataclass, field
from typing import Any, Sequence

import numpy as np
import torch

from .. import validation
from ..ops.ranking import junk_mask, positive_mask, ranking_per_query

DEFAULT_RANKS = (1, 5, 10, 20)
AICITY_MAP_TOP = 100
_CHUNK_ELEMENTS = 1 << 24


@dataclass
class RankingMetrics:
    """Mean metrics over the valid queries, and the per-query values.

    Per-query arrays have one entry per query: ``average_precision``,
    ``average_precision_at_top`` and ``inverse_negative_penalty`` (float64, NaN for a query
    without a valid positive), ``first_positive_rank`` (int64, 1-based, 0 if none),
    ``num_positives`` (int64) and ``valid`` (bool, the queries that count).
    ``mAP_top`` is the mean of AP@``top`` (the AICity server's mAP when ``top`` = 100).
    """

    mAP: float
    cmc: dict[int, float]
    mINP: float
    mAP_top: float
    top: int
    num_queries: int
    num_valid: int
    average_precision: np.ndarray = field(repr=False)
    average_precision_at_top: np.ndarray = field(repr=False)
    inverse_negative_penalty: np.ndarray = field(repr=False)
    first_positive_rank: np.ndarray = field(repr=False)
    num_positives: np.ndarray = field(repr=False)
    valid: np.ndarray = field(repr=False)

    @property
    def num_without_positive(self) -> int:
        return self.num_queries - self.num_valid

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready summary: mAP, rank-k, mINP, mAP@top (fractions in [0, 1]) and the
        counts."""
        out: dict[str, Any] = {"mAP": self.mAP}
        out.update({f"rank{k}": v for k, v in self.cmc.items()})
        out.update({"mINP": self.mINP, f"mAP@{self.top}": self.mAP_top,
                    "num_queries": self.num_queries, "num_valid": self.num_valid})
        return out

    def per_query(self) -> dict[str, np.ndarray]:
        """The per-query arrays by name (for tables, plots and JSON)."""
        return {"average_precision": self.average_precision,
                f"average_precision@{self.top}": self.average_precision_at_top,
                "inverse_negative_penalty": self.inverse_negative_penalty,
                "first_positive_rank": self.first_positive_rank,
                "num_positives": self.num_positives, "valid": self.valid}

    def summary(self) -> str:
        """One line: ``mAP 61.2%  R1 80.1%  R5 ...  mINP ...  mAP@100 ...``, plus the
        excluded queries."""
        parts = [f"mAP {100 * self.mAP:5.1f}%"]
        parts += [f"R{k} {100 * v:5.1f}%" for k, v in self.cmc.items()]
        parts.append(f"mINP {100 * self.mINP:5.1f}%")
        parts.append(f"mAP@{self.top} {100 * self.mAP_top:5.1f}%")
        if self.num_without_positive:
            parts.append(f"({self.num_without_positive} of {self.num_queries} queries "
                         "without a valid positive excluded)")
        return "  ".join(parts)


_INT64_MAX = int(np.iinfo(np.int64).max)


def _numpy_input(name: str, values: Any) -> np.ndarray:
    """``values`` as a NumPy array torch can take: negative strides (``a[::-1]``) copied;
    strings, objects and other non-numbers refused with a TypeError naming ``name``."""
    array = np.asarray(values)
    if array.dtype.kind not in "biufc":
        if array.dtype.kind == "O" and all(isinstance(v, numbers.Integral) for v in array.flat):
            raise ValueError(f"{name} must be integers between {-_INT64_MAX - 1} and "
                             f"{_INT64_MAX} (int64); got {max(array.flat, key=abs)}")
        raise TypeError(f"{name} must hold numbers; got dtype {array.dtype}"
                        + (f" (first value {array.reshape(-1)[:1].tolist()[0]!r})" if array.size else ""))
    return array.copy() if any(stride < 0 for stride in array.strides) else array


def _from_dlpack(values: Any) -> Any:
    """An array of another framework that exports DLPack (CuPy, whose arrays refuse an
    implicit copy to the host) as a torch tensor on its device, zero copy; torch tensors,
    NumPy arrays and sequences as they are."""
    if hasattr(values, "__dlpack__") and not isinstance(values, (np.ndarray, torch.Tensor)):
        return torch.from_dlpack(values)
    return values


def _as_long_tensor(values: Any, name: str, length: int, device: torch.device) -> torch.Tensor:
    """(length,) integer ``values`` (torch tensor, NumPy or CuPy array, sequence; any
    device) as an int64 tensor on ``device``."""
    values = _from_dlpack(values)
    if not torch.is_tensor(values) or values.dtype == torch.uint64:
        array = _numpy_input(name, values.cpu().numpy() if torch.is_tensor(values) else values)
        if array.dtype.kind == "u" and array.size and int(array.max()) > _INT64_MAX:
            raise ValueError(f"{name} must be integers <= {_INT64_MAX} (int64); got "
                             f"{int(array.max())}")
        values = torch.as_tensor(array.astype(np.int64) if array.dtype.kind == "u" else array)
    if values.dim() != 1 or values.shape[0] != length:
        raise ValueError(f"{name} must be a 1-D sequence of length {length}; got shape "
                         f"{tuple(values.shape)}")
    if (values.is_floating_point() or values.is_complex()) and values.numel():
        raise TypeError(f"{name} must hold integers; got dtype {values.dtype}")
    return values.to(device=device, dtype=torch.int64)


def _as_distances(distances: Any) -> torch.Tensor:
    dist = _from_dlpack(distances)
    if not torch.is_tensor(dist):
        dist = torch.as_tensor(_numpy_input("distances", dist))
    if dist.dim() != 2:
        raise ValueError(f"distances must be 2-D (q, g); got shape {tuple(dist.shape)}")
    if not dist.is_floating_point():
        raise TypeError(f"distances must be a float matrix; got dtype {dist.dtype}")
    if dist.dtype not in (torch.float32, torch.float64):
        dist = dist.float()                          # float16 / bfloat16: exact in float32
    if dist.numel():
        lo, hi = torch.aminmax(dist)
        if not (torch.isfinite(lo) and torch.isfinite(hi)):
            bad = (~torch.isfinite(dist)).nonzero()[0].tolist()
            raise ValueError(f"distances must be finite; got {dist[bad[0], bad[1]].item()} at "
                             f"query {bad[0]}, gallery {bad[1]}")
    return dist


def _positive_ranks(dist: torch.Tensor, junk: torch.Tensor,
                    good: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """1-based ranks among non-junk items of each row's positives, in rank order.

    dist (c, g) finite; junk, good (c, g) bool, disjoint. Returns (ranks (c, P) int64,
    num_positives (c,)) with P = the largest count; entries past a row's count are 0.
    """
    c, g = dist.shape
    device = dist.device
    n = good.sum(dim=1)
    width = int(n.max()) if c else 0
    if width == 0:
        return torch.zeros(c, 0, dtype=torch.int64, device=device), n
    rows, cols = good.nonzero(as_tuple=True)                  # row-major: cols ascending
    row_start = torch.cumsum(n, 0) - n
    slot = torch.arange(rows.numel(), device=device) - row_start[rows]
    # Positive distances per row, sorted by (distance, index); padding sorts last.
    pos_d = torch.full((c, width), float("inf"), dtype=dist.dtype, device=device)
    pos_i = torch.full((c, width), g, dtype=torch.int64, device=device)
    pos_d[rows, slot] = dist[rows, cols]
    pos_i[rows, slot] = cols
    pos_d, order = torch.sort(pos_d, dim=1, stable=True)
    pos_i = pos_i.gather(1, order)

    negative = ~(junk | good)
    # b = the number of positives before each item: those strictly closer ...
    before = torch.searchsorted(pos_d, dist.contiguous(), side="left")
    # ... plus those at the same distance with a lower gallery index (rare: exact ties).
    tie = negative & (pos_d.gather(1, before.clamp(max=width - 1)) == dist)
    if bool(tie.any()):
        tr, tc = tie.nonzero(as_tuple=True)
        same = (pos_d[tr] == dist[tr, tc, None]) & (pos_i[tr] < tc[:, None])
        before[tr, tc] += same.sum(dim=1)
    # Negatives counted per b; the non-negatives go to a spare bin with weight 0.
    hist = torch.zeros(c, width + 1, dtype=torch.int64, device=device)
    hist.scatter_add_(1, before.masked_fill_(~negative, width), negative.to(torch.int64))
    preceding = torch.cumsum(hist[:, :width], dim=1)
    j = torch.arange(width, device=device)
    ranks = (1 + j + preceding) * (j < n[:, None])
    return ranks, n


def _torch_per_query(dist: torch.Tensor, qid: torch.Tensor, gid: torch.Tensor,
                     qcam: torch.Tensor, gcam: torch.Tensor, same_camera_junk: bool, top: int,
                     chunk_rows: int) -> tuple[torch.Tensor, ...]:
    """The same per-query values with torch ops on the device of ``dist`` (CUDA, and
    float64 on the CPU): binary search by ``torch.searchsorted``, chunk_rows queries at
    a time."""
    q = dist.shape[0]
    device = dist.device
    nan = float("nan")
    ap = torch.full((q,), nan, dtype=torch.float64, device=device)
    ap_top = torch.full((q,), nan, dtype=torch.float64, device=device)
    inp = torch.full((q,), nan, dtype=torch.float64, device=device)
    first = torch.zeros(q, dtype=torch.int64, device=device)
    count = torch.zeros(q, dtype=torch.int64, device=device)
    for start in range(0, q, chunk_rows):
        stop = min(start + chunk_rows, q)
        qi, qc = qid[start:stop, None], qcam[start:stop, None]
        junk = junk_mask(qi, qc, gid[None, :], gcam[None, :], same_camera_junk)
        good = positive_mask(qi, gid[None, :], junk)
        pos_rank, n = _positive_ranks(dist[start:stop], junk, good)
        has = n > 0
        r = pos_rank.double()
        hits = torch.arange(1, r.shape[1] + 1, device=device, dtype=torch.float64)
        precision = torch.where(pos_rank > 0, hits / r.clamp(min=1), 0.0)
        in_top = (pos_rank > 0) & (pos_rank <= top)
        nd = n.double().clamp(min=1)
        ap[start:stop] = torch.where(has, precision.sum(dim=1) / nd, nan)
        ap_top[start:stop] = torch.where(
            has, torch.where(in_top, precision, 0.0).sum(dim=1) / nd.clamp(max=top), nan)
        if r.shape[1]:
            last = pos_rank.gather(1, (n - 1).clamp(min=0)[:, None])[:, 0]
            inp[start:stop] = torch.where(has, n.double() / last.clamp(min=1), nan)
            first[start:stop] = pos_rank[:, 0]
        count[start:stop] = n
    return ap, ap_top, inp, first, count


def evaluate_ranking(distances: Any, query_ids: Any, gallery_ids: Any,
                     query_cams: Any = None, gallery_cams: Any = None, *,
                     same_camera_junk: bool = True,
                     ranks: Sequence[int] = DEFAULT_RANKS,
                     top: int = AICITY_MAP_TOP,
                     chunk_rows: int | None = None) -> RankingMetrics:
    """mAP, CMC, mINP and mAP@``top`` of a query x gallery distance matrix (smaller =
    closer), with no full sort (see the module docstring).

    Args:
        distances: (q, g) float matrix, finite: torch tensor (CPU or CUDA), NumPy array or
            a DLPack-capable array (CuPy). float16 / bfloat16 are widened to float32.
        query_ids, gallery_ids: (q,) / (g,) integer identities; -1 = junk. Torch tensors,
            NumPy or CuPy arrays (on any device: moved to that of ``distances``) or
            sequences.
        query_cams, gallery_cams: (q,) / (g,) integer cameras, -1 unknown, of the same
            kinds; None = all unknown (no camera filtering).
        same_camera_junk: ignore same-identity gallery items from the query's camera
            (Market-1501 / VeRi-776); False for AICity.
        ranks: the CMC ranks to report (each >= 1).
        top: K of the AICity-style AP@K (default 100).
        chunk_rows: queries processed at once; default keeps a chunk near 16 M elements
            (memory about 20 bytes per element).

    Runs on the device of ``distances``; returns Python floats and NumPy arrays.
    """
    dist = _as_distances(distances)
    q, g = dist.shape
    device = dist.device
    ranks = [validation.integer(f"ranks[{i}]", k, 1) for i, k in enumerate(ranks)]
    top = validation.integer("top", top, 1, validation.INT64_MAX, high_name="the int64 maximum")
    chunk_rows = (max(1, _CHUNK_ELEMENTS // max(g, 1)) if chunk_rows is None
                  else validation.integer("chunk_rows", chunk_rows, 1))
    qid = _as_long_tensor(query_ids, "query_ids", q, device)
    gid = _as_long_tensor(gallery_ids, "gallery_ids", g, device)
    qcam = _as_long_tensor(torch.full((q,), -1) if query_cams is None else query_cams,
                           "query_cams", q, device)
    gcam = _as_long_tensor(torch.full((g,), -1) if gallery_cams is None else gallery_cams,
                           "gallery_cams", g, device)

    if dist.device.type == "cpu" and dist.dtype == torch.float32:
        per_query = ranking_per_query(dist, qid, gid, qcam, gcam, same_camera_junk, top)
    else:
        per_query = _torch_per_query(dist, qid, gid, qcam, gcam, same_camera_junk, top,
                                     chunk_rows)
    ap, ap_top, inp, first, count = per_query

    valid = ~torch.isnan(ap)
    num_valid = int(valid.sum())
    first_np = first.cpu().numpy()
    valid_np = valid.cpu().numpy()
    if num_valid:
        means = [float(x[valid].mean()) for x in (ap, inp, ap_top)]
        cmc = {k: float(((first_np >= 1) & (first_np <= k))[valid_np].mean()) for k in ranks}
    else:
        means = [0.0, 0.0, 0.0]
        cmc = {k: 0.0 for k in ranks}
    return RankingMetrics(mAP=means[0], cmc=cmc, mINP=means[1], mAP_top=means[2], top=top,
                          num_queries=q, num_valid=num_valid,
                          average_precision=ap.cpu().numpy(),
                          average_precision_at_top=ap_top.cpu().numpy(),
                          inverse_negative_penalty=inp.cpu().numpy(),
                          first_positive_rank=first_np, num_positives=count.cpu().numpy(),
                          valid=valid_np)
