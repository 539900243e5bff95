"""``build_model``: a :class:`ReidModel` from an architecture name and options."""

from __future__ import annotations

import os
import warnings
from dataclasses import dataclass
from typing import Any, Callable

from torch import nn

from ..registry import Registry
from . import densenet, efficientnet, res2net, resnet, vit
from .heads import build_head
from .pooling import build_pooling
from .pretrained import load_pretrained
from .reid_model import ReidModel


@dataclass(frozen=True)
class Backbone:
    """A registered backbone: ``factory(last_stride=..., **options)`` returns a freshly
    initialised ``nn.Module`` mapping (B, 3, H, W) images to (B, C, h, w) feature maps,
    with ``out_channels`` = C; ``ibn``: the factory takes ``ibn=True`` (IBN-a)."""

    factory: Callable[..., nn.Module]
    ibn: bool = False


BACKBONES: Registry[Backbone] = Registry("arch")
"""Every backbone ``build_model`` knows, by name (``--arch`` of ``reid-fast train``)."""


def register_backbone(name: str, *, ibn: bool = False, replace: bool = False
                      ) -> Callable[[Callable[..., nn.Module]], Callable[..., nn.Module]]:
    """Decorator: register a backbone factory as ``name`` (see :class:`Backbone`)::

        @reid_fast.models.register_backbone("tiny_cnn")
        def tiny_cnn(*, last_stride=2, width=16):
            ...  # an nn.Module with out_channels

    The factory is returned unchanged."""
    def register(factory: Callable[..., nn.Module]) -> Callable[..., nn.Module]:
        BACKBONES.add(name, Backbone(factory, ibn), replace=replace)
        return factory
    return register


for _name, _factory, _ibn in (
    ("resnet_small", resnet.resnet_small, True),
    ("resnet18", resnet.resnet18, True),
    ("resnet34", resnet.resnet34, True),
    ("resnet50", resnet.resnet50, True),
    ("resnet101", resnet.resnet101, True),
    ("se_resnext101_32x4d", resnet.se_resnext101_32x4d, False),
    ("densenet121", densenet.densenet121, False),
    ("resnext101_32x8d", resnet.resnext101_32x8d, False),
    ("resnext101_32x16d", resnet.resnext101_32x16d, False),
    ("resnext101_64x4d", resnet.resnext101_64x4d, False),
    ("res2net101_26w_4s", res2net.res2net101_26w_4s, False),
    ("efficientnet_b4", efficientnet.efficientnet_b4, False),
    ("vit_small_patch16", vit.vit_small_patch16, False),
    ("vit_base_patch16", vit.vit_base_patch16, False),
):
    register_backbone(_name, ibn=_ibn)(_factory)

ARCHS = tuple(BACKBONES)
"""The built-in backbones (:data:`BACKBONES` also holds those users register)."""


def build_backbone(arch: str, *, last_stride: int = 1, ibn: bool = False,
                   **backbone_options: Any) -> nn.Module:
    """The backbone called ``arch`` (registered in :data:`BACKBONES`), freshly initialised.

    ``ibn`` (IBN-a) exists for the backbones registered with ``ibn=True`` (the ResNets);
    ``backbone_options`` go to the factory (``resnet_small``: ``widths``, ``layers``).
    """
    backbone = BACKBONES.lookup(arch)
    if ibn:
        if not backbone.ibn:
            with_ibn = ", ".join(name for name, b in BACKBONES.items() if b.ibn)
            raise ValueError(f"ibn=True needs a ResNet arch ({with_ibn}), got {arch!r}")
        backbone_options["ibn"] = True
    return backbone.factory(last_stride=last_stride, **backbone_options)


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
        arch: a name registered in :data:`BACKBONES` (the built-ins: :data:`ARCHS`).
        num_classes: training identities (classifier width); 0 = no classifier.
        pool: one of :data:`reid_fast.models.pooling.POOLS`.
        head: ``"bnneck"`` (embedding = backbone channels) or ``"classblock"``
            (embedding = ``embedding_dim``, with ``dropout`` before the classifier).
        last_stride: 1 (re-ID default: last stage keeps its resolution) or 2.
        ibn: IBN-a ResNet.
        pretrained: local checkpoint loaded into the backbone with
            :func:`load_pretrained` (a warning lists missing / unexpected keys), or
            ``"imagenet"``: ``arch``'s published ImageNet weights, downloaded into the
            cache on first use (:func:`reid_fast.models.imagenet.fetch_imagenet_weights`).
        backbone_options: extra backbone arguments (``resnet_small``: ``widths``,
            ``layers``; ``efficientnet_b4``: ``stochastic_depth_prob``).

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
        apply_pretrained(model, pretrained)
    return model


def apply_pretrained(model: ReidModel, pretrained: str | os.PathLike[str]) -> None:
    """Load ``pretrained`` (a file, or ``"imagenet"``) into ``model``'s backbone with
    :func:`load_pretrained` (arch from ``model.config``), warning with the backbone keys
    the file lacks and the file keys the backbone lacks."""
    arch = model.config.get("arch")
    missing, unexpected = load_pretrained(model, pretrained, arch=arch)
    if missing or unexpected:
        warnings.warn(
            f"{os.fspath(pretrained)!r} into {arch}: {len(missing)} backbone keys not in the "
            f"file (e.g. {missing[:3]}), {len(unexpected)} file keys not in the backbone "
            f"(e.g. {unexpected[:3]})",
            stacklevel=3,
        )
