"""Res2Net backbones (Gao et al., TPAMI 2019): the ResNet trunk of ``resnet.py`` with the
multi-scale ``Bottle2neck``.

State-dict keys are those of the authors' release (Res2Net-PretrainedModels, also timm's):
``layer1.0.conv1``, ``layer1.0.convs.0``, ``layer1.0.bns.0``, ``layer1.0.conv3``,
``layer1.0.downsample.0`` ..., so their ImageNet weights load with
:func:`~reid_fast.models.load_pretrained`.
"""

from __future__ import annotations

import torch
from torch import nn

from .resnet import ResNet


class Bottle2neck(nn.Module):
    """Res2Net bottleneck: 1x1 convolution to ``scale`` splits of ``width =
    floor(planes * base_width / 64)`` channels; splits 1 .. scale-1 go through 3x3
    convolutions (``convs``, ``bns``), each but the first receiving the previous one's
    output added to its split (hierarchical residual); the last split passes unchanged
    (in the first block of a stage, the one with a ``downsample`` shortcut: through a 3x3
    average pooling of the block's stride and every split is convolved on its own); 1x1
    convolution to ``4 * planes``.

    ``forward``: (B, inplanes, H, W) -> (B, 4 * planes, H / stride, W / stride).
    """

    expansion = 4

    def __init__(
        self,
        inplanes: int,
        planes: int,
        stride: int = 1,
        downsample: nn.Module | None = None,
        *,
        groups: int = 1,
        base_width: int = 26,
        ibn: bool = False,
        se_reduction: int | None = None,
        scale: int = 4,
    ) -> None:
        super().__init__()
        if groups != 1 or ibn or se_reduction is not None:
            raise ValueError(
                "Bottle2neck supports only groups=1, ibn=False, se_reduction=None; got "
                f"groups={groups}, ibn={ibn}, se_reduction={se_reduction}"
            )
        if scale < 2:
            raise ValueError(f"scale must be >= 2, got {scale!r}")
        width = planes * base_width // 64
        out_channels = planes * self.expansion
        self.width = width
        self.stage_first = downsample is not None
        self.conv1 = nn.Conv2d(inplanes, width * scale, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(width * scale)
        self.convs = nn.ModuleList(
            nn.Conv2d(width, width, 3, stride=stride, padding=1, bias=False)
            for _ in range(scale - 1)
        )
        self.bns = nn.ModuleList(nn.BatchNorm2d(width) for _ in range(scale - 1))
        self.pool = nn.AvgPool2d(3, stride=stride, padding=1) if self.stage_first else None
        self.conv3 = nn.Conv2d(width * scale, out_channels, 1, bias=False)
        self.bn3 = nn.BatchNorm2d(out_channels)
        self.downsample = downsample
        self.relu = nn.ReLU(inplace=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        splits = torch.split(self.relu(self.bn1(self.conv1(x))), self.width, dim=1)
        outputs = []
        for i, (conv, bn) in enumerate(zip(self.convs, self.bns)):
            branch = splits[i] if i == 0 or self.stage_first else outputs[-1] + splits[i]
            outputs.append(self.relu(bn(conv(branch))))
        outputs.append(splits[-1] if self.pool is None else self.pool(splits[-1]))
        out = self.bn3(self.conv3(torch.cat(outputs, dim=1)))
        identity = x if self.downsample is None else self.downsample(x)
        return self.relu(out + identity)


def res2net101_26w_4s(*, last_stride: int = 2) -> ResNet:
    """Res2Net-101 26w x 4s (3-4-23-3 ``Bottle2neck`` blocks, base width 26, 4 splits),
    the authors' ``res2net101_26w_4s``; 2048 output channels."""
    return ResNet(Bottle2neck, (3, 4, 23, 3), base_width=26, block_options={"scale": 4},
                  last_stride=last_stride)
