"""The re-ID network: backbone -> global pooling -> head."""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from .output import ModelOutput


class ReidModel(nn.Module):
    """Backbone + pooling + head.

    ``forward(images)``: images (B, 3, H, W) float (any memory format, channels_last
    included; autocast-friendly) -> in training mode a :class:`ModelOutput`, in eval mode
    the (B, embedding_dim) embedding tensor. Same device as the model.

    Attributes:
        backbone: feature extractor with an ``out_channels`` attribute, returning a
            (B, out_channels, h, w) feature map.
        pool: (B, C, h, w) -> (B, C).
        head: (B, C) -> ModelOutput / embedding, with an ``embedding_dim`` attribute.
        embedding_dim: width of the test-time embedding.
        config: the :func:`reid_fast.models.build_model` arguments that rebuild this
            architecture (``build_model(**model.config)``); empty when built by hand.
    """

    def __init__(self, backbone: nn.Module, pool: nn.Module, head: nn.Module,
                 config: dict[str, Any] | None = None) -> None:
        super().__init__()
        self.backbone = backbone
        self.pool = pool
        self.head = head
        self.embedding_dim: int = head.embedding_dim
        self.config: dict[str, Any] = dict(config or {})

    def forward(self, images: torch.Tensor) -> ModelOutput | torch.Tensor:
        if images.dim() != 4 or images.shape[1] != 3:
            raise ValueError(f"images must be (B, 3, H, W), got shape {tuple(images.shape)}")
        return self.head(self.pool(self.backbone(images)))

    def class_logits(self, embedding: torch.Tensor) -> torch.Tensor:
        """(B, C) logits of the head's classifier for (B, embedding_dim) eval-mode
        embeddings (what ``forward`` returns in eval mode, not L2-normalised; same device
        and dtype as the classifier). In eval mode both built-in heads apply
        ``head.classifier`` to that embedding (the BNNeck's and the class block's
        BatchNorm output; the class block's dropout is then the identity), so these are
        the logits the model gives its images in eval mode. ValueError when the head has
        no classifier (``num_classes`` 0, or a head without a ``classifier``) or for an
        embedding of another shape."""
        classifier = getattr(self.head, "classifier", None)
        if classifier is None:
            raise ValueError(f"the model's head ({type(self.head).__name__}) has no classifier: "
                             "build it with num_classes > 0")
        if embedding.dim() != 2 or embedding.shape[1] != self.embedding_dim:
            raise ValueError(f"embedding must be (B, {self.embedding_dim}), got shape "
                             f"{tuple(embedding.shape)}")
        return classifier(embedding)

    def backbone_parameters(self) -> list[nn.Parameter]:
        """The backbone's parameters (the group trained with the lower learning rate)."""
        return list(self.backbone.parameters())

    def head_parameters(self) -> list[nn.Parameter]:
        """Every parameter outside the backbone: pooling (GeM's p) and head, frozen ones
        (the BNNeck's bias, requires_grad False) included."""
        in_backbone = {id(p) for p in self.backbone.parameters()}
        return [p for p in self.parameters() if id(p) not in in_backbone]
