"""Optimisers with a lower backbone learning rate, and per-step learning-rate schedules."""

from __future__ import annotations

import math
from typing import Iterable, Sequence

import torch
from torch import nn


def build_optimizer(name: str, backbone: Iterable[nn.Parameter], head: Iterable[nn.Parameter],
                    *, lr: float, backbone_lr_mult: float = 1.0, weight_decay: float = 5e-4,
                    momentum: float = 0.9) -> torch.optim.Optimizer:
    """SGD (Nesterov) or AdamW over two parameter groups: the backbone at
    ``lr * backbone_lr_mult`` and the rest (pooling, head, loss weights) at ``lr``.

    Biases and normalisation weights (1-D parameters) get no weight decay.
    """
    if lr <= 0:
        raise ValueError(f"lr must be positive; got {lr}")
    groups = []
    for params, mult in ((backbone, backbone_lr_mult), (head, 1.0)):
        params = [p for p in params if p.requires_grad]
        decay = [p for p in params if p.dim() > 1]
        no_decay = [p for p in params if p.dim() <= 1]
        for ps, wd in ((decay, weight_decay), (no_decay, 0.0)):
            if ps:
                groups.append({"params": ps, "lr": lr * mult, "weight_decay": wd})
    if name == "sgd":
        return torch.optim.SGD(groups, lr=lr, momentum=momentum, nesterov=momentum > 0)
    if name == "adamw":
        return torch.optim.AdamW(groups, lr=lr)
    raise ValueError(f"optimizer must be 'sgd' or 'adamw'; got {name!r}")


def lr_factor(step: int, *, total_steps: int, steps_per_epoch: int, warmup_epochs: float,
              schedule: str, milestones: Sequence[int] = (), gamma: float = 0.1,
              warmup_start: float = 0.01) -> float:
    """Multiplier of the base learning rates at optimiser step ``step`` (0-based).

    Linear warm-up from ``warmup_start`` (in (0, 1]) over ``warmup_epochs``, then
    ``cosine`` decay to 0 at ``total_steps`` or ``multistep``: times ``gamma`` at each
    milestone epoch.
    """
    if not 0.0 < warmup_start <= 1.0:
        raise ValueError(f"warmup_start must lie in (0, 1]; got {warmup_start}")
    warmup = int(round(warmup_epochs * steps_per_epoch))
    if step < warmup:
        return warmup_start + (1.0 - warmup_start) * step / warmup
    if schedule == "cosine":
        span = max(1, total_steps - warmup)
        return 0.5 * (1.0 + math.cos(math.pi * min(1.0, (step - warmup) / span)))
    if schedule == "multistep":
        epoch = step // max(1, steps_per_epoch)
        return gamma ** sum(epoch >= m for m in milestones)
    raise ValueError(f"schedule must be 'cosine' or 'multistep'; got {schedule!r}")
