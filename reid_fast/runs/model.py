"""The model a run's configuration describes: built here for training and for loading a
finished run, so both build the same architecture."""

from __future__ import annotations

import inspect
import os

from ..models import BACKBONES, ReidModel, build_model
from .config import TrainConfig


def build_run_model(cfg: TrainConfig, num_classes: int, *,
                    pretrained: str | os.PathLike[str] | None = None) -> ReidModel:
    """``build_model`` with the configuration's architecture (arch, pool, head, embedding
    size, dropout, last stride, IBN), ``num_classes`` classifier outputs and optional
    ``pretrained`` weights; a backbone whose factory takes ``image_size`` (the ViTs: their
    position-embedding grid) gets ``cfg.image_size``. On the CPU, float32."""
    options = {}
    if "image_size" in inspect.signature(BACKBONES.lookup(cfg.arch).factory).parameters:
        options["image_size"] = tuple(int(v) for v in cfg.image_size)
    return build_model(cfg.arch, num_classes, pool=cfg.pool, head=cfg.head,
                       embedding_dim=cfg.embedding_dim, dropout=cfg.dropout,
                       last_stride=cfg.last_stride, ibn=cfg.ibn, pretrained=pretrained,
                       **options)
