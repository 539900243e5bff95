"""Global pooling of a backbone feature map into one vector per image.

Every pooling maps (B, C, H, W) -> (B, C), any memory format, same device and dtype.
"""

from __future__ import annotations

import torch
from torch import nn

POOLS = ("avg", "max", "avgmax", "gem")


class AvgPool(nn.Module):
    """Global average pooling."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.mean(dim=(2, 3))


class MaxPool(nn.Module):
    """Global max pooling."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.amax(dim=(2, 3))


class AvgMaxPool(nn.Module):
    """Global average plus global max (summed, so the dimension stays C)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.mean(dim=(2, 3)) + x.amax(dim=(2, 3))


class GeM(nn.Module):
    """Generalised mean pooling (Radenovic et al. 2018): ``mean(clamp(x, eps)^p)^(1/p)``
    with a learnable exponent ``p`` (p = 1: average; p -> inf: max).

    Computed in float32 (powers overflow bfloat16/float16 quickly) and returned in the
    input's dtype.
    """

    def __init__(self, p: float = 3.0, eps: float = 1e-6) -> None:
        super().__init__()
        if not p > 0:
            raise ValueError(f"p must be > 0, got {p!r}")
        self.p = nn.Parameter(torch.tensor(float(p)))
        self.eps = eps

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        p = self.p.float()
        pooled = x.float().clamp(min=self.eps).pow(p).mean(dim=(2, 3)).pow(1.0 / p)
        return pooled.to(x.dtype)


def build_pooling(name: str) -> nn.Module:
    """The pooling called ``name`` (one of :data:`POOLS`); GeM starts at p = 3."""
    if name == "avg":
        return AvgPool()
    if name == "max":
        return MaxPool()
    if name == "avgmax":
        return AvgMaxPool()
    if name == "gem":
        return GeM()
    raise ValueError(f"unknown pool {name!r}; valid pools: {', '.join(POOLS)}")
