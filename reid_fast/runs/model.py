"""The model a run's configuration describes: built here for training and for loading a
finished run, so both build the same architecture."""

from __future__ import annotations

import inspect
import os
from contextlib import nullcontext

from ..models import BACKBONES, IMAGENET, ReidModel, apply_pretrained, build_model
from .checkpoint import unreadable_file_errors
from .config import TrainConfig


def build_run_model(cfg: TrainConfig, num_classes: int, *,
                    pretrained: str | os.PathLike[str] | None = None) -> ReidModel:
    """``build_model`` with the configuration's architecture (arch, pool, head, embedding
    size, dropout, last stride, IBN) and ``num_classes`` classifier outputs; a backbone
    whose factory takes ``image_size`` (the ViTs: their position-embedding grid) gets
    ``cfg.image_size``. On the CPU, float32.

    ``pretrained``: weights loaded into the backbone with :func:`apply_pretrained` (a
    warning lists missing / unexpected keys); a local file that is not a readable PyTorch
    file is a ValueError naming ``--pretrained`` and the file."""
    options = {}
    if "image_size" in inspect.signature(BACKBONES.lookup(cfg.arch).factory).parameters:
        options["image_size"] = tuple(int(v) for v in cfg.image_size)
    model = build_model(cfg.arch, num_classes, pool=cfg.pool, head=cfg.head,
                        embedding_dim=cfg.embedding_dim, dropout=cfg.dropout,
                        last_stride=cfg.last_stride, ibn=cfg.ibn, **options)
    if pretrained is not None:
        # The ImageNet weights are downloaded and hash-checked (their errors say so).
        guard = (nullcontext() if pretrained == IMAGENET
                 else unreadable_file_errors(pretrained, "--pretrained"))
        with guard:
            apply_pretrained(model, pretrained)
    return model
