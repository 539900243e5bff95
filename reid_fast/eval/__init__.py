"""Evaluation: ranking metrics (mAP, CMC, mINP) with the Market / VeRi / AICity junk rules."""

from .metrics import DEFAULT_RANKS, RankingMetrics, evaluate_ranking

__all__ = ["DEFAULT_RANKS", "RankingMetrics", "evaluate_ranking"]
