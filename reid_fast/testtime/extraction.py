"""Test-time feature extraction of a dataset's query and gallery with flip and
multi-scale test-time augmentation (TTA), optionally as the AICity 2020 winner's seed
(layumi/AICIty-reID-2020, ``pytorch/test_2020.py`` and ``submit_result_multimodel.py``)
extracts: a larger bicubic test input, its multi-scale TTA, and detector crops.

Input size and interpolation. The test size is the run's training size x
``size_factor`` (rounded; the seed uses round(1.1 x the training size)); each image is
resized to it once, with Pillow's antialiased ``"bilinear"`` filter (the image cache's)
or ``"bicubic"`` (the seed's ``transforms.Resize(..., interpolation=3)``), into an image
cache whose identity includes the interpolation (:meth:`ImageCache.build`).

TTA (``tta``):

- ``"resize"``: each scale s resizes the original image to the test size x s through its
  own image cache; the flip-summed embedding of each scale is L2-normalised, the scales
  are averaged and the result normalised again.
- ``"seed"``: the seed's ``extract_feature``. The given scales are its ``--ms`` values:
  the factors are their square roots. For each of the image and its mirror, the
  normalised test-size tensor ``x`` goes through the factors in order; a factor f != 1
  replaces ``x`` by ``F.interpolate(x, scale_factor=f, mode="bilinear",
  align_corners=False)`` and every factor adds ``model(x)``. The resize is cumulative
  (``x`` is not reset between scales): the seed's ``--ms 1,1.1,1.2`` sees the factors
  1, sqrt(1.1) and sqrt(1.1) x sqrt(1.2), and a 1 after another factor repeats the
  previous view; with one factor other than 1 (its usual ``1,1.1``) this is the plain
  per-scale resize. The raw outputs of all views are summed and L2-normalised once.

Crops (``crops``): a folder holding, for any test image, a crop of it (e.g. a detector's
box) at the image's path relative to the dataset root (``CROPS/image_query/000001.jpg``
for ``ROOT/image_query/000001.jpg``). As the seed's ``submit_result_multimodel.py``
does, the TTA features of the image and of its crop, each L2-normalised, are summed and
normalised again; an image without a crop keeps its own feature.

Unreadable images. Row i of a split's features is its i-th image, as the dataset's name
lists (AICity's name_query.txt / name_test.txt) give them: submissions and evaluation
number the gallery by those lists. An image that cannot be decoded is a ValueError naming
it; with ``placeholder_unreadable`` it keeps its row with a zero feature instead (a
placeholder), listed in the metadata's ``"placeholders"`` (names per split), and
:func:`rank_placeholders_last` puts the placeholder gallery columns of any distance
matrix after every real image. A placeholder query still gets a (meaningless) ranked
list, so that a submission keeps one line per query.
"""

from __future__ import annotations

import math
import os
import warnings
from pathlib import Path
from typing import Any, Callable, Sequence

import torch
from torch import nn

from .. import validation
from ..augment import EvalTransform
from ..data.cache import INTERPOLATIONS, ImageCache
from ..data.records import ImageRecord, ReidDataset
from ..eval.embeddings import extract_features
from .feature_file import FeatureSet, SplitFeatures

TTA_MODES = ("resize", "seed")


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


def check_test_inputs(size_factor: float, interpolation: str, tta: str) -> float:
    """``size_factor`` as a float in (0, 4] after checking ``interpolation`` (one of
    :data:`INTERPOLATIONS`) and ``tta`` (one of :data:`TTA_MODES`); errors name the
    argument."""
    validation.one_of("interpolation", interpolation, INTERPOLATIONS)
    validation.one_of("tta", tta, TTA_MODES)
    return validation.real("size_factor", size_factor, 0.0, 4.0, positive=True)


def seed_view(images: torch.Tensor, factors: Sequence[float]) -> torch.Tensor:
    """The seed's multi-scale view: (B, 3, H, W) float ``images`` bilinearly
    interpolated (``align_corners=False``) by each factor != 1 in turn, cumulatively.
    Returns (B, 3, H', W') with H' = floor(... floor(H f1) ... fk)."""
    for factor in factors:
        if factor != 1:
            images = nn.functional.interpolate(images, scale_factor=factor, mode="bilinear",
                                               align_corners=False)
    return images


def crop_paths(records: Sequence[ImageRecord], crops: str | os.PathLike,
               root: str | os.PathLike) -> list[str | None]:
    """Per record, its crop ``crops / (path relative to root)`` when that file exists,
    else None."""
    folder = Path(crops)
    found: list[str | None] = []
    for record in records:
        candidate = folder / os.path.relpath(record.path, root)
        found.append(str(candidate) if candidate.is_file() else None)
    return found


@torch.no_grad()
def _tta_features(model: nn.Module, records: Sequence[ImageRecord], *, test_size: tuple[int, int],
                  scales: tuple[float, ...], flip: bool, interpolation: str, tta: str,
                  device: torch.device, batch_size: int, reader: Callable | None,
                  cache_key: str | None, cache_dir: str | None, progress: bool,
                  desc: str) -> tuple[torch.Tensor, ImageCache]:
    """(N, E) L2-normalised TTA embeddings of the N readable ``records`` (module doc)
    and the image cache they were read from (its ``kept`` and ``skipped``; the caller
    reports the skipped images, so the cache's warning is not repeated)."""
    total = None
    cache = None
    factors = [math.sqrt(s) for s in scales]
    for index, scale in enumerate(scales):
        size = scaled_size(test_size, scale) if tta == "resize" else test_size
        if cache is None or cache.size != size:
            with warnings.catch_warnings():
                warnings.filterwarnings("ignore", "ImageCache: skipped", RuntimeWarning)
                cache = ImageCache.build(records, size, cache_dir=cache_dir, read_image=reader,
                                         key=cache_key, progress=progress,
                                         interpolation=interpolation)
        label = f"{desc} x{scale:g}" if len(scales) > 1 else desc
        if tta == "resize":
            features = extract_features(model, cache, EvalTransform(size), device=device,
                                        batch_size=batch_size, flip=flip, progress=progress,
                                        desc=label)
        else:
            base = EvalTransform(size)

            def transform(images, flip=False, steps=factors[:index + 1], base=base):
                return seed_view(base(images, flip=flip), steps)

            features = extract_features(model, cache, transform, device=device,
                                        batch_size=batch_size, flip=flip, progress=progress,
                                        desc=label, normalize=False)
        total = features if total is None else total + features
    return torch.nn.functional.normalize(total, dim=1), cache


def _unreadable(skipped: list[tuple[str, str]], total: int,
                placeholder_unreadable: bool) -> list[tuple[str, str]]:
    """``skipped`` (the (path, reason) of the unreadable images among ``total``) when
    ``placeholder_unreadable``; otherwise a ValueError naming the first of them."""
    if skipped and not placeholder_unreadable:
        path, reason = skipped[0]
        more = f" (and {len(skipped) - 1} more of the {total})" if len(skipped) > 1 else ""
        raise ValueError(f"cannot read image {path}: {reason}{more}; every query and gallery "
                         "image needs its row to stay aligned with the name lists (fix or "
                         "replace it, or give it a zero placeholder feature ranked last: "
                         "--placeholder-unreadable, placeholder_unreadable=True)")
    return skipped


@torch.no_grad()
def extract_split(model: nn.Module, records: Sequence[ImageRecord], *, image_size: tuple[int, int],
                  scales: Sequence[float] = (1.0,), flip: bool = True, size_factor: float = 1.0,
                  interpolation: str = "bilinear", tta: str = "resize",
                  crops: Sequence[str | None] | None = None, device: torch.device,
                  batch_size: int = 128, reader: Callable | None = None, cache_key: str | None = None,
                  cache_dir: str | None = None, progress: bool = True, desc: str = "extract",
                  placeholder_unreadable: bool = False) -> tuple[torch.Tensor, list]:
    """L2-normalised TTA embeddings of ``records`` (see the module doc for
    ``size_factor``, ``interpolation``, ``tta``, the crop fusion and unreadable images).

    ``crops``: per record, the path of its crop image or None (same length as
    ``records``). Returns ((N, E) float32 on ``device``, row i for ``records[i]``; the
    (path, reason) of the rows that are zero placeholders). ValueError when an image
    cannot be read (unless ``placeholder_unreadable``) or a given crop cannot be read.
    """
    scales = check_scales(scales)
    size_factor = check_test_inputs(size_factor, interpolation, tta)
    if crops is not None and len(crops) != len(records):
        raise ValueError(f"crops must give one path or None per record: {len(crops)} for "
                         f"{len(records)} records")
    options = dict(test_size=scaled_size(image_size, size_factor), scales=scales, flip=flip,
                   interpolation=interpolation, tta=tta, device=device, batch_size=batch_size,
                   cache_dir=cache_dir, progress=progress)
    features, cache = _tta_features(model, records, reader=reader, cache_key=cache_key,
                                    desc=desc, **options)
    placeholders = _unreadable(cache.skipped, len(records), placeholder_unreadable)
    rows = [row for row, index in enumerate(cache.kept) if crops is not None
            and crops[index] is not None]
    if rows:
        cropped = [ImageRecord(crops[cache.kept[row]], records[cache.kept[row]].pid)
                   for row in rows]
        crop_features, crop_cache = _tta_features(model, cropped, reader=None, cache_key=None,
                                                  desc=f"{desc} crops", **options)
        if crop_cache.skipped:
            path, reason = crop_cache.skipped[0]
            raise ValueError(f"crops: cannot read crop {path}: {reason}")
        at = torch.tensor(rows, device=features.device)
        features[at] = torch.nn.functional.normalize(features[at] + crop_features, dim=1)
    if placeholders:
        full = features.new_zeros((len(records), features.shape[1]))
        full[torch.as_tensor(cache.kept, device=features.device)] = features
        features = full
    return features, placeholders


def rank_placeholders_last(distances: Any, features: FeatureSet) -> Any:
    """``distances`` (q, g; torch or NumPy) with the columns of the placeholder gallery
    rows of ``features`` (its metadata's ``"placeholders"``, module doc) set to 1 + the
    largest distance, in place: every query ranks them after every real image. Returns
    ``distances``."""
    names = set((features.meta.get("placeholders") or {}).get("gallery", []))
    columns = [index for index, name in enumerate(features.gallery.names) if name in names]
    if columns:
        distances[:, columns] = distances.max() + 1
    return distances


def extract_dataset(model: nn.Module, dataset: ReidDataset, *, image_size: tuple[int, int],
                    scales: Sequence[float] = (1.0,), flip: bool = True, size_factor: float = 1.0,
                    interpolation: str = "bilinear", tta: str = "resize",
                    crops: str | os.PathLike | None = None,
                    device: torch.device | str = "cpu", batch_size: int = 128,
                    half: bool = False, reader: Callable | None = None,
                    cache_key: Callable[[Sequence[ImageRecord]], str | None] | None = None,
                    cache_dir: str | None = None, progress: bool = True,
                    placeholder_unreadable: bool = False, meta: dict | None = None) -> FeatureSet:
    """Query and gallery TTA features of ``dataset`` (see :func:`extract_split`), with
    names, identities, cameras and tracks; ``half`` stores float16. ``cache_key(records)``
    gives the image cache key when a custom ``reader`` is used. ``crops``: the crop
    folder (module doc); the metadata's ``"crops"`` counts the images fused with a crop
    per split. An unreadable query or gallery image is a ValueError naming it; with
    ``placeholder_unreadable`` it gets a zero placeholder row, listed by name per split in
    the metadata's ``"placeholders"`` (module doc). ValueError also when no crop matches
    any query or gallery image, or the dataset has no root folder (crops need a dataset
    read from files)."""
    device = torch.device(device)
    scales = check_scales(scales)
    size_factor = check_test_inputs(size_factor, interpolation, tta)
    if int(batch_size) < 1:
        raise ValueError(f"batch_size must be >= 1; got {batch_size}")
    for split in ("query", "gallery"):
        if not getattr(dataset, split):
            raise ValueError(f"dataset {dataset.name!r} has no {split} images")
    found = {}
    if crops is not None:
        if not Path(crops).is_dir():
            raise FileNotFoundError(f"crops: no folder {crops}")
        if dataset.root is None:
            raise ValueError(f"crops: dataset {dataset.name!r} has no root folder to name the "
                             "crops after (give a dataset read from files)")
        found = {split: crop_paths(getattr(dataset, split), crops, dataset.root)
                 for split in ("query", "gallery")}
        if not any(path for paths in found.values() for path in paths):
            example = Path(crops) / os.path.relpath(dataset.query[0].path, dataset.root)
            raise ValueError(f"crops: no file in {crops} is named like a query or gallery "
                             f"image (expected e.g. {example})")
    parts = {}
    placeholders = {}
    cropped = {}
    for split in ("query", "gallery"):
        records = getattr(dataset, split)
        features, unreadable = extract_split(
            model, records, image_size=image_size, scales=scales, flip=flip,
            size_factor=size_factor, interpolation=interpolation, tta=tta,
            crops=found.get(split), device=device, batch_size=batch_size, reader=reader,
            cache_key=cache_key(records) if cache_key else None, cache_dir=cache_dir,
            progress=progress, desc=f"extract {split}",
            placeholder_unreadable=placeholder_unreadable)
        if half:
            features = features.half()
        parts[split] = SplitFeatures.from_records(features, records)
        placeholders[split] = [os.path.basename(path) for path, _ in unreadable]
        if found:
            missing = {path for path, _ in unreadable}
            cropped[split] = sum(path is not None and record.path not in missing
                                 for record, path in zip(records, found[split]))
    info = {"dataset": dataset.name, "same_camera_junk": bool(dataset.same_camera_junk),
            "image_size": list(image_size), "scales": list(scales), "flip": bool(flip),
            "size_factor": size_factor, "test_size": list(scaled_size(image_size, size_factor)),
            "interpolation": interpolation, "tta": tta,
            "dtype": "float16" if half else "float32", "placeholders": placeholders,
            "embedding_dim": int(parts["query"].features.shape[1])}
    if found:
        info["crops"] = {"dir": str(crops), **cropped}
    info.update(meta or {})
    return FeatureSet(parts["query"], parts["gallery"], info)
