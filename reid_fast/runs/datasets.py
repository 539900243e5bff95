"""From a configuration to datasets and their image caches."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Callable

import numpy as np

from ..data.cache import ImageCache, file_stamp, read_rgb
from ..data.records import ImageRecord, ReidDataset
from ..data.tasks import task_labels
from .config import TrainConfig

SYNTHETIC_PREFIX = "synthetic://"


@dataclass
class PreparedData:
    """The dataset and one cache per split (train / query / gallery).

    The training cache holds the training records that have a label for the configured
    task (:func:`reid_fast.data.tasks.task_labels`); ``left_out`` counts the others,
    which are never decoded.
    """

    dataset: ReidDataset
    train: ImageCache
    query: ImageCache
    gallery: ImageCache
    left_out: int


def synthetic_vehicles(cfg: TrainConfig):
    """The configuration's synthetic dataset (:class:`reid_fast.data.SyntheticVehicles`)."""
    from ..data.synthetic import SyntheticConfig, SyntheticVehicles

    options = {"seed": cfg.synthetic_seed}
    if cfg.synthetic_train_ids:
        options["num_train_ids"] = cfg.synthetic_train_ids
    if cfg.synthetic_test_ids:
        options["num_test_ids"] = cfg.synthetic_test_ids
    return SyntheticVehicles(SyntheticConfig(**options))


def build_dataset(cfg: TrainConfig) -> tuple[ReidDataset, Callable[[ImageRecord], np.ndarray] | None, str]:
    """The configured dataset, a reader for synthetic records (None when there are none)
    and a string identifying the synthetic part for the cache key."""
    from ..data.formats import load_dataset, merge_datasets

    synthetic = synthetic_vehicles(cfg) if (not cfg.data or cfg.synthetic) else None
    datasets = [load_dataset(root, None if cfg.layout == "auto" else cfg.layout)
                for root in cfg.data]
    if synthetic is not None:
        datasets.append(synthetic.dataset)
    dataset = datasets[0] if len(datasets) == 1 else merge_datasets(datasets, eval_index=0)
    return dataset, (synthetic.render if synthetic else None), (synthetic.cache_key if synthetic else "")


def _reader(render: Callable[[ImageRecord], np.ndarray] | None):
    """None (the cache's default Pillow reader) without synthetic records; otherwise a
    reader that renders synthetic records and reads files with the default reader."""
    if render is None:
        return None

    def read(record: ImageRecord):
        return render(record) if record.path.startswith(SYNTHETIC_PREFIX) else read_rgb(record)

    return read


def _cache_key(records: list[ImageRecord], synthetic_key: str) -> str | None:
    """None (the cache stamps each file itself) unless synthetic images are involved;
    then the synthetic key plus the stamp of every real file (the cache adds the paths)."""
    if not synthetic_key:
        return None
    h = hashlib.sha1(synthetic_key.encode())
    for r in records:
        if not r.path.startswith(SYNTHETIC_PREFIX):
            h.update(file_stamp(r.path).encode())
    return h.hexdigest()


def _labelled_for_task(records: list[ImageRecord], cfg: TrainConfig) -> list[ImageRecord]:
    """The training records that have a label for ``cfg.task``; ValueError when none has."""
    known = task_labels(records, cfg.task, orientation_bins=cfg.orientation_bins).known
    kept = [record for record, has_label in zip(records, known) if has_label]
    if not kept:
        raise ValueError(f"none of the {len(records)} training images has a label for task "
                         f"{cfg.task!r} (camera: a camid >= 0; orientation: attrs['orientation'])")
    return kept


def prepare_data(cfg: TrainConfig, *, progress: bool = True) -> PreparedData:
    """Load the dataset and build (or reopen) the uint8 caches of its three splits at
    ``cfg.image_size``; the training cache only of the records labelled for ``cfg.task``."""
    dataset, render, synthetic_key = build_dataset(cfg)
    size = tuple(int(v) for v in cfg.image_size)
    if len(size) != 2 or min(size) < 8:
        raise ValueError(f"image_size must be two numbers H W, each >= 8; got {cfg.image_size}")
    reader = _reader(render)
    train = _labelled_for_task(dataset.train, cfg)
    caches = {}
    for split in ("train", "query", "gallery"):
        records = train if split == "train" else getattr(dataset, split)
        caches[split] = ImageCache.build(records, size, cache_dir=cfg.cache_dir or None,
                                         read_image=reader, key=_cache_key(records, synthetic_key),
                                         progress=progress, interpolation=cfg.interpolation)
    return PreparedData(dataset, caches["train"], caches["query"], caches["gallery"],
                        left_out=len(dataset.train) - len(train))


def evaluation_data(cfg: TrainConfig, root: str | None = None, layout: str | None = None
                    ) -> tuple[ReidDataset, Callable | None, Callable[[list[ImageRecord]], str | None]]:
    """The dataset to extract test features from: ``root`` (layout detected unless given)
    or else the run's own data, with the image reader and the cache key function
    :func:`reid_fast.testtime.extraction.extract_dataset` needs."""
    if root:
        from ..data.formats import load_dataset

        return load_dataset(root, None if layout in (None, "auto") else layout), None, lambda _: None
    dataset, render, synthetic_key = build_dataset(cfg)
    return dataset, _reader(render), lambda records: _cache_key(records, synthetic_key)
