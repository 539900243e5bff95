"""Rotate, shear and translate a batch with per-sample parameters (bilinear, via
``F.grid_sample``), for the AutoAugment policy.

Coordinates are pixels with x to the right, y down and the origin at the image centre;
the area uncovered by the transform takes the ``fill`` grey level. Samples whose
transform is the identity are returned exactly unchanged.
"""

from __future__ import annotations

import math
from typing import Any

import torch
import torch.nn.functional as F

from ._batching import apply_where
from ._validate import check_images, per_sample
from .convert import to_float


def affine(images: torch.Tensor, matrices: Any, fill: float = 0.0) -> torch.Tensor:
    """Resample each sample through its 2 x 3 matrix.

    Args:
        images: (B, 3, H, W) uint8 or float32 in [0, 1], any device.
        matrices: (B, 2, 3) maps output coordinates (x, y, 1) to the input coordinates
            read there (centred pixel coordinates, see the module doc).
        fill: grey level in [0, 1] for output pixels that read outside the input.

    Returns:
        (B, 3, H, W) float32 in [0, 1] on the device of ``images``.
    """
    x = to_float(images)
    batch, _, height, width = x.shape
    m = torch.as_tensor(matrices).detach().to("cpu", torch.float64)
    if m.shape != (batch, 2, 3):
        raise ValueError(f"matrices must have shape ({batch}, 2, 3); got {tuple(m.shape)}")
    if not bool(torch.isfinite(m).all()):
        raise ValueError("matrices must be finite")
    if not 0.0 <= fill <= 1.0:
        raise ValueError(f"fill must lie in [0, 1]; got {fill!r}")
    # Normalised coordinates (align_corners=False): u = x / (W / 2), v = y / (H / 2).
    theta = m.clone()
    theta[:, 0, 1] *= height / width
    theta[:, 1, 0] *= width / height
    theta[:, 0, 2] *= 2.0 / width
    theta[:, 1, 2] *= 2.0 / height
    identity = torch.tensor([[1.0, 0.0, 0.0], [0.0, 1.0, 0.0]], dtype=torch.float64)
    moved = (m != identity).flatten(1).any(dim=1)

    def warp(sub: torch.Tensor, i: torch.Tensor) -> torch.Tensor:
        grid = F.affine_grid(
            theta[i].to(device=sub.device, dtype=torch.float32),
            [sub.shape[0], 1, height, width],
            align_corners=False,
        )
        if fill == 0.0:
            return _sample(sub, grid)
        warped = _sample(torch.cat([sub, torch.ones_like(sub[:, :1])], dim=1), grid)
        return warped[:, :3] + fill * (1.0 - warped[:, 3:])

    return apply_where(x, moved, warp)


def _sample(images: torch.Tensor, grid: torch.Tensor) -> torch.Tensor:
    """Bilinear sampling at ``grid`` (normalised, align_corners=False), zeros outside."""
    return F.grid_sample(images, grid, mode="bilinear", padding_mode="zeros", align_corners=False)


def rotate(images: torch.Tensor, degrees: Any, fill: float = 0.0) -> torch.Tensor:
    """Rotate counter-clockwise (as displayed, y down) by ``degrees`` about the centre."""
    batch = _batch(images)
    angle = per_sample(degrees, batch, "degrees", torch.float64) * (math.pi / 180.0)
    cos, sin = torch.cos(angle), torch.sin(angle)
    # Exact zeros for multiples of 90 degrees, so quarter turns move pixels exactly.
    cos = torch.where(cos.abs() < 1e-12, 0.0, cos)
    sin = torch.where(sin.abs() < 1e-12, 0.0, sin)
    zero = torch.zeros_like(angle)
    m = torch.stack([torch.stack([cos, -sin, zero], 1), torch.stack([sin, cos, zero], 1)], 1)
    return affine(images, m, fill)


def shear_x(images: torch.Tensor, factors: Any, fill: float = 0.0) -> torch.Tensor:
    """Output (x, y) reads input (x + factor * y, y)."""
    return affine(images, _shear(images, factors, horizontal=True), fill)


def shear_y(images: torch.Tensor, factors: Any, fill: float = 0.0) -> torch.Tensor:
    """Output (x, y) reads input (x, y + factor * x)."""
    return affine(images, _shear(images, factors, horizontal=False), fill)


def translate_x(images: torch.Tensor, pixels: Any, fill: float = 0.0) -> torch.Tensor:
    """Move the content right by ``pixels`` (left when negative)."""
    return affine(images, _translation(images, pixels, horizontal=True), fill)


def translate_y(images: torch.Tensor, pixels: Any, fill: float = 0.0) -> torch.Tensor:
    """Move the content down by ``pixels`` (up when negative)."""
    return affine(images, _translation(images, pixels, horizontal=False), fill)


def _batch(images: Any) -> int:
    check_images(images)
    return images.shape[0]


def _identities(batch: int) -> torch.Tensor:
    return torch.tensor([[1.0, 0.0, 0.0], [0.0, 1.0, 0.0]], dtype=torch.float64).repeat(batch, 1, 1)


def _shear(images: torch.Tensor, factors: Any, horizontal: bool) -> torch.Tensor:
    batch = _batch(images)
    m = _identities(batch)
    target = (0, 1) if horizontal else (1, 0)
    m[:, target[0], target[1]] = per_sample(factors, batch, "factors", torch.float64)
    return m


def _translation(images: torch.Tensor, pixels: Any, horizontal: bool) -> torch.Tensor:
    batch = _batch(images)
    m = _identities(batch)
    m[:, 0 if horizontal else 1, 2] = -per_sample(pixels, batch, "pixels", torch.float64)
    return m
