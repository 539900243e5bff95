"""Open the trained model of a run folder (``model.pt`` written by the trainer)."""

from __future__ import annotations

import os
from dataclasses import dataclass, fields
from pathlib import Path

import torch

from ..models import ReidModel
from ..registry import import_plugins
from ..runs.checkpoint import load_checkpoint, model_file
from ..runs.config import TrainConfig
from ..runs.model import build_run_model


@dataclass
class TrainedRun:
    """A run's model (eval mode, on ``device``), its resolved configuration and folder, the
    task it was trained for (:data:`reid_fast.data.tasks.TASKS`) and the value of each of
    its classifier's classes (pids, camids or orientation bins; None for a model.pt
    written before tasks existed, an identity model)."""

    model: ReidModel
    config: TrainConfig
    run_dir: Path
    task: str
    classes: list[int] | None

    @property
    def image_size(self) -> tuple[int, int]:
        """The (H, W) the model was trained at."""
        height, width = (int(v) for v in self.config.image_size)
        return height, width


def config_from_dict(sections: dict) -> TrainConfig:
    """A :class:`TrainConfig` from its sectioned :meth:`TrainConfig.to_dict` form; keys
    this version does not know are an error that names them."""
    flat = {k: v for section in sections.values() for k, v in section.items()}
    known = {f.name for f in fields(TrainConfig)}
    unknown = sorted(set(flat) - known)
    if unknown:
        raise ValueError(f"run configuration has unknown keys {unknown}; written by another "
                         "reid_fast version?")
    return TrainConfig(**flat)


def load_run(run: str | os.PathLike, device: str | torch.device = "cpu") -> TrainedRun:
    """Rebuild the model of a finished run from ``run/model.pt`` (or a ``model.pt`` path),
    loaded with ``weights_only=True`` and its checksum verified
    (:func:`~reid_fast.runs.checkpoint.load_checkpoint`), in eval mode on ``device``; the
    run's ``plugins`` are imported first."""
    path = model_file(run, "load_run")
    saved = load_checkpoint(path, what="load_run")
    cfg = config_from_dict(saved["config"])
    import_plugins(cfg.plugins)  # the run's own backbone may come from a plugin
    model = build_run_model(cfg, saved["num_classes"])
    model.load_state_dict(saved["model"])
    model.to(torch.device(device)).eval()
    return TrainedRun(model=model, config=cfg, run_dir=path.parent,
                      task=saved.get("task", "identity"), classes=saved.get("classes"))
