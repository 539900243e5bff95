"""Training curves drawn with Pillow (no plotting library needed)."""

from __future__ import annotations

import os
from typing import Sequence

from PIL import Image, ImageDraw

from ..atomic import save_image

_COLOURS = ((31, 119, 180), (214, 39, 40), (44, 160, 44), (148, 103, 189), (255, 127, 14))


def _panel(draw: ImageDraw.ImageDraw, box: tuple[int, int, int, int], title: str,
           series: dict[str, tuple[Sequence[float], Sequence[float]]], xlabel: str) -> None:
    left, top, right, bottom = box
    draw.rectangle(box, outline=(0, 0, 0))
    draw.text((left, top - 14), title, fill=(0, 0, 0))
    points = [(x, y) for xs, ys in series.values() for x, y in zip(xs, ys)]
    if not points:
        draw.text((left + 10, top + 10), "no data", fill=(120, 120, 120))
        return
    x0, x1 = min(p[0] for p in points), max(p[0] for p in points)
    y0, y1 = min(p[1] for p in points), max(p[1] for p in points)
    x1 = x1 if x1 > x0 else x0 + 1
    if y1 <= y0:
        y0, y1 = y0 - 0.5, y1 + 0.5
    pad = 0.05 * (y1 - y0)
    y0, y1 = y0 - pad, y1 + pad

    def to_px(x: float, y: float) -> tuple[float, float]:
        return (left + (x - x0) / (x1 - x0) * (right - left),
                bottom - (y - y0) / (y1 - y0) * (bottom - top))

    for i in range(5):
        y = y0 + (y1 - y0) * i / 4
        _, py = to_px(x0, y)
        draw.line((left, py, right, py), fill=(225, 225, 225))
        draw.text((4, py - 6), f"{y:.3g}", fill=(0, 0, 0))
    draw.text((left, bottom + 4), f"{x0:g}", fill=(0, 0, 0))
    draw.text((right - 40, bottom + 4), f"{x1:g} {xlabel}", fill=(0, 0, 0))
    for n, (label, (xs, ys)) in enumerate(series.items()):
        colour = _COLOURS[n % len(_COLOURS)]
        pts = [to_px(x, y) for x, y in zip(xs, ys)]
        if len(pts) > 1:
            draw.line(pts, fill=colour, width=2)
        for px, py in pts if len(pts) <= 50 else ():
            draw.ellipse((px - 3, py - 3, px + 3, py + 3), fill=colour)
        draw.text((right - 150, top + 6 + 14 * n), label, fill=colour)


def plot_training_curves(path: str | os.PathLike,
                         losses: dict[str, tuple[Sequence[float], Sequence[float]]],
                         scores: dict[str, tuple[Sequence[float], Sequence[float]]]) -> None:
    """A PNG with two panels: losses against step, evaluation scores (%) against epoch.

    Each series is ``name -> (xs, ys)``.
    """
    width, height = 900, 380
    image = Image.new("RGB", (width, height), (255, 255, 255))
    draw = ImageDraw.Draw(image)
    _panel(draw, (60, 30, width // 2 - 20, height - 40), "training loss", losses, "step")
    _panel(draw, (width // 2 + 50, 30, width - 20, height - 40), "evaluation (%)", scores, "epoch")
    save_image(path, image)
