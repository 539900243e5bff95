"""The logged scalars as a TensorBoard log (``reid-fast train --tensorboard``).

TensorBoard is an optional extra (``pip install 'reid_fast[tensorboard]'``): without it
:class:`ScalarLog` raises ``ModuleNotFoundError`` with :data:`TENSORBOARD_MISSING`, the
one line ``reid-fast train`` prints.
"""

from __future__ import annotations

import importlib
import os
from pathlib import Path
from typing import Any

TENSORBOARD_MISSING = ("--tensorboard needs the tensorboard package (torch.utils.tensorboard "
                       "cannot be imported): pip install 'reid_fast[tensorboard]'")


def tensorboard_available() -> bool:
    """Whether ``torch.utils.tensorboard`` imports (it needs the tensorboard package)."""
    try:
        importlib.import_module("torch.utils.tensorboard")
    except ImportError:
        return False
    return True


def flat_scalars(record: dict[str, Any], prefix: str = "") -> dict[str, float]:
    """The numbers of a metrics record, nested keys joined by ``/`` after ``prefix``
    (``parts/ce``, ``plain/mAP``); strings, booleans and None are left out."""
    out: dict[str, float] = {}
    for key, value in record.items():
        if isinstance(value, dict):
            out.update(flat_scalars(value, f"{prefix}{key}/"))
        elif isinstance(value, (int, float)) and not isinstance(value, bool):
            out[f"{prefix}{key}"] = float(value)
    return out


class ScalarLog:
    """Writes the scalars of each metrics record at its ``step`` into
    ``run_dir/tensorboard``: training records under ``train/`` (``train/loss``,
    ``train/parts/ce``, ``train/lr``, ``train/lr_backbone``, ``train/images_per_s``),
    evaluation records under ``eval/`` (``eval/plain/mAP``, ``eval/rerank/rank1``,
    ``eval/classification/top1``, ...).

    Raises:
        ModuleNotFoundError: tensorboard is not installed (:data:`TENSORBOARD_MISSING`).
    """

    def __init__(self, run_dir: str | os.PathLike) -> None:
        try:
            from torch.utils.tensorboard import SummaryWriter
        except ImportError:
            raise ModuleNotFoundError(TENSORBOARD_MISSING) from None
        self.writer = SummaryWriter(log_dir=str(Path(run_dir) / "tensorboard"))

    def write(self, record: dict[str, Any]) -> None:
        """Add a metrics record's scalars (records without a ``step`` are skipped)."""
        step = record.get("step")
        if step is None:
            return
        group = "eval/" if "eval" in record else "train/"
        values = {k: v for k, v in record.items() if k not in ("step", "epoch")}  # the x axis
        for name, value in flat_scalars(values, group).items():
            self.writer.add_scalar(name, value, step)

    def close(self) -> None:
        self.writer.close()
