"""Axis-aligned geometric ops on a batch: pad + crop, horizontal flip, resize, resized
crop, each with a deterministic form (explicit per-sample parameters) and a random form
(parameters drawn on the CPU with the caller's generator).

Pad + crop and flip go through :func:`reid_fast.augment.crop.pad_crop_flip` (one gather
of row windows for the whole batch); resizes through ``F.interpolate`` (bilinear,
antialiased; bicubic on request). Geometric ops keep the dtype: uint8 in, uint8 out.
"""

from __future__ import annotations

import math
from typing import Any

import torch
import torch.nn.functional as F

from .. import validation
from ._batching import bernoulli, log_uniform, uniform
from ._validate import (
    check_generator,
    check_images,
    per_sample,
)
from .crop import check_pad, pad_crop_flip

INTERPOLATIONS = ("bilinear", "bicubic")
"""The resampling filters of :func:`interpolate` (both antialiased when shrinking)."""

RRC_ATTEMPTS = 10
"""Tries per sample to draw a box that fits before falling back to a central crop."""


def pad_crop(
    images: torch.Tensor, top: Any, left: Any, pad: int, mode: str = "constant"
) -> torch.Tensor:
    """Pad each image by ``pad`` pixels on every side, then crop (H, W) back out.

    Output pixel (i, j) of sample b is padded pixel (i + top[b], j + left[b]), i.e.
    original pixel (i + top[b] - pad, j + left[b] - pad).

    Args:
        images: (B, 3, H, W) uint8 or float32, any device.
        top, left: per-sample offsets in [0, 2 * pad] (ints, or (B,) int tensors).
        pad: >= 0 (< min(H, W) for ``mode="reflect"``).
        mode: ``"constant"`` (zero padding) or ``"reflect"`` (mirror, edge not repeated).

    Returns:
        (B, 3, H, W) of the dtype of ``images``, same device, channels-last.
    """
    return pad_crop_flip(images, top, left, False, pad, mode)


def random_pad_crop(
    images: torch.Tensor, pad: int, generator: torch.Generator, mode: str = "constant"
) -> torch.Tensor:
    """:func:`pad_crop` at offsets drawn uniformly in [0, 2 * pad] with ``generator``
    (all the row offsets, then all the column offsets)."""
    check_images(images)
    check_generator(generator)
    pad = check_pad(pad, images.shape[2], images.shape[3], mode)
    offsets = torch.randint(0, 2 * pad + 1, (2, images.shape[0]), generator=generator)
    return pad_crop(images, offsets[0], offsets[1], pad, mode)


def hflip(images: torch.Tensor, flipped: Any) -> torch.Tensor:
    """Mirror left-right the samples where ``flipped`` ((B,) bools, or one bool) is True.

    Returns (B, 3, H, W) of the dtype of ``images``, same device, channels-last.
    """
    return pad_crop_flip(images, 0, 0, flipped, 0)


def random_hflip(images: torch.Tensor, p: float, generator: torch.Generator) -> torch.Tensor:
    """:func:`hflip` of each sample with probability ``p``."""
    check_images(images)
    check_generator(generator)
    return hflip(images, bernoulli(generator, images.shape[0], validation.probability("p", p)))


def interpolate(images: torch.Tensor, size: tuple[int, int], mode: str = "bilinear") -> torch.Tensor:
    """Resize a batch to ``size``: bilinear (or ``mode="bicubic"``, PIL's ``BICUBIC`` and
    the AICity 2020 winner's filter), antialiased when shrinking (PIL's filters and
    torchvision's default for tensors, ``F.interpolate(..., antialias=True)``).

    uint8 stays uint8 (rounded; on a CPU torch's vectorised uint8 kernel, elsewhere
    through float32, which agree within one level), float32 stays float32 (bicubic
    overshoot clamped to [0, 1], as PIL's 8-bit result is). A batch already at ``size``
    comes back unchanged (as a copy).
    """
    check_images(images)
    size = validation.size_hw("size", size)
    validation.one_of("mode", mode, INTERPOLATIONS)
    if images.dtype == torch.uint8 and images.device.type != "cpu":
        resized = F.interpolate(
            images.to(torch.float32),
            size=size,
            mode=mode,
            align_corners=False,
            antialias=True,
        )
        return resized.round_().clamp_(0, 255).to(torch.uint8)
    resized = F.interpolate(images, size=size, mode=mode, align_corners=False, antialias=True)
    if mode == "bicubic" and resized.is_floating_point():
        resized = resized.clamp_(0.0, 1.0)
    return resized


def resize(images: torch.Tensor, size: tuple[int, int], mode: str = "bilinear") -> torch.Tensor:
    """Resize every sample to ``size`` with :func:`interpolate` (``mode`` bilinear or
    bicubic, antialiased).

    Args:
        images: (B, 3, H, W) uint8 or float32, any device.
        size: output (Ho, Wo).
        mode: one of :data:`INTERPOLATIONS`.

    Returns:
        (B, 3, Ho, Wo) of the dtype of ``images``, same device, channels-last.
    """
    return interpolate(images, size, mode).contiguous(memory_format=torch.channels_last)


def resized_crop(
    images: torch.Tensor, boxes: Any, size: tuple[int, int], flipped: Any = False,
    mode: str = "bilinear",
) -> torch.Tensor:
    """Crop a box from each sample, resize it to ``size`` with :func:`interpolate`, and
    mirror it left-right where ``flipped``.

    The boxes differ in size, so each sample is one ``F.interpolate`` call on a view of
    its box (a loop over samples of whole-image kernels; on a CPU this beats any batched
    gather by an order of magnitude for uint8 input, thanks to torch's vectorised uint8
    kernel).

    Args:
        images: (B, 3, H, W) uint8 or float32, any device.
        boxes: (B, 4) integer (top, left, height, width), inside the images, height and
            width >= 1.
        size: output (Ho, Wo).
        flipped: one bool or (B,) bools.
        mode: the :func:`interpolate` filter, one of :data:`INTERPOLATIONS`.

    Returns:
        (B, 3, Ho, Wo) of the dtype of ``images``, same device, channels-last; exactly
        ``images`` where the box is the whole image and ``size`` is (H, W).
    """
    check_images(images)
    batch, channels, height, width = images.shape
    out_h, out_w = validation.size_hw("size", size)
    box = torch.as_tensor(boxes).detach().to("cpu")
    if box.shape != (batch, 4) or box.is_floating_point():
        raise ValueError(
            f"boxes must be a ({batch}, 4) integer tensor; got {tuple(box.shape)} {box.dtype}"
        )
    top, left, box_h, box_w = box.unbind(dim=1)
    inside = (top >= 0) & (left >= 0) & (box_h >= 1) & (box_w >= 1)
    inside &= (top + box_h <= height) & (left + box_w <= width)
    if not bool(inside.all()):
        raise ValueError(f"boxes must lie inside the {height}x{width} images; got {box.tolist()}")
    flags = per_sample(flipped, batch, "flipped", torch.bool)
    out = torch.empty(
        (batch, channels, out_h, out_w),
        dtype=images.dtype,
        device=images.device,
        memory_format=torch.channels_last,
    )
    for b, (t, l, h, w) in enumerate(box.tolist()):
        box = images[b : b + 1, :, t : t + h, l : l + w]
        out[b : b + 1] = interpolate(box, (out_h, out_w), mode)
    return pad_crop_flip(out, 0, 0, flags, 0) if bool(flags.any()) else out


def random_resized_boxes(
    generator: torch.Generator,
    batch: int,
    height: int,
    width: int,
    scale: tuple[float, float] = (0.08, 1.0),
    ratio: tuple[float, float] = (3 / 4, 4 / 3),
) -> torch.Tensor:
    """Draw random-resized-crop boxes, the Inception / torchvision way.

    For each sample, up to :data:`RRC_ATTEMPTS` tries: an area fraction uniform in
    ``scale`` and an aspect ratio (width / height) log-uniform in ``ratio`` give a box
    of integer height and width (rounded); the first that fits in (height, width) is
    placed uniformly at random. A sample with no fitting try gets the central crop of
    the image clamped to the ratio range.

    Returns:
        (B, 4) int64 CPU tensor of (top, left, box height, box width).
    """
    check_generator(generator)
    scale = validation.interval("scale", scale, 0.0, math.inf)
    ratio = validation.interval("ratio", ratio, 0.0, math.inf)
    if ratio[0] <= 0 or scale[1] <= 0:
        raise ValueError(f"scale and ratio must be positive; got scale={scale}, ratio={ratio}")
    area = uniform(generator, (batch, RRC_ATTEMPTS), *scale) * (height * width)
    aspect = log_uniform(generator, (batch, RRC_ATTEMPTS), *ratio)
    place = torch.rand((batch, 2), generator=generator, dtype=torch.float64)
    box_w = torch.round(torch.sqrt(area * aspect)).to(torch.int64)
    box_h = torch.round(torch.sqrt(area / aspect)).to(torch.int64)
    fits = (box_w > 0) & (box_w <= width) & (box_h > 0) & (box_h <= height)
    first = torch.argmax(fits.to(torch.int8), dim=1, keepdim=True)
    found = fits.any(dim=1)
    fallback_h, fallback_w = _central_box(height, width, ratio)
    box_h = torch.where(found, box_h.gather(1, first)[:, 0], fallback_h)
    box_w = torch.where(found, box_w.gather(1, first)[:, 0], fallback_w)
    top = torch.floor(place[:, 0] * (height - box_h + 1)).to(torch.int64)
    left = torch.floor(place[:, 1] * (width - box_w + 1)).to(torch.int64)
    top = torch.where(found, top, (height - box_h) // 2)
    left = torch.where(found, left, (width - box_w) // 2)
    return torch.stack([top, left, box_h, box_w], dim=1)


def _central_box(height: int, width: int, ratio: tuple[float, float]) -> tuple[int, int]:
    """(height, width) of the largest central box whose aspect is clamped to ``ratio``."""
    aspect = width / height
    if aspect < ratio[0]:
        return max(1, min(height, round(width / ratio[0]))), width
    if aspect > ratio[1]:
        return height, max(1, min(width, round(height * ratio[1])))
    return height, width


def random_resized_crop(
    images: torch.Tensor,
    size: tuple[int, int],
    generator: torch.Generator,
    scale: tuple[float, float] = (0.08, 1.0),
    ratio: tuple[float, float] = (3 / 4, 4 / 3),
) -> torch.Tensor:
    """:func:`resized_crop` at boxes from :func:`random_resized_boxes`, drawn on the
    input (H, W); no flip."""
    check_images(images)
    batch, _, height, width = images.shape
    boxes = random_resized_boxes(generator, batch, height, width, scale, ratio)
    return resized_crop(images, boxes, size)
