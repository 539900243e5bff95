"""Slow, literal NumPy float64 oracles of the public ops (for tests and documentation).

Each function here is written from its op's definition, not from the kernels, and returns
float64 NumPy arrays whatever the input type.
"""

from __future__ import annotations

from .distance import COSINE_EPS, METRICS, knn, pairwise_distance, rank_rows

__all__ = ["COSINE_EPS", "METRICS", "knn", "pairwise_distance", "rank_rows"]
