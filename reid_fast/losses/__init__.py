"""Losses for re-ID training: classification, metric-learning and margin losses, and
their weighted combination.

Every loss is a ``torch.nn.Module`` whose ``forward(x, labels)`` takes a (B, K) float
batch (logits or features, any floating dtype, any device) and (B,) int64 labels, and
returns a float32 scalar computed in float32 with autocast off.
"""

from __future__ import annotations

from .classification import CrossEntropyLabelSmooth
from .combined import (
    LOSS_KINDS,
    LOSSES,
    SOURCES,
    LossKind,
    LossOptions,
    LossSpec,
    LossTerm,
    ReidLoss,
    build_loss,
    parse_loss_spec,
    register_loss,
)
from .margin import ArcFace, CosFace, SphereFace
from .metric import TRIPLET_METRICS, CircleLoss, InstanceLoss, TripletLoss

__all__ = [
    "LOSS_KINDS",
    "LOSSES",
    "SOURCES",
    "TRIPLET_METRICS",
    "ArcFace",
    "CircleLoss",
    "CosFace",
    "CrossEntropyLabelSmooth",
    "InstanceLoss",
    "LossKind",
    "LossOptions",
    "LossSpec",
    "LossTerm",
    "ReidLoss",
    "SphereFace",
    "TripletLoss",
    "build_loss",
    "parse_loss_spec",
    "register_loss",
]
