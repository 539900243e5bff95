"""Per-query ranking metrics by the native CPU kernel (no sort of the q x g matrix).

:func:`reid_fast.eval.evaluate_ranking` is the public entry point; it calls this for
float32 CPU distances and uses torch ops on other devices and dtypes.
"""

from __future__ import annotations

import torch
import torch.utils.dlpack

from .._native import _C


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
