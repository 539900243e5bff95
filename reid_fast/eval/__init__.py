"""Evaluation: ranking metrics (mAP, CMC, mINP) with the Market / VeRi / AICity junk
rules, embeddings of a model for evaluation (shared by training and test time), the
top-1 accuracy of a camera or orientation model's classifier, and the AICity 2020 track 2
submission format."""

from .classification import (
    ClassificationMetrics,
    classification_metrics,
    evaluate_classification,
)
from .embeddings import evaluate_features, extract_features
from .metrics import DEFAULT_RANKS, RankingMetrics, evaluate_ranking
from .submission import (
    AICITY_TOP,
    ranked_gallery,
    read_aicity_submission,
    write_aicity_submission,
)

__all__ = ["AICITY_TOP", "DEFAULT_RANKS", "ClassificationMetrics", "RankingMetrics",
           "classification_metrics", "evaluate_classification", "evaluate_features",
           "evaluate_ranking", "extract_features", "ranked_gallery", "read_aicity_submission",
           "write_aicity_submission"]
