"""Cross-entropy with label smoothing (Szegedy et al., "Rethinking the Inception
architecture", CVPR 2016)."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from .. import validation
from ._inputs import checked_float32, full_precision


class CrossEntropyLabelSmooth(nn.Module):
    """Cross-entropy against the smoothed target ``(1 - eps) * onehot(y) + eps / C``.

    For one sample with log-probabilities ``log p = log_softmax(z)``:
    ``loss = -sum_c t_c log p_c = (1 - eps) (-log p_y) + eps * mean_c(-log p_c)``;
    the result is the mean over the batch. ``epsilon = 0`` is plain cross-entropy.

    ``forward(logits, labels)``: logits (B, C) float (any floating dtype, any device),
    labels (B,) int64 in [0, C) on the same device; returns a float32 scalar. The
    arithmetic runs in float32 with autocast off.
    """

    def __init__(self, epsilon: float = 0.1) -> None:
        super().__init__()
        self.epsilon = validation.real("epsilon", epsilon, 0.0)
        if self.epsilon >= 1.0:
            raise ValueError(f"epsilon must be < 1, got {epsilon!r}")

    def forward(self, logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        with full_precision(logits.device):
            logits = checked_float32(logits, labels, "logits")
            neg_log_prob = -F.log_softmax(logits, dim=1)
            target_term = neg_log_prob.gather(1, labels[:, None]).squeeze(1)
            uniform_term = neg_log_prob.mean(dim=1)
            per_sample = (1.0 - self.epsilon) * target_term + self.epsilon * uniform_term
            return per_sample.mean()

    def extra_repr(self) -> str:
        return f"epsilon={self.epsilon}"
