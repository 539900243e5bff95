"""One folder per identity: loader.

Layouts::

    root/<identity>/*.jpg                          training images only
    root/train|query|gallery/<identity>/*.jpg      splits (train optional; query and
                                                   gallery together)

Identities: when every identity folder name (over all splits) is an integer, it is the
pid (``-1`` marks junk); otherwise pids 0, 1, ... are assigned to the names in sorted
order, so a name has the same pid in every split. Cameras come from ``c<digits>`` in the
file name (a ``c`` not preceded by a letter, e.g. ``img_c3_01.jpg`` -> 3), else -1.
Images are in sorted identity, then file-name order. Evaluation uses the same-camera junk
rule (unknown cameras never match).
"""

from __future__ import annotations

import os
import re

from ..records import UNKNOWN, ImageRecord, ReidDataset
from ._files import image_names, require_dir

SPLIT_FOLDERS = ("train", "query", "gallery")

_CAMERA = re.compile(r"(?<![A-Za-z])c(\d+)")
_INTEGER = re.compile(r"-?\d+")


def _identity_folders(folder: str) -> list[str]:
    with os.scandir(folder) as entries:
        return sorted(e.name for e in entries if e.is_dir())


def camera_from_name(name: str) -> int:
    """The camera number ``c<digits>`` in a file name, -1 when there is none."""
    match = _CAMERA.search(name)
    return int(match.group(1)) if match else UNKNOWN


def is_split_root(root: str | os.PathLike) -> bool:
    """True when ``root`` holds train/, query/ or gallery/ folders."""
    return any(os.path.isdir(os.path.join(root, split)) for split in SPLIT_FOLDERS)


def load_folder(root: str | os.PathLike) -> ReidDataset:
    """Load a one-folder-per-identity dataset (see the module docstring)."""
    root = require_dir(os.fspath(root))
    if is_split_root(root):
        present = {s: os.path.isdir(os.path.join(root, s)) for s in SPLIT_FOLDERS}
        if present["query"] != present["gallery"]:
            have, lack = ("query", "gallery") if present["query"] else ("gallery", "query")
            raise FileNotFoundError(f"{root} has a {have}/ folder but no {lack}/ folder: both are needed")
        split_dirs = {s: os.path.join(root, s) for s in SPLIT_FOLDERS if present[s]}
    else:
        split_dirs = {"train": root}
    identities = {split: _identity_folders(folder) for split, folder in split_dirs.items()}
    names = sorted({name for folder_names in identities.values() for name in folder_names})
    if all(_INTEGER.fullmatch(name) for name in names):
        pid_of = {name: int(name) for name in names}
    else:
        pid_of = {name: i for i, name in enumerate(names)}
    splits: dict[str, list[ImageRecord]] = {s: [] for s in SPLIT_FOLDERS}
    for split, folder in split_dirs.items():
        for identity in identities[split]:
            identity_dir = os.path.join(folder, identity)
            for name in image_names(identity_dir):
                record = ImageRecord(
                    path=os.path.join(identity_dir, name), pid=pid_of[identity], camid=camera_from_name(name)
                )
                splits[split].append(record)
    return ReidDataset(
        name=os.path.basename(root) or "folder",
        train=splits["train"],
        query=splits["query"],
        gallery=splits["gallery"],
        root=root,
        same_camera_junk=True,
    )
