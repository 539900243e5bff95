"""Weight initialisation shared by the backbones and heads (the re-ID baselines' choice)."""

from __future__ import annotations

from torch import nn


def init_backbone_(module: nn.Module) -> None:
    """In place: Kaiming-normal (fan_out, ReLU) convolutions with zero bias, and every
    normalisation layer's affine weight 1 and bias 0 (BatchNorm, InstanceNorm)."""
    for m in module.modules():
        if isinstance(m, nn.Conv2d):
            nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
            if m.bias is not None:
                nn.init.zeros_(m.bias)
        elif isinstance(m, (nn.BatchNorm1d, nn.BatchNorm2d, nn.InstanceNorm2d)) and m.affine:
            nn.init.ones_(m.weight)
            nn.init.zeros_(m.bias)


def init_classifier_(linear: nn.Linear) -> None:
    """In place: identity classifier weights ~ N(0, 0.001^2), bias 0."""
    nn.init.normal_(linear.weight, std=0.001)
    if linear.bias is not None:
        nn.init.zeros_(linear.bias)
