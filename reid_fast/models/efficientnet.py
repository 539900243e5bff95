"""EfficientNet backbones (Tan & Le 2019) with torchvision's layout and state-dict keys
(``features.0.0`` stem convolution, ``features.N.M.block.K`` MBConv layers with
``block.K.fc1`` / ``fc2`` squeeze-excitation, ``features.8.0`` head convolution), so
torchvision's ImageNet weights load with :func:`~reid_fast.models.load_pretrained`. No
classifier: ``forward`` returns the head convolution's feature map.
"""

from __future__ import annotations

import math
from typing import NamedTuple

import torch
from torch import nn

from .. import validation
from .resnet import SEModule
from .weight_init import init_backbone_


class StageConfig(NamedTuple):
    """One MBConv stage of EfficientNet-B0: expansion ratio, depthwise kernel size, stride
    of its first block, input and output channels, number of blocks."""

    expand_ratio: int
    kernel: int
    stride: int
    in_channels: int
    out_channels: int
    blocks: int


B0_STAGES = (
    StageConfig(1, 3, 1, 32, 16, 1),
    StageConfig(6, 3, 2, 16, 24, 2),
    StageConfig(6, 5, 2, 24, 40, 2),
    StageConfig(6, 3, 2, 40, 80, 3),
    StageConfig(6, 5, 1, 80, 112, 3),
    StageConfig(6, 5, 2, 112, 192, 4),
    StageConfig(6, 3, 1, 192, 320, 1),
)
"""EfficientNet-B0's seven stages (the paper's Table 1, torchvision's settings); the other
sizes scale the channels by a width and the blocks by a depth multiplier."""


def make_divisible(value: float, divisor: int = 8) -> int:
    """``value`` rounded to the nearest multiple of ``divisor`` (at least ``divisor``), one
    ``divisor`` more when rounding lost over 10% (the TensorFlow and torchvision rule)."""
    rounded = max(divisor, int(value + divisor / 2) // divisor * divisor)
    return rounded + divisor if rounded < 0.9 * value else rounded


def conv_bn_act(in_channels: int, out_channels: int, kernel: int, stride: int = 1,
                groups: int = 1, activation: bool = True) -> nn.Sequential:
    """Convolution (no bias, padding ``(kernel - 1) // 2``) -> BatchNorm -> SiLU (unless
    ``activation`` is False), as torchvision's ``Conv2dNormActivation`` (keys ``0``,
    ``1``)."""
    layers: list[nn.Module] = [
        nn.Conv2d(in_channels, out_channels, kernel, stride=stride, padding=(kernel - 1) // 2,
                  groups=groups, bias=False),
        nn.BatchNorm2d(out_channels),
    ]
    if activation:
        layers.append(nn.SiLU(inplace=True))
    return nn.Sequential(*layers)


class MBConv(nn.Module):
    """Inverted residual block: 1x1 expansion to ``make_divisible(in_channels *
    expand_ratio)`` channels (none when that equals ``in_channels``) -> depthwise
    ``kernel`` x ``kernel`` convolution of stride ``stride`` -> squeeze-excitation (to
    ``max(1, in_channels // 4)`` and back, SiLU) -> 1x1 projection without activation;
    a residual connection when the shape is kept (stride 1 and ``in_channels ==
    out_channels``), its branch dropped per sample with probability
    ``stochastic_depth_prob`` in training (survivors scaled by ``1 / (1 - p)``).

    ``forward``: (B, in_channels, H, W) -> (B, out_channels, H / stride, W / stride).
    """

    def __init__(self, in_channels: int, out_channels: int, *, expand_ratio: int, kernel: int,
                 stride: int, stochastic_depth_prob: float) -> None:
        super().__init__()
        expanded = make_divisible(in_channels * expand_ratio)
        layers: list[nn.Module] = []
        if expanded != in_channels:
            layers.append(conv_bn_act(in_channels, expanded, 1))
        layers += [
            conv_bn_act(expanded, expanded, kernel, stride=stride, groups=expanded),
            SEModule(expanded, max(1, in_channels // 4), activation=nn.SiLU),
            conv_bn_act(expanded, out_channels, 1, activation=False),
        ]
        self.block = nn.Sequential(*layers)
        self.use_residual = stride == 1 and in_channels == out_channels
        self.stochastic_depth_prob = stochastic_depth_prob

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.block(x)
        if not self.use_residual:
            return out
        if self.training and self.stochastic_depth_prob > 0:
            survival = 1.0 - self.stochastic_depth_prob
            keep = torch.empty((out.shape[0], 1, 1, 1), dtype=out.dtype, device=out.device)
            out = out * keep.bernoulli_(survival).div_(survival)
        return out + x


class EfficientNet(nn.Module):
    """EfficientNet trunk: 3x3/2 stem (``features.0``), the seven MBConv stages of
    :data:`B0_STAGES` (``features.1`` .. ``features.7``) with channels scaled by
    ``width_mult`` (:func:`make_divisible`) and blocks by ``depth_mult`` (rounded up), and
    a 1x1 head convolution to 4x the last stage's channels (``features.8``).

    Args:
        width_mult, depth_mult: compound scaling (B4: 1.4, 1.8).
        last_stride: 2, or 1 to give the last downsampling stage (``features.6``) stride
            1 (output stride 16 instead of 32).
        stochastic_depth_prob: drop probability of the last block's residual branch;
            block ``i`` of ``n`` uses ``stochastic_depth_prob * i / n`` (torchvision's
            0.2 by default; 0 turns stochastic depth off).

    ``forward``: (B, 3, H, W) float -> (B, out_channels, H/32, W/32) (H/16, W/16 with
    ``last_stride=1``; sizes rounded up), the head's SiLU applied.
    """

    def __init__(self, width_mult: float, depth_mult: float, *, last_stride: int = 2,
                 stochastic_depth_prob: float = 0.2) -> None:
        super().__init__()
        if last_stride not in (1, 2):
            raise ValueError(f"last_stride must be 1 or 2, got {last_stride!r}")
        stochastic_depth_prob = validation.real("stochastic_depth_prob", stochastic_depth_prob,
                                                0.0, 1.0)
        if stochastic_depth_prob == 1.0:
            raise ValueError("stochastic_depth_prob must be < 1 (1 drops every residual "
                             "branch), got 1.0")
        last_down = max(i for i, stage in enumerate(B0_STAGES) if stage.stride == 2)
        stages = [
            stage._replace(
                in_channels=make_divisible(stage.in_channels * width_mult),
                out_channels=make_divisible(stage.out_channels * width_mult),
                blocks=math.ceil(stage.blocks * depth_mult),
                stride=last_stride if i == last_down else stage.stride,
            )
            for i, stage in enumerate(B0_STAGES)
        ]
        total = sum(stage.blocks for stage in stages)
        layers: list[nn.Module] = [conv_bn_act(3, stages[0].in_channels, 3, stride=2)]
        index = 0
        for stage in stages:
            blocks = []
            for j in range(stage.blocks):
                blocks.append(MBConv(
                    stage.in_channels if j == 0 else stage.out_channels, stage.out_channels,
                    expand_ratio=stage.expand_ratio, kernel=stage.kernel,
                    stride=stage.stride if j == 0 else 1,
                    stochastic_depth_prob=stochastic_depth_prob * index / total,
                ))
                index += 1
            layers.append(nn.Sequential(*blocks))
        self.out_channels = 4 * stages[-1].out_channels
        layers.append(conv_bn_act(stages[-1].out_channels, self.out_channels, 1))
        self.features = nn.Sequential(*layers)
        init_backbone_(self)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.features(x)


def efficientnet_b4(*, last_stride: int = 2, stochastic_depth_prob: float = 0.2
                    ) -> EfficientNet:
    """EfficientNet-B4 (width 1.4, depth 1.8: stages of 24-32-56-112-160-272-448
    channels and 2-4-4-6-6-8-2 blocks), torchvision's ``efficientnet_b4``; 1792 output
    channels."""
    return EfficientNet(1.4, 1.8, last_stride=last_stride,
                        stochastic_depth_prob=stochastic_depth_prob)
