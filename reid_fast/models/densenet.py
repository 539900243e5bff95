"""DenseNet backbones (Huang et al. 2017), with torchvision's state-dict keys
(``features.conv0``, ``features.denseblock1.denselayer1.norm1`` ...,
``features.transition1.conv``, ``features.norm5``) and no classifier."""

from __future__ import annotations

from collections import OrderedDict
from typing import Sequence

import torch
from torch import nn

from .weight_init import init_backbone_


class DenseLayer(nn.Module):
    """BN-ReLU-1x1 conv (to ``bn_size * growth_rate``) - BN-ReLU-3x3 conv (to
    ``growth_rate``); the output is concatenated to the input."""

    def __init__(self, in_channels: int, growth_rate: int, bn_size: int) -> None:
        super().__init__()
        inner = bn_size * growth_rate
        self.norm1 = nn.BatchNorm2d(in_channels)
        self.relu1 = nn.ReLU(inplace=True)
        self.conv1 = nn.Conv2d(in_channels, inner, 1, bias=False)
        self.norm2 = nn.BatchNorm2d(inner)
        self.relu2 = nn.ReLU(inplace=True)
        self.conv2 = nn.Conv2d(inner, growth_rate, 3, padding=1, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        new = self.conv1(self.relu1(self.norm1(x)))
        new = self.conv2(self.relu2(self.norm2(new)))
        return torch.cat((x, new), dim=1)


class Transition(nn.Sequential):
    """BN-ReLU-1x1 conv (to ``out_channels``), then 2x2 average pooling unless
    ``downsample`` is False."""

    def __init__(self, in_channels: int, out_channels: int, downsample: bool) -> None:
        super().__init__()
        self.norm = nn.BatchNorm2d(in_channels)
        self.relu = nn.ReLU(inplace=True)
        self.conv = nn.Conv2d(in_channels, out_channels, 1, bias=False)
        if downsample:
            self.pool = nn.AvgPool2d(2, stride=2)


class DenseNet(nn.Module):
    """DenseNet trunk.

    Args:
        growth_rate: channels each dense layer adds.
        block_config: dense layers per block (4 ints for the usual nets).
        num_init_features: stem channels.
        bn_size: bottleneck width factor of a dense layer.
        last_stride: 2, or 1 to skip the last transition's pooling.

    ``forward``: (B, 3, H, W) float -> (B, out_channels, H/32, W/32) (H/16, W/16 with
    ``last_stride=1``), ReLU applied after ``norm5`` as torchvision's classifier does.
    """

    def __init__(
        self,
        growth_rate: int = 32,
        block_config: Sequence[int] = (6, 12, 24, 16),
        num_init_features: int = 64,
        bn_size: int = 4,
        last_stride: int = 2,
    ) -> None:
        super().__init__()
        if last_stride not in (1, 2):
            raise ValueError(f"last_stride must be 1 or 2, got {last_stride!r}")
        layers: OrderedDict[str, nn.Module] = OrderedDict(
            conv0=nn.Conv2d(3, num_init_features, 7, stride=2, padding=3, bias=False),
            norm0=nn.BatchNorm2d(num_init_features),
            relu0=nn.ReLU(inplace=True),
            pool0=nn.MaxPool2d(3, stride=2, padding=1),
        )
        channels = num_init_features
        for i, num_layers in enumerate(block_config):
            block = nn.Sequential(OrderedDict(
                (f"denselayer{j + 1}", DenseLayer(channels + j * growth_rate, growth_rate, bn_size))
                for j in range(num_layers)
            ))
            layers[f"denseblock{i + 1}"] = block
            channels += num_layers * growth_rate
            if i != len(block_config) - 1:
                last = i == len(block_config) - 2
                layers[f"transition{i + 1}"] = Transition(
                    channels, channels // 2, downsample=not last or last_stride == 2
                )
                channels //= 2
        layers["norm5"] = nn.BatchNorm2d(channels)
        self.features = nn.Sequential(layers)
        self.out_channels = channels
        init_backbone_(self)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.relu(self.features(x))


def densenet121(*, last_stride: int = 2) -> DenseNet:
    """DenseNet-121 (growth 32, blocks 6-12-24-16), 1024 output channels."""
    return DenseNet(32, (6, 12, 24, 16), 64, last_stride=last_stride)
