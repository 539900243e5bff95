"""Literal per-query reference of the ranking metrics (full argsort, Python loop).

Written from the definitions in :mod:`reid_fast.eval.metrics`, the way the public
Market-1501 evaluation scripts do it; the tests compare the fast version against it.
"""

from __future__ import annotations

import numpy as np


def ranking_metrics(distances: np.ndarray, query_ids, gallery_ids, query_cams=None,
                    gallery_cams=None, same_camera_junk: bool = True,
                    ranks=(1, 5, 10, 20)) -> dict:
    """Returns {"ap": (q,) with NaN for queries without a positive, "inp": (q,),
    "first": (q,) 1-based rank of the first positive (0 if none), "mAP", "mINP",
    "cmc": {k: value}, "num_valid"}."""
    distances = np.asarray(distances, dtype=np.float64)
    q, g = distances.shape
    query_cams = np.full(q, -1) if query_cams is None else np.asarray(query_cams)
    gallery_cams = np.full(g, -1) if gallery_cams is None else np.asarray(gallery_cams)
    ap = np.full(q, np.nan)
    inp = np.full(q, np.nan)
    first = np.zeros(q, dtype=np.int64)
    for i in range(q):
        order = np.argsort(distances[i], kind="stable")
        kept = []
        for j in order:
            junk = gallery_ids[j] == -1
            if (same_camera_junk and gallery_ids[j] == query_ids[i]
                    and gallery_cams[j] == query_cams[i] and query_cams[i] != -1):
                junk = True
            if not junk:
                kept.append(j)
        positive_ranks = [r + 1 for r, j in enumerate(kept)
                          if query_ids[i] != -1 and gallery_ids[j] == query_ids[i]]
        if not positive_ranks:
            continue
        ap[i] = np.mean([(h + 1) / r for h, r in enumerate(positive_ranks)])
        inp[i] = len(positive_ranks) / positive_ranks[-1]
        first[i] = positive_ranks[0]
    valid = ~np.isnan(ap)
    return {
        "ap": ap, "inp": inp, "first": first, "num_valid": int(valid.sum()),
        "mAP": float(ap[valid].mean()) if valid.any() else 0.0,
        "mINP": float(inp[valid].mean()) if valid.any() else 0.0,
        "cmc": {k: float((first[valid] <= k).mean()) if valid.any() else 0.0 for k in ranks},
    }
