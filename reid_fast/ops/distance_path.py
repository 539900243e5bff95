"""Which implementation pairwise_distance and knn take, and the pieces of the framework-GEMM
path they share (docs/design.md 3.1).

Two paths compute the same distances and the same neighbour lists:

- ``simt``: reid_fast's fused kernels (the CPU tile kernels; on CUDA SIMT dot-product tiles
  with the distances selected in shared memory). Never more memory than the result.
- ``framework``: the array framework's GEMM (``torch.mm``, ``numpy.matmul``,
  ``cupy.matmul``, on the framework's current stream) computes the dot products tile by
  tile; reid_fast's kernels finish the distances from the rows' metric terms and select the
  k nearest into running lists (``knn_select``) or write the distances
  (``distance_tile``). Memory O((n + m) d + tile + n k).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np

from .. import validation
from .._native import _C
from . import _arrays

PATH_VARIABLE = "REID_FAST_DISTANCE_PATH"
"""The environment variable that picks the path when an op's ``path`` argument is None."""

PATHS: tuple[str, ...] = ("auto", "simt", "framework")
"""The values of ``path`` and of ``REID_FAST_DISTANCE_PATH``."""

FRAMEWORK_MIN_DIM = 64
"""The smallest feature dimension d for which ``auto`` takes the framework path on CUDA:
below it a GEMM does too little work per dot product to pay for writing the tile to memory
and reading it back. A first guess: the GPU kit (bench/gpu_check.py) measures both paths and
will tune it."""


@dataclass(frozen=True)
class Tiles:
    """The block of dot products the framework path computes at once: ``rows`` queries x
    ``columns`` gallery rows, float32 (the defaults: 256 MiB). Tests set it small to cross
    many tile boundaries."""

    rows: int = 8192
    columns: int = 8192


TILES = Tiles()
"""The tiles the ops use (read on each call)."""


def distance_path(path: str | None, x: _arrays.Array) -> str:
    """The path, ``"simt"`` or ``"framework"``, that an op on features ``x`` takes.

    The rule: ``path`` when it is given, else the environment variable
    ``REID_FAST_DISTANCE_PATH`` (read on each call), else ``"auto"``. ``"simt"`` and
    ``"framework"`` are taken as they are, on any device. ``"auto"`` takes the framework path
    for CUDA arrays with d >= :data:`FRAMEWORK_MIN_DIM` (torch and CuPy both have a GEMM on
    CUDA), and the SIMT path otherwise: for a small d, and for every CPU array, where the
    fused CPU kernels are faster than a BLAS GEMM followed by a selection.

    Args:
        path: ``"auto"``, ``"simt"``, ``"framework"`` or None.
        x: the validated (n, d) query features.

    Raises:
        TypeError: ``path`` is not a string.
        ValueError: ``path`` or the environment variable is not one of :data:`PATHS`.
    """
    if path is None:
        path = validation.one_of(f"the environment variable {PATH_VARIABLE}",
                                 os.environ.get(PATH_VARIABLE, "auto"), PATHS)
    else:
        path = validation.one_of("path", path, PATHS)
    if path != "auto":
        return path
    return "framework" if x.device == "cuda" and x.shape[1] >= FRAMEWORK_MIN_DIM else "simt"


def row_aux(features: _arrays.Array, metric: int) -> Any:
    """(rows,) float32: the metric's per-row term of each row of ``features`` (its sum of
    squares for the Euclidean metrics, 1 / max(norm, 1e-12) for cosine, 0 for inner; the
    native ``row_aux``), an array of the features' framework on their device."""
    out = _arrays.empty(features, (features.shape[0],), "float32")
    if features.shape[0] > 0:
        with _arrays.native_call(features, features.value, out) as (stream, capsules):
            _C.row_aux(*capsules, metric, stream)
    return out


def dot_tiles(x: _arrays.Array, y: _arrays.Array,
              tiles: Tiles) -> Iterator[tuple[slice, slice, Any]]:
    """``(rows, columns, dots)`` for every tile of ``tiles``' shape: dots is the C-contiguous
    float32 array ``x[rows] @ y[columns].T`` of x's framework on its device, computed by the
    framework's GEMM on its current stream of that device (made current for the GEMM); query
    tiles in order, and within each the gallery tiles in order.

    float16 and bfloat16 inputs: torch multiplies them on the tensor cores into float32
    (``torch.mm(..., out_dtype=torch.float32)``) where that exists (recent torch, CUDA);
    elsewhere, and for NumPy and CuPy, each tile is converted to float32 first. A float32 GEMM
    follows the framework's precision settings (TF32 only if the user enabled it)."""
    n, m = x.shape[0], y.shape[0]
    gemm = _FloatGemm(x)
    for r0 in range(0, n, tiles.rows):
        rows = slice(r0, min(n, r0 + tiles.rows))
        for c0 in range(0, m, tiles.columns):
            columns = slice(c0, min(m, c0 + tiles.columns))
            with _arrays.device_scope(x):  # CuPy computes on the current device
                dots = gemm(x.value[rows], y.value[columns])
            yield rows, columns, dots


class _FloatGemm:
    """a @ b.T with a float32 result, in the framework of ``like``."""

    def __init__(self, like: _arrays.Array) -> None:
        self.framework = like.framework
        # torch multiplies half-precision inputs into float32 directly where it can; the
        # first tile finds out (mm.dtype raises where it does not exist).
        self.mixed = like.framework == "torch" and like.dtype != "float32"

    def __call__(self, a: Any, b: Any) -> Any:
        if self.framework == "torch":
            torch = _arrays.torch_module()
            if self.mixed:
                try:
                    return torch.mm(a, b.T, out_dtype=torch.float32)
                except torch.OutOfMemoryError:
                    raise
                except (RuntimeError, TypeError):  # NotImplementedError is a RuntimeError
                    self.mixed = False
            return torch.mm(a.float(), b.float().T)
        xp = np if self.framework == "numpy" else _arrays.cupy_module()
        return xp.matmul(a.astype(xp.float32, copy=False), b.astype(xp.float32, copy=False).T)
