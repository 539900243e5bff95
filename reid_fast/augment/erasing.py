"""Random erasing (Zhong et al., "Random Erasing Data Augmentation", AAAI 2020), batched.

Each selected sample gets one rectangle overwritten, with a constant per channel or
with standard normal noise per pixel. The re-ID recipes apply it after normalisation,
where 0 is the dataset's mean colour.

The rectangles are drawn for the whole batch at once; writing them is one slice
assignment per erased sample, which touches only the erased pixels (on a CPU, a masked
fill of a whole 64 x 3 x 256 x 256 batch costs several times more).
"""

from __future__ import annotations

import math
from typing import Any, Sequence

import torch

from .. import validation
from ._batching import bernoulli, log_uniform, uniform
from ._validate import check_generator, check_images

ERASING_ATTEMPTS = 10
"""Tries per sample to draw a rectangle that fits; a sample with none is not erased."""


def erasing_boxes(
    generator: torch.Generator,
    batch: int,
    height: int,
    width: int,
    p: float = 0.5,
    area: tuple[float, float] = (0.02, 0.4),
    ratio: tuple[float, float] = (0.3, 1 / 0.3),
) -> torch.Tensor:
    """Draw the rectangles of random erasing.

    A sample is erased with probability ``p``. Its rectangle: up to
    :data:`ERASING_ATTEMPTS` tries of an area fraction uniform in ``area`` and an aspect
    (height / width) log-uniform in ``ratio``, rounded to integer sides; the first with
    both sides smaller than the image's is placed uniformly at random.

    Returns:
        (B, 4) int64 CPU tensor of (top, left, box height, box width); height 0 and
        width 0 where nothing is erased.
    """
    check_generator(generator)
    p = validation.probability("p", p)
    area = validation.interval("area", area, 0.0, 1.0)
    ratio = validation.interval("ratio", ratio, 0.0, math.inf)
    if ratio[0] <= 0:
        raise ValueError(f"ratio must be positive; got {ratio}")
    erased = bernoulli(generator, batch, p)
    target = uniform(generator, (batch, ERASING_ATTEMPTS), *area) * (height * width)
    aspect = log_uniform(generator, (batch, ERASING_ATTEMPTS), *ratio)
    place = torch.rand((batch, 2), generator=generator, dtype=torch.float64)
    box_h = torch.round(torch.sqrt(target * aspect)).to(torch.int64)
    box_w = torch.round(torch.sqrt(target / aspect)).to(torch.int64)
    fits = (box_h < height) & (box_w < width) & (box_h > 0) & (box_w > 0)
    first = torch.argmax(fits.to(torch.int8), dim=1, keepdim=True)
    erased &= fits.any(dim=1)
    box_h = torch.where(erased, box_h.gather(1, first)[:, 0], 0)
    box_w = torch.where(erased, box_w.gather(1, first)[:, 0], 0)
    top = torch.floor(place[:, 0] * (height - box_h + 1)).to(torch.int64)
    left = torch.floor(place[:, 1] * (width - box_w + 1)).to(torch.int64)
    return torch.stack([top, left, box_h, box_w], dim=1)


def erase(
    images: torch.Tensor,
    boxes: Any,
    value: float | Sequence[float] = 0.0,
    inplace: bool = False,
) -> torch.Tensor:
    """Overwrite a rectangle of each sample with a constant.

    Args:
        images: (B, 3, H, W) float32, any device.
        boxes: (B, 4) ints (top, left, box height, box width); an empty box erases
            nothing.
        value: one number, or three (per RGB channel).
        inplace: write into ``images`` instead of a copy.

    Returns:
        (B, 3, H, W) float32, in the memory format of ``images``.
    """
    erased = _checked_boxes(images, boxes)
    values = [value] * 3 if isinstance(value, (int, float)) else list(value)
    if len(values) != 3 or not all(isinstance(v, (int, float)) for v in values):
        raise ValueError(f"value must be one number or three; got {value!r}")
    out = images if inplace else images.clone()
    fill = torch.tensor(values, dtype=torch.float32, device=out.device).view(3, 1, 1)
    for b, top, left, box_h, box_w in erased:
        out[b, :, top : top + box_h, left : left + box_w] = fill
    return out


def erase_with_noise(
    images: torch.Tensor, boxes: Any, generator: torch.Generator, inplace: bool = False
) -> torch.Tensor:
    """Overwrite a rectangle of each sample with standard normal noise per pixel.

    The noise is drawn on the CPU with ``generator`` (sample by sample, channel, row,
    column), so a seed gives the same values on every device.

    Returns:
        (B, 3, H, W) float32, in the memory format of ``images`` (``images`` itself
        when ``inplace``).
    """
    erased = _checked_boxes(images, boxes)
    check_generator(generator)
    sizes = [3 * box_h * box_w for _, _, _, box_h, box_w in erased]
    noise = torch.randn(sum(sizes), generator=generator).to(images.device).split(sizes)
    out = images if inplace else images.clone()
    for (b, top, left, box_h, box_w), values in zip(erased, noise):
        out[b, :, top : top + box_h, left : left + box_w] = values.view(3, box_h, box_w)
    return out


def _checked_boxes(images: torch.Tensor, boxes: Any) -> list[tuple[int, int, int, int, int]]:
    """The non-empty boxes as (sample, top, left, height, width), validated."""
    check_images(images)
    if images.dtype != torch.float32:
        raise TypeError(f"images must be float32 to be erased; got dtype {images.dtype}")
    batch, _, height, width = images.shape
    box = torch.as_tensor(boxes).detach().to("cpu")
    if box.shape != (batch, 4) or box.is_floating_point():
        raise ValueError(
            f"boxes must be a ({batch}, 4) integer tensor; got {tuple(box.shape)} {box.dtype}"
        )
    top, left, box_h, box_w = box.unbind(dim=1)
    inside = (top >= 0) & (left >= 0) & (box_h >= 0) & (box_w >= 0)
    inside &= (top + box_h <= height) & (left + box_w <= width)
    if not bool(inside.all()):
        raise ValueError(f"boxes must lie inside the {height}x{width} images; got {box.tolist()}")
    return [(b, *row) for b, row in enumerate(box.tolist()) if row[2] > 0 and row[3] > 0]


def random_erasing(
    images: torch.Tensor,
    generator: torch.Generator,
    p: float = 0.5,
    area: tuple[float, float] = (0.02, 0.4),
    ratio: tuple[float, float] = (0.3, 1 / 0.3),
    value: str | float | Sequence[float] = 0.0,
    inplace: bool = False,
) -> torch.Tensor:
    """Erase a random rectangle of each sample with probability ``p``.

    Args:
        images: (B, 3, H, W) float32, any device (normalised images in the re-ID recipe).
        generator: CPU generator for the rectangles (and the noise).
        p, area, ratio: see :func:`erasing_boxes`.
        value: ``"random"`` for standard normal noise per pixel, or a constant (one
            number or three per channel); 0.0, the default, is the mean colour of
            normalised images.
        inplace: write into ``images`` instead of a copy.

    Returns:
        (B, 3, H, W) float32 on the device of ``images``.
    """
    check_images(images)
    batch, _, height, width = images.shape
    boxes = erasing_boxes(generator, batch, height, width, p, area, ratio)
    if isinstance(value, str):
        if value != "random":
            raise ValueError(f"value must be 'random' or numbers; got {value!r}")
        return erase_with_noise(images, boxes, generator, inplace)
    return erase(images, boxes, value, inplace)
