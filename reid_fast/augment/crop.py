"""Pad + crop + horizontal flip of a batch as one gather of image rows.

The batch is copied once into a row buffer where every image row is padded left and
right (zeros or mirror), followed by a zero row; when a sample is flipped, the buffer
also holds its pixel-reversed copy. A cropped (and possibly flipped) output row is then
a contiguous window of that buffer, so the whole output is one ``index_select`` of
overlapping row windows (``Tensor.unfold``). This moves whole rows of pixels instead of
single values, which is several times faster on a CPU than a per-pixel gather.
"""

from __future__ import annotations

from typing import Any

import torch

from .. import validation
from . import _memory
from ._validate import check_images, per_sample

PAD_MODES = ("constant", "reflect")


def check_pad(pad: object, height: int, width: int, mode: str) -> int:
    """``pad`` as an int >= 0, smaller than the image for ``mode="reflect"``."""
    if mode not in PAD_MODES:
        raise ValueError(f"mode must be one of {PAD_MODES}; got {mode!r}")
    pad = validation.integer("pad", pad, 0)
    if mode == "reflect" and pad >= min(height, width):
        raise ValueError(
            f"pad must be smaller than the image ({height}x{width}) with mode='reflect'; got {pad}"
        )
    return pad


def pad_crop_flip(
    images: torch.Tensor,
    top: Any,
    left: Any,
    flipped: Any,
    pad: int,
    mode: str = "constant",
) -> torch.Tensor:
    """Pad by ``pad`` on every side, crop (H, W) at (top, left), then mirror left-right
    the flipped samples.

    Output pixel (i, j) of an unflipped sample b is original pixel
    (i + top[b] - pad, j + left[b] - pad), zero or mirrored (edge not repeated, as
    ``F.pad(mode="reflect")``) outside the image; a flipped sample is that crop mirrored.

    Args:
        images: (B, 3, H, W) uint8 or float32, any device and memory format.
        top, left: per-sample offsets in [0, 2 * pad]: one int, or (B,) ints.
        flipped: one bool, or (B,) bools.
        pad: >= 0 (< min(H, W) for ``"reflect"``).
        mode: ``"constant"`` (zeros) or ``"reflect"``.

    Returns:
        (B, 3, H, W) tensor of the dtype of ``images``, same device, channels-last.
    """
    check_images(images)
    batch, channels, height, width = images.shape
    pad = check_pad(pad, height, width, mode)
    top, left = (_offsets(value, batch, pad, name) for name, value in (("top", top), ("left", left)))
    flipped = per_sample(flipped, batch, "flipped", torch.bool)
    padded_width = width + 2 * pad
    rows = batch * height
    halves = 2 if bool(flipped.any()) else 1
    # buffer[0]: every image row padded, then one zero row; buffer[1]: buffer[0] reversed
    # pixel by pixel (so its rows are the mirrored rows, in reverse order).
    buffer = _memory.empty((halves, rows + 1, padded_width, channels), images.dtype, images.device)
    normal = buffer[0]
    normal[:rows].view(batch, height, padded_width, channels)[:, :, pad : pad + width] = (
        images.permute(0, 2, 3, 1)
    )
    if pad and mode == "constant":
        normal[:, :pad] = 0
        normal[:, pad + width :] = 0
    elif pad:
        normal[:rows, :pad] = normal[:rows, pad + 1 : 2 * pad + 1].flip(1)
        normal[:rows, pad + width :] = normal[:rows, width - 1 : width + pad - 1].flip(1)
    normal[rows] = 0
    if halves == 2:
        buffer[1].view(-1, channels).copy_(normal.view(-1, channels).flip(0))

    source_row = torch.arange(height)[None] + top[:, None] - pad  # (B, H)
    if mode == "reflect":
        source_row = source_row.abs()
        source_row = torch.where(source_row > height - 1, 2 * (height - 1) - source_row, source_row)
        buffer_row = torch.arange(batch)[:, None] * height + source_row
    else:
        inside = (source_row >= 0) & (source_row < height)
        buffer_row = torch.where(inside, torch.arange(batch)[:, None] * height + source_row, rows)
    # First pixel of each output row's window, counted in pixels from the buffer start.
    half_pixels = (rows + 1) * padded_width
    start = buffer_row * padded_width + left[:, None]
    mirrored = 2 * half_pixels - buffer_row * padded_width - width - left[:, None]
    start = torch.where(flipped[:, None], mirrored, start)
    windows = buffer.view(-1).unfold(0, width * channels, channels)
    out = windows.index_select(0, start.flatten().to(images.device))
    return out.view(batch, height, width, channels).permute(0, 3, 1, 2)


def _offsets(value: Any, batch: int, pad: int, name: str) -> torch.Tensor:
    offsets = per_sample(value, batch, name, torch.int64)
    if offsets.numel() and not (0 <= int(offsets.min()) and int(offsets.max()) <= 2 * pad):
        raise ValueError(f"{name} must lie in [0, 2 * pad = {2 * pad}]; got {offsets.tolist()}")
    return offsets
