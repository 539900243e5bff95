"""Atomic file writes: a reader sees the old file or the new one, never half of one.

Every file reid_fast writes goes through :func:`atomic_path` (directly, for writers that
need a file name: memory maps, exporters) or one of the helpers built on it.
"""

from __future__ import annotations

import os
import tempfile
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Any, Callable, Iterator


def _normal_file_mode() -> int:
    """0666 minus the umask: the mode ``open(path, "w")`` would give a new file."""
    umask = os.umask(0)
    os.umask(umask)
    return 0o666 & ~umask


@contextmanager
def atomic_path(path: str | os.PathLike, *, sync: bool = True) -> Iterator[Path]:
    """Yield a temporary path next to ``path`` for the caller to fill; when the block
    ends without an error, fsync the file (unless ``sync=False``: then a crash of the
    process still leaves no half file, but a power loss may lose the new one), give it
    the mode of a normal write (``mkstemp`` makes it private) and rename it over
    ``path``. Creates the parent folder; removes the temporary file on any error."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    tmp = Path(name)
    try:
        yield tmp
        if sync:
            with open(tmp, "rb+") as f:
                os.fsync(f.fileno())
        os.chmod(tmp, _normal_file_mode())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def atomic_write(path: str | os.PathLike, write: Callable[[IO[Any]], None], *,
                 text: bool = False, sync: bool = True) -> Path:
    """Call ``write(file)`` on a temporary file next to ``path`` (binary, or UTF-8 text
    with ``text``) and publish it with :func:`atomic_path`. Returns ``path`` as a Path."""
    with atomic_path(path, sync=sync) as tmp:
        with open(tmp, "w" if text else "wb",
                  **({"encoding": "utf-8", "newline": ""} if text else {})) as f:
            write(f)
    return Path(path)


def write_text(path: str | os.PathLike, text: str, *, sync: bool = True) -> Path:
    """``text`` as a UTF-8 file, atomically."""
    return atomic_write(path, lambda f: f.write(text), text=True, sync=sync)


def save_image(path: str | os.PathLike, image: Any, *, sync: bool = True, **params: Any) -> Path:
    """A PIL image saved atomically in the format its file extension names (``.png``,
    ``.jpg``, ...); ``params`` go to ``Image.save`` (e.g. ``quality=95``)."""
    from PIL import Image

    path = Path(path)
    image_format = Image.registered_extensions().get(path.suffix.lower())
    if image_format is None:
        raise ValueError(f"path must end in an image extension (.png, .jpg, ...), "
                         f"got {str(path)!r}")
    return atomic_write(path, lambda f: image.save(f, format=image_format, **params), sync=sync)
