"""Atomic file writes: a reader sees the old file or the new one, never half of one.

Every file reid_fast writes goes through :func:`atomic_path` (directly, for writers that
need a file name: memory maps, exporters) or one of the helpers built on it.

The temporary file is ``.<name>.tmp-<random>`` in the folder of ``<name>``: hidden, and
never a name a user would take for the result. A writer that is killed (SIGKILL, power
loss) can leave one behind; the next write of the same file removes it. The writer holds
an exclusive ``flock`` on its temporary file until it is renamed, so only the temporary
files of dead writers are removed, never one another process is still writing.

A destination that cannot be written (a folder, a path under a file, no permission, a
read-only file system) is a ``ValueError`` that names the path.
"""

from __future__ import annotations

import fcntl
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


def _temp_prefix(path: Path) -> str:
    return f".{path.name}.tmp-"


def _unwritable(path: Path, error: OSError) -> ValueError:
    """The ValueError of a destination ``path`` the file system refused."""
    if isinstance(error, IsADirectoryError):
        why = "it is a folder"
    elif isinstance(error, (NotADirectoryError, FileExistsError)):
        why = "a part of its folder is a file, not a folder"
    elif isinstance(error, PermissionError):
        why = "permission denied"
    else:
        why = error.strerror or str(error)
    return ValueError(f"cannot write {path}: {why}")


def _remove_orphans(path: Path) -> None:
    """Remove the temporary files of killed writers of ``path``: those no live writer
    holds the lock of."""
    prefix = _temp_prefix(path)
    try:
        names = [n for n in os.listdir(path.parent) if n.startswith(prefix)]
    except OSError:
        return
    for name in names:
        orphan = path.parent / name
        try:
            fd = os.open(orphan, os.O_RDONLY)
        except OSError:
            continue  # gone already, or not ours to read
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            continue  # a live writer holds it (or this file system has no locks)
        else:
            orphan.unlink(missing_ok=True)
        finally:
            os.close(fd)


@contextmanager
def atomic_path(path: str | os.PathLike, *, sync: bool = True) -> Iterator[Path]:
    """Yield a temporary path next to ``path`` (``.<name>.tmp-<random>``) for the caller
    to fill; when the block ends without an error, fsync the file (unless ``sync=False``:
    then a crash of the process still leaves no half file, but a power loss may lose the
    new one), give it the mode of a normal write (``mkstemp`` makes it private) and rename
    it over ``path``. Creates the parent folder; removes the temporary file on any error,
    and the orphans of killed writers of ``path`` before it starts.

    Raises:
        ValueError: ``path`` cannot be written (a folder, under a file, no permission, ...);
            the message names it.
    """
    path = Path(path)
    if path.is_dir():
        raise ValueError(f"cannot write {path}: it is a folder")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        _remove_orphans(path)
        fd, name = tempfile.mkstemp(prefix=_temp_prefix(path), dir=path.parent)
    except OSError as error:
        raise _unwritable(path, error) from error
    tmp = Path(name)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)  # released when fd closes, after the rename
        except OSError:
            pass  # a file system without locks: orphans then stay (never removed unlocked)
        yield tmp
        if sync:
            with open(tmp, "rb+") as f:
                os.fsync(f.fileno())
        os.chmod(tmp, _normal_file_mode())
        try:
            os.replace(tmp, path)
        except OSError as error:
            raise _unwritable(path, error) from error
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    finally:
        os.close(fd)


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
