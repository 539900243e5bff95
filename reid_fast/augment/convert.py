"""uint8 -> float conversion and mean/std normalisation."""

from __future__ import annotations

from typing import Sequence

import torch

from .. import validation
from . import _memory
from ._validate import check_images

IMAGENET_MEAN: tuple[float, float, float] = (0.485, 0.456, 0.406)
IMAGENET_STD: tuple[float, float, float] = (0.229, 0.224, 0.225)


def to_float(images: torch.Tensor) -> torch.Tensor:
    """(B, 3, H, W) uint8 in [0, 255] -> float32 in [0, 1]; float32 is returned as is.

    The result keeps the device and the memory format (e.g. channels-last) of ``images``.
    """
    check_images(images)
    if images.dtype == torch.float32:
        return images
    out = _memory.empty(images.shape, torch.float32, images.device, _memory_format(images))
    return out.copy_(images).mul_(1.0 / 255.0)


def _memory_format(images: torch.Tensor) -> torch.memory_format:
    if images.is_contiguous(memory_format=torch.channels_last) and not images.is_contiguous():
        return torch.channels_last
    return torch.contiguous_format


def normalize(
    images: torch.Tensor,
    mean: Sequence[float] = IMAGENET_MEAN,
    std: Sequence[float] = IMAGENET_STD,
    out: torch.Tensor | None = None,
) -> torch.Tensor:
    """``(x - mean) / std`` per channel, with x in [0, 1].

    Args:
        images: (B, 3, H, W) uint8 (read as x = value / 255) or float32 in [0, 1], any
            device and memory format.
        mean, std: three numbers each (RGB); std > 0.
        out: optional (B, 3, H, W) float32 channels-last tensor on the same device to
            write into (a training loop can reuse one buffer per step and skip the page
            faults of a fresh 50 MB allocation); it must not alias ``images``.

    Returns:
        A new (B, 3, H, W) float32 tensor on the device of ``images``, channels-last
        (``out`` when given).
        The copy into it converts uint8; one fused multiply-add then normalises.
    """
    check_images(images)
    mean = validation.reals("mean", mean, 3)
    std = validation.reals("std", std, 3, positive=True)
    batch, channels, height, width = images.shape
    if out is None:
        out = _memory.empty(images.shape, torch.float32, images.device, torch.channels_last)
    elif (out.shape != images.shape or out.dtype != torch.float32 or out.device != images.device
          or not out.is_contiguous(memory_format=torch.channels_last)):
        raise ValueError(
            f"out must be a float32 channels-last tensor of shape {tuple(images.shape)} on "
            f"{images.device}; got {out.dtype} {tuple(out.shape)} on {out.device}")
    out.copy_(images)
    if out.numel() == 0:
        return out
    # x * scale + shift on rows of W pixels x 3 channels (the channels-last layout), with
    # the uint8 -> [0, 1] factor folded into scale: one fused pass after the copy.
    unit = 1.0 / 255.0 if images.dtype == torch.uint8 else 1.0
    scale = torch.tensor([unit / s for s in std], dtype=torch.float32).repeat(width)
    shift = torch.tensor([-m / s for m, s in zip(mean, std)], dtype=torch.float32).repeat(width)
    rows = out.permute(0, 2, 3, 1).view(batch * height, width * channels)
    torch.addcmul(shift.to(out.device), rows, scale.to(out.device), out=rows)
    return out
