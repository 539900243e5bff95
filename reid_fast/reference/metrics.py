"""Literal per-query reference of the ranking metrics (a full argsort of every row).

Written from the definitions in :mod:`reid_fast.eval.metrics` the way the public
Market-1501 evaluation scripts do it: sort each query's row, drop the junk, read off the
positives' positions. The tests compare the counting implementation against it and the
benchmarks time it as the baseline.
"""

from __future__ import annotations

import numpy as np


def ranking_metrics(distances: np.ndarray, query_ids, gallery_ids, query_cams=None,
                    gallery_cams=None, same_camera_junk: bool = True,
                    ranks=(1, 5, 10, 20), top: int = 100) -> dict:
    """Returns {"ap", "ap_top", "inp": (q,) float64 with NaN for queries without a
    positive, "first": (q,) 1-based rank of the first positive (0 if none), "positives":
    (q,) their counts, "mAP", "mINP", "mAP_top", "cmc": {k: value}, "num_valid"}."""
    distances = np.asarray(distances)
    if distances.dtype != np.float64:
        distances = distances.astype(np.float32).astype(np.float64)
    q, g = distances.shape
    query_ids, gallery_ids = np.asarray(query_ids), np.asarray(gallery_ids)
    query_cams = np.full(q, -1) if query_cams is None else np.asarray(query_cams)
    gallery_cams = np.full(g, -1) if gallery_cams is None else np.asarray(gallery_cams)
    ap, ap_top, inp = np.full(q, np.nan), np.full(q, np.nan), np.full(q, np.nan)
    first = np.zeros(q, dtype=np.int64)
    positives = np.zeros(q, dtype=np.int64)
    for i in range(q):
        order = np.argsort(distances[i], kind="stable")
        ids, cams = gallery_ids[order], gallery_cams[order]
        junk = ids == -1
        if same_camera_junk and query_cams[i] != -1:
            junk |= (ids == query_ids[i]) & (cams == query_cams[i])
        kept = ids[~junk]
        if query_ids[i] == -1:
            continue
        positive_ranks = np.flatnonzero(kept == query_ids[i]) + 1
        n = len(positive_ranks)
        positives[i] = n
        if n == 0:
            continue
        precision = np.arange(1, n + 1) / positive_ranks
        ap[i] = precision.mean()
        ap_top[i] = precision[positive_ranks <= top].sum() / min(n, top)
        inp[i] = n / positive_ranks[-1]
        first[i] = positive_ranks[0]
    valid = ~np.isnan(ap)

    def mean(values):
        return float(values[valid].mean()) if valid.any() else 0.0

    return {
        "ap": ap, "ap_top": ap_top, "inp": inp, "first": first, "positives": positives,
        "num_valid": int(valid.sum()), "mAP": mean(ap), "mINP": mean(inp), "mAP_top": mean(ap_top),
        "cmc": {k: float((first[valid] <= k).mean()) if valid.any() else 0.0 for k in ranks},
    }
