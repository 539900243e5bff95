"""Heads: from the pooled feature to identity logits (training) and the test embedding.

In training mode a head returns a :class:`ModelOutput`; in eval mode only the embedding,
(B, embedding_dim). Inputs are (B, in_dim) float on any device.
"""

from __future__ import annotations

import torch
from torch import nn

from .. import validation
from .output import ModelOutput
from .weight_init import init_classifier_

HEADS = ("bnneck", "classblock")


class BNNeckHead(nn.Module):
    """BNNeck (Luo et al. 2019, "Bag of tricks and a strong baseline for deep person
    re-ID"): pooled feature f -> BatchNorm1d with its bias frozen at 0 -> bias-free
    classifier.

    Training: ``ModelOutput(logits=classifier(bn(f)), features=f, embedding=bn(f))``.
    Eval: ``bn(f)``. ``embedding_dim`` = ``in_dim``. ``num_classes`` 0: no classifier,
    logits None.
    """

    def __init__(self, in_dim: int, num_classes: int) -> None:
        super().__init__()
        self.embedding_dim = in_dim
        self.bn = nn.BatchNorm1d(in_dim)
        self.bn.bias.requires_grad_(False)
        self.classifier = nn.Linear(in_dim, num_classes, bias=False) if num_classes else None
        if self.classifier is not None:
            init_classifier_(self.classifier)

    def forward(self, f: torch.Tensor) -> ModelOutput | torch.Tensor:
        embedding = self.bn(f)
        if not self.training:
            return embedding
        logits = None if self.classifier is None else self.classifier(embedding)
        return ModelOutput(logits=logits, features=f, embedding=embedding)


class ClassBlockHead(nn.Module):
    """Zheng's class block (the AICity 2020 winners' head): Linear(in_dim, embedding_dim)
    -> BatchNorm1d -> Dropout(dropout) -> classifier Linear(embedding_dim, num_classes).

    Training: ``ModelOutput(logits, features=dropout(bn(linear(f))), embedding=bn(...))``.
    Eval: the BatchNorm output, (B, embedding_dim). ``num_classes`` 0: no classifier.
    """

    def __init__(self, in_dim: int, num_classes: int, embedding_dim: int = 512,
                 dropout: float = 0.0) -> None:
        super().__init__()
        self.embedding_dim = embedding_dim
        self.linear = nn.Linear(in_dim, embedding_dim)
        self.bn = nn.BatchNorm1d(embedding_dim)
        self.dropout = nn.Dropout(dropout)
        self.classifier = nn.Linear(embedding_dim, num_classes) if num_classes else None
        nn.init.kaiming_normal_(self.linear.weight, mode="fan_out")
        nn.init.zeros_(self.linear.bias)
        if self.classifier is not None:
            init_classifier_(self.classifier)

    def forward(self, f: torch.Tensor) -> ModelOutput | torch.Tensor:
        embedding = self.bn(self.linear(f))
        if not self.training:
            return embedding
        features = self.dropout(embedding)
        logits = None if self.classifier is None else self.classifier(features)
        return ModelOutput(logits=logits, features=features, embedding=embedding)


def build_head(name: str, in_dim: int, num_classes: int, *, embedding_dim: int = 512,
               dropout: float = 0.0) -> nn.Module:
    """The head called ``name`` (one of :data:`HEADS`).

    ``embedding_dim`` and ``dropout`` belong to the class block; the BNNeck's embedding is
    the pooled feature itself, and it raises on ``dropout`` > 0.
    """
    num_classes = validation.integer("num_classes", num_classes, 0)
    if not 0.0 <= dropout < 1.0:
        raise ValueError(f"dropout must be in [0, 1), got {dropout!r}")
    if name == "bnneck":
        if dropout > 0:
            raise ValueError(f"dropout applies to the 'classblock' head only, got {dropout!r} "
                             "with head 'bnneck'")
        return BNNeckHead(in_dim, num_classes)
    if name == "classblock":
        if not isinstance(embedding_dim, int) or embedding_dim < 1:
            raise ValueError(f"embedding_dim must be an int >= 1, got {embedding_dim!r}")
        return ClassBlockHead(in_dim, num_classes, embedding_dim, dropout)
    raise ValueError(f"unknown head {name!r}; valid heads: {', '.join(HEADS)}")
