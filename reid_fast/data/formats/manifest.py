"""CSV manifest for custom data: loader.

One CSV with the header ``path,id,camera[,track][,split]`` (other columns are ignored),
or a folder holding ``train.csv`` and/or ``query.csv`` + ``gallery.csv`` (same columns;
a ``split`` column there, when present, must name the file's own split).

- ``path``: image path, relative to the CSV's folder or absolute; the file must exist.
- ``id``: integer identity (-1 = junk / unknown).
- ``camera``, ``track``: integers; empty or absent means -1.
- ``split``: ``train``, ``query`` or ``gallery``; empty or absent means ``train``.

Records keep the file order. ``labelled`` is False when query and gallery are non-empty
and every id in them is -1. Evaluation uses the same-camera junk rule (unknown cameras
never match).
"""

from __future__ import annotations

import csv
import os

from ..records import UNKNOWN, ImageRecord, ReidDataset
from ._files import require_file

REQUIRED_COLUMNS = ("path", "id", "camera")
SPLITS = ("train", "query", "gallery")


def _integer(row: dict[str, str], column: str, where: str, optional: bool) -> int:
    text = (row.get(column) or "").strip()
    if not text and optional:
        return UNKNOWN
    try:
        return int(text)
    except ValueError:
        raise ValueError(f"{where}: column {column!r} must be an integer, got {text!r}") from None


def read_manifest(path: str, split: str | None = None) -> dict[str, list[ImageRecord]]:
    """Records per split of one manifest file. With ``split`` given, every row belongs to
    it (a ``split`` column must agree); otherwise the ``split`` column decides."""
    path = require_file(path)
    base = os.path.dirname(path)
    splits: dict[str, list[ImageRecord]] = {s: [] for s in SPLITS}
    with open(path, newline="", encoding="utf-8-sig") as f:
        reader = csv.DictReader(f)
        header = [c.strip() for c in reader.fieldnames or []]
        missing = [c for c in REQUIRED_COLUMNS if c not in header]
        if missing:
            raise ValueError(
                f"{path}: missing column(s) {missing}; the header is {header}, "
                "expected path,id,camera[,track][,split]"
            )
        reader.fieldnames = header
        for row in reader:
            where = f"{path}, line {reader.line_num}"
            row_split = (row.get("split") or "").strip() or (split or "train")
            if row_split not in SPLITS:
                raise ValueError(f"{where}: split must be one of {SPLITS}, got {row_split!r}")
            if split is not None and row_split != split:
                raise ValueError(f"{where}: split {row_split!r} in the {split} manifest")
            image = (row.get("path") or "").strip()
            image_path = os.path.normpath(os.path.join(base, image))
            if not image or not os.path.isfile(image_path):
                raise FileNotFoundError(f"{where}: image {image!r} not found (looked at {image_path})")
            splits[row_split].append(
                ImageRecord(
                    path=image_path,
                    pid=_integer(row, "id", where, optional=False),
                    camid=_integer(row, "camera", where, optional=True),
                    trackid=_integer(row, "track", where, optional=True),
                )
            )
    return splits


def load_manifest(path_or_root: str | os.PathLike) -> ReidDataset:
    """Load a CSV manifest file, or a folder of train.csv / query.csv / gallery.csv."""
    location = os.path.abspath(os.fspath(path_or_root))
    if os.path.isdir(location):
        files = {s: os.path.join(location, f"{s}.csv") for s in SPLITS}
        present = {s: os.path.isfile(p) for s, p in files.items()}
        if not any(present.values()) or present["query"] != present["gallery"]:
            found = [f"{s}.csv" for s in SPLITS if present[s]] or "none of them"
            raise FileNotFoundError(
                f"{location} must hold train.csv and/or query.csv with gallery.csv; found {found}"
            )
        splits = {s: read_manifest(files[s], s)[s] if present[s] else [] for s in SPLITS}
        name, root = os.path.basename(location), location
    else:
        splits = read_manifest(require_file(location))
        name, root = os.path.splitext(os.path.basename(location))[0], os.path.dirname(location)
    evaluated = splits["query"] + splits["gallery"]
    return ReidDataset(
        name=name,
        train=splits["train"],
        query=splits["query"],
        gallery=splits["gallery"],
        root=root,
        same_camera_junk=True,
        labelled=not (splits["query"] and splits["gallery"] and all(r.pid == UNKNOWN for r in evaluated)),
    )
