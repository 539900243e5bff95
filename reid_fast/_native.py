"""Loads the compiled core, reid_fast._C, with an actionable error if it is missing."""

from __future__ import annotations

try:
    from . import _C
except ImportError as error:  # pragma: no cover - only on a broken install
    raise ImportError(
        "reid_fast's native module reid_fast._C could not be imported "
        f"({error}). Install the package with 'pip install .' (or "
        "'pip install --no-build-isolation -e .') so that it is compiled."
    ) from error

__all__ = ["_C"]
