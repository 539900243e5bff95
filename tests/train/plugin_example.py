"""A user's plugin, as ``reid-fast train --plugins`` imports it: a backbone, a dataset
layout and a loss registered by name, without editing reid_fast (tests/train/test_plugins.py).
"""

from __future__ import annotations

import csv
import os

import torch
from torch import nn

from reid_fast.data import register_layout
from reid_fast.data.records import ImageRecord, ReidDataset
from reid_fast.losses import register_loss
from reid_fast.models import register_backbone

LISTING = "listing.csv"


@register_backbone("plugin_tiny_cnn")
def plugin_tiny_cnn(*, last_stride: int = 2, width: int = 16) -> nn.Module:
    """Two strided convolutions: (B, 3, H, W) -> (B, width, H / 2 / last_stride, ...)."""
    backbone = nn.Sequential(
        nn.Conv2d(3, width // 2, 3, stride=2, padding=1, bias=False), nn.BatchNorm2d(width // 2),
        nn.ReLU(inplace=True),
        nn.Conv2d(width // 2, width, 3, stride=last_stride, padding=1, bias=False),
        nn.BatchNorm2d(width), nn.ReLU(inplace=True))
    backbone.out_channels = width
    return backbone


def _is_listing(root: str) -> bool:
    return os.path.isfile(os.path.join(root, LISTING))


@register_layout("plugin-listing", expects=f"a {LISTING} with columns split,path,id,camera",
                 matches=_is_listing)
def load_listing(root: str) -> ReidDataset:
    splits: dict[str, list[ImageRecord]] = {"train": [], "query": [], "gallery": []}
    with open(os.path.join(root, LISTING), newline="") as f:
        for row in csv.DictReader(f):
            splits[row["split"]].append(ImageRecord(os.path.join(root, row["path"]),
                                                    int(row["id"]), int(row["camera"])))
    return ReidDataset("plugin-listing", splits["train"], splits["query"], splits["gallery"],
                       root=root)


class CenterPull(nn.Module):
    """Mean squared distance of each feature to its class centre (learned)."""

    def __init__(self, num_classes: int, feat_dim: int) -> None:
        super().__init__()
        self.centers = nn.Parameter(torch.zeros(num_classes, feat_dim))

    def forward(self, features: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        return (features.float() - self.centers[labels]).pow(2).sum(dim=1).mean()


@register_loss("plugin_center")
def plugin_center(options) -> nn.Module:
    return CenterPull(options.num_classes, options.feat_dim)
