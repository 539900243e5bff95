"""Argument checks shared by the augmentation ops; every error names the argument."""

from __future__ import annotations

import math
from typing import Any, Sequence

import torch

IMAGE_DTYPES = (torch.uint8, torch.float32)


def check_images(images: Any, name: str = "images") -> None:
    """A (B, 3, H, W) uint8 or float32 tensor with H, W >= 1, on any device."""
    if not isinstance(images, torch.Tensor):
        raise TypeError(f"{name} must be a torch.Tensor; got {type(images).__name__}")
    if images.dtype not in IMAGE_DTYPES:
        raise TypeError(f"{name} must be uint8 or float32; got dtype {images.dtype}")
    if images.dim() != 4 or images.shape[1] != 3:
        raise ValueError(f"{name} must have shape (B, 3, H, W); got {tuple(images.shape)}")
    if images.shape[2] < 1 or images.shape[3] < 1:
        raise ValueError(f"{name} must have H, W >= 1; got shape {tuple(images.shape)}")


def check_generator(generator: Any, name: str = "generator") -> None:
    """A CPU torch.Generator."""
    if not isinstance(generator, torch.Generator):
        raise TypeError(f"{name} must be a torch.Generator; got {type(generator).__name__}")
    if generator.device.type != "cpu":
        raise ValueError(f"{name} must be a CPU generator; got one on {generator.device}")


def check_probability(p: Any, name: str) -> float:
    """A number in [0, 1], returned as float."""
    if isinstance(p, bool) or not isinstance(p, (int, float)) or not 0.0 <= p <= 1.0:
        raise ValueError(f"{name} must be a number in [0, 1]; got {p!r}")
    return float(p)


def check_non_negative(value: Any, name: str) -> float:
    """A finite number >= 0, returned as float."""
    if (
        isinstance(value, bool)
        or not isinstance(value, (int, float))
        or not math.isfinite(value)
        or value < 0
    ):
        raise ValueError(f"{name} must be a finite number >= 0; got {value!r}")
    return float(value)


def check_interval(
    interval: Any, name: str, low: float = -math.inf, high: float = math.inf
) -> tuple[float, float]:
    """A pair (a, b) of finite numbers with low <= a <= b <= high."""
    if not isinstance(interval, Sequence) or len(interval) != 2:
        raise ValueError(f"{name} must be a pair (low, high); got {interval!r}")
    a, b = interval
    numbers = all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in (a, b))
    if not numbers or not (math.isfinite(a) and math.isfinite(b)) or not low <= a <= b <= high:
        raise ValueError(
            f"{name} must be a pair (low, high) with {low} <= low <= high <= {high}; "
            f"got {interval!r}"
        )
    return float(a), float(b)


def check_size(size: Any, name: str = "size") -> tuple[int, int]:
    """A pair (H, W) of positive ints."""
    if (
        not isinstance(size, Sequence)
        or len(size) != 2
        or not all(isinstance(v, int) and not isinstance(v, bool) and v >= 1 for v in size)
    ):
        raise ValueError(f"{name} must be a pair (H, W) of positive ints; got {size!r}")
    return int(size[0]), int(size[1])


def check_channel_triple(values: Any, name: str, positive: bool = False) -> tuple[float, ...]:
    """Three finite numbers (one per RGB channel); strictly positive if asked."""
    ok = (
        isinstance(values, Sequence)
        and len(values) == 3
        and all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in values)
        and all(math.isfinite(v) and (v > 0 or not positive) for v in values)
    )
    if not ok:
        kind = "positive numbers" if positive else "numbers"
        raise ValueError(f"{name} must be three finite {kind}; got {values!r}")
    return tuple(float(v) for v in values)


def per_sample(values: Any, batch: int, name: str, dtype: torch.dtype) -> torch.Tensor:
    """Per-sample parameters as a 1-D CPU tensor of length ``batch``.

    Accepts a number or bool (broadcast to every sample), a sequence or a 1-D tensor (on
    any device; it is copied to the CPU, where the ops decide which samples to touch).
    """
    if isinstance(values, (bool, int, float)):
        return torch.full((batch,), values, dtype=dtype)
    tensor = torch.as_tensor(values).detach().to("cpu")
    if tensor.dim() != 1 or tensor.shape[0] != batch:
        raise ValueError(
            f"{name} must be a number or hold one value per sample ({batch}); "
            f"got shape {tuple(tensor.shape)}"
        )
    if tensor.is_floating_point() and not bool(torch.isfinite(tensor).all()):
        raise ValueError(f"{name} must be finite; got {tensor.tolist()}")
    return tensor.to(dtype)
