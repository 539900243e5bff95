"""File helpers shared by the layout loaders and writers: image listings, name lists,
track files and JPEG output."""

from __future__ import annotations

import dataclasses
import os
from typing import Iterable, Sequence

import numpy as np

from ...atomic import save_image, write_text
from ..records import ImageRecord

IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".bmp")


def is_image_name(name: str) -> bool:
    """True for file names with an image extension (case-insensitive)."""
    return name.lower().endswith(IMAGE_EXTENSIONS)


def require_dir(path: str) -> str:
    """``path`` as an absolute path; FileNotFoundError naming it when it is no folder."""
    if not os.path.isdir(path):
        raise FileNotFoundError(f"expected a folder at {path!r}, found none")
    return os.path.abspath(path)


def require_file(path: str) -> str:
    """``path`` as an absolute path; FileNotFoundError naming it when it is no file."""
    if not os.path.isfile(path):
        raise FileNotFoundError(f"expected a file at {path!r}, found none")
    return os.path.abspath(path)


def image_names(folder: str) -> list[str]:
    """Sorted names of the image files directly inside ``folder`` (other files, such as
    Thumbs.db, and sub-folders are ignored)."""
    require_dir(folder)
    with os.scandir(folder) as entries:
        return sorted(e.name for e in entries if e.is_file() and is_image_name(e.name))


def read_lines(path: str) -> list[str]:
    """The stripped, non-empty lines of a text file."""
    require_file(path)
    with open(path, encoding="utf-8-sig") as f:
        return [line.strip() for line in f if line.strip()]


def check_listed(names: Iterable[str], folder: str, listing: str) -> None:
    """FileNotFoundError naming ``listing`` and the first of ``names`` that is not an
    image file in ``folder``."""
    available = set(image_names(folder))
    for name in names:
        if name not in available:
            raise FileNotFoundError(f"{listing} lists {name!r}, which is not an image in {folder}")


def read_tracks(path: str) -> list[list[str]]:
    """Image names per line of a track file (one track per line, names separated by
    white space). Tokens that are not image names, such as the ``0002_c002`` key that
    starts each line of VeRi-776's test_track.txt, are skipped."""
    return [[t for t in line.split() if is_image_name(t)] for line in read_lines(path)]


def with_tracks(
    records: Sequence[ImageRecord], tracks: Sequence[Sequence[str]], path: str
) -> list[ImageRecord]:
    """``records`` with ``trackid`` = the index of the track (line of ``path``) that names
    them; records in no track keep trackid -1. ValueError for a name that is not one of
    the records or that two tracks claim."""
    index = {r.name: i for i, r in enumerate(records)}
    trackids = [r.trackid for r in records]
    claimed: dict[str, int] = {}
    for t, names in enumerate(tracks):
        for name in names:
            if name not in index:
                raise ValueError(f"{path}, line {t + 1}: {name!r} is not an image of this split")
            if name in claimed:
                raise ValueError(
                    f"{path}, line {t + 1}: {name!r} is already in the track on line {claimed[name] + 1}"
                )
            claimed[name] = t
            trackids[index[name]] = t
    return [dataclasses.replace(r, trackid=t) for r, t in zip(records, trackids)]


def tracks_of(records: Sequence[ImageRecord], names: Sequence[str]) -> list[list[str]]:
    """Names grouped by trackid in increasing trackid order (records with trackid -1 are
    in no group); ``names[i]`` is the file name written for ``records[i]``."""
    groups: dict[int, list[str]] = {}
    for record, name in zip(records, names):
        if record.trackid >= 0:
            groups.setdefault(record.trackid, []).append(name)
    return [groups[t] for t in sorted(groups)]


def write_lines(path: str, lines: Iterable[str]) -> None:
    """A text file with one line per item."""
    write_text(path, "".join(line + "\n" for line in lines), sync=False)


def save_jpeg(path: str, image: np.ndarray, record: ImageRecord) -> None:
    """Write an (H, W, 3) uint8 array as a quality-95 JPEG; ValueError naming
    ``record`` for any other array."""
    from PIL import Image

    array = np.asarray(image)
    if array.dtype != np.uint8 or array.ndim != 3 or array.shape[2] != 3:
        raise ValueError(
            f"read_image({record.path!r}) must return an (H, W, 3) uint8 array, "
            f"got shape {array.shape} dtype {array.dtype}"
        )
    save_image(path, Image.fromarray(array), sync=False, quality=95)
