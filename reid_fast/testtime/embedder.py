"""The public inference API: ``model = reid_fast.load(RUN)``, ``model.embed(images)``."""

from __future__ import annotations

import os
from typing import Any, Sequence

import numpy as np
import torch
from PIL import Image

from .. import validation
from ..augment import EvalTransform, resize
from ..data.cache import resize_rgb
from ..devices import resolve_device
from .extraction import check_scales, scaled_size
from .run_model import TrainedRun, load_run

ImageInput = Any
"""A path (str / PathLike), a PIL image, an (H, W, 3) uint8 array, a (3, H, W) uint8 or
float tensor; or a batch: an (N, H, W, 3) uint8 array, an (N, 3, H, W) tensor, or a
sequence of single images (sizes may differ)."""


def _host_image(image: Any, index: int) -> np.ndarray | torch.Tensor:
    """One image as an (H, W, 3) uint8 array, or a (3, H, W) tensor (kept on its device)."""
    if isinstance(image, (str, os.PathLike)):
        with Image.open(image) as opened:
            return np.asarray(opened.convert("RGB"))
    if isinstance(image, Image.Image):
        return np.asarray(image.convert("RGB"))
    if isinstance(image, np.ndarray):
        if image.dtype != np.uint8 or image.ndim != 3 or image.shape[2] != 3:
            raise ValueError(f"images[{index}] must be an (H, W, 3) uint8 array, got shape "
                             f"{image.shape} dtype {image.dtype}")
        return image
    if isinstance(image, torch.Tensor):
        if image.dim() != 3 or image.shape[0] != 3:
            raise ValueError(f"images[{index}] must be a (3, H, W) tensor, got shape "
                             f"{tuple(image.shape)}")
        return image
    raise TypeError(f"images[{index}] must be a path, a PIL image, a uint8 array or a tensor, "
                    f"got {type(image).__name__}")


def _as_list(images: ImageInput) -> list[np.ndarray | torch.Tensor]:
    """The images one by one (see :data:`ImageInput`)."""
    if isinstance(images, np.ndarray) and images.ndim == 4:
        return [_host_image(image, i) for i, image in enumerate(images)]
    if isinstance(images, torch.Tensor) and images.dim() == 4:
        return [_host_image(image, i) for i, image in enumerate(images)]
    if isinstance(images, (str, os.PathLike, Image.Image, np.ndarray, torch.Tensor)):
        return [_host_image(images, 0)]
    if isinstance(images, Sequence):
        return [_host_image(image, i) for i, image in enumerate(images)]
    raise TypeError(f"images must be a path, a PIL image, an array, a tensor or a sequence of "
                    f"them, got {type(images).__name__}")


def _tensor_image(image: torch.Tensor) -> torch.Tensor:
    """A (3, H, W) tensor as uint8, or float32 in [0, 1] (what EvalTransform takes)."""
    if image.dtype == torch.uint8:
        return image
    if not image.is_floating_point():
        raise TypeError(f"image tensors must be uint8 or floating point in [0, 1], got "
                        f"{image.dtype}")
    return image.float()


def _stack(images: list[torch.Tensor]) -> torch.Tensor:
    """One batch; uint8 images become float32 in [0, 1] when the batch mixes dtypes."""
    if len({image.dtype for image in images}) > 1:
        images = [image.float() / 255 if image.dtype == torch.uint8 else image
                  for image in images]
    return torch.stack(images)


class Embedder:
    """A trained run's embedding model, ready for inference (eval mode, no gradients).

    Attributes:
        run: the :class:`TrainedRun` (model, configuration, folder).
        device: where the model runs and the features are returned.
        image_size: the (H, W) the model was trained at (scale 1).
        embedding_dim: the feature size E.
    """

    def __init__(self, run: TrainedRun, device: torch.device) -> None:
        self.run = run
        self.device = device
        self.image_size = run.image_size
        self.embedding_dim = int(run.model.embedding_dim)

    @torch.no_grad()
    def embed(self, images: ImageInput, *, flip: bool = True, scales: Sequence[float] = (1.0,),
              batch_size: int = 64) -> torch.Tensor:
        """L2-normalised features of ``images`` with the run's evaluation transform.

        Args:
            images: see :data:`ImageInput` (paths, PIL images, uint8 arrays, tensors on any
                device; one image or many).
            flip: add the features of the mirrored image (flip test-time augmentation).
            scales: resize factors of the training size; the per-scale normalised
                features are averaged (multi-scale test-time augmentation).
            batch_size: images per forward pass, >= 1.

        Returns:
            (N, E) float32 features on :attr:`device`, each row of norm 1. Images given as
            paths, PIL images or arrays are resized on the host exactly as
            ``reid-fast extract`` resizes them (Pillow, antialiased bilinear), so the
            features match the extracted ones; tensors are resized on their device.
        """
        scales = check_scales(scales)
        batch_size = validation.integer("batch_size", batch_size, 1)
        items = _as_list(images)
        if not items:
            return torch.zeros(0, self.embedding_dim, device=self.device)
        total = None
        for scale in scales:
            size = scaled_size(self.image_size, scale)
            transform = EvalTransform(size)
            parts = []
            for start in range(0, len(items), batch_size):
                batch = _stack([self._prepared(image, size)
                                for image in items[start:start + batch_size]])
                views = [transform(batch)] + ([transform(batch, flip=True)] if flip else [])
                summed = sum(self.run.model(view).float() for view in views)
                parts.append(torch.nn.functional.normalize(summed, dim=1))
            features = torch.cat(parts)
            total = features if total is None else total + features
        return torch.nn.functional.normalize(total, dim=1)

    def _prepared(self, image: np.ndarray | torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
        """(3, H, W) of ``size`` on the device: host images resized like the image cache
        (uint8), tensors resized on the device (uint8 or float32 in [0, 1])."""
        if isinstance(image, np.ndarray):
            resized = resize_rgb(image, size)
            if not resized.flags.writeable:  # a PIL image's array: torch wants to own a copy
                resized = resized.copy()
            return torch.from_numpy(resized).permute(2, 0, 1).to(self.device)
        image = _tensor_image(image).to(self.device)
        if tuple(image.shape[1:]) != size:
            image = resize(image[None], size)[0]
        return image

    def __repr__(self) -> str:
        return (f"Embedder({self.run.config.arch}, run {str(self.run.run_dir)!r}, "
                f"{self.image_size[0]}x{self.image_size[1]} -> {self.embedding_dim}, "
                f"{self.device})")


def load(run: str | os.PathLike, device: str | torch.device = "auto") -> Embedder:
    """The trained model of a run folder (``reid-fast train``'s output, or its
    ``model.pt``) for inference on ``device`` (``auto``: CUDA when available)::

        model = reid_fast.load("runs/20261201-120000", device="cuda")
        features = model.embed(["a.jpg", "b.jpg"])   # (2, E), L2-normalised
    """
    device = resolve_device(device)
    return Embedder(load_run(run, device), device)
