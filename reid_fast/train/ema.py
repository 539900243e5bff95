"""Exponential moving average of a model's weights."""

from __future__ import annotations

import copy

import torch
from torch import nn


class ModelEMA:
    """``ema = decay * ema + (1 - decay) * weights`` after every optimiser step.

    Floating-point parameters and buffers are averaged; integer buffers (BatchNorm's
    ``num_batches_tracked``) are copied. ``module`` is an eval-mode copy on the model's
    device, never trained directly.
    """

    def __init__(self, model: nn.Module, decay: float) -> None:
        if not 0.0 < decay < 1.0:
            raise ValueError(f"decay must be in (0, 1); got {decay}")
        self.decay = decay
        self.module = copy.deepcopy(model).eval()
        for p in self.module.parameters():
            p.requires_grad_(False)

    @torch.no_grad()
    def update(self, model: nn.Module) -> None:
        current = model.state_dict()
        for name, value in self.module.state_dict().items():
            source = current[name].detach()
            if value.dtype.is_floating_point:
                value.mul_(self.decay).add_(source.to(value.dtype), alpha=1.0 - self.decay)
            else:
                value.copy_(source)

    def state_dict(self) -> dict:
        return self.module.state_dict()

    def load_state_dict(self, state: dict) -> None:
        self.module.load_state_dict(state)
