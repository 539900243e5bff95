"""Test-time feature extraction of a dataset's query and gallery with flip and
multi-scale test-time augmentation (TTA)."""

from __future__ import annotations

from typing import Callable, Sequence

import torch
from torch import nn

from ..augment import EvalTransform
from ..data.cache import ImageCache
from ..data.records import ImageRecord, ReidDataset
from ..eval.embeddings import extract_features
from .feature_file import FeatureSet, SplitFeatures


def scaled_size(size: tuple[int, int], scale: float) -> tuple[int, int]:
    """(H, W) times ``scale``, rounded, at least 8 pixels each."""
    return max(8, round(size[0] * scale)), max(8, round(size[1] * scale))


def check_scales(scales: Sequence[float]) -> tuple[float, ...]:
    """The scales as floats; ValueError unless there is at least one and all are in
    (0, 4]."""
    values = tuple(float(s) for s in scales)
    if not values or not all(0.0 < s <= 4.0 for s in values):
        raise ValueError(f"scales must be one or more numbers in (0, 4]; got {list(scales)}")
    return values


@torch.no_grad()
def extract_split(model: nn.Module, records: Sequence[ImageRecord], *, image_size: tuple[int, int],
                  scales: Sequence[float] = (1.0,), flip: bool = True, device: torch.device,
                  batch_size: int = 128, reader: Callable | None = None, cache_key: str | None = None,
                  cache_dir: str | None = None, progress: bool = True,
                  desc: str = "extract") -> tuple[torch.Tensor, list[ImageRecord], list]:
    """L2-normalised TTA embeddings of ``records``.

    Each scale resizes the original image (not a previous scale) to ``image_size`` x
    scale through its own image cache; the model sees that size. The flip-summed
    embedding of each scale is L2-normalised, the scales are averaged and the result
    normalised again. Returns ((N, E) float32 on ``device``, the N records kept, the
    skipped (path, reason) pairs).
    """
    total = None
    kept: list[ImageRecord] = []
    skipped: list = []
    for scale in check_scales(scales):
        size = scaled_size(image_size, scale)
        cache = ImageCache.build(records, size, cache_dir=cache_dir, read_image=reader,
                                 key=cache_key, progress=progress)
        kept, skipped = cache.records, cache.skipped
        label = f"{desc} x{scale:g}" if len(scales) > 1 else desc
        features = extract_features(model, cache, EvalTransform(size), device=device,
                                    batch_size=batch_size, flip=flip, progress=progress, desc=label)
        total = features if total is None else total + features
    return torch.nn.functional.normalize(total, dim=1), kept, skipped


def extract_dataset(model: nn.Module, dataset: ReidDataset, *, image_size: tuple[int, int],
                    scales: Sequence[float] = (1.0,), flip: bool = True,
                    device: torch.device | str = "cpu", batch_size: int = 128,
                    half: bool = False, reader: Callable | None = None,
                    cache_key: Callable[[Sequence[ImageRecord]], str | None] | None = None,
                    cache_dir: str | None = None, progress: bool = True,
                    meta: dict | None = None) -> FeatureSet:
    """Query and gallery TTA features of ``dataset`` (see :func:`extract_split`), with
    names, identities, cameras and tracks; ``half`` stores float16. ``cache_key(records)``
    gives the image cache key when a custom ``reader`` is used."""
    device = torch.device(device)
    scales = check_scales(scales)
    if int(batch_size) < 1:
        raise ValueError(f"batch_size must be >= 1; got {batch_size}")
    parts = {}
    skipped_all = {}
    for split in ("query", "gallery"):
        records = getattr(dataset, split)
        if not records:
            raise ValueError(f"dataset {dataset.name!r} has no {split} images")
        features, kept, skipped = extract_split(
            model, records, image_size=image_size, scales=scales, flip=flip, device=device,
            batch_size=batch_size, reader=reader,
            cache_key=cache_key(records) if cache_key else None, cache_dir=cache_dir,
            progress=progress, desc=f"extract {split}")
        if half:
            features = features.half()
        parts[split] = SplitFeatures.from_records(features, kept)
        skipped_all[split] = len(skipped)
    info = {"dataset": dataset.name, "same_camera_junk": bool(dataset.same_camera_junk),
            "image_size": list(image_size), "scales": list(scales), "flip": bool(flip),
            "dtype": "float16" if half else "float32", "skipped": skipped_all,
            "embedding_dim": int(parts["query"].features.shape[1])}
    info.update(meta or {})
    return FeatureSet(parts["query"], parts["gallery"], info)

