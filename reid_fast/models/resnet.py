"""ResNet backbones (He et al. 2016), with the IBN-a option (Pan et al. 2018), ResNeXt
grouped bottlenecks (Xie et al. 2017) and squeeze-excitation (Hu et al. 2018). The trunk
(:class:`ResNet`) also carries the Res2Net bottleneck (``res2net.py``).

State-dict keys are torchvision's (``conv1``, ``bn1``, ``layer1.0.conv1``,
``layer1.0.downsample.0`` ...) so ImageNet weights load from a local file; IBN-a splits a
block's ``bn1`` into ``bn1.IN`` / ``bn1.BN`` and SE adds ``se_module.fc1`` / ``fc2``, as
the IBN-Net and ``pretrainedmodels`` releases name them. The backbones have no
classifier: ``forward`` returns the last stage's feature map.
"""

from __future__ import annotations

from typing import Any, Callable, Mapping, Sequence

import torch
from torch import nn

from .weight_init import init_backbone_


class IBN(nn.Module):
    """Instance-batch normalisation (IBN-a): the first half of the channels go through an
    affine InstanceNorm, the rest through a BatchNorm.

    ``IN`` normalises ``int(channels * 0.5)`` channels, ``BN`` the remaining ones.
    """

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.half = channels // 2
        self.IN = nn.InstanceNorm2d(self.half, affine=True)
        self.BN = nn.BatchNorm2d(channels - self.half)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.cat((self.IN(x[:, : self.half]), self.BN(x[:, self.half :])), dim=1)


class SEModule(nn.Module):
    """Squeeze-excitation: channel gates sigmoid(fc2(act(fc1(global average)))), the two
    fully connected layers (``channels`` -> ``hidden`` -> ``channels``) written as 1x1
    convolutions with bias; ``activation`` builds ``act`` (ReLU in SENet, SiLU in
    EfficientNet). ``forward``: (B, channels, H, W) -> the same shape."""

    def __init__(self, channels: int, hidden: int, *,
                 activation: Callable[[], nn.Module] = nn.ReLU) -> None:
        super().__init__()
        self.fc1 = nn.Conv2d(channels, hidden, kernel_size=1)
        self.activation = activation()
        self.fc2 = nn.Conv2d(hidden, channels, kernel_size=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        gate = x.mean(dim=(2, 3), keepdim=True)
        gate = torch.sigmoid(self.fc2(self.activation(self.fc1(gate))))
        return x * gate


def _norm(channels: int, ibn: bool) -> nn.Module:
    return IBN(channels) if ibn else nn.BatchNorm2d(channels)


class BasicBlock(nn.Module):
    """Two 3x3 convolutions (ResNet-18/34); output channels = ``planes``."""

    expansion = 1

    def __init__(
        self,
        inplanes: int,
        planes: int,
        stride: int = 1,
        downsample: nn.Module | None = None,
        *,
        groups: int = 1,
        base_width: int = 64,
        ibn: bool = False,
        se_reduction: int | None = None,
    ) -> None:
        super().__init__()
        if groups != 1 or base_width != 64:
            raise ValueError(
                f"BasicBlock supports only groups=1, base_width=64; got groups={groups}, "
                f"base_width={base_width}"
            )
        self.conv1 = nn.Conv2d(inplanes, planes, 3, stride=stride, padding=1, bias=False)
        self.bn1 = _norm(planes, ibn)
        self.conv2 = nn.Conv2d(planes, planes, 3, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(planes)
        self.se_module = None if se_reduction is None else SEModule(planes,
                                                                    planes // se_reduction)
        self.downsample = downsample
        self.relu = nn.ReLU(inplace=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        if self.se_module is not None:
            out = self.se_module(out)
        identity = x if self.downsample is None else self.downsample(x)
        return self.relu(out + identity)


class Bottleneck(nn.Module):
    """1x1 -> 3x3 (strided, grouped) -> 1x1 bottleneck (ResNet-50/101, ResNeXt);
    inner width ``int(planes * base_width / 64) * groups``, output ``4 * planes``."""

    expansion = 4

    def __init__(
        self,
        inplanes: int,
        planes: int,
        stride: int = 1,
        downsample: nn.Module | None = None,
        *,
        groups: int = 1,
        base_width: int = 64,
        ibn: bool = False,
        se_reduction: int | None = None,
    ) -> None:
        super().__init__()
        width = int(planes * (base_width / 64.0)) * groups
        out_channels = planes * self.expansion
        self.conv1 = nn.Conv2d(inplanes, width, 1, bias=False)
        self.bn1 = _norm(width, ibn)
        self.conv2 = nn.Conv2d(width, width, 3, stride=stride, padding=1, groups=groups, bias=False)
        self.bn2 = nn.BatchNorm2d(width)
        self.conv3 = nn.Conv2d(width, out_channels, 1, bias=False)
        self.bn3 = nn.BatchNorm2d(out_channels)
        self.se_module = (None if se_reduction is None
                          else SEModule(out_channels, out_channels // se_reduction))
        self.downsample = downsample
        self.relu = nn.ReLU(inplace=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.relu(self.bn2(self.conv2(out)))
        out = self.bn3(self.conv3(out))
        if self.se_module is not None:
            out = self.se_module(out)
        identity = x if self.downsample is None else self.downsample(x)
        return self.relu(out + identity)


class ResNet(nn.Module):
    """ResNet trunk: 7x7/2 stem convolution, 3x3/2 max pooling, four stages.

    Args:
        block: :class:`BasicBlock`, :class:`Bottleneck` or another block class with an
            ``expansion`` and their constructor ``(inplanes, planes, stride=1,
            downsample=None, *, groups, base_width, ibn, se_reduction, **block_options)``
            (Res2Net's ``Bottle2neck``).
        layers: blocks per stage (4 ints >= 1).
        widths: ``planes`` of each stage (4 ints); the stem has ``widths[0]`` channels.
        groups, base_width: ResNeXt cardinality and width per group (1, 64 = ResNet).
        ibn: IBN-a in the first normalisation of every block of stages 1-3.
        se_reduction: squeeze-excitation reduction in every block (None = no SE).
        block_options: further keyword arguments of every block (Res2Net's ``scale``).
        last_stride: stride of stage 4, 1 or 2 (1 keeps stage 3's resolution).
        stem_pool_ceil: stem max pooling without padding and with ceil_mode (the Cadene
            ``pretrainedmodels`` SENets) instead of torchvision's padding 1.

    ``forward``: (B, 3, H, W) float -> (B, out_channels, H/32, W/32) feature map (H/16,
    W/16 with ``last_stride=1``; sizes rounded up), same device and dtype (or the autocast
    dtype). ``out_channels`` = ``widths[3] * block.expansion``.
    """

    def __init__(
        self,
        block: type[nn.Module],
        layers: Sequence[int],
        *,
        widths: Sequence[int] = (64, 128, 256, 512),
        groups: int = 1,
        base_width: int = 64,
        ibn: bool = False,
        se_reduction: int | None = None,
        last_stride: int = 2,
        stem_pool_ceil: bool = False,
        block_options: Mapping[str, Any] | None = None,
    ) -> None:
        super().__init__()
        layers, widths = tuple(layers), tuple(widths)
        if len(layers) != 4 or any(int(n) < 1 for n in layers):
            raise ValueError(f"layers must be 4 block counts >= 1, got {layers}")
        if len(widths) != 4 or any(int(w) < 1 for w in widths):
            raise ValueError(f"widths must be 4 channel counts >= 1, got {widths}")
        if last_stride not in (1, 2):
            raise ValueError(f"last_stride must be 1 or 2, got {last_stride!r}")
        self.conv1 = nn.Conv2d(3, widths[0], 7, stride=2, padding=3, bias=False)
        self.bn1 = nn.BatchNorm2d(widths[0])
        self.relu = nn.ReLU(inplace=True)
        if stem_pool_ceil:
            self.maxpool = nn.MaxPool2d(3, stride=2, ceil_mode=True)
        else:
            self.maxpool = nn.MaxPool2d(3, stride=2, padding=1)
        inplanes = widths[0]
        strides = (1, 2, 2, last_stride)
        for stage, (planes, blocks, stride) in enumerate(zip(widths, layers, strides)):
            options = dict(groups=groups, base_width=base_width, ibn=ibn and stage < 3,
                           se_reduction=se_reduction, **(block_options or {}))
            out = planes * block.expansion
            downsample = None
            if stride != 1 or inplanes != out:
                downsample = nn.Sequential(
                    nn.Conv2d(inplanes, out, 1, stride=stride, bias=False), nn.BatchNorm2d(out)
                )
            stage_blocks = [block(inplanes, planes, stride, downsample, **options)]
            stage_blocks += [block(out, planes, **options) for _ in range(1, blocks)]
            self.add_module(f"layer{stage + 1}", nn.Sequential(*stage_blocks))
            inplanes = out
        self.out_channels = inplanes
        init_backbone_(self)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.maxpool(self.relu(self.bn1(self.conv1(x))))
        return self.layer4(self.layer3(self.layer2(self.layer1(x))))


def resnet18(*, last_stride: int = 2, ibn: bool = False) -> ResNet:
    """ResNet-18 (BasicBlock, 2-2-2-2), 512 output channels."""
    return ResNet(BasicBlock, (2, 2, 2, 2), last_stride=last_stride, ibn=ibn)


def resnet34(*, last_stride: int = 2, ibn: bool = False) -> ResNet:
    """ResNet-34 (BasicBlock, 3-4-6-3), 512 output channels."""
    return ResNet(BasicBlock, (3, 4, 6, 3), last_stride=last_stride, ibn=ibn)


def resnet50(*, last_stride: int = 2, ibn: bool = False) -> ResNet:
    """ResNet-50 (Bottleneck, 3-4-6-3), 2048 output channels; ``ibn`` = ResNet-50-IBN-a."""
    return ResNet(Bottleneck, (3, 4, 6, 3), last_stride=last_stride, ibn=ibn)


def resnet101(*, last_stride: int = 2, ibn: bool = False) -> ResNet:
    """ResNet-101 (Bottleneck, 3-4-23-3), 2048 output channels; ``ibn`` = ResNet-101-IBN-a."""
    return ResNet(Bottleneck, (3, 4, 23, 3), last_stride=last_stride, ibn=ibn)


def se_resnext101_32x4d(*, last_stride: int = 2) -> ResNet:
    """SE-ResNeXt-101 32x4d: ResNeXt bottlenecks (32 groups of width 4) with
    squeeze-excitation (reduction 16) and the ``pretrainedmodels`` stem pooling;
    2048 output channels."""
    return ResNet(Bottleneck, (3, 4, 23, 3), groups=32, base_width=4, se_reduction=16,
                  last_stride=last_stride, stem_pool_ceil=True)


def resnext101_32x8d(*, last_stride: int = 2) -> ResNet:
    """ResNeXt-101 32x8d (32 groups of width 8, 3-4-23-3), torchvision's; 2048 output
    channels."""
    return ResNet(Bottleneck, (3, 4, 23, 3), groups=32, base_width=8, last_stride=last_stride)


def resnext101_32x16d(*, last_stride: int = 2) -> ResNet:
    """ResNeXt-101 32x16d (32 groups of width 16, 3-4-23-3), the architecture of the
    weakly supervised Instagram model (Mahajan et al. 2018, ``resnext101_32x16d_wsl``);
    2048 output channels."""
    return ResNet(Bottleneck, (3, 4, 23, 3), groups=32, base_width=16, last_stride=last_stride)


def resnext101_64x4d(*, last_stride: int = 2) -> ResNet:
    """ResNeXt-101 64x4d (64 groups of width 4, 3-4-23-3), torchvision's; 2048 output
    channels."""
    return ResNet(Bottleneck, (3, 4, 23, 3), groups=64, base_width=4, last_stride=last_stride)


def resnet_small(
    *,
    last_stride: int = 2,
    ibn: bool = False,
    widths: Sequence[int] = (32, 64, 128, 256),
    layers: Sequence[int] = (1, 1, 1, 1),
) -> ResNet:
    """A small BasicBlock ResNet for CPU training at 64-128 px: ``widths`` channels and
    ``layers`` blocks per stage (defaults: 32-64-128-256, one block each, ~1.2 M
    parameters); ``widths[3]`` output channels."""
    return ResNet(BasicBlock, layers, widths=widths, last_stride=last_stride, ibn=ibn)
