"""What a re-ID model returns in training mode: the contract between models and losses."""

from __future__ import annotations

from typing import NamedTuple, Optional

import torch


class ModelOutput(NamedTuple):
    """Training-mode output of a :class:`reid_fast.models.ReidModel`.

    - ``logits``: (B, C) float, identity scores of the classifier (None without one).
    - ``features``: (B, D) float, the feature metric losses (triplet, circle, instance,
      ArcFace, CosFace) use: the pooled feature before the BNNeck's BatchNorm, or the
      class block's 512-d output (after its BatchNorm and dropout) for the class block.
    - ``embedding``: (B, E) float, the test-time feature (the BatchNorm output); what the
      model returns alone in eval mode.
    """

    logits: Optional[torch.Tensor]
    features: torch.Tensor
    embedding: torch.Tensor
