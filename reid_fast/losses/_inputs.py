"""Input checks and float32 arithmetic shared by every loss."""

from __future__ import annotations

import torch


def checked_float32(values: torch.Tensor, labels: torch.Tensor, name: str) -> torch.Tensor:
    """Check a batch and its labels; return the batch as float32.

    Args:
        values: (B, K) floating tensor (features or logits), B >= 1, any device.
        labels: (B,) int64 tensor on the same device.
        name: the argument name used in error messages.

    Raises:
        TypeError: ``values`` is not a floating tensor, or ``labels`` is not int64.
        ValueError: wrong shapes, an empty batch, or tensors on different devices.
    """
    if not isinstance(values, torch.Tensor) or not values.is_floating_point():
        raise TypeError(f"{name} must be a floating-point torch.Tensor; got {_describe(values)}")
    if not isinstance(labels, torch.Tensor) or labels.dtype != torch.int64:
        raise TypeError(f"labels must be an int64 torch.Tensor; got {_describe(labels)}")
    if values.dim() != 2 or values.shape[0] == 0:
        raise ValueError(f"{name} must have shape (B, K) with B >= 1; got {tuple(values.shape)}")
    if labels.shape != values.shape[:1]:
        raise ValueError(
            f"labels must have shape ({values.shape[0]},) to match {name}; "
            f"got {tuple(labels.shape)}"
        )
    if labels.device != values.device:
        raise ValueError(
            f"labels must be on the device of {name} ({values.device}); got {labels.device}"
        )
    return values.float()


def full_precision(device: torch.device) -> torch.autocast:
    """A context that turns autocast off on ``device``, so the loss runs in float32."""
    return torch.autocast(device_type=device.type, enabled=False)


def _describe(value: object) -> str:
    if isinstance(value, torch.Tensor):
        return f"tensor of dtype {value.dtype}"
    return type(value).__name__
