"""Ranking rules and the per-query ranking metrics of the native CPU kernel.

The junk rule and the positives are written once here (:func:`junk_mask`,
:func:`positive_mask`) for every Python caller (evaluation on any device, ranked-list
pictures); ``csrc/common/ranking_math.h`` is their native twin. Orders are the stable
top-k of :func:`reid_fast.topk_rows` (ties by the lower index), as in the native kernel.
:func:`reid_fast.eval.evaluate_ranking` is the public entry point of the metrics; it calls
:func:`ranking_per_query` for float32 CPU distances and uses torch ops on other devices and
dtypes (docs/design.md 3.4).
"""

from __future__ import annotations

from typing import Any

import torch
import torch.utils.dlpack

from .._native import _C


def junk_mask(query_ids: Any, query_cams: Any, gallery_ids: Any, gallery_cams: Any,
              same_camera_junk: bool) -> Any:
    """True where a gallery item is junk for a query, ignored by the metrics: identity -1
    (a distractor); and, with ``same_camera_junk`` (Market-1501 / VeRi-776), an item of
    the query's identity seen by the query's camera when that camera is known (!= -1).

    Element-wise with broadcasting, on NumPy arrays or torch tensors (any device): e.g.
    (c, 1) query columns against (1, g) gallery rows give a (c, g) mask."""
    junk = gallery_ids == -1
    if same_camera_junk:
        junk = junk | ((gallery_ids == query_ids) & (gallery_cams == query_cams)
                       & (query_cams != -1))
    return junk


def positive_mask(query_ids: Any, gallery_ids: Any, junk: Any) -> Any:
    """True where a gallery item is a correct match: the query's identity, not junk, and
    the query's identity known (!= -1). Broadcasts like :func:`junk_mask`."""
    return (gallery_ids == query_ids) & ~junk & (query_ids != -1)


def ranking_per_query(distances: torch.Tensor, query_ids: torch.Tensor, gallery_ids: torch.Tensor,
                      query_cams: torch.Tensor, gallery_cams: torch.Tensor,
                      same_camera_junk: bool, top: int) -> tuple[torch.Tensor, ...]:
    """(AP, AP@top, INP) (q,) float64 with NaN for queries without a positive, and
    (first positive rank, number of positives) (q,) int64, for a finite (q, g) float32
    CPU tensor of distances and (q,) / (g,) int64 CPU identities and cameras (-1 = junk
    identity / unknown camera). Definitions: :mod:`reid_fast.eval.metrics`."""
    q = distances.shape[0]
    outputs = [torch.empty(q, dtype=torch.float64) for _ in range(3)]
    outputs += [torch.empty(q, dtype=torch.int64) for _ in range(2)]
    arrays = [distances.contiguous(), query_ids.contiguous(), gallery_ids.contiguous(),
              query_cams.contiguous(), gallery_cams.contiguous(), *outputs]
    _C.ranking_metrics(*(torch.utils.dlpack.to_dlpack(a) for a in arrays),
                       bool(same_camera_junk), int(top))
    return tuple(outputs)
