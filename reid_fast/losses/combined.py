"""The training objective: a weighted sum of loss terms, and its construction from a
short spec such as ``"ce+triplet"`` or ``"ce=1,triplet=0.5,circle=1"``."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Callable, Mapping, NamedTuple, Union

import torch
from torch import nn

from .. import validation
from .classification import CrossEntropyLabelSmooth
from .margin import ArcFace, CosFace
from .metric import CircleLoss, InstanceLoss, TripletLoss

if TYPE_CHECKING:
    from ..models.output import ModelOutput

LOSSES: tuple[str, ...] = ("ce", "triplet", "circle", "instance", "arcface", "cosface")
"""Loss names :func:`build_loss` accepts. ``ce`` reads the model's logits; the others
read its features (``arcface`` and ``cosface`` carry their own class weights)."""

SOURCES: tuple[str, ...] = ("logits", "features")
"""The :class:`ModelOutput` field a loss term reads."""

LossSpec = Union[str, Mapping[str, float]]

_TERM_SEPARATOR = re.compile(r",|\+(?![\d.])")
"""A comma, or a ``+`` that is not the sign of an exponent (``ce=1e+2``)."""


class LossTerm(NamedTuple):
    """One term of a :class:`ReidLoss`: ``loss(output.<source>, labels)`` times ``weight``."""

    loss: nn.Module
    weight: float
    source: str


class ReidLoss(nn.Module):
    """Weighted sum of loss terms: ``total = sum_k weight_k * loss_k``.

    Args:
        terms: name -> :class:`LossTerm`, in the order the terms are evaluated. Each
            weight must be a finite number > 0; each source one of :data:`SOURCES`.

    ``forward(output, labels)``: output a :class:`ModelOutput` (logits (B, C) and
    features (B, D), float, on one device), labels (B,) int64 on that device. Returns
    ``(total, parts)``: the float32 scalar total (with its graph), and name -> the
    term's unweighted float32 scalar value, detached (no host synchronisation).

    The module owns the terms' parameters (ArcFace / CosFace class weights): pass
    ``loss.parameters()`` to the optimiser and move it with ``loss.to(device)``.
    """

    def __init__(self, terms: Mapping[str, LossTerm]) -> None:
        super().__init__()
        if not terms:
            raise ValueError("terms must name at least one loss term; got none")
        self.terms = nn.ModuleDict()
        self.weights: dict[str, float] = {}
        self.sources: dict[str, str] = {}
        for name, term in terms.items():
            if not isinstance(term.loss, nn.Module):
                raise TypeError(
                    f"term {name!r}: loss must be a torch.nn.Module; "
                    f"got {type(term.loss).__name__}"
                )
            if term.source not in SOURCES:
                raise ValueError(
                    f"term {name!r}: source must be one of {', '.join(SOURCES)}; "
                    f"got {term.source!r}"
                )
            self.terms[name] = term.loss
            self.weights[name] = validation.real(f"weight of loss term {name!r}", term.weight, positive=True)
            self.sources[name] = term.source

    def forward(
        self, output: ModelOutput, labels: torch.Tensor
    ) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        weighted: list[torch.Tensor] = []
        parts: dict[str, torch.Tensor] = {}
        for name, loss in self.terms.items():
            source = self.sources[name]
            inputs = getattr(output, source)
            if inputs is None:
                raise ValueError(
                    f"loss term {name!r} needs output.{source}, but the model returned "
                    f"{source}=None (a model without a classifier gives no logits)"
                )
            value = loss(inputs, labels)
            parts[name] = value.detach()
            weighted.append(self.weights[name] * value)
        return torch.stack(weighted).sum(), parts

    def extra_repr(self) -> str:
        return ", ".join(f"{name}={self.weights[name]}" for name in self.weights)


def parse_loss_spec(spec: LossSpec) -> dict[str, float]:
    """Loss names and weights from a spec.

    Args:
        spec: a string of terms separated by ``+`` or ``,``, each ``name`` (weight 1) or
            ``name=weight`` (``"ce+triplet"``, ``"ce=1,triplet=0.5,circle=1"``), or a
            mapping name -> weight (``{"ce": 1.0, "arcface": 0.5}``). Names are those of
            :data:`LOSSES`, each at most once; weights are finite numbers > 0.

    Returns:
        name -> weight as floats, in the spec's order.

    Raises:
        TypeError: ``spec`` is neither a string nor a mapping, or a weight is not a number.
        ValueError: an empty spec, an unknown or repeated name, or a bad weight.
    """
    if isinstance(spec, str):
        texts = _TERM_SEPARATOR.split(spec) if spec.strip() else []
        items = [_parse_item(text) for text in texts]
    elif isinstance(spec, Mapping):
        items = list(spec.items())
    else:
        raise TypeError(
            f"spec must be a str or a mapping name -> weight; got {type(spec).__name__}"
        )
    if not items:
        raise ValueError(f"spec must name at least one loss of {', '.join(LOSSES)}; got {spec!r}")
    weights: dict[str, float] = {}
    for name, weight in items:
        if name not in LOSSES:
            raise ValueError(f"unknown loss {name!r} in spec {spec!r}; valid: {', '.join(LOSSES)}")
        if name in weights:
            raise ValueError(f"loss {name!r} appears twice in spec {spec!r}")
        weights[name] = validation.real(f"weight of loss {name!r}", weight, positive=True)
    return weights


def _parse_item(item: str) -> tuple[str, float]:
    name, has_weight, weight_text = item.partition("=")
    name = name.strip().lower()
    if not has_weight:
        return name, 1.0
    try:
        return name, float(weight_text)
    except ValueError:
        raise ValueError(
            f"weight of loss {name!r} must be a number; got {weight_text.strip()!r}"
        ) from None


def build_loss(
    spec: LossSpec,
    *,
    num_classes: int,
    feat_dim: int,
    label_smoothing: float = 0.1,
    triplet_margin: float | None = 0.3,
    circle_m: float = 0.25,
    circle_gamma: float = 64.0,
    instance_gamma: float = 1.0,
    arc_scale: float = 30.0,
    arc_margin: float = 0.5,
    cos_scale: float = 30.0,
    cos_margin: float = 0.35,
) -> ReidLoss:
    """The :class:`ReidLoss` a spec describes (see :func:`parse_loss_spec`).

    Args:
        spec: e.g. ``"ce+triplet"``, ``"ce=1,triplet=0.5,circle=1"``,
            ``{"ce": 1.0, "arcface": 0.5}``.
        num_classes: identities in the training set (ArcFace / CosFace class weights).
        feat_dim: size of ``ModelOutput.features`` (ArcFace / CosFace class weights).
        label_smoothing: epsilon of ``ce``.
        triplet_margin: margin of ``triplet`` (batch-hard, Euclidean); None for the soft
            margin.
        circle_m, circle_gamma: ``circle``'s margin and scale.
        instance_gamma: ``instance``'s scale.
        arc_scale, arc_margin: ``arcface``'s scale and angular margin.
        cos_scale, cos_margin: ``cosface``'s scale and cosine margin.

    The returned module's parameters (those of arcface / cosface) live on the CPU:
    move it to the model's device and give its parameters to the optimiser.
    """
    builders: dict[str, Callable[[], tuple[nn.Module, str]]] = {
        "ce": lambda: (CrossEntropyLabelSmooth(label_smoothing), "logits"),
        "triplet": lambda: (TripletLoss(triplet_margin), "features"),
        "circle": lambda: (CircleLoss(circle_m, circle_gamma), "features"),
        "instance": lambda: (InstanceLoss(instance_gamma), "features"),
        "arcface": lambda: (ArcFace(feat_dim, num_classes, arc_scale, arc_margin), "features"),
        "cosface": lambda: (CosFace(feat_dim, num_classes, cos_scale, cos_margin), "features"),
    }
    terms = {}
    for name, weight in parse_loss_spec(spec).items():
        loss, source = builders[name]()
        terms[name] = LossTerm(loss, weight, source)
    return ReidLoss(terms)
