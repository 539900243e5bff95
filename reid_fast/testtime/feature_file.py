"""Feature and distance files exchanged by the test-time steps.

Features (``.npz``): for each split ``query`` / ``gallery`` the arrays ``<split>_features``
(N, E) float32 or float16 (L2-normalised rows), ``<split>_names`` (N,) str,
``<split>_ids``, ``<split>_cams``, ``<split>_tracks`` (N,) int64 (-1 = unknown),
``<split>_paths`` (N,) str (the image files, for pictures), and
``meta``: a JSON string (model, scales, flip, dataset, same_camera_junk, ...).

The same features can be written as a MATLAB ``.mat`` with the historical keys of the
public re-ID code: query_f, gallery_f, query_label, gallery_label, query_cam, gallery_cam
(plus query_name, gallery_name, query_track, gallery_track).

Distances (``.npz``): ``distances`` (q, g) float32 (smaller = closer), ``query_names``,
``gallery_names`` and ``meta``.
"""

from __future__ import annotations

import json
import os
import zipfile
import zlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Sequence

import numpy as np
import torch

from ..atomic import atomic_write
from ..data.records import ImageRecord

SPLITS = ("query", "gallery")


@dataclass
class SplitFeatures:
    """One split's features and labels, row i describing image ``names[i]``.

    ``features``: (N, E) float32 / float16 torch tensor on any device (or NumPy array);
    ``ids``, ``cams``, ``tracks``: (N,) int64 NumPy arrays, -1 = unknown.
    """

    features: Any
    names: list[str]
    ids: np.ndarray
    cams: np.ndarray
    tracks: np.ndarray
    paths: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        n = len(self.names)
        if (len(self.features.shape) != 2 or self.features.shape[0] != n
                or self.features.shape[1] < 1):
            raise ValueError(f"features must be (N, E) with N = {n} names and E >= 1 "
                             f"columns; got shape {tuple(self.features.shape)}")
        for key in ("ids", "cams", "tracks"):
            value = np.asarray(getattr(self, key), dtype=np.int64).reshape(-1)
            if value.shape != (n,):
                raise ValueError(f"{key} must have one entry per name ({n}); got {value.shape[0]}")
            setattr(self, key, value)
        if self.paths and len(self.paths) != n:
            raise ValueError(f"paths must have one entry per name ({n}); got {len(self.paths)}")

    @classmethod
    def from_records(cls, features: Any, records: Sequence[ImageRecord]) -> "SplitFeatures":
        """Names are the records' file names (``os.path.basename``)."""
        return cls(features, [os.path.basename(r.path) for r in records],
                   np.array([r.pid for r in records], dtype=np.int64),
                   np.array([r.camid for r in records], dtype=np.int64),
                   np.array([r.trackid for r in records], dtype=np.int64),
                   [r.path for r in records])

    def tensor(self, device: str | torch.device = "cpu") -> torch.Tensor:
        """The features as a float32 torch tensor on ``device``."""
        value = self.features if torch.is_tensor(self.features) else torch.from_numpy(
            np.asarray(self.features))
        return value.to(device=device, dtype=torch.float32)

    def replace(self, features: Any) -> "SplitFeatures":
        """A copy with other features (same rows)."""
        return SplitFeatures(features, self.names, self.ids, self.cams, self.tracks, self.paths)


@dataclass
class FeatureSet:
    """Query and gallery features of one model (or of a fusion), with their metadata."""

    query: SplitFeatures
    gallery: SplitFeatures
    meta: dict = field(default_factory=dict)

    @property
    def same_camera_junk(self) -> bool:
        """The junk rule of the dataset (Market / VeRi: True; AICity: False)."""
        return bool(self.meta.get("same_camera_junk", True))


def _save_npz(path: Path, arrays: dict[str, np.ndarray]) -> Path:
    return atomic_write(path, lambda f: np.savez(f, **arrays))


def _numpy(features: Any) -> np.ndarray:
    if torch.is_tensor(features):
        features = features.detach().cpu()
        return features.numpy() if features.dtype != torch.bfloat16 else features.float().numpy()
    return np.asarray(features)


def save_features(features: FeatureSet, path: str | os.PathLike) -> Path:
    """Write ``features`` to ``path``: ``.npz`` (the reid_fast format) or ``.mat`` (the
    historical keys), atomically. Returns the path."""
    path = Path(path)
    if path.suffix not in (".npz", ".mat"):
        raise ValueError(f"path must end in .npz or .mat; got {str(path)!r}")
    if path.suffix == ".mat":
        return save_mat(features, path)
    arrays: dict[str, np.ndarray] = {"meta": np.array(json.dumps(features.meta))}
    for split in SPLITS:
        part: SplitFeatures = getattr(features, split)
        arrays[f"{split}_features"] = _numpy(part.features)
        arrays[f"{split}_names"] = np.array(part.names, dtype=str)
        arrays[f"{split}_ids"], arrays[f"{split}_cams"] = part.ids, part.cams
        arrays[f"{split}_tracks"] = part.tracks
        arrays[f"{split}_paths"] = np.array(part.paths, dtype=str)
    return _save_npz(path, arrays)


def save_mat(features: FeatureSet, path: str | os.PathLike) -> Path:
    """Write the MATLAB file with the keys query_f, gallery_f, query_label, gallery_label,
    query_cam, gallery_cam (plus *_name and *_track), atomically."""
    from scipy.io import savemat

    path = Path(path)
    content: dict[str, Any] = {}
    for split in SPLITS:
        part: SplitFeatures = getattr(features, split)
        content[f"{split}_f"] = _numpy(part.features)
        content[f"{split}_label"] = part.ids
        content[f"{split}_cam"] = part.cams
        content[f"{split}_track"] = part.tracks
        content[f"{split}_name"] = np.array(part.names, dtype=object)
    return atomic_write(path, lambda f: savemat(f, content, do_compression=False))


# What reading a damaged or foreign file raises: a bad zip or member (BadZipFile: bad
# CRC, EOFError: truncated, zlib.error: bad compressed data), a bad .npy header or a pickle
# (ValueError), an unreadable file (OSError).
_UNREADABLE = (zipfile.BadZipFile, EOFError, zlib.error, ValueError, OSError)


def _read_npz(path: Path, what: str, required: Sequence[str]) -> dict[str, np.ndarray]:
    """All members of the ``.npz`` ``path``, read now; FileNotFoundError when it is not
    there, ValueError naming it when it is not a readable ``what`` file holding
    ``required``."""
    if not path.is_file():
        raise FileNotFoundError(f"{what} file not found: {path}")
    try:
        with np.load(path, allow_pickle=False) as data:
            if not isinstance(data, np.lib.npyio.NpzFile):
                raise ValueError("a single .npy array, not an .npz archive")
            arrays = {name: data[name] for name in data.files}
    except _UNREADABLE as exc:
        raise ValueError(f"{path} is not a {what} file written by reid_fast (it cannot be "
                         f"read: {type(exc).__name__}: {exc})") from None
    missing = [k for k in required if k not in arrays]
    if missing:
        raise ValueError(f"{path} is not a reid_fast {what} file: missing {missing}")
    return arrays


def _meta(path: Path, arrays: dict[str, np.ndarray]) -> dict:
    """The JSON object stored as ``meta`` ({} when absent); ValueError naming ``path``
    otherwise."""
    if "meta" not in arrays:
        return {}
    text = str(arrays["meta"])
    try:
        meta = json.loads(text)
    except ValueError as exc:
        raise ValueError(f"{path}: meta must be a JSON object, got text that is not JSON "
                         f"({exc})") from None
    if not isinstance(meta, dict):
        raise ValueError(f"{path}: meta must be a JSON object, got {type(meta).__name__} "
                         f"{text[:80]}")
    return meta


def load_features(path: str | os.PathLike) -> FeatureSet:
    """Read a ``.npz`` written by :func:`save_features` (features stay in their stored
    dtype, as NumPy arrays). FileNotFoundError, or ValueError naming ``path`` for a file
    that is damaged or not a features file."""
    path = Path(path)
    data = _read_npz(path, "features", [f"{s}_{k}" for s in SPLITS
                                        for k in ("features", "names", "ids", "cams", "tracks")])
    try:
        parts = {s: SplitFeatures(data[f"{s}_features"], [str(n) for n in data[f"{s}_names"]],
                                  data[f"{s}_ids"], data[f"{s}_cams"], data[f"{s}_tracks"],
                                  [str(p) for p in data[f"{s}_paths"]]
                                  if f"{s}_paths" in data else [])
                 for s in SPLITS}
    except ValueError as exc:
        raise ValueError(f"{path}: {exc}") from None
    return FeatureSet(parts["query"], parts["gallery"], _meta(path, data))


@dataclass
class DistanceMatrix:
    """A (q, g) float32 distance matrix with the names of its rows and columns."""

    distances: Any
    query_names: list[str]
    gallery_names: list[str]
    meta: dict = field(default_factory=dict)

    def __post_init__(self) -> None:
        shape = tuple(self.distances.shape)
        expected = (len(self.query_names), len(self.gallery_names))
        if shape != expected:
            raise ValueError(f"distances must be (queries, gallery) = {expected}; got shape {shape}")


def save_distances(matrix: DistanceMatrix, path: str | os.PathLike) -> Path:
    """Write a :class:`DistanceMatrix` as ``.npz`` atomically. Returns the path."""
    path = Path(path)
    if path.suffix != ".npz":
        raise ValueError(f"path must end in .npz; got {str(path)!r}")
    return _save_npz(path, {
        "distances": _numpy(matrix.distances).astype(np.float32, copy=False),
        "query_names": np.array(matrix.query_names, dtype=str),
        "gallery_names": np.array(matrix.gallery_names, dtype=str),
        "meta": np.array(json.dumps(matrix.meta))})


def load_distances(path: str | os.PathLike) -> DistanceMatrix:
    """Read a distance ``.npz`` written by :func:`save_distances`. FileNotFoundError, or
    ValueError naming ``path`` for a file that is damaged or not a distances file."""
    path = Path(path)
    data = _read_npz(path, "distances", ["distances", "query_names", "gallery_names"])
    try:
        return DistanceMatrix(data["distances"], [str(n) for n in data["query_names"]],
                              [str(n) for n in data["gallery_names"]], _meta(path, data))
    except ValueError as exc:
        raise ValueError(f"{path}: {exc}") from None


def check_same_rows(expected: Sequence[str], got: Sequence[str], what: str) -> None:
    """ValueError naming the first differing row when two name lists differ."""
    if list(expected) == list(got):
        return
    if len(expected) != len(got):
        raise ValueError(f"{what}: {len(got)} names where {len(expected)} were expected")
    row = next(i for i, (a, b) in enumerate(zip(expected, got)) if a != b)
    raise ValueError(f"{what}: row {row} is {got[row]!r} where {expected[row]!r} was expected "
                     "(the files describe different images or a different order)")
