"""Checkpoints written atomically with a checksum of their content, and read back with
``weights_only=True``, the checksum verified.

The checksum: :func:`save_atomic` stores under the key ``"sha256"`` of the saved dict the
SHA-256 of its content (every key and value in order; a tensor's dtype, shape and
bytes), so the file stays one plain ``torch.save`` dict, published by one atomic rename.
:func:`load_checkpoint` recomputes it over what it loaded: a flipped or altered byte that
changes what loads is an error naming the file (bytes that change nothing loaded, such
as the zip archive's alignment padding, are not covered). A file without the key
(written before checksums) loads with a warning.
"""

from __future__ import annotations

import hashlib
import os
import pickle
import warnings
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterator

import torch

from ..atomic import atomic_write

CHECKSUM_KEY = "sha256"
"""The key of the checksum in a saved dict."""

UNREADABLE_ERRORS = (EOFError, OSError, RuntimeError, KeyError, IndexError, UnicodeDecodeError,
                     pickle.UnpicklingError)
"""What ``torch.load`` raises for a file that is not a PyTorch file or is damaged: empty
(EOFError), truncated (RuntimeError: no zip central directory; OSError), random bytes or
text (UnpicklingError, UnicodeDecodeError, KeyError, IndexError)."""


@contextmanager
def unreadable_file_errors(path: str | os.PathLike, what: str) -> Iterator[None]:
    """Around a ``torch.load`` of ``path``: its :data:`UNREADABLE_ERRORS` become one
    ValueError that starts with ``what`` (e.g. the option that named the file) and names
    the file; FileNotFoundError and ConnectionError (an offline download) pass unchanged."""
    try:
        yield
    except (FileNotFoundError, ConnectionError):
        raise
    except UNREADABLE_ERRORS as error:   # torch's own text is chained, not repeated
        raise ValueError(f"{what}: {os.fspath(path)} is not a readable PyTorch file (empty, "
                         f"truncated or damaged: {type(error).__name__})") from error


def _feed(digest: Any, value: Any) -> None:
    """Add ``value`` to ``digest``, tagged with its type and size so that no two contents
    feed the same bytes."""
    if isinstance(value, torch.Tensor):
        tensor = value.detach().cpu().contiguous()
        digest.update(f"T{tensor.dtype}{tuple(tensor.shape)}:".encode())
        digest.update(tensor.reshape(-1).view(torch.uint8).numpy())
    elif isinstance(value, dict):
        digest.update(f"D{len(value)}:".encode())
        for key, item in value.items():
            _feed(digest, key)
            _feed(digest, item)
    elif isinstance(value, (list, tuple)):
        digest.update(f"{'L' if isinstance(value, list) else 'U'}{len(value)}:".encode())
        for item in value:
            _feed(digest, item)
    elif value is None or isinstance(value, (bool, int, float, str)):
        digest.update(f"{type(value).__name__}:{value!r};".encode())
    else:
        raise TypeError(f"a checkpoint holds tensors, numbers, strings and containers of "
                        f"them, got {type(value).__name__}")


def content_checksum(state: dict) -> str:
    """The SHA-256 (hex) of ``state``'s content: keys and values in order, each tensor's
    dtype, shape and bytes."""
    digest = hashlib.sha256()
    _feed(digest, state)
    return digest.hexdigest()


def save_atomic(state: dict, path: str | os.PathLike) -> None:
    """``torch.save`` ``state`` with its :func:`content_checksum` under
    :data:`CHECKSUM_KEY` to ``path``, through :func:`reid_fast.atomic.atomic_write`: a
    reader (or a resume after a crash) sees the old file or the new one, never half of
    one."""
    if CHECKSUM_KEY in state:
        raise ValueError(f"the state to save already has a {CHECKSUM_KEY!r} key")
    stamped = {**state, CHECKSUM_KEY: content_checksum(state)}
    atomic_write(path, lambda f: torch.save(stamped, f))


def load_checkpoint(path: str | os.PathLike, map_location: str | torch.device = "cpu", *,
                    what: str = "checkpoint") -> dict:
    """Load a dict written by :func:`save_atomic` (``path`` or, for a folder, its
    ``checkpoint.pt``) and verify its checksum; returns it without the checksum.

    Raises:
        FileNotFoundError: no such file.
        ValueError: starting with ``what`` (e.g. the option that named the file) and naming
            the file: not a readable PyTorch file, not a dict, or its content does not
            match its checksum.

    A file without a checksum (written by an older reid_fast) loads with a warning."""
    path = Path(path)
    if path.is_dir():
        path = path / "checkpoint.pt"
    if not path.is_file():
        raise FileNotFoundError(f"{what}: checkpoint not found: {path}")
    with unreadable_file_errors(path, what):
        state = torch.load(path, map_location=map_location, weights_only=True)
    if not isinstance(state, dict):
        raise ValueError(f"{what}: {path} holds a {type(state).__name__}, not a checkpoint of "
                         "reid-fast train")
    stored = state.pop(CHECKSUM_KEY, None)
    if stored is None:
        warnings.warn(f"{path} has no checksum (written by an older reid_fast): loaded "
                      "without verifying its content", stacklevel=2)
    elif stored != content_checksum(state):
        raise ValueError(f"{what}: {path} is damaged: its content does not match the SHA-256 "
                         "checksum stored when it was written (a changed byte); use another "
                         "copy or train again")
    return state


def model_file(run: str | os.PathLike, what: str) -> Path:
    """The ``model.pt`` of a finished run: ``run`` is its folder or the file itself;
    FileNotFoundError starting with ``what`` (e.g. the option that named it) otherwise."""
    path = Path(run)
    if path.is_dir():
        path = path / "model.pt"
    if not path.is_file():
        raise FileNotFoundError(f"{what}: no trained model at {path} (pass a finished run "
                                "folder of reid-fast train; it holds model.pt)")
    return path
