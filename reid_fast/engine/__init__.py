"""Training engine: configuration, the trainer, checkpoints, EMA, optimisers and
schedules, feature extraction and evaluation, process groups."""

from __future__ import annotations

from .config import TrainConfig, parse_config
from .features import evaluate_features, extract_features
from .trainer import Trainer

__all__ = ["TrainConfig", "Trainer", "evaluate_features", "extract_features", "parse_config"]
