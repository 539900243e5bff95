"""The training augmentation and the evaluation transform the trainer calls.

Training, per batch on the batch's device: (uint8) -> float -> AutoAugment (faded) ->
resize to ``size`` if needed (bilinear or bicubic) -> pad + random crop, or pad +
random-resized crop back to ``size`` -> horizontal flip -> colour jitter -> normalise ->
random erasing.

Pad + crop + flip is one gather of row windows for the whole batch; a random-resized
crop is one ``F.interpolate`` per sample. Only AutoAugment and colour jitter need float
pixels: without them the geometric steps move uint8 pixels and the conversion to float
is folded into the normalisation (4x less memory traffic).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Sequence

import torch
import torch.nn.functional as F

from .. import validation
from ._batching import bernoulli
from ._validate import (
    check_generator,
    check_images,
)
from .autoaugment import AutoAugment
from .color import color_jitter
from .convert import IMAGENET_MEAN, IMAGENET_STD, normalize
from .crop import PAD_MODES, pad_crop_flip
from .erasing import random_erasing
from .geometry import INTERPOLATIONS, random_resized_boxes, resize, resized_crop

ERASING_VALUES = ("mean", "random")
AUTOAUGMENT_DRAWS = ("sample", "batch")
"""What one AutoAugment probability draw decides for: each sample, or the whole batch."""


@dataclass(frozen=True)
class AugmentConfig:
    """What :class:`TrainAugment` does.

    - ``size``: output (H, W).
    - ``pad``, ``pad_mode``: pad + random crop (``"constant"`` zeros or ``"reflect"``);
      pad 0 disables it.
    - ``random_resized_crop``, ``rrc_scale``, ``rrc_ratio``: instead of the random crop,
      pad by ``pad`` and take a random-resized crop of the padded (H + 2 pad, W + 2 pad)
      image back to ``size``, with area fraction in ``rrc_scale`` and aspect (width /
      height) in ``rrc_ratio`` (the AICity 2020 winner: pad 15, scale 0.75-1, ratio
      3/4-4/3).
    - ``interpolation``: resize filter, ``"bilinear"`` or ``"bicubic"`` (antialiased).
    - ``flip_p``: probability of a horizontal flip.
    - ``erasing_p``, ``erasing_area``, ``erasing_ratio``, ``erasing_value``: random
      erasing after normalisation; value ``"mean"`` writes the mean colour (0 after
      normalisation, as in the re-ID baseline code the AICity 2020 winner builds on),
      ``"random"`` standard normal noise per pixel (Zhong et al.).
    - ``color_jitter``: strength s -> brightness, contrast and saturation s, hue s / 4.
    - ``autoaugment_p``: p0 of the ImageNet AutoAugment policy, faded to 0 over training;
      ``autoaugment_per``: one draw per ``"sample"`` or per ``"batch"``.
    - ``mean``, ``std``: normalisation (RGB, images in [0, 1]).
    """

    size: tuple[int, int] = (256, 256)
    pad: int = 10
    random_resized_crop: bool = False
    rrc_scale: tuple[float, float] = (0.64, 1.0)
    rrc_ratio: tuple[float, float] = (0.75, 1.333)
    flip_p: float = 0.5
    erasing_p: float = 0.5
    color_jitter: float = 0.0
    autoaugment_p: float = 0.0
    mean: tuple[float, float, float] = IMAGENET_MEAN
    std: tuple[float, float, float] = IMAGENET_STD
    pad_mode: str = "constant"
    erasing_area: tuple[float, float] = (0.02, 0.4)
    erasing_ratio: tuple[float, float] = (0.3, 1 / 0.3)
    erasing_value: str = "mean"
    interpolation: str = "bilinear"
    autoaugment_per: str = "sample"

    def __post_init__(self) -> None:
        height, width = validation.size_hw("size", self.size)
        if isinstance(self.pad, bool) or not isinstance(self.pad, int) or self.pad < 0:
            raise ValueError(f"pad must be an int >= 0; got {self.pad!r}")
        if self.pad_mode not in PAD_MODES:
            raise ValueError(f"pad_mode must be one of {PAD_MODES}; got {self.pad_mode!r}")
        if self.pad_mode == "reflect" and self.pad >= min(height, width):
            raise ValueError(
                f"pad must be smaller than size {self.size} to reflect; got {self.pad}"
            )
        scale = validation.interval("rrc_scale", self.rrc_scale, 0.0, math.inf)
        ratio = validation.interval("rrc_ratio", self.rrc_ratio, 0.0, math.inf)
        if scale[1] <= 0 or ratio[0] <= 0:
            raise ValueError(f"rrc_scale and rrc_ratio must be positive; got {scale}, {ratio}")
        for name in ("flip_p", "erasing_p", "autoaugment_p"):
            validation.probability(name, getattr(self, name))
        jitter = validation.real("color_jitter", self.color_jitter, 0.0)
        if jitter > 2.0:
            raise ValueError(f"color_jitter must lie in [0, 2] (hue s / 4 <= 0.5); got {jitter}")
        validation.reals("mean", self.mean, 3)
        validation.reals("std", self.std, 3, positive=True)
        validation.interval("erasing_area", self.erasing_area, 0.0, 1.0)
        if validation.interval("erasing_ratio", self.erasing_ratio, 0.0, math.inf)[0] <= 0:
            raise ValueError(f"erasing_ratio must be positive; got {self.erasing_ratio}")
        validation.one_of("interpolation", self.interpolation, INTERPOLATIONS)
        validation.one_of("autoaugment_per", self.autoaugment_per, AUTOAUGMENT_DRAWS)
        if self.erasing_value not in ERASING_VALUES:
            raise ValueError(
                f"erasing_value must be one of {ERASING_VALUES}; got {self.erasing_value!r}"
            )


class TrainAugment:
    """Batched training augmentation (see the module doc for the order of the steps)."""

    def __init__(self, config: AugmentConfig) -> None:
        if not isinstance(config, AugmentConfig):
            raise TypeError(f"config must be an AugmentConfig; got {type(config).__name__}")
        self.config = config
        self.autoaugment = None
        if config.autoaugment_p > 0:
            self.autoaugment = AutoAugment(config.autoaugment_p,
                                           per_batch=config.autoaugment_per == "batch")

    def __call__(
        self, images: torch.Tensor, generator: torch.Generator, progress: float = 0.0,
        out: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """Augment a batch.

        Args:
            images: (B, 3, H, W) uint8, or float32 in [0, 1], on any device; any strides
                (a channels-last view of an NHWC cache is read without a copy).
            generator: CPU generator; every random parameter is drawn on the CPU with
                it, so a seed gives the same batch on every device.
            progress: fraction of training done, in [0, 1] (fades AutoAugment).
            out: optional (B, 3, *size) float32 channels-last buffer to write the result
                into, e.g. the previous step's batch once the model is done with it.

        Returns:
            (B, 3, *size) float32, normalised, on the device of ``images``, in
            channels-last memory format.
        """
        check_images(images)
        check_generator(generator)
        progress = validation.probability("progress", progress)
        config = self.config
        x = images
        if self.autoaugment is not None and self.autoaugment.probability(progress) > 0:
            x = self.autoaugment(x, generator, progress)
        x = self._crop_and_flip(x, generator)
        if config.color_jitter > 0:
            s = config.color_jitter
            x = color_jitter(x, generator, brightness=s, contrast=s, saturation=s, hue=s / 4)
        x = normalize(x, config.mean, config.std, out=out)
        if config.erasing_p > 0:
            value = "random" if config.erasing_value == "random" else 0.0
            x = random_erasing(
                x,
                generator,
                config.erasing_p,
                config.erasing_area,
                config.erasing_ratio,
                value,
                inplace=True,
            )
        return x

    def _crop_and_flip(self, images: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        """Resize to ``size`` if needed, then crop and flip (random parameters drawn here)."""
        config = self.config
        batch = images.shape[0]
        if tuple(images.shape[2:]) != config.size:
            images = resize(images, config.size, config.interpolation)
        if config.random_resized_crop:
            if config.pad:
                images = F.pad(images, (config.pad,) * 4, mode=config.pad_mode)
            boxes = random_resized_boxes(
                generator, batch, *images.shape[2:], config.rrc_scale, config.rrc_ratio
            )
            flipped = bernoulli(generator, batch, config.flip_p)
            return resized_crop(images, boxes, config.size, flipped, config.interpolation)
        offsets = torch.randint(0, 2 * config.pad + 1, (2, batch), generator=generator)
        flipped = bernoulli(generator, batch, config.flip_p)
        if config.pad == 0 and not bool(flipped.any()):
            return images
        return pad_crop_flip(images, offsets[0], offsets[1], flipped, config.pad, config.pad_mode)


class EvalTransform:
    """Test-time transform: resize (only when the size differs), optional flip, normalise.

    Args:
        size: output (H, W).
        mean, std: normalisation (RGB, images in [0, 1]).
        interpolation: resize filter, one of :data:`INTERPOLATIONS` (that of training).
    """

    def __init__(
        self,
        size: tuple[int, int],
        mean: Sequence[float] = IMAGENET_MEAN,
        std: Sequence[float] = IMAGENET_STD,
        interpolation: str = "bilinear",
    ) -> None:
        self.size = validation.size_hw("size", size)
        self.interpolation = validation.one_of("interpolation", interpolation, INTERPOLATIONS)
        self.mean = validation.reals("mean", mean, 3)
        self.std = validation.reals("std", std, 3, positive=True)

    def __call__(self, images: torch.Tensor, flip: bool = False) -> torch.Tensor:
        """Transform a batch.

        Args:
            images: (B, 3, H, W) uint8, or float32 in [0, 1], on any device.
            flip: mirror every image left-right (flip test-time augmentation).

        Returns:
            (B, 3, *size) float32, normalised, on the device of ``images``, channels-last.
            Resizing is bilinear (or bicubic) with antialiasing (``F.interpolate(...,
            antialias=True)``, torchvision's default for tensors), in uint8 for uint8
            input.
        """
        check_images(images)
        x = images
        if tuple(x.shape[2:]) != self.size:
            x = resize(x, self.size, self.interpolation)
        if flip:
            x = x.flip(3)
        return normalize(x, self.mean, self.std)
