"""Image-batch, generator and per-sample checks shared by the augmentation ops (scalar
checks: :mod:`reid_fast.validation`); every error names the argument."""

from __future__ import annotations

from typing import Any

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
