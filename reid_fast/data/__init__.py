"""Datasets, the built-in synthetic vehicles, the uint8 image cache, samplers and the
batch loader.

- records: :class:`ImageRecord`, :class:`ReidDataset` (what every loader returns);
- :mod:`.formats`: AICity 2020 / CityFlow-ReID (+ simulated), VeRi-776, VehicleID,
  Market-1501, one folder per identity, CSV manifests, VehicleNet-style merges;
- :mod:`.synthetic`: procedurally rendered, seeded vehicles (the default training data);
- :mod:`.cache`: decode-and-resize once into a memory-mapped uint8 array;
- :mod:`.samplers` and :mod:`.loader`: shuffle / class-balanced / PK batches, DDP-aware,
  gathered from the cache onto the model's device;
- :mod:`.tasks`: what a model is trained to classify (identity, camera, orientation) and
  each task's labels and classes.
"""

from __future__ import annotations

from .cache import ImageCache
from .formats import (
    LAYOUTS,
    detect_layout,
    load_dataset,
    load_datasets,
    merge_datasets,
    register_layout,
)
from .loader import BatchLoader
from .records import UNKNOWN, ImageRecord, ReidDataset, count_ids, relabel
from .samplers import (
    SAMPLER_NAMES,
    ClassBalancedSampler,
    PKSampler,
    ShuffleSampler,
    build_sampler,
)
from .synthetic import SyntheticConfig, SyntheticVehicles
from .tasks import TASKS, TaskLabels, mirror_keeps_class, orientation_bin, task_labels

__all__ = [
    "LAYOUTS",
    "SAMPLER_NAMES",
    "TASKS",
    "UNKNOWN",
    "BatchLoader",
    "ClassBalancedSampler",
    "ImageCache",
    "ImageRecord",
    "PKSampler",
    "ReidDataset",
    "ShuffleSampler",
    "SyntheticConfig",
    "SyntheticVehicles",
    "TaskLabels",
    "build_sampler",
    "count_ids",
    "detect_layout",
    "register_layout",
    "load_dataset",
    "load_datasets",
    "merge_datasets",
    "mirror_keeps_class",
    "orientation_bin",
    "relabel",
    "task_labels",
]
