"""Training tasks: what a model learns to classify, and the one home of each task's classes.

- ``identity``: the vehicle (``record.pid``), the re-ID embedding's task.
- ``camera``: the camera that took the image (``record.camid``), as the AICity 2020
  winners trained their camera model (its features serve the camera-aware
  post-processing).
- ``orientation``: the vehicle's yaw relative to the camera (``record.attrs
  ["orientation"]``, whole degrees in the VehicleX convention: 0 front, 90 left side,
  180 rear, 270 right side) cut into bins (:func:`orientation_bin`; 36 bins of 10 degrees
  by default, as VOC-ReID does).

A record with no label for a task (pid -1, camid -1, no orientation attr) gets label -1;
training leaves it out.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np

from .. import validation
from .records import UNKNOWN, ImageRecord, relabel

TASKS = ("identity", "camera", "orientation")
DEFAULT_ORIENTATION_BINS = 36
MAX_ORIENTATION_BINS = 360


def mirror_keeps_class(task: str) -> bool:
    """Whether a horizontally mirrored image keeps its class for ``task``: True for
    identities and cameras; False for orientation (a mirror turns a left side, 90 degrees,
    into a right side, 270), so orientation training and evaluation use no flips."""
    if task not in TASKS:
        raise ValueError(f"task must be one of {TASKS}, got {task!r}")
    return task != "orientation"


def orientation_bin(degrees: float, bins: int = DEFAULT_ORIENTATION_BINS) -> int:
    """The bin of an orientation: ``floor((degrees mod 360) / (360 / bins))``, an int in
    0..bins-1. Bin 0 is [0, 360/bins) (with 36 bins: 0-9 degrees -> 0, 10 -> 1, 359 -> 35,
    360 -> 0, -1 -> 35). ``bins`` need not divide 360."""
    degrees = validation.real("degrees", degrees)
    bins = validation.integer("bins", bins, 1, MAX_ORIENTATION_BINS)
    # % bins: a tiny negative angle gives (degrees % 360) == 360.0 in floating point.
    return int((degrees % 360.0) // (360.0 / bins)) % bins


@dataclass(frozen=True)
class TaskLabels:
    """The labels of some records for one task.

    ``labels``: (N,) int64 NumPy array, the class index (0..len(classes)-1) of each
    record, -1 where the record has no label for the task or its value is not one of
    ``classes``. ``classes``: the task's value of each class (identity: the pid, camera:
    the camid, orientation: the bin index), increasing when derived from the records.
    """

    labels: np.ndarray
    classes: list[int]

    @property
    def known(self) -> np.ndarray:
        """(N,) bool: the records that have a class."""
        return self.labels >= 0


def _values(records: Sequence[ImageRecord], task: str, orientation_bins: int) -> list[int]:
    """The task's raw value of each record (pid, camid or orientation bin), -1 unknown."""
    if task == "identity":
        return [r.pid for r in records]
    if task == "camera":
        return [r.camid for r in records]
    return [
        orientation_bin(r.attrs["orientation"], orientation_bins) if "orientation" in r.attrs else UNKNOWN
        for r in records
    ]


def _check_classes(classes: object) -> list[int]:
    """``classes`` as a list of distinct ints >= 0."""
    if isinstance(classes, (str, bytes)) or not isinstance(classes, Sequence):
        raise TypeError(f"classes must be a sequence of ints, got {type(classes).__name__} {classes!r}")
    values = [validation.integer(f"classes[{i}]", c, 0) for i, c in enumerate(classes)]
    if len(set(values)) != len(values):
        raise ValueError(f"classes must be distinct, got {list(classes)!r}")
    return values


def task_labels(
    records: Sequence[ImageRecord],
    task: str,
    *,
    orientation_bins: int = DEFAULT_ORIENTATION_BINS,
    classes: Sequence[int] | None = None,
) -> TaskLabels:
    """Class labels of ``records`` for ``task`` (one of :data:`TASKS`).

    Without ``classes`` the classes are the distinct known values of the records in
    increasing order (for identity exactly :func:`~reid_fast.data.records.relabel`'s).
    With ``classes`` (those of a trained model, e.g. to evaluate it on test records) the
    records map onto them, and values that are not among them get -1.

    Camera classes are the cameras of the training images. When datasets are merged
    (several roots, or real + synthetic data), :func:`~reid_fast.data.formats.merge_datasets`
    has already shifted the other datasets' camids past the first's, so the real and the
    simulated cameras are separate classes: the camera labels of the AICity 2020 winners
    (layumi/AICIty-reID-2020, prepare_cam2020.py: real cameras c001..c040, and each
    simulated camera its own class).

    ``orientation_bins``: see :func:`orientation_bin` (only the orientation task uses it).
    """
    task = validation.one_of("task", task, TASKS)
    orientation_bins = validation.integer("orientation_bins", orientation_bins, 1, MAX_ORIENTATION_BINS)
    if classes is None and task == "identity":
        labels, mapping = relabel(records)
        return TaskLabels(np.asarray(labels, dtype=np.int64).reshape(-1), list(mapping))
    values = _values(records, task, orientation_bins)
    if classes is None:
        classes = sorted({v for v in values if v != UNKNOWN})
    else:
        classes = _check_classes(classes)
    index = {value: i for i, value in enumerate(classes)}
    labels = np.array([index.get(v, UNKNOWN) for v in values], dtype=np.int64)
    return TaskLabels(labels, list(classes))
