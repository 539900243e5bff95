"""The records every dataset loader produces and every consumer (cache, samplers,
trainer, evaluation) reads.

An :class:`ImageRecord` names one image and its labels; a :class:`ReidDataset` holds the
train / query / gallery splits of one dataset together with the evaluation rule that
applies to it.

Conventions (shared by all loaders):
- ``pid`` is the dataset's own identity number. ``-1`` marks junk / distractor images
  (Market-1501's ``-1``; evaluation ignores them) and images whose identity is unknown
  (an unlabelled test split: :attr:`ReidDataset.labelled` is then False).
- ``camid`` is the camera number as the dataset writes it (``c002`` -> 2, ``c1`` -> 1);
  ``-1`` when the dataset does not say (VehicleID, AICity test images).
- ``trackid`` is a track number unique within the split, ``-1`` when there is none.
- ``attrs`` carries extra integer labels (VehicleX colour / type / orientation).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Mapping, Sequence

UNKNOWN = -1


@dataclass(frozen=True)
class ImageRecord:
    """One image: where it is and what is known about it.

    ``path`` is an absolute file path, or ``"synthetic://..."`` for images rendered in
    memory by :mod:`reid_fast.data.synthetic`.
    """

    path: str
    pid: int
    camid: int = UNKNOWN
    trackid: int = UNKNOWN
    attrs: Mapping[str, int] = field(default_factory=dict)

    @property
    def name(self) -> str:
        """The file name (last path component)."""
        return self.path.replace("\\", "/").rsplit("/", 1)[-1]


@dataclass
class ReidDataset:
    """Train / query / gallery splits of one dataset.

    ``same_camera_junk``: evaluation ignores gallery images of the query's identity seen
    by the query's camera (the Market-1501 / VeRi-776 rule). Unknown cameras (-1) never
    match, so AICity queries without a camera are not filtered.
    ``labelled``: query and gallery identities are known (False for a contest test set).
    """

    name: str
    train: list[ImageRecord]
    query: list[ImageRecord]
    gallery: list[ImageRecord]
    root: str | None = None
    same_camera_junk: bool = True
    labelled: bool = True

    def summary(self) -> str:
        """A few lines: images, identities and cameras per split."""
        lines = [f"dataset {self.name}" + (f" ({self.root})" if self.root else "")]
        for split in ("train", "query", "gallery"):
            records = getattr(self, split)
            lines.append(
                f"  {split:<8} {len(records):>7} images  {count_ids(records):>6} ids  "
                f"{len({r.camid for r in records if r.camid != UNKNOWN}):>4} cameras"
            )
        return "\n".join(lines)


def count_ids(records: Sequence[ImageRecord]) -> int:
    """Number of distinct identities, junk (-1) not counted."""
    return len({r.pid for r in records if r.pid != UNKNOWN})


def relabel(records: Sequence[ImageRecord]) -> tuple[list[int], dict[int, int]]:
    """Contiguous training labels 0..C-1, assigned in increasing pid order.

    Returns (labels per record, pid -> label). Junk records (pid -1) get label -1.
    """
    pids = sorted({r.pid for r in records if r.pid != UNKNOWN})
    mapping = {pid: i for i, pid in enumerate(pids)}
    return [mapping.get(r.pid, UNKNOWN) for r in records], mapping
