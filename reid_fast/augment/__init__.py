"""Batched augmentation that runs on the model's device.

Images are (B, 3, H, W) uint8, or float32 in [0, 1], on the CPU or a CUDA device; every
op keeps them there and treats the whole batch at once, with per-sample random
parameters drawn on the CPU from the caller's ``torch.Generator`` (the same seed gives
the same batch on every device).

- :class:`TrainAugment` / :class:`AugmentConfig` / :class:`EvalTransform`: what the
  trainer and the feature extractor call.
- Geometry: :func:`pad_crop`, :func:`hflip` (both through :func:`pad_crop_flip`),
  :func:`resized_crop`, :func:`resize` (bilinear or bicubic) and their random forms; :func:`rotate`,
  :func:`shear_x`, :func:`shear_y`, :func:`translate_x`, :func:`translate_y`,
  :func:`affine`.
- Colour: :func:`color_jitter` and the adjust_* ops, RGB <-> HSV, :func:`autocontrast`,
  :func:`equalize`, :func:`posterize`, :func:`solarize`, :func:`invert`.
- :class:`AutoAugment` with its fading probability, drawn per sample or per batch;
  random erasing; normalisation.
"""

from __future__ import annotations

from .autoaugment import IMAGENET_POLICY, OPS, AutoAugment, apply_op, faded_probability
from .color import (
    adjust_brightness,
    adjust_contrast,
    adjust_hue,
    adjust_saturation,
    adjust_sharpness,
    autocontrast,
    color_jitter,
    equalize,
    grayscale,
    hsv_to_rgb,
    invert,
    posterize,
    rgb_to_hsv,
    solarize,
)
from .convert import IMAGENET_MEAN, IMAGENET_STD, normalize, to_float
from .crop import pad_crop_flip
from .erasing import erase, erase_with_noise, erasing_boxes, random_erasing
from .geometry import (
    INTERPOLATIONS,
    hflip,
    interpolate,
    pad_crop,
    random_hflip,
    random_pad_crop,
    random_resized_boxes,
    random_resized_crop,
    resize,
    resized_crop,
)
from .pipeline import AUTOAUGMENT_DRAWS, AugmentConfig, EvalTransform, TrainAugment
from .warp import affine, rotate, shear_x, shear_y, translate_x, translate_y

__all__ = [
    "AUTOAUGMENT_DRAWS",
    "IMAGENET_MEAN",
    "IMAGENET_POLICY",
    "IMAGENET_STD",
    "INTERPOLATIONS",
    "OPS",
    "AugmentConfig",
    "AutoAugment",
    "EvalTransform",
    "TrainAugment",
    "adjust_brightness",
    "adjust_contrast",
    "adjust_hue",
    "adjust_saturation",
    "adjust_sharpness",
    "affine",
    "apply_op",
    "autocontrast",
    "color_jitter",
    "equalize",
    "erase",
    "erase_with_noise",
    "erasing_boxes",
    "faded_probability",
    "grayscale",
    "hflip",
    "hsv_to_rgb",
    "interpolate",
    "invert",
    "normalize",
    "pad_crop",
    "pad_crop_flip",
    "posterize",
    "random_erasing",
    "random_hflip",
    "random_pad_crop",
    "random_resized_boxes",
    "random_resized_crop",
    "resize",
    "resized_crop",
    "rgb_to_hsv",
    "rotate",
    "shear_x",
    "shear_y",
    "solarize",
    "to_float",
    "translate_x",
    "translate_y",
]
