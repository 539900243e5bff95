"""Margin softmax losses with their own class weights: ArcFace, CosFace and SphereFace.

Each holds a weight W of shape (num_classes, feat_dim) (a parameter the trainer adds to
its optimiser) and computes ``cos(theta_ic) = <x_i / |x_i|, W_c / |W_c|>``; the target
class's logit gets a margin, every logit is multiplied by a scale (ArcFace and CosFace:
a constant s; SphereFace: the feature norm |x_i|), and the loss is the cross-entropy of
those logits averaged over the batch.

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


def class_cosines(features: torch.Tensor, labels: torch.Tensor, weight: torch.Tensor
                  ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Checked float32 features (B, D), their cosines (B, C) with the class weights
    ``weight`` (C, D), clamped to [-1, 1], and the (B, C) bool mask of each row's label
    column. Call with autocast off."""
    features = checked_float32(features, labels, "features")
    if features.device != weight.device:
        raise ValueError(
            f"features must be on the device of the class weights "
            f"({weight.device}); got {features.device}"
        )
    if features.shape[1] != weight.shape[1]:
        raise ValueError(
            f"features must have {weight.shape[1]} columns (feat_dim); "
            f"got shape {tuple(features.shape)}"
        )
    cosine = F.normalize(features, dim=1) @ F.normalize(weight.float(), dim=1).T
    cosine = cosine.clamp(-1.0, 1.0)
    classes = torch.arange(weight.shape[0], device=labels.device)
    return features, cosine, labels[:, None] == classes[None, :]


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
            _, cosine, is_target = class_cosines(features, labels, self.weight)
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


class SphereFace(nn.Module):
    """Angular softmax, A-softmax (Liu et al., "SphereFace: deep hypersphere embedding
    for face recognition", CVPR 2017), with the annealing of the authors' code and of
    the AICity 2020 winner's ``AngleLoss``.

    ``psi(theta) = (-1)^k cos(m theta) - 2k`` with ``k = floor(m theta / pi)`` (k from the
    detached angle), ``cos(m theta)`` the Chebyshev polynomial T_m of ``cos theta``. The
    target logit is ``|x| (lambda cos theta + psi(theta)) / (1 + lambda)``, the others
    ``|x| cos theta``; the classes' weights are normalised, the features are not.
    ``lambda`` anneals with the training-mode call count n = 1, 2, ... (a buffer, so it
    is checkpointed): ``lambda_n = max(lambda_min, lambda_base (1 + lambda_gamma n) ^
    -lambda_power)``. The seed: m 4, lambda_base 1500, lambda_gamma 0.1, power 1,
    lambda_min 5.

    Args:
        feat_dim: feature size D.
        num_classes: number of classes C.
        margin: the integer angle multiplier m >= 1 (1: plain normalised-weight softmax).
        lambda_base, lambda_min, lambda_gamma, lambda_power: the annealing above
            (lambda_base >= lambda_min >= 0, lambda_gamma >= 0, lambda_power >= 0).
    """

    def __init__(self, feat_dim: int, num_classes: int, margin: int = 4,
                 lambda_base: float = 1500.0, lambda_min: float = 5.0,
                 lambda_gamma: float = 0.1, lambda_power: float = 1.0) -> None:
        super().__init__()
        self.feat_dim = validation.integer("feat_dim", feat_dim, 1)
        self.num_classes = validation.integer("num_classes", num_classes, 1)
        self.margin = validation.integer("margin", margin, 1)
        self.lambda_min = validation.real("lambda_min", lambda_min, 0.0)
        self.lambda_base = validation.real("lambda_base", lambda_base, self.lambda_min)
        self.lambda_gamma = validation.real("lambda_gamma", lambda_gamma, 0.0)
        self.lambda_power = validation.real("lambda_power", lambda_power, 0.0)
        self.weight = nn.Parameter(torch.empty(num_classes, feat_dim))
        nn.init.xavier_uniform_(self.weight)
        self.register_buffer("calls", torch.zeros((), dtype=torch.int64))

    def annealed_lambda(self, calls: int | torch.Tensor) -> torch.Tensor:
        """``max(lambda_min, lambda_base (1 + lambda_gamma calls) ^ -lambda_power)``,
        float32 (a tensor on the device of ``calls`` when it is one)."""
        calls = torch.as_tensor(calls, dtype=torch.float32)
        value = self.lambda_base * (1.0 + self.lambda_gamma * calls) ** -self.lambda_power
        return value.clamp_min(self.lambda_min)

    def margin_logits(self, features: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        """(B, num_classes) float32 logits at the current call count (see the class doc);
        does not advance it."""
        with full_precision(features.device):
            features, cosine, is_target = class_cosines(features, labels, self.weight)
            # Chebyshev: T_0 = 1, T_{n+1} = 2 c T_n - T_{n-1}, started from T_{-1} = T_1 = c.
            previous, cos_m_theta = cosine, torch.ones_like(cosine)
            for _ in range(self.margin):
                previous, cos_m_theta = cos_m_theta, 2.0 * cosine * cos_m_theta - previous
            k = torch.floor(self.margin * torch.acos(cosine.detach()) / math.pi)
            psi = (1.0 - 2.0 * torch.remainder(k, 2.0)) * cos_m_theta - 2.0 * k
            lam = self.annealed_lambda(self.calls.clamp_min(1))
            target = (lam * cosine + psi) / (1.0 + lam)
            norms = features.norm(dim=1, keepdim=True)
            return norms * torch.where(is_target, target, cosine)

    def forward(self, features: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        if self.training:
            self.calls += 1
        logits = self.margin_logits(features, labels)
        with full_precision(logits.device):
            return F.cross_entropy(logits, labels)

    def extra_repr(self) -> str:
        return (
            f"feat_dim={self.feat_dim}, num_classes={self.num_classes}, margin={self.margin}, "
            f"lambda=max({self.lambda_min}, {self.lambda_base} (1 + {self.lambda_gamma} n)"
            f"^-{self.lambda_power})"
        )
