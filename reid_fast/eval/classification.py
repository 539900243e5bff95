"""Classification accuracy of a model's own classifier (camera and orientation models),
shared by training and test time."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Sequence

import numpy as np
import torch

from ..data.cache import ImageCache
from ..models import ReidModel
from .embeddings import extract_features


@dataclass(frozen=True)
class ClassificationMetrics:
    """Top-1 accuracy over the images whose class is known.

    ``correct`` of ``count`` images classified right, among ``num_classes`` classes.
    """

    correct: int
    count: int
    num_classes: int

    @property
    def top1(self) -> float | None:
        """correct / count; None when no image had a known class."""
        return self.correct / self.count if self.count else None

    @property
    def chance(self) -> float:
        """1 / num_classes: the accuracy of a uniform guess."""
        return 1.0 / self.num_classes

    def as_dict(self) -> dict:
        return {"top1": self.top1, "correct": self.correct, "count": self.count,
                "num_classes": self.num_classes, "chance": self.chance}

    def summary(self) -> str:
        accuracy = "n/a" if self.top1 is None else f"{100 * self.top1:.1f}%"
        return (f"top-1 {accuracy} of {self.count} images ({self.num_classes} classes, "
                f"chance {100 * self.chance:.1f}%)")

    @classmethod
    def total(cls, parts: Sequence[ClassificationMetrics]) -> ClassificationMetrics:
        """The metrics of the union of ``parts`` (e.g. query and gallery), which must share
        their number of classes."""
        if not parts:
            raise ValueError("parts must hold at least one ClassificationMetrics, got none")
        classes = {part.num_classes for part in parts}
        if len(classes) != 1:
            raise ValueError(f"parts must share num_classes, got {sorted(classes)}")
        return cls(sum(p.correct for p in parts), sum(p.count for p in parts), classes.pop())


def classification_metrics(logits: torch.Tensor, labels: np.ndarray | torch.Tensor
                           ) -> ClassificationMetrics:
    """Top-1 accuracy of (N, C) ``logits`` (any float dtype and device) against (N,)
    integer ``labels`` in -1..C-1; label -1 (class unknown) is not counted. An image is
    right when its label's logit is the largest (a tie counts as the class
    ``torch.argmax`` picks)."""
    if logits.dim() != 2 or logits.shape[1] < 1:
        raise ValueError(f"logits must be (N, C) with C >= 1, got shape {tuple(logits.shape)}")
    target = torch.as_tensor(labels)
    if target.dim() != 1 or target.dtype.is_floating_point or target.dtype == torch.bool:
        raise TypeError(f"labels must be a 1-d integer array, got shape {tuple(target.shape)} "
                        f"dtype {target.dtype}")
    if target.shape[0] != logits.shape[0]:
        raise ValueError(f"labels has {target.shape[0]} entries but logits has {logits.shape[0]} rows")
    num_classes = logits.shape[1]
    if target.numel() and not (-1 <= int(target.min()) and int(target.max()) < num_classes):
        bad = target[(target < -1) | (target >= num_classes)][0]
        raise ValueError(f"labels must be in -1..{num_classes - 1}, got {int(bad)}")
    target = target.to(logits.device)
    known = target >= 0
    correct = (logits.argmax(dim=1) == target) & known
    return ClassificationMetrics(int(correct.sum()), int(known.sum()), num_classes)


@torch.no_grad()
def evaluate_classification(model: ReidModel, cache: ImageCache, labels: np.ndarray,
                            transform: Callable[..., torch.Tensor], *, device: torch.device,
                            batch_size: int = 256, flip: bool = True,
                            autocast_dtype: torch.dtype | None = None,
                            channels_last: bool = False, progress: bool = False,
                            desc: str = "classify") -> ClassificationMetrics:
    """Top-1 accuracy of a :class:`~reid_fast.models.ReidModel`'s classifier on the cached
    images: ``labels`` (N,) int, one class index per cache image, -1 where unknown (e.g.
    :func:`reid_fast.data.tasks.task_labels` with the model's classes). The logits are
    :meth:`~reid_fast.models.ReidModel.class_logits` of the raw eval-mode embeddings (the
    mean over the image and its mirror with ``flip``), as
    :func:`~reid_fast.eval.embeddings.extract_features` takes them with
    ``normalize=False`` (same arguments). Nothing is extracted when no label is known.
    """
    labels = np.asarray(labels)
    if labels.shape != (len(cache),):
        raise ValueError(f"labels must have one entry per cache image ({len(cache)}), got shape "
                         f"{labels.shape}")
    if not (labels >= 0).any():
        no_images = torch.zeros(0, model.embedding_dim, device=device)
        return ClassificationMetrics(0, 0, model.class_logits(no_images).shape[1])
    embeddings = extract_features(model, cache, transform, device=device, batch_size=batch_size,
                                  flip=flip, autocast_dtype=autocast_dtype,
                                  channels_last=channels_last, progress=progress, desc=desc,
                                  normalize=False)
    return classification_metrics(model.class_logits(embeddings), labels)
