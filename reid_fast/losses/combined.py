"""The training objective: a weighted sum of loss terms, and its construction from a
short spec such as ``"ce+triplet"`` or ``"ce=1,triplet=0.5,circle=1"``."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Callable, Mapping, NamedTuple, Union

import torch
from torch import nn

from .. import validation
from ..registry import Registry
from .classification import CrossEntropyLabelSmooth
from .margin import ArcFace, CosFace, SphereFace
from .metric import CircleLoss, InstanceLoss, TripletLoss

if TYPE_CHECKING:
    from ..models.output import ModelOutput

SOURCES: tuple[str, ...] = ("logits", "features")
"""The :class:`ModelOutput` field a loss term reads."""


@dataclass(frozen=True)
class LossOptions:
    """What a loss factory may read: the training set's size and the losses' options
    (the defaults of :func:`build_loss`)."""

    num_classes: int
    feat_dim: int
    label_smoothing: float = 0.1
    triplet_margin: float | None = 0.3
    circle_m: float = 0.25
    circle_gamma: float = 64.0
    instance_gamma: float = 1.0
    arc_scale: float = 30.0
    arc_margin: float = 0.5
    cos_scale: float = 30.0
    cos_margin: float = 0.35
    sphere_margin: int = 4
    sphere_lambda_min: float = 5.0


LossFactory = Callable[[LossOptions], nn.Module]
"""What a registered loss builds its module with."""


@dataclass(frozen=True)
class LossKind:
    """A registered loss: ``build(options)`` returns the module, which reads
    ``output.<source>`` (one of :data:`SOURCES`) and the labels."""

    build: LossFactory
    source: str


LOSS_KINDS: Registry[LossKind] = Registry("loss")
"""Every loss a spec may name (``--loss`` of ``reid-fast train``)."""


def register_loss(name: str, *, source: str = "features", replace: bool = False
                  ) -> Callable[[LossFactory], LossFactory]:
    """Decorator: register ``build(options: LossOptions) -> nn.Module`` as the loss
    ``name`` (lower case: specs are case-insensitive), reading ``output.<source>``::

        @reid_fast.losses.register_loss("center")
        def center_loss(options):
            return CenterLoss(options.num_classes, options.feat_dim)

    The factory is returned unchanged."""
    validation.one_of("source", source, SOURCES)
    if isinstance(name, str) and name != name.lower():
        raise ValueError(f"loss name must be lower case (specs are case-insensitive), got {name!r}")

    def register(build: LossFactory) -> LossFactory:
        LOSS_KINDS.add(name, LossKind(build, source), replace=replace)
        return build
    return register


for _name, _source, _build in (
    ("ce", "logits", lambda o: CrossEntropyLabelSmooth(o.label_smoothing)),
    ("triplet", "features", lambda o: TripletLoss(o.triplet_margin)),
    ("circle", "features", lambda o: CircleLoss(o.circle_m, o.circle_gamma)),
    ("instance", "features", lambda o: InstanceLoss(o.instance_gamma)),
    ("arcface", "features",
     lambda o: ArcFace(o.feat_dim, o.num_classes, o.arc_scale, o.arc_margin)),
    ("cosface", "features",
     lambda o: CosFace(o.feat_dim, o.num_classes, o.cos_scale, o.cos_margin)),
    ("sphereface", "features",
     lambda o: SphereFace(o.feat_dim, o.num_classes, o.sphere_margin,
                          lambda_min=o.sphere_lambda_min)),
):
    register_loss(_name, source=_source)(_build)

LOSSES: tuple[str, ...] = tuple(LOSS_KINDS)
"""The built-in losses (:data:`LOSS_KINDS` also holds those users register). ``ce`` reads
the model's logits; the others read its features (``arcface``, ``cosface`` and
``sphereface`` carry their own class weights)."""

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

    The module owns the terms' parameters (ArcFace / CosFace / SphereFace class
    weights): pass ``loss.parameters()`` to the optimiser and move it with
    ``loss.to(device)``.
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
            self.weights[name] = validation.real(f"weight of loss term {name!r}", term.weight,
                                                 positive=True)
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
            :data:`LOSS_KINDS`, each at most once; weights are finite numbers > 0.

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
        raise ValueError(f"spec must name at least one loss of {', '.join(LOSS_KINDS)}; "
                         f"got {spec!r}")
    weights: dict[str, float] = {}
    for name, weight in items:
        if name not in LOSS_KINDS:
            raise ValueError(f"unknown loss {name!r} in spec {spec!r}; valid: "
                             f"{', '.join(LOSS_KINDS)}")
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


def build_loss(spec: LossSpec, *, num_classes: int, feat_dim: int, **options: Any) -> ReidLoss:
    """The :class:`ReidLoss` a spec describes (see :func:`parse_loss_spec`).

    Args:
        spec: e.g. ``"ce+triplet"``, ``"ce=1,triplet=0.5,circle=1"``,
            ``{"ce": 1.0, "arcface": 0.5}``.
        num_classes: identities in the training set (ArcFace / CosFace class weights).
        feat_dim: size of ``ModelOutput.features`` (ArcFace / CosFace class weights).
        options: the other fields of :class:`LossOptions`: ``label_smoothing`` (epsilon
            of ``ce``), ``triplet_margin`` (batch-hard, Euclidean; None for the soft
            margin), ``circle_m`` / ``circle_gamma``, ``instance_gamma``, ``arc_scale`` /
            ``arc_margin``, ``cos_scale`` / ``cos_margin``, ``sphere_margin`` /
            ``sphere_lambda_min``.

    The returned module's parameters (those of arcface / cosface / sphereface) live on
    the CPU: move it to the model's device and give its parameters to the optimiser.
    """
    built = LossOptions(num_classes=num_classes, feat_dim=feat_dim, **options)
    terms = {}
    for name, weight in parse_loss_spec(spec).items():
        kind = LOSS_KINDS[name]
        terms[name] = LossTerm(kind.build(built), weight, kind.source)
    return ReidLoss(terms)
