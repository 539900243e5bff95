"""Evaluation: ranking metrics (mAP, CMC, mINP) with the Market / VeRi / AICity junk
rules, and the AICity 2020 track 2 submission format."""

from .metrics import DEFAULT_RANKS, RankingMetrics, evaluate_ranking
from .submission import (
                         AICITY_TOP,
                         ranked_gallery,
                         read_aicity_submission,
                         write_aicity_submission,
)

__all__ = ["AICITY_TOP", "DEFAULT_RANKS", "RankingMetrics", "evaluate_ranking", "ranked_gallery",
           "read_aicity_submission", "write_aicity_submission"]
