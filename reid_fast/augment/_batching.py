"""Per-sample randomness drawn on the CPU, and applying an op to a subset of a batch.

Random parameters are always drawn with the caller's CPU generator, in float64, on the
CPU, so a seed gives the same augmentation on every device.
"""

from __future__ import annotations

import math
from typing import Callable

import torch


def uniform(
    generator: torch.Generator, shape: tuple[int, ...], low: float, high: float
) -> torch.Tensor:
    """float64 CPU tensor of ``shape``, uniform in [low, high)."""
    return low + (high - low) * torch.rand(shape, generator=generator, dtype=torch.float64)


def log_uniform(
    generator: torch.Generator, shape: tuple[int, ...], low: float, high: float
) -> torch.Tensor:
    """float64 CPU tensor of ``shape``, log-uniform in [low, high) (both > 0)."""
    return torch.exp(uniform(generator, shape, math.log(low), math.log(high)))


def bernoulli(generator: torch.Generator, batch: int, p: float) -> torch.Tensor:
    """(batch,) bool CPU tensor, True with probability ``p``.

    Always draws ``batch`` numbers, whatever ``p``, so later draws do not depend on it.
    """
    return torch.rand(batch, generator=generator, dtype=torch.float64) < p


def random_sign(generator: torch.Generator, batch: int) -> torch.Tensor:
    """(batch,) float64 CPU tensor of -1.0 / +1.0, each with probability 1/2."""
    return torch.where(bernoulli(generator, batch, 0.5), -1.0, 1.0).to(torch.float64)


def apply_where(
    images: torch.Tensor,
    selected: torch.Tensor,
    op: Callable[[torch.Tensor, torch.Tensor], torch.Tensor],
    inplace: bool = False,
) -> torch.Tensor:
    """Apply ``op`` to the selected samples only; the others are left exactly as they are.

    Args:
        images: (B, C, H, W) tensor on any device.
        selected: (B,) bool CPU tensor.
        op: called as ``op(subset, index)``: ``subset`` holds the selected samples
            (``images`` itself when all are selected, else a copy) and ``index`` is the
            (n,) int64 CPU tensor of their positions, for picking per-sample parameters.
            It returns the (n, C, H, W) result; it may overwrite ``subset`` only when
            ``inplace`` is True.
        inplace: ``images`` may be overwritten (the result is written into it);
            otherwise it is never modified.

    Returns:
        (B, C, H, W): ``images`` when no sample is selected.
    """
    index = torch.nonzero(selected).flatten()
    if index.numel() == 0:
        return images
    if index.numel() == images.shape[0]:
        return op(images, index)
    device_index = index.to(images.device)
    out = images if inplace else images.clone()
    out.index_copy_(0, device_index, op(images.index_select(0, device_index), index))
    return out


CPU_CHUNK_PIXELS = 1 << 18
"""On a CPU, ops with many temporaries run on chunks of about this many pixels, so the
temporaries stay in cache (and are not fresh memory the OS must map for each)."""


def in_chunks(
    images: torch.Tensor,
    index: torch.Tensor,
    op: Callable[[torch.Tensor, torch.Tensor], torch.Tensor],
) -> torch.Tensor:
    """Apply an in-place ``op(chunk, chunk_index)`` to consecutive chunks of samples.

    On a CPU, chunks hold about :data:`CPU_CHUNK_PIXELS` pixels; on other devices the
    whole batch is one chunk. ``op`` overwrites its chunk (a view of ``images``) or
    returns a new tensor, which is copied back. Returns ``images``.
    """
    batch, _, height, width = images.shape
    step = batch
    if images.device.type == "cpu":
        step = max(1, CPU_CHUNK_PIXELS // max(1, height * width))
    for start in range(0, batch, step):
        chunk = images[start : start + step]
        result = op(chunk, index[start : start + step])
        if result is not chunk:
            chunk.copy_(result)
    return images
