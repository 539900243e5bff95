"""Several datasets in one label space (VehicleNet): merge."""

from __future__ import annotations

import dataclasses
from typing import Sequence

from ..records import UNKNOWN, ImageRecord, ReidDataset


def _top(records: Sequence[ImageRecord], field: str) -> int:
    """The largest non-negative value of ``field`` in ``records``, -1 when there is none."""
    return max((getattr(r, field) for r in records if getattr(r, field) >= 0), default=UNKNOWN)


def _shifted(records: Sequence[ImageRecord], offsets: dict[str, int]) -> list[ImageRecord]:
    """Records with ``offsets[field]`` added to every non-negative pid / camid / trackid."""
    shifted = []
    for record in records:
        values = {f: getattr(record, f) for f in offsets}
        new = {f: v + offsets[f] if v >= 0 else v for f, v in values.items()}
        shifted.append(dataclasses.replace(record, **new))
    return shifted


def merge_datasets(
    datasets: Sequence[ReidDataset], eval_index: int = 0, name: str | None = None
) -> ReidDataset:
    """One dataset whose training split is the training splits of all ``datasets``.

    Identities, cameras and tracks of different datasets never collide: the evaluation
    dataset ``datasets[eval_index]`` keeps its own numbers in every split; each other
    dataset, in order, has its non-negative pids, camids and trackids shifted past the
    largest value used so far (over all splits of the evaluation dataset and the training
    splits of the datasets placed before it). Junk and unknown values (-1) stay -1.
    Query, gallery, root, ``same_camera_junk`` and ``labelled`` come from the evaluation
    dataset; ``name`` defaults to the names joined by ``+``.
    """
    if not datasets:
        raise ValueError("datasets must hold at least one dataset, got an empty sequence")
    if not -len(datasets) <= eval_index < len(datasets):
        raise ValueError(f"eval_index must index datasets (0..{len(datasets) - 1}), got {eval_index}")
    eval_index %= len(datasets)
    evaluated = datasets[eval_index]
    fields = ("pid", "camid", "trackid")
    used = evaluated.train + evaluated.query + evaluated.gallery
    next_free = {f: _top(used, f) + 1 for f in fields}
    parts: list[list[ImageRecord]] = []
    for i, dataset in enumerate(datasets):
        if i == eval_index:
            parts.append(list(dataset.train))
            continue
        shifted = _shifted(dataset.train, next_free)
        next_free = {f: max(next_free[f], _top(shifted, f) + 1) for f in fields}
        parts.append(shifted)
    return ReidDataset(
        name=name if name is not None else "+".join(d.name for d in datasets),
        train=[r for part in parts for r in part],
        query=list(evaluated.query),
        gallery=list(evaluated.gallery),
        root=evaluated.root,
        same_camera_junk=evaluated.same_camera_junk,
        labelled=evaluated.labelled,
    )
