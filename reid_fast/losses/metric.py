"""Metric-learning losses over the pairs of one batch: batch-hard triplet, circle and
instance loss.

Every loss takes ``forward(features, labels)``: features (B, D) float (any floating
dtype, any device), labels (B,) int64 on the same device, and returns a float32 scalar.
Samples with equal labels are positives of each other (a sample is never its own
positive); samples with different labels are negatives. The arithmetic runs in float32
with autocast off, and the whole batch is handled at once (no loop over samples).

A loss averages over the anchors for which it is defined (those with the positives /
negatives it needs). When no anchor qualifies it returns a zero that is still connected
to the graph, so ``backward()`` works and gives zero gradients.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from .. import validation
from ._inputs import checked_float32, full_precision

TRIPLET_METRICS: tuple[str, ...] = ("euclidean", "cosine")

_SQUARED_DISTANCE_FLOOR = 1e-12
"""Squared distances are clamped to at least this before the square root, so that the
gradient of a zero distance (a sample and itself, or two identical features) is 0
instead of NaN; distances below 1e-6 read as 1e-6."""

_EXCLUDED_LOGIT = -1e30
"""Stands in for log(0) in masked log-sum-exp: finite, so no gradient becomes NaN, and
so negative that exp(_EXCLUDED_LOGIT - x) is exactly 0 for any real logit x."""


def pair_masks(labels: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Positive and negative pairs of a batch.

    Args:
        labels: (B,) integer tensor.

    Returns:
        (positive, negative), two (B, B) bool tensors on the labels' device:
        ``positive[i, j]`` = labels equal and j != i; ``negative[i, j]`` = labels differ.
    """
    same = labels[:, None] == labels[None, :]
    itself = torch.eye(labels.shape[0], dtype=torch.bool, device=labels.device)
    return same & ~itself, ~same


def cosine_similarity_matrix(features: torch.Tensor) -> torch.Tensor:
    """(B, B) cosine similarities of the rows of (B, D) ``features`` (same dtype and
    device); a zero row has similarity 0 with everything."""
    unit = F.normalize(features, dim=1)
    return unit @ unit.T


def euclidean_distance_matrix(features: torch.Tensor) -> torch.Tensor:
    """(B, B) Euclidean distances between the rows of (B, D) ``features``, computed as
    ``sqrt(max(|x|^2 + |y|^2 - 2 <x, y>, 1e-12))`` (finite gradient everywhere)."""
    squared_norms = features.square().sum(dim=1)
    squared = squared_norms[:, None] + squared_norms[None, :] - 2.0 * (features @ features.T)
    return squared.clamp_min(_SQUARED_DISTANCE_FLOOR).sqrt()


def mean_over_anchors(per_anchor: torch.Tensor, valid: torch.Tensor) -> torch.Tensor:
    """Mean of the (B,) ``per_anchor`` values where the (B,) bool ``valid`` is True.

    Values at invalid anchors are ignored even when infinite; with no valid anchor the
    result is a 0 connected to the graph of ``per_anchor``. No host synchronisation.
    """
    kept = torch.where(valid, per_anchor, torch.zeros_like(per_anchor))
    return kept.sum() / valid.sum().clamp_min(1)


class TripletLoss(nn.Module):
    """Batch-hard triplet loss (Hermans, Beyer and Leibe, "In defense of the triplet loss
    for person re-identification", 2017).

    For each anchor i, with d the pairwise distance matrix of the batch:
    ``d_ap(i) = max_{j positive} d(i, j)`` (hardest positive, j != i) and
    ``d_an(i) = min_{k negative} d(i, k)`` (hardest negative), and
    ``loss_i = relu(d_ap - d_an + margin)``, or with ``margin=None`` the soft margin
    ``loss_i = softplus(d_ap - d_an) = log(1 + exp(d_ap - d_an))``.
    The loss is the mean of loss_i over anchors that have at least one positive and one
    negative in the batch. When several positives (negatives) tie for the hardest, the
    gradient is shared equally between them.

    Args:
        margin: hinge margin >= 0, or None for the soft margin.
        metric: ``"euclidean"`` (``|x_i - x_j|``) or ``"cosine"`` (``1 - cos(x_i, x_j)``).
        normalize: L2-normalise the features first (matters for ``"euclidean"`` only).
    """

    def __init__(
        self, margin: float | None = 0.3, metric: str = "euclidean", normalize: bool = False
    ) -> None:
        super().__init__()
        validation.one_of("metric", metric, TRIPLET_METRICS)
        self.margin = None if margin is None else validation.real("margin", margin, 0.0)
        self.metric = metric
        self.normalize = bool(normalize)

    def forward(self, features: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        with full_precision(features.device):
            features = checked_float32(features, labels, "features")
            if self.metric == "cosine":
                distance = 1.0 - cosine_similarity_matrix(features)
            else:
                if self.normalize:
                    features = F.normalize(features, dim=1)
                distance = euclidean_distance_matrix(features)
            positive_pair, negative_pair = pair_masks(labels)
            hardest_positive = distance.masked_fill(~positive_pair, float("-inf")).amax(dim=1)
            hardest_negative = distance.masked_fill(~negative_pair, float("inf")).amin(dim=1)
            gap = hardest_positive - hardest_negative
            if self.margin is None:
                per_anchor = F.softplus(gap)
            else:
                per_anchor = F.relu(gap + self.margin)
            valid = positive_pair.any(dim=1) & negative_pair.any(dim=1)
            return mean_over_anchors(per_anchor, valid)

    def extra_repr(self) -> str:
        margin = "soft" if self.margin is None else self.margin
        return f"margin={margin}, metric={self.metric!r}, normalize={self.normalize}"


class CircleLoss(nn.Module):
    """Circle loss, pair-similarity form (Sun et al., "Circle loss: a unified perspective
    of pair similarity optimization", CVPR 2020), on cosine similarities s.

    For each anchor i with positives P(i) (same label, j != i) and negatives N(i):
    ``loss_i = log(1 + sum_{n in N} exp(gamma a_n (s_n - m)) * sum_{p in P}
    exp(-gamma a_p (s_p - (1 - m))))``
    with the self-paced weights ``a_p = relu(1 + m - s_p)`` and ``a_n = relu(s_n + m)``
    treated as constants (no gradient flows through them, as in the paper). Computed
    stably as ``softplus(logsumexp_n(...) + logsumexp_p(...))``. The loss is the mean of
    loss_i over anchors with at least one positive and one negative.

    Args:
        m: relaxation margin (>= 0; the paper uses 0.25 for re-ID).
        gamma: scale factor (> 0; the paper uses 64 or 128 for re-ID).
    """

    def __init__(self, m: float = 0.25, gamma: float = 64.0) -> None:
        super().__init__()
        self.m = validation.real("m", m, 0.0)
        self.gamma = validation.real("gamma", gamma, positive=True)

    def forward(self, features: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        with full_precision(features.device):
            features = checked_float32(features, labels, "features")
            similarity = cosine_similarity_matrix(features)
            positive_pair, negative_pair = pair_masks(labels)
            weight_positive = (1.0 + self.m - similarity).clamp_min(0.0).detach()
            weight_negative = (similarity + self.m).clamp_min(0.0).detach()
            logit_positive = -self.gamma * weight_positive * (similarity - (1.0 - self.m))
            logit_negative = self.gamma * weight_negative * (similarity - self.m)
            log_sum_positive = torch.logsumexp(
                logit_positive.masked_fill(~positive_pair, _EXCLUDED_LOGIT), dim=1
            )
            log_sum_negative = torch.logsumexp(
                logit_negative.masked_fill(~negative_pair, _EXCLUDED_LOGIT), dim=1
            )
            per_anchor = F.softplus(log_sum_negative + log_sum_positive)
            valid = positive_pair.any(dim=1) & negative_pair.any(dim=1)
            return mean_over_anchors(per_anchor, valid)

    def extra_repr(self) -> str:
        return f"m={self.m}, gamma={self.gamma}"


class InstanceLoss(nn.Module):
    """Instance loss, batch form.

    After Zheng et al., "Dual-path convolutional image-text embeddings with instance
    loss" (ACM TOMM 2020), which classifies every training instance as its own class.
    In this batch form the other samples of the batch play the classes: with
    ``s_ij = gamma * cos(x_i, x_j)`` (L2-normalised features), anchor i's scores over the
    candidates j != i go through a softmax, and the anchor must put its probability mass
    on its positives P(i) (same label, j != i):
    ``loss_i = -log(sum_{j in P(i)} softmax_{j != i}(s_ij))
    = logsumexp_{j != i} s_ij - logsumexp_{j in P(i)} s_ij``.
    The loss is the mean of loss_i over anchors with at least one positive.

    Args:
        gamma: scale applied to the cosine similarities (> 0), a softmax temperature of
            1 / gamma.
    """

    def __init__(self, gamma: float = 1.0) -> None:
        super().__init__()
        self.gamma = validation.real("gamma", gamma, positive=True)

    def forward(self, features: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        with full_precision(features.device):
            features = checked_float32(features, labels, "features")
            score = self.gamma * cosine_similarity_matrix(features)
            positive_pair, negative_pair = pair_masks(labels)
            candidate = positive_pair | negative_pair
            log_sum_candidates = torch.logsumexp(
                score.masked_fill(~candidate, _EXCLUDED_LOGIT), dim=1
            )
            log_sum_positives = torch.logsumexp(
                score.masked_fill(~positive_pair, _EXCLUDED_LOGIT), dim=1
            )
            per_anchor = log_sum_candidates - log_sum_positives
            return mean_over_anchors(per_anchor, positive_pair.any(dim=1))

    def extra_repr(self) -> str:
        return f"gamma={self.gamma}"
