"""``build_model``: a :class:`ReidModel` from an architecture name and options."""

from __future__ import annotations

import os
import warnings
from typing import Any, Callable

from torch import nn

from . import densenet, resnet
from .heads import build_head
from .pooling import build_pooling
from .pretrained import load_pretrained
from .reid_model import ReidModel

_BACKBONES: dict[str, Callable[..., nn.Module]] = {
    "resnet_small": resnet.resnet_small,
    "resnet18": resnet.resnet18,
    "resnet34": resnet.resnet34,
    "resnet50": resnet.resnet50,
    "resnet101": resnet.resnet101,
    "se_resnext101_32x4d": resnet.se_resnext101_32x4d,
    "densenet121": densenet.densenet121,
}
ARCHS = tuple(_BACKBONES)
_IBN_ARCHS = ("resnet_small", "resnet18", "resnet34", "resnet50", "resnet101")


def build_backbone(arch: str, *, last_stride: int = 1, ibn: bool = False,
                   **backbone_options: Any) -> nn.Module:
    """The backbone called ``arch`` (one of :data:`ARCHS`), freshly initialised.

    ``ibn`` (IBN-a) exists for the ResNets only; ``backbone_options`` go to the factory
    (``resnet_small``: ``widths``, ``layers``).
    """
    if arch not in _BACKBONES:
        raise ValueError(f"unknown arch {arch!r}; valid archs: {', '.join(ARCHS)}")
    if ibn:
        if arch not in _IBN_ARCHS:
            raise ValueError(
                f"ibn=True needs a ResNet arch ({', '.join(_IBN_ARCHS)}), got {arch!r}"
            )
        backbone_options["ibn"] = True
    return _BACKBONES[arch](last_stride=last_stride, **backbone_options)


def build_model(
    arch: str,
    num_classes: int,
    *,
    pool: str = "avg",
    head: str = "bnneck",
    embedding_dim: int = 512,
    dropout: float = 0.0,
    last_stride: int = 1,
    ibn: bool = False,
    pretrained: str | os.PathLike[str] | None = None,
    **backbone_options: Any,
) -> ReidModel:
    """A re-ID model: backbone ``arch`` + pooling ``pool`` + head ``head``, on the CPU in
    float32 (move it with ``.to(device)``).

    Args:
        arch: one of :data:`ARCHS`.
        num_classes: training identities (classifier width); 0 = no classifier.
        pool: one of :data:`reid_fast.models.pooling.POOLS`.
        head: ``"bnneck"`` (embedding = backbone channels) or ``"classblock"``
            (embedding = ``embedding_dim``, with ``dropout`` before the classifier).
        last_stride: 1 (re-ID default: last stage keeps its resolution) or 2.
        ibn: IBN-a ResNet.
        pretrained: local checkpoint loaded into the backbone with
            :func:`load_pretrained` (a warning lists missing / unexpected keys).
        backbone_options: extra backbone arguments (``resnet_small``: ``widths``,
            ``layers``).

    The model's ``config`` holds these arguments except ``pretrained``, so
    ``build_model(**model.config)`` rebuilds the architecture.
    """
    backbone = build_backbone(arch, last_stride=last_stride, ibn=ibn, **backbone_options)
    model = ReidModel(
        backbone,
        build_pooling(pool),
        build_head(head, backbone.out_channels, num_classes, embedding_dim=embedding_dim,
                   dropout=dropout),
        config=dict(arch=arch, num_classes=num_classes, pool=pool, head=head,
                    embedding_dim=embedding_dim, dropout=dropout, last_stride=last_stride,
                    ibn=ibn, **backbone_options),
    )
    if pretrained is not None:
        missing, unexpected = load_pretrained(model, pretrained)
        if missing or unexpected:
            warnings.warn(
                f"{os.fspath(pretrained)!r} into {arch}: {len(missing)} backbone keys not in the "
                f"file (e.g. {missing[:3]}), {len(unexpected)} file keys not in the backbone "
                f"(e.g. {unexpected[:3]})",
                stacklevel=2,
            )
    return model
