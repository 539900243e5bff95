"""AICity 2020 track 2 submissions (``track2.txt``).

Format: one line per query, in ``name_query.txt`` order; each line holds the ``top``
(100) best gallery images, best first, as space-separated 1-based indices in
``name_test.txt`` order. Both the writer and the reader validate every line.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np

from .. import validation
from ..atomic import atomic_write
from ..ops import _arrays
from ..ops.topk_rows import topk_rows

AICITY_TOP = 100


def ranked_gallery(distances: Any, top: int = AICITY_TOP) -> np.ndarray:
    """(q, top) int64 0-based gallery indices of the ``top`` smallest distances per row,
    ascending, ties to the lower index. ``distances``: (q, g) float32 torch / NumPy /
    CuPy array, finite, g >= top. TypeError / ValueError name ``distances`` and ``top``."""
    array = _arrays.wrap("distances", distances)
    if len(array.shape) != 2:
        raise ValueError(f"distances must be 2-D (queries, gallery), got shape {array.shape}")
    if array.dtype != "float32":
        raise TypeError(f"distances must be float32, got {array.dtype}")
    top = validation.integer("top", top, 1, array.shape[1], high_name="the number of gallery "
                             "columns of distances")
    _arrays.require_finite(array)
    _, indices = topk_rows(distances, top)
    return _arrays.to_host(_arrays.wrap("indices", indices))


def _check_ranked(ranked: np.ndarray, num_gallery: int, top: int, where: str) -> None:
    if ranked.ndim != 2 or ranked.shape[1] != top:
        raise ValueError(f"{where}: expected {top} gallery indices per query; got shape "
                         f"{ranked.shape}")
    bad = (ranked < 0) | (ranked >= num_gallery)
    if bad.any():
        row, col = map(int, np.argwhere(bad)[0])
        raise ValueError(f"{where}: query {row + 1} lists gallery index {ranked[row, col] + 1}, "
                         f"outside 1..{num_gallery}")
    ordered = np.sort(ranked, axis=1)
    repeated = (ordered[:, 1:] == ordered[:, :-1]).any(axis=1)
    if repeated.any():
        row = int(np.argmax(repeated))
        raise ValueError(f"{where}: query {row + 1} lists a gallery image twice")


def write_aicity_submission(path: str | os.PathLike, ranked: Any, num_gallery: int,
                            top: int = AICITY_TOP) -> Path:
    """Write ``ranked`` ((q, top) 0-based gallery indices, best first, queries in
    ``name_query.txt`` order) as ``track2.txt`` at ``path``, atomically, then read it
    back and validate it. Returns the path."""
    ranked = np.asarray(ranked)
    if ranked.dtype.kind not in "iu":
        raise TypeError(f"ranked must hold integers; got dtype {ranked.dtype}")
    if top < 1 or top > num_gallery:
        raise ValueError(f"top must be in 1..num_gallery ({num_gallery}); got {top}")
    ranked = ranked.astype(np.int64)
    _check_ranked(ranked, num_gallery, top, "ranked")
    path = atomic_write(path, lambda f: f.writelines(" ".join(map(str, row.tolist())) + "\n"
                                                      for row in ranked + 1), text=True)
    read_aicity_submission(path, ranked.shape[0], num_gallery, top)
    return path


def read_aicity_submission(path: str | os.PathLike, num_queries: int, num_gallery: int,
                           top: int = AICITY_TOP) -> np.ndarray:
    """Read and validate a ``track2.txt``: ``num_queries`` lines of ``top`` distinct
    integers in 1..num_gallery. Returns (num_queries, top) int64 0-based indices."""
    path = Path(path)
    lines = path.read_text().splitlines()
    if len(lines) != num_queries:
        raise ValueError(f"{path}: {len(lines)} lines; expected one per query ({num_queries})")
    rows = []
    for number, line in enumerate(lines, 1):
        fields = line.split()
        if len(fields) != top:
            raise ValueError(f"{path}:{number}: {len(fields)} gallery indices; expected {top}")
        try:
            rows.append([int(v) - 1 for v in fields])
        except ValueError:
            raise ValueError(f"{path}:{number}: not all integers: {line[:80]!r}") from None
    ranked = np.array(rows, dtype=np.int64).reshape(num_queries, top)
    _check_ranked(ranked, num_gallery, top, str(path))
    return ranked
