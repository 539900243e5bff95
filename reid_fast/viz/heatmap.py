"""Activation heatmaps: where a trained re-ID network looks in an image.

The map of an image is, per location, the mean over channels of the squared activation
of the backbone's last feature map, upsampled to the image size and min-max normalised.
:func:`colorize` turns it into a jet-like colour picture, :func:`overlay` blends it over
the image, :func:`heatmap_sheet` lays originals and overlays out side by side.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image

from ._colors import WHITE, as_rgb_uint8

__all__ = ["JET_ANCHORS", "activation_maps", "colorize", "heatmap_sheet", "overlay"]

#: Anchors of the jet-like colour map: (position in [0, 1], (R, G, B)); colours between
#: two anchors are interpolated linearly per channel.
JET_ANCHORS: tuple[tuple[float, tuple[int, int, int]], ...] = (
    (0.0, (0, 0, 128)),       # dark blue
    (0.125, (0, 0, 255)),     # blue
    (0.375, (0, 255, 255)),   # cyan
    (0.5, (128, 255, 128)),   # light green
    (0.625, (255, 255, 0)),   # yellow
    (0.875, (255, 0, 0)),     # red
    (1.0, (128, 0, 0)),       # dark red
)
_ANCHOR_POS = np.array([p for p, _ in JET_ANCHORS], dtype=np.float64)
_ANCHOR_RGB = np.array([c for _, c in JET_ANCHORS], dtype=np.float64)
_RANGE_SLACK = 1e-5  # values this far outside [0, 1] are clipped, not refused


def activation_maps(model: Any, images: torch.Tensor) -> torch.Tensor:
    """Where the network looks: one normalised activation map per image.

    Per location of the backbone's last feature map (B, C, h, w): the mean over channels
    of the squared activation; upsampled bilinearly to (H, W) (``align_corners=False``),
    then min-max normalised per image (a constant map becomes all zeros).

    Only ``model.backbone`` is called, so ``model`` may be a
    :class:`reid_fast.models.ReidModel` or any object whose ``backbone`` attribute maps
    (B, 3, H, W) images to a (B, C, h, w) tensor. Runs under ``torch.no_grad`` with every
    module of ``model`` (the backbone when ``model`` is not a module) in eval mode, and
    restores each module's previous training flag afterwards.

    Args:
        model: has a ``backbone`` attribute, callable on ``images``.
        images: (B, 3, H, W) floating tensor, normalised as the model's input, on the
            model's device.

    Returns:
        (B, H, W) float32 tensor in [0, 1] on ``images``' device; each non-constant map
        has maximum 1 and minimum 0.
    """
    backbone = getattr(model, "backbone", None)
    if backbone is None or not callable(backbone):
        raise TypeError(f"model must have a callable backbone attribute; got "
                        f"{type(model).__name__}")
    if not torch.is_tensor(images):
        raise TypeError(f"images must be a torch tensor (B, 3, H, W); got {type(images).__name__}")
    if images.dim() != 4 or images.shape[1] != 3:
        raise ValueError(f"images must have shape (B, 3, H, W); got shape {tuple(images.shape)}")
    if not images.is_floating_point():
        raise ValueError(f"images must be a floating tensor; got dtype {images.dtype}")
    root = model if isinstance(model, torch.nn.Module) else backbone
    is_module = isinstance(root, torch.nn.Module)
    modes = [(m, m.training) for m in root.modules()] if is_module else []
    try:
        if is_module:
            root.eval()
        with torch.no_grad():
            features = backbone(images)
    finally:
        if is_module:
            root.train(modes[0][1])
            for module, mode in modes:  # mixed modes (e.g. frozen BatchNorm) come back too
                if module.training != mode:
                    module.training = mode
    if not torch.is_tensor(features) or features.dim() != 4 or features.shape[0] != images.shape[0]:
        shape = tuple(features.shape) if torch.is_tensor(features) else type(features).__name__
        raise ValueError(f"model.backbone must return a (B, C, h, w) tensor with B = "
                         f"{images.shape[0]}; got {shape}")
    with torch.no_grad():
        energy = features.float().square().mean(dim=1, keepdim=True)
        heat = F.interpolate(energy, size=tuple(images.shape[-2:]), mode="bilinear",
                             align_corners=False)[:, 0]
        low = heat.amin(dim=(1, 2), keepdim=True)
        span = heat.amax(dim=(1, 2), keepdim=True) - low
        heat = torch.where(span > 0, (heat - low) / torch.where(span > 0, span, 1.0),
                           torch.zeros_like(heat))
        heat = heat.clamp_(0.0, 1.0)
    return heat.to(device=images.device, dtype=torch.float32).contiguous()


def _heat_array(heat: Any, name: str, ndim: int) -> np.ndarray:
    if torch.is_tensor(heat):
        heat = heat.detach().cpu().numpy()
    if not isinstance(heat, np.ndarray):
        heat = np.asarray(heat)
    if heat.ndim != ndim:
        want = "(H, W)" if ndim == 2 else "(N, H, W)"
        raise ValueError(f"{name} must have shape {want}; got shape {tuple(heat.shape)}")
    if heat.dtype.kind not in "fiub":
        raise ValueError(f"{name} must hold real numbers in [0, 1]; got dtype {heat.dtype}")
    heat = heat.astype(np.float64, copy=False)
    if heat.size:
        low, high = float(np.min(heat)), float(np.max(heat))
        if not (np.isfinite(low) and np.isfinite(high)):
            raise ValueError(f"{name} must be finite; got NaN or Inf")
        if low < -_RANGE_SLACK or high > 1 + _RANGE_SLACK:
            raise ValueError(f"{name} must lie in [0, 1]; got values in [{low:g}, {high:g}]")
    return np.clip(heat, 0.0, 1.0)


def colorize(heat: Any) -> np.ndarray:
    """A heat map in jet-like colours: piecewise-linear interpolation over
    :data:`JET_ANCHORS` (0 dark blue, 0.5 light green, 1 dark red; the hue never
    increases from blue to red).

    Args:
        heat: (H, W) float array (or tensor) in [0, 1].

    Returns:
        (H, W, 3) uint8 array.
    """
    values = _heat_array(heat, "heat", 2)
    channels = [np.interp(values, _ANCHOR_POS, _ANCHOR_RGB[:, c]) for c in range(3)]
    return np.clip(np.rint(np.stack(channels, axis=-1)), 0, 255).astype(np.uint8)


def overlay(image: np.ndarray, heat: Any, alpha: float = 0.5) -> np.ndarray:
    """``(1 - alpha) * image + alpha * colorize(heat)``, rounded to uint8.

    Args:
        image: (H, W, 3) uint8 array (or PIL image).
        heat: (H, W) float in [0, 1], same H and W as ``image``.
        alpha: weight of the colour map, in [0, 1] (0 returns the image, 1 the map).

    Returns:
        (H, W, 3) uint8 array.
    """
    pixels = as_rgb_uint8(image, "image")
    if not 0.0 <= float(alpha) <= 1.0:
        raise ValueError(f"alpha must be in [0, 1], got {alpha!r}")
    colours = colorize(heat)
    if colours.shape != pixels.shape:
        raise ValueError(f"heat must have the image's (H, W) = {pixels.shape[:2]}; got "
                         f"shape {colours.shape[:2]}")
    alpha = float(alpha)
    mixed = (1.0 - alpha) * pixels.astype(np.float32) + alpha * colours.astype(np.float32)
    return np.clip(np.rint(mixed), 0, 255).astype(np.uint8)


def heatmap_sheet(images: np.ndarray, heats: Any, alpha: float = 0.5,
                  gap: int = 4) -> Image.Image:
    """Originals on the top row, their overlays (:func:`overlay`) below, separated and
    surrounded by ``gap`` white pixels: ``N * W + (N + 1) * gap`` wide, ``2 * H + 3 * gap``
    high. Image n's original is at ``(gap + n * (W + gap), gap)``, its overlay
    ``H + gap`` below.

    Args:
        images: (N, H, W, 3) uint8 array, N >= 1.
        heats: (N, H, W) float array (or tensor) in [0, 1].
        alpha: overlay weight of the colour map.
        gap: white space in pixels (>= 0).

    Returns:
        An RGB PIL image.
    """
    if not isinstance(images, np.ndarray):
        raise TypeError(f"images must be an (N, H, W, 3) uint8 NumPy array; got "
                        f"{type(images).__name__}")
    if images.ndim != 4 or images.shape[-1] != 3 or min(images.shape[:3]) < 1:
        raise ValueError(f"images must have shape (N, H, W, 3) with N, H, W >= 1; got "
                         f"shape {tuple(images.shape)}")
    if images.dtype != np.uint8:
        raise ValueError(f"images must have dtype uint8; got dtype {images.dtype}")
    maps = _heat_array(heats, "heats", 3)
    if maps.shape != images.shape[:3]:
        raise ValueError(f"heats must have shape (N, H, W) = {tuple(images.shape[:3])}; got "
                         f"shape {maps.shape}")
    if not isinstance(gap, int) or gap < 0:
        raise ValueError(f"gap must be an int >= 0, got {gap!r}")
    n, h, w, _ = images.shape
    sheet = np.empty((2 * h + 3 * gap, n * w + (n + 1) * gap, 3), dtype=np.uint8)
    sheet[...] = WHITE
    for i in range(n):
        left = gap + i * (w + gap)
        sheet[gap:gap + h, left:left + w] = images[i]
        sheet[2 * gap + h:2 * gap + 2 * h, left:left + w] = overlay(images[i], maps[i], alpha)
    return Image.fromarray(sheet)
