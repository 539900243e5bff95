"""Checkpoints written atomically and read back with ``weights_only=True``."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import torch

from ..atomic import atomic_write


def save_atomic(obj: Any, path: str | os.PathLike) -> None:
    """``torch.save`` to ``path`` through :func:`reid_fast.atomic.atomic_write`.

    A reader (or a resume after a crash) sees the old file or the new one, never half of
    one.
    """
    atomic_write(path, lambda f: torch.save(obj, f))


def load_checkpoint(path: str | os.PathLike, map_location: str | torch.device = "cpu") -> dict:
    """Load a checkpoint written by :func:`save_atomic` (tensors and plain containers only)."""
    path = Path(path)
    if path.is_dir():
        path = path / "checkpoint.pt"
    if not path.is_file():
        raise FileNotFoundError(f"checkpoint not found: {path}")
    return torch.load(path, map_location=map_location, weights_only=True)


def model_file(run: str | os.PathLike, what: str) -> Path:
    """The ``model.pt`` of a finished run: ``run`` is its folder or the file itself;
    FileNotFoundError starting with ``what`` (e.g. the option that named it) otherwise."""
    path = Path(run)
    if path.is_dir():
        path = path / "model.pt"
    if not path.is_file():
        raise FileNotFoundError(f"{what}: no trained model at {path} (pass a finished run "
                                "folder of reid-fast train; it holds model.pt)")
    return path
