"""Camera and orientation models at test time (docs/design.md section 4).

The AICity 2020 winners did not read the test set's cameras (the contest withholds them):
they trained a camera model and an orientation model (``reid-fast train --task camera``
/ ``--task orientation``) and used, for every query and gallery image,

- the model's **embedding**: camera embeddings are clustered
  (:func:`reid_fast.post.camera_clusters`), orientation embeddings give the direction
  similarity (:func:`reid_fast.post.direction_similarity`);
- the model's **prediction**: a camera id where the classifier is confident
  (:func:`reid_fast.post.predict_cameras`), -1 elsewhere.

:func:`extract_attributes` computes both from one or several runs of one task; the test
labels are read only to report the models' accuracy (:attr:`AttributeFeatures.accuracy`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable, Sequence

import torch

from ..augment import EvalTransform
from ..data.cache import ImageCache
from ..data.records import ImageRecord, ReidDataset
from ..data.tasks import task_labels
from ..eval.classification import ClassificationMetrics, classification_metrics
from ..eval.embeddings import extract_features
from ..losses import parse_loss_spec
from ..post import predict_cameras
from .extraction import check_scales, scaled_size
from .run_model import TrainedRun

ATTRIBUTE_TASKS = ("camera", "orientation")


@dataclass
class AttributeSplit:
    """One split's outputs of the attribute models.

    Attributes:
        embeddings: (n, E) float32 L2-normalised embeddings (several models: each model's
            normalised embedding divided by sqrt(models), concatenated, as the seed
            concatenates its four camera models).
        probabilities: (n, C) float32 class probabilities (softmax), the models' mean.
    """

    embeddings: torch.Tensor
    probabilities: torch.Tensor


@dataclass
class AttributeFeatures:
    """What camera or orientation models say about the query and gallery images.

    Attributes:
        task: "camera" or "orientation".
        classes: the value of each probability column (camera ids, orientation bins).
        query, gallery: :class:`AttributeSplit` of each split, on one device.
        accuracy: the top-1 accuracy on the images whose label is known (evaluation
            only; no count when the test set is unlabelled).
        runs: the run folders.
    """

    task: str
    classes: list[int]
    query: AttributeSplit
    gallery: AttributeSplit
    accuracy: ClassificationMetrics
    runs: list[str]

    def predicted_cameras(self, threshold: float) -> tuple[torch.Tensor, torch.Tensor]:
        """(q,) and (g,) int64 predicted cameras, -1 where the largest probability is below
        ``threshold`` (:func:`reid_fast.post.predict_cameras`)."""
        if self.task != "camera":
            raise ValueError(f"predicted cameras need camera models, these are {self.task} models")
        return tuple(predict_cameras(split.probabilities, self.classes, threshold)[0]
                     for split in (self.query, self.gallery))


def check_attribute_runs(runs: Sequence[TrainedRun], task: str, name: str = "runs"
                         ) -> tuple[list[int], int]:
    """The classes and orientation bins shared by ``runs``, which must all be ``task``
    runs ("camera" or "orientation") whose classifier was trained (a ``ce`` loss term) and
    whose classes agree; ValueError naming ``name`` (e.g. the command-line option)
    otherwise."""
    if task not in ATTRIBUTE_TASKS:
        raise ValueError(f"task must be one of {ATTRIBUTE_TASKS}, got {task!r}")
    if not runs:
        raise ValueError(f"{name} must hold at least one {task} run, got none")
    first = runs[0]
    for run in runs:
        if run.task != task:
            raise ValueError(f"{name}: {run.run_dir} was trained for the {run.task!r} task; "
                             f"{task} models come from reid-fast train --task {task}")
        if "ce" not in parse_loss_spec(run.config.loss):
            raise ValueError(f"{name}: {run.run_dir}: loss {run.config.loss!r} has no 'ce' term, "
                             "so its classifier was not trained and cannot predict")
        if (run.classes, run.config.orientation_bins) != (first.classes,
                                                           first.config.orientation_bins):
            raise ValueError(f"{name}: {run.run_dir} (classes {run.classes}) does not match "
                             f"{first.run_dir} (classes {first.classes}): fused {task} models "
                             "need the same classes")
    return list(first.classes), int(first.config.orientation_bins)


@torch.no_grad()
def _model_outputs(run: TrainedRun, records: Sequence[ImageRecord], scales: tuple[float, ...], *,
                   device: torch.device, batch_size: int, reader: Callable | None,
                   cache_key: str | None, cache_dir: str | None, progress: bool,
                   desc: str) -> tuple[torch.Tensor, torch.Tensor]:
    """(n, E) L2-normalised embeddings and (n, C) logits of one run: the raw eval-mode
    embeddings summed over the scales, no flip (a mirror turns a left side into a right
    side, and the seed extracts its camera features without one)."""
    total = None
    for scale in scales:
        size = scaled_size(run.image_size, scale)
        cache = ImageCache.build(records, size, cache_dir=cache_dir, read_image=reader,
                                 key=cache_key, progress=progress,
                                 interpolation=run.config.interpolation)
        if cache.skipped:
            path, reason = cache.skipped[0]
            raise ValueError(f"cannot read test image {path}: {reason} (every query and gallery "
                             "image must be readable to keep the rows aligned)")
        raw = extract_features(run.model, cache,
                               EvalTransform(size, interpolation=run.config.interpolation),
                               device=device,
                               batch_size=batch_size, flip=False, progress=progress,
                               desc=f"{desc} x{scale:g}", normalize=False)
        total = raw if total is None else total + raw
    logits = run.model.class_logits(total / len(scales)).float()
    return torch.nn.functional.normalize(total, dim=1), logits


def extract_attributes(runs: Sequence[TrainedRun], task: str, dataset: ReidDataset, *,
                       scales: Sequence[float] = (1.0,), device: torch.device | str = "cpu",
                       batch_size: int = 128, reader: Callable | None = None,
                       cache_key: Callable[[Sequence[ImageRecord]], str | None] | None = None,
                       cache_dir: str | None = None, progress: bool = True) -> AttributeFeatures:
    """Embeddings and class probabilities of the query and gallery images of ``dataset``
    from camera (or orientation) runs, with their top-1 accuracy where the test labels are
    known.

    Args:
        runs: one or more :class:`TrainedRun` of ``task`` with the same classes, models on
            ``device`` (:func:`check_attribute_runs`).
        task: "camera" or "orientation".
        dataset: its query and gallery records are used, in order (every image must be
            readable: ValueError naming the first that is not).
        scales: test-time scales of each run's training size (summed, as the seed sums
            its scales).
        device, batch_size, reader, cache_key, cache_dir, progress: as
            :func:`reid_fast.testtime.extraction.extract_dataset`.

    Returns:
        :class:`AttributeFeatures` on ``device``.
    """
    classes, bins = check_attribute_runs(runs, task)
    scales = check_scales(scales)
    device = torch.device(device)
    splits, accuracy = {}, []
    for split in ("query", "gallery"):
        records = getattr(dataset, split)
        if not records:
            raise ValueError(f"dataset {dataset.name!r} has no {split} images")
        key = cache_key(records) if cache_key else None
        embeddings, probabilities = [], 0.0
        for number, run in enumerate(runs, start=1):
            emb, logits = _model_outputs(run, records, scales, device=device,
                                         batch_size=batch_size, reader=reader, cache_key=key,
                                         cache_dir=cache_dir, progress=progress,
                                         desc=f"{task} model {number} {split}")
            embeddings.append(emb / math.sqrt(len(runs)))
            probabilities = probabilities + torch.softmax(logits, dim=1) / len(runs)
        labels = task_labels(records, task, orientation_bins=bins, classes=classes).labels
        accuracy.append(classification_metrics(probabilities, labels))
        splits[split] = AttributeSplit(torch.cat(embeddings, dim=1), probabilities)
    return AttributeFeatures(task, classes, splits["query"], splits["gallery"],
                             ClassificationMetrics.total(accuracy),
                             [str(run.run_dir) for run in runs])
