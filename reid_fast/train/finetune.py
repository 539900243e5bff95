"""Start a run from another run's model (``reid-fast train --finetune RUN``): the AICity
2020 winner's stage II, which keeps the backbone and the class block's bottleneck
(Linear + BatchNorm) of a stage-I model and trains a new classifier for its own classes.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn

from ..runs.checkpoint import load_checkpoint, model_file

CLASSIFIER_PREFIX = "head.classifier."
"""The state-dict keys of the head's classifier: the tensors a fine-tuned run re-creates."""


@dataclass(frozen=True)
class FinetuneReport:
    """What :func:`load_finetune` did: the model file read, the state-dict keys copied
    from it and those left as built (the new classifier's)."""

    source: Path
    carried: tuple[str, ...]
    reinitialised: tuple[str, ...]

    def summary(self) -> str:
        """One line for the log."""
        return (f"finetune: {len(self.carried)} tensors from {self.source}; new classifier: "
                f"{', '.join(self.reinitialised) or 'none'}")


def load_finetune(model: nn.Module, run: str | os.PathLike) -> FinetuneReport:
    """Copy into ``model`` every tensor of a finished run's model except the classifier's.

    Args:
        model: a freshly built :class:`reid_fast.models.ReidModel` of the new run (its
            classifier, sized for the new classes, stays as initialised).
        run: the earlier run's folder, or its ``model.pt``.

    Raises:
        FileNotFoundError: no ``model.pt`` there.
        ValueError: its ``model.pt`` is not readable or fails its checksum
            (:func:`~reid_fast.runs.checkpoint.load_checkpoint`); the two models differ outside the classifier (another ``--arch``,
            ``--head``, ``--embedding-dim`` ...): a missing, extra or reshaped tensor.
    """
    path = model_file(run, f"--finetune {run}")
    saved = load_checkpoint(path, what=f"--finetune {run}")["model"]
    own = model.state_dict()
    keep = [key for key in own if not key.startswith(CLASSIFIER_PREFIX)]
    fresh = tuple(key for key in own if key.startswith(CLASSIFIER_PREFIX))
    missing = [key for key in keep if key not in saved]
    extra = [key for key in saved if key not in own and not key.startswith(CLASSIFIER_PREFIX)]
    reshaped = [key for key in keep if key in saved and saved[key].shape != own[key].shape]
    if missing or extra or reshaped:
        raise ValueError(
            f"--finetune {run}: its model differs from this run's outside the classifier "
            f"(missing {missing[:3]}, extra {extra[:3]}, reshaped {reshaped[:3]}): train "
            "with the same --arch, --head, --embedding-dim, --pool and --ibn")
    with torch.no_grad():
        for key in keep:
            own[key].copy_(saved[key])
    return FinetuneReport(path, tuple(keep), fresh)
