"""Colours and pixel helpers shared by the viz modules (Pillow / NumPy only).

Colours are ``(R, G, B)`` tuples of ints in [0, 255].
"""

from __future__ import annotations

from typing import Any

import numpy as np
from PIL import Image

RGB = tuple[int, int, int]

WHITE: RGB = (255, 255, 255)
BLACK: RGB = (0, 0, 0)
#: Frame of a gallery item with the query's identity.
CORRECT_GREEN: RGB = (0, 170, 0)
#: Frame of a gallery item with another identity.
WRONG_RED: RGB = (210, 0, 0)
#: Frame of a junk gallery item (ignored by the metrics).
JUNK_FRAME_GREY: RGB = (160, 160, 160)
#: Frame of the query tile.
QUERY_BLUE: RGB = (30, 90, 220)
#: Junk images are blended :data:`JUNK_BLEND` of the way toward this grey.
JUNK_GREY: RGB = (128, 128, 128)
JUNK_BLEND: float = 0.6


def blend_toward(pixels: np.ndarray, colour: RGB, amount: float) -> np.ndarray:
    """``(1 - amount) * pixels + amount * colour``, rounded to uint8.

    Args:
        pixels: (..., 3) uint8 array.
        colour: the target RGB colour.
        amount: in [0, 1]; 0 returns ``pixels`` unchanged, 1 a solid ``colour``.

    Returns:
        (..., 3) uint8 array, a new array.
    """
    if not 0.0 <= amount <= 1.0:
        raise ValueError(f"amount must be in [0, 1], got {amount!r}")
    mixed = (1.0 - amount) * pixels.astype(np.float32) + amount * np.asarray(colour, np.float32)
    return np.clip(np.rint(mixed), 0, 255).astype(np.uint8)


def as_rgb_uint8(image: Any, name: str) -> np.ndarray:
    """``image`` as an (H, W, 3) uint8 NumPy array, validated.

    Args:
        image: (H, W, 3) uint8 NumPy array (H, W >= 1) or a PIL image (any mode,
            converted to RGB).
        name: the argument's name, used in error messages.

    Raises:
        TypeError: not an array or a PIL image.
        ValueError: wrong shape or dtype.
    """
    if isinstance(image, Image.Image):
        return np.asarray(image.convert("RGB"), dtype=np.uint8)
    if not isinstance(image, np.ndarray):
        raise TypeError(f"{name} must be an (H, W, 3) uint8 NumPy array or a PIL image; "
                        f"got {type(image).__name__}")
    if image.ndim != 3 or image.shape[2] != 3 or image.shape[0] < 1 or image.shape[1] < 1:
        raise ValueError(f"{name} must have shape (H, W, 3) with H, W >= 1; got shape "
                         f"{tuple(image.shape)}")
    if image.dtype != np.uint8:
        raise ValueError(f"{name} must have dtype uint8; got dtype {image.dtype}")
    return image


def as_rgb_pil(image: Any, name: str) -> Image.Image:
    """``image`` (see :func:`as_rgb_uint8`) as an RGB PIL image."""
    if isinstance(image, Image.Image):
        return image if image.mode == "RGB" else image.convert("RGB")
    return Image.fromarray(np.ascontiguousarray(as_rgb_uint8(image, name)))
