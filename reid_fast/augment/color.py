"""Colour ops on a batch of RGB images in [0, 1], with per-sample parameters.

Every op takes (B, 3, H, W) uint8 (read as value / 255) or float32 in [0, 1] on any
device and returns a new float32 tensor in [0, 1] on the same device, in the plain
(B, 3, H, W)-contiguous layout, where the per-channel planes the colour maths works on
are contiguous. Per-sample parameters are a number (the same for every sample) or one
value per sample; samples whose parameter is the identity (factor 1, shift 0, 8 bits,
threshold above 1) are returned exactly unchanged. Blends follow PIL's ImageEnhance:
``out = clamp(factor * image + (1 - factor) * degenerate)``, with a black image
(brightness), the mean grey level (contrast), the grey image (saturation, "color") or a
smoothed image (sharpness) as the degenerate.
"""

from __future__ import annotations

from typing import Any, Callable

import torch

from .. import validation
from . import _memory
from ._batching import apply_where, in_chunks, uniform
from ._validate import check_generator, check_images, per_sample
from .convert import to_float

LUMA = (0.299, 0.587, 0.114)
"""ITU-R 601-2 luma weights (PIL's "L" conversion)."""

_SMOOTH = torch.tensor([[1.0, 1.0, 1.0], [1.0, 5.0, 1.0], [1.0, 1.0, 1.0]]) / 13.0
"""PIL's SMOOTH kernel, the degenerate image of ImageEnhance.Sharpness."""


def _planar_copy(images: torch.Tensor) -> torch.Tensor:
    """A new float32 (B, 3, H, W)-contiguous copy of ``images``, in [0, 1]."""
    check_images(images)
    out = _memory.empty(images.shape, torch.float32, images.device).copy_(images)
    return out.mul_(1.0 / 255.0) if images.dtype == torch.uint8 else out


def _column(values: torch.Tensor, images: torch.Tensor) -> torch.Tensor:
    """(n,) CPU values -> (n, 1, 1, 1) float32 on the device of ``images``."""
    return values.to(device=images.device, dtype=torch.float32).view(-1, 1, 1, 1)


def _adjust_(
    x: torch.Tensor,
    selected: torch.Tensor,
    op: Callable[[torch.Tensor, torch.Tensor], torch.Tensor],
) -> torch.Tensor:
    """Overwrite the selected samples of ``x`` (ours) with ``op(samples, their indices)``,
    chunk by chunk."""
    return apply_where(x, selected, lambda sub, i: in_chunks(sub, i, op), inplace=True)


def _factors(factors: Any, batch: int, name: str) -> torch.Tensor:
    f = per_sample(factors, batch, name, torch.float64)
    if f.numel() and float(f.min()) < 0:
        raise ValueError(f"{name} must be >= 0; got {f.tolist()}")
    return f


def _luma(x: torch.Tensor) -> torch.Tensor:
    """(n, 3, H, W) float32 -> (n, 1, H, W) luma."""
    red, green, blue = x[:, 0:1], x[:, 1:2], x[:, 2:3]
    return (red * LUMA[0]).add_(green, alpha=LUMA[1]).add_(blue, alpha=LUMA[2])


def grayscale(images: torch.Tensor) -> torch.Tensor:
    """(B, 3, H, W) -> (B, 1, H, W) float32 luma, ``0.299 R + 0.587 G + 0.114 B``."""
    return _luma(to_float(images))


def _blend_(x: torch.Tensor, factor: torch.Tensor, degenerate: torch.Tensor) -> torch.Tensor:
    """In place: ``clamp(factor * x + (1 - factor) * degenerate, 0, 1)`` (exact at factor 1)."""
    return x.mul_(factor).add_(degenerate * (1.0 - factor)).clamp_(0.0, 1.0)


def adjust_brightness(images: torch.Tensor, factors: Any) -> torch.Tensor:
    """``clamp(factor * x)``; factor >= 0 (0 gives black, 1 the image)."""
    x = _planar_copy(images)
    f = _factors(factors, x.shape[0], "factors")
    return _adjust_(x, f != 1, lambda sub, i: sub.mul_(_column(f[i], sub)).clamp_(0.0, 1.0))


def adjust_contrast(images: torch.Tensor, factors: Any) -> torch.Tensor:
    """Blend with the image's mean grey level; factor >= 0 (0 gives flat grey)."""
    x = _planar_copy(images)
    f = _factors(factors, x.shape[0], "factors")

    def blend(sub: torch.Tensor, i: torch.Tensor) -> torch.Tensor:
        return _blend_(sub, _column(f[i], sub), _luma(sub).mean(dim=(1, 2, 3), keepdim=True))

    return _adjust_(x, f != 1, blend)


def adjust_saturation(images: torch.Tensor, factors: Any) -> torch.Tensor:
    """Blend with the grey image (PIL's ImageEnhance.Color); factor >= 0 (0 gives grey)."""
    x = _planar_copy(images)
    f = _factors(factors, x.shape[0], "factors")
    return _adjust_(x, f != 1, lambda sub, i: _blend_(sub, _column(f[i], sub), _luma(sub)))


def adjust_sharpness(images: torch.Tensor, factors: Any) -> torch.Tensor:
    """Blend with the image smoothed by PIL's SMOOTH kernel, border pixels kept (as PIL's
    ImageEnhance.Sharpness); factor >= 0 (0 gives the smoothed image, 2 sharpens)."""
    x = _planar_copy(images)
    f = _factors(factors, x.shape[0], "factors")

    def blend(sub: torch.Tensor, i: torch.Tensor) -> torch.Tensor:
        smooth = sub.clone()
        if sub.shape[2] >= 3 and sub.shape[3] >= 3:
            kernel = _SMOOTH.to(sub.device).expand(3, 1, 3, 3)
            smooth[:, :, 1:-1, 1:-1] = torch.nn.functional.conv2d(sub, kernel, groups=3)
        return _blend_(sub, _column(f[i], sub), smooth)

    return _adjust_(x, f != 1, blend)


def _hue_chroma_value(x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """(n, 3, H, W) RGB -> (hue, chroma = max - min, value = max), each (n, H, W).

    Hue is in sixths of a turn, in [-1, 5) (taken modulo 6): 0 red, 2 green, 4 blue;
    grey pixels get hue 0.
    """
    red, green, blue = x.unbind(dim=1)
    value = torch.maximum(torch.maximum(red, green), blue)
    chroma = value - torch.minimum(torch.minimum(red, green), blue)
    safe = torch.where(chroma > 0, chroma, 1.0)
    from_red = (green - blue).div_(safe)
    from_green = (blue - red).div_(safe).add_(2.0)
    from_blue = (red - green).div_(safe).add_(4.0)
    hue = torch.where(value == red, from_red, torch.where(value == green, from_green, from_blue))
    return hue, chroma, value


def _rgb_from_hue_chroma_value(
    hue: torch.Tensor, chroma: torch.Tensor, value: torch.Tensor, out: torch.Tensor
) -> torch.Tensor:
    """Write RGB into ``out`` (n, 3, H, W): channel n (5 red, 3 green, 1 blue) is
    ``value - chroma * clamp(min(k, 4 - k), 0, 1)`` with ``k = (n + hue) mod 6`` (hue in
    sixths of a turn, any real)."""
    for channel, sector in enumerate((5.0, 3.0, 1.0)):
        k = (hue + sector).remainder_(6.0)
        ramp = torch.minimum(k, 4.0 - k).clamp_(0.0, 1.0)
        torch.addcmul(value, chroma, ramp, value=-1.0, out=out[:, channel])
    return out


def rgb_to_hsv(images: torch.Tensor) -> torch.Tensor:
    """(B, 3, H, W) RGB in [0, 1] -> float32 (hue, saturation, value), each in [0, 1].

    Hue is the fraction of the colour circle (0 red, 1/3 green, 2/3 blue; grey pixels
    get hue 0 and saturation 0).
    """
    hue, chroma, value = _hue_chroma_value(to_float(images))
    saturation = torch.where(value > 0, chroma / torch.where(value > 0, value, 1.0), 0.0)
    return torch.stack([hue.remainder_(6.0).div_(6.0), saturation, value], dim=1)


def hsv_to_rgb(hsv: torch.Tensor) -> torch.Tensor:
    """(B, 3, H, W) float32 (hue, saturation, value) in [0, 1] -> RGB in [0, 1]."""
    check_images(hsv, "hsv")
    if hsv.dtype != torch.float32:
        raise TypeError(f"hsv must be float32; got dtype {hsv.dtype}")
    hue, saturation, value = hsv.unbind(dim=1)
    out = torch.empty(hsv.shape, dtype=torch.float32, device=hsv.device)
    return _rgb_from_hue_chroma_value(hue * 6.0, value * saturation, value, out)


def adjust_hue(images: torch.Tensor, shifts: Any) -> torch.Tensor:
    """Rotate the hue by ``shift`` turns of the colour circle (in [-0.5, 0.5]; 1/3 turns
    red into green), keeping HSV saturation and value."""
    x = _planar_copy(images)
    s = per_sample(shifts, x.shape[0], "shifts", torch.float64)
    if s.numel() and float(s.abs().max()) > 0.5:
        raise ValueError(f"shifts must lie in [-0.5, 0.5]; got {s.tolist()}")

    def rotate_hue(sub: torch.Tensor, i: torch.Tensor) -> torch.Tensor:
        hue, chroma, value = _hue_chroma_value(sub)
        hue.add_(_column(6.0 * s[i], sub)[:, 0])
        return _rgb_from_hue_chroma_value(hue, chroma, value, sub)

    return _adjust_(x, s != 0, rotate_hue)


def color_jitter(
    images: torch.Tensor,
    generator: torch.Generator,
    brightness: float = 0.0,
    contrast: float = 0.0,
    saturation: float = 0.0,
    hue: float = 0.0,
) -> torch.Tensor:
    """Random brightness, contrast, saturation and hue, per sample (torchvision's
    ColorJitter ranges, applied in that fixed order).

    Factors are drawn uniformly in [max(0, 1 - s), 1 + s] for brightness, contrast and
    saturation of strength s, and the hue shift uniformly in [-hue, hue] (hue <= 0.5);
    an op of strength 0 is skipped and draws nothing.

    Returns:
        (B, 3, H, W) float32 in [0, 1] on the device of ``images``.
    """
    check_images(images)
    check_generator(generator)
    strengths = [
        validation.real("brightness", brightness, 0.0),
        validation.real("contrast", contrast, 0.0),
        validation.real("saturation", saturation, 0.0),
        validation.real("hue", hue, 0.0),
    ]
    if strengths[3] > 0.5:
        raise ValueError(f"hue must lie in [0, 0.5]; got {hue!r}")
    x = images
    batch = images.shape[0]
    adjusts = (adjust_brightness, adjust_contrast, adjust_saturation)
    for strength, adjust in zip(strengths[:3], adjusts):
        if strength > 0:
            x = adjust(x, uniform(generator, (batch,), max(0.0, 1.0 - strength), 1.0 + strength))
    if strengths[3] > 0:
        x = adjust_hue(x, uniform(generator, (batch,), -strengths[3], strengths[3]))
    return to_float(x)


def invert(images: torch.Tensor) -> torch.Tensor:
    """``1 - x``."""
    return 1.0 - _planar_copy(images)


def solarize(images: torch.Tensor, thresholds: Any) -> torch.Tensor:
    """Invert the pixels at or above the sample's threshold (PIL's ImageOps.solarize
    with threshold t / 255 on the [0, 1] scale); a threshold above 1 changes nothing."""
    x = _planar_copy(images)
    t = per_sample(thresholds, x.shape[0], "thresholds", torch.float64)
    return _adjust_(
        x, t <= 1.0, lambda sub, i: torch.where(sub >= _column(t[i], sub), 1.0 - sub, sub)
    )


def posterize(images: torch.Tensor, bits: Any) -> torch.Tensor:
    """Keep the ``bits`` (1..8) most significant bits of each 8-bit channel value (PIL's
    ImageOps.posterize, on ``round(255 x)``); 8 bits changes nothing."""
    x = _planar_copy(images)
    b = per_sample(bits, x.shape[0], "bits", torch.int64)
    if b.numel() and not (1 <= int(b.min()) and int(b.max()) <= 8):
        raise ValueError(f"bits must lie in [1, 8]; got {b.tolist()}")

    def quantise(sub: torch.Tensor, i: torch.Tensor) -> torch.Tensor:
        levels = (sub * 255.0).round_().to(torch.uint8)
        masks = ((255 << (8 - b[i])) & 255).to(device=sub.device, dtype=torch.uint8)
        return (levels & masks.view(-1, 1, 1, 1)).to(torch.float32).mul_(1.0 / 255.0)

    return _adjust_(x, b < 8, quantise)


def autocontrast(images: torch.Tensor) -> torch.Tensor:
    """Stretch each channel of each sample so its minimum becomes 0 and its maximum 1
    (PIL's ImageOps.autocontrast with no cutoff); flat channels are left unchanged."""
    x = _planar_copy(images)
    low = x.amin(dim=(2, 3), keepdim=True)
    high = x.amax(dim=(2, 3), keepdim=True)
    flat = high <= low
    scale = torch.where(flat, 1.0, 1.0 / torch.where(flat, 1.0, high - low))
    return x.sub_(torch.where(flat, 0.0, low)).mul_(scale).clamp_(0.0, 1.0)


def equalize(images: torch.Tensor) -> torch.Tensor:
    """Histogram-equalise each channel of each sample, as PIL's ImageOps.equalize.

    Works on the 8-bit levels ``round(255 x)``: with ``h`` a channel's 256-bin histogram,
    ``step = (pixels - h[last non-empty bin]) // 255``; level i maps to
    ``(step // 2 + pixels below level i) // step`` (at most 255), or to itself when
    step is 0. One batched histogram for all samples and channels.
    """
    x = _planar_copy(images)
    batch, channels, height, width = x.shape
    rows = batch * channels
    if x.numel() == 0:
        return x
    levels = x.mul_(255.0).round_().clamp_(0.0, 255.0).to(torch.int64).view(rows, -1)
    offsets = torch.arange(rows, device=x.device)[:, None] * 256
    hist = torch.bincount((levels + offsets).flatten(), minlength=rows * 256).view(rows, 256)
    bins = torch.arange(256, device=x.device)
    last_bin = torch.where(hist > 0, bins, -1).amax(dim=1, keepdim=True)
    step = (hist.sum(dim=1, keepdim=True) - hist.gather(1, last_bin)) // 255
    below = hist.cumsum(dim=1) - hist
    lut = ((below + step // 2) // step.clamp(min=1)).clamp_(max=255)
    lut = torch.where(step > 0, lut, bins)
    out = lut.gather(1, levels).to(torch.float32).mul_(1.0 / 255.0)
    return out.view(batch, channels, height, width)
