"""Training: the trainer, optimisers and schedules, EMA, DistributedDataParallel set-up.
``python -m reid_fast.train`` (or ``reid-fast train``) is its command."""

from ..runs.config import TrainConfig, parse_config
from .trainer import Trainer

__all__ = ["TrainConfig", "Trainer", "parse_config"]
