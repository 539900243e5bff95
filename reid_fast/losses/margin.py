"""Additive-margin softmax losses with their own class weights: ArcFace and CosFace.

Both hold a weight W of shape (num_classes, feat_dim) (a parameter the trainer adds to
its optimiser) and compute ``cos(theta_ic) = <x_i / |x_i|, W_c / |W_c|>``; the target
class's logit gets a margin, every logit is multiplied by the scale s, and the loss is
the cross-entropy of those logits averaged over the batch.

``forward(features, labels)``: features (B, feat_dim) float (any floating dtype), labels
(B,) int64 in [0, num_classes), both on the device of the weight; returns a float32
scalar. ``margin_logits`` returns the (B, num_classes) float32 logits themselves. The
arithmetic runs in float32 with autocast off.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from .. import validation
from ._inputs import checked_float32, full_precision


class _NormalisedSoftmax(nn.Module):
    """Scaled cosine logits with a margin on the target class (subclasses say which)."""

    def __init__(self, feat_dim: int, num_classes: int, scale: float) -> None:
        super().__init__()
        self.feat_dim = validation.integer("feat_dim", feat_dim, 1)
        self.num_classes = validation.integer("num_classes", num_classes, 1)
        self.scale = validation.real("scale", scale, positive=True)
        self.weight = nn.Parameter(torch.empty(num_classes, feat_dim))
        nn.init.xavier_uniform_(self.weight)

    def target_cosine(self, cosine: torch.Tensor) -> torch.Tensor:
        """The target class's cosine after the margin, elementwise on float32 cosines."""
        raise NotImplementedError

    def margin_logits(self, features: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        """(B, num_classes) float32 logits: ``s * target_cosine(cos)`` in each row's label
        column, ``s * cos`` elsewhere."""
        with full_precision(features.device):
            features = checked_float32(features, labels, "features")
            if features.device != self.weight.device:
                raise ValueError(
                    f"features must be on the device of the class weights "
                    f"({self.weight.device}); got {features.device}"
                )
            if features.shape[1] != self.feat_dim:
                raise ValueError(
                    f"features must have {self.feat_dim} columns (feat_dim); "
                    f"got shape {tuple(features.shape)}"
                )
            cosine = F.normalize(features, dim=1) @ F.normalize(self.weight.float(), dim=1).T
            cosine = cosine.clamp(-1.0, 1.0)
            classes = torch.arange(self.num_classes, device=labels.device)
            is_target = labels[:, None] == classes[None, :]
            return self.scale * torch.where(is_target, self.target_cosine(cosine), cosine)

    def forward(self, features: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        logits = self.margin_logits(features, labels)
        with full_precision(logits.device):
            return F.cross_entropy(logits, labels)


class ArcFace(_NormalisedSoftmax):
    """Additive angular margin loss (Deng et al., "ArcFace: additive angular margin loss
    for deep face recognition", CVPR 2019).

    Target logit ``s * cos(theta + m)``, computed as ``cos theta cos m - sin theta sin m``
    with ``sin theta = sqrt(max(1 - cos^2 theta, 1e-12))``; other logits ``s * cos theta``.
    Where ``theta + m`` would pass pi, cos(theta + m) stops decreasing in theta, so the
    rule (that of the authors' code) is:

    - ``easy_margin=False``: ``cos(theta + m)`` if ``cos theta > cos(pi - m)``, else
      ``cos theta - m sin m``;
    - ``easy_margin=True``: ``cos(theta + m)`` if ``cos theta > 0``, else ``cos theta``.

    Args:
        feat_dim: feature size D.
        num_classes: number of classes C.
        scale: s > 0.
        margin: m in [0, pi).
        easy_margin: use the ``cos theta > 0`` rule above.
    """

    def __init__(
        self,
        feat_dim: int,
        num_classes: int,
        scale: float = 30.0,
        margin: float = 0.5,
        easy_margin: bool = False,
    ) -> None:
        super().__init__(feat_dim, num_classes, scale)
        self.margin = validation.real("margin", margin, 0.0)
        if self.margin >= math.pi:
            raise ValueError(f"margin must be < pi, got {margin!r}")
        self.easy_margin = bool(easy_margin)
        self._cos_m = math.cos(self.margin)
        self._sin_m = math.sin(self.margin)
        self._threshold = math.cos(math.pi - self.margin)
        self._fallback_shift = self.margin * math.sin(self.margin)

    def target_cosine(self, cosine: torch.Tensor) -> torch.Tensor:
        sine = (1.0 - cosine.square()).clamp_min(1e-12).sqrt()
        with_margin = cosine * self._cos_m - sine * self._sin_m
        if self.easy_margin:
            return torch.where(cosine > 0.0, with_margin, cosine)
        return torch.where(cosine > self._threshold, with_margin, cosine - self._fallback_shift)

    def extra_repr(self) -> str:
        return (
            f"feat_dim={self.feat_dim}, num_classes={self.num_classes}, scale={self.scale}, "
            f"margin={self.margin}, easy_margin={self.easy_margin}"
        )


class CosFace(_NormalisedSoftmax):
    """Large margin cosine loss (Wang et al., "CosFace: large margin cosine loss for deep
    face recognition", CVPR 2018).

    Target logit ``s * (cos theta - m)``, other logits ``s * cos theta``.

    Args:
        feat_dim: feature size D.
        num_classes: number of classes C.
        scale: s > 0.
        margin: m >= 0.
    """

    def __init__(
        self, feat_dim: int, num_classes: int, scale: float = 30.0, margin: float = 0.35
    ) -> None:
        super().__init__(feat_dim, num_classes, scale)
        self.margin = validation.real("margin", margin, 0.0)

    def target_cosine(self, cosine: torch.Tensor) -> torch.Tensor:
        return cosine - self.margin

    def extra_repr(self) -> str:
        return (
            f"feat_dim={self.feat_dim}, num_classes={self.num_classes}, scale={self.scale}, "
            f"margin={self.margin}"
        )
