"""Slow, literal NumPy float64 oracles of the public ops (for tests and documentation).

Each function here is written from its op's definition, not from the kernels, and returns
float64 NumPy arrays whatever the input type.
"""

from __future__ import annotations

from .distance import COSINE_EPS, METRICS, knn, pairwise_distance, rank_rows
from .metrics import ranking_metrics
from .rerank import (
    jaccard_distance,
    rerank,
    rerank_distances,
    rerank_from_matrix,
    rerank_similarities,
    topk_rows,
)

__all__ = [
    "COSINE_EPS",
    "METRICS",
    "jaccard_distance",
    "knn",
    "pairwise_distance",
    "rank_rows",
    "ranking_metrics",
    "rerank",
    "rerank_distances",
    "rerank_from_matrix",
    "rerank_similarities",
    "topk_rows",
]
