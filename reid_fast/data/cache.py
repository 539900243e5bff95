"""A uint8 image cache: every image decoded and resized once, memory-mapped, reused.

Training reads the same images every epoch; decoding JPEGs each time costs more than the
model on small backbones. :meth:`ImageCache.build` decodes every record once, resizes it to
a fixed ``(H, W)`` and writes it into an ``(N, H, W, 3)`` uint8 ``.npy`` file that later
epochs and later runs open as a read-only memory map (the page cache then serves it).

Cache identity. The file name is a hash of: a format version, the size, every record's
path, and either the caller's ``key`` or, when no key is given, each file's size and
modification time. A changed file or a different size therefore gives a new file; an
identical second build opens the existing file without decoding anything.

Atomicity. A build writes a temporary file in the cache folder, then a small JSON sidecar
(size, key, count, skipped images), and publishes both with ``os.replace``: the ``.npy``
first, the sidecar last. A cache is used only when its sidecar exists and agrees with the
array, so a half-written build (crash, interrupt, reader error) is never picked up;
leftover temporary files are ignored. Concurrent builders (several processes, e.g.
DistributedDataParallel ranks) cannot corrupt each other, since each writes its own
temporary file and the published files are identical; but every builder that starts
before the first one finishes decodes too. To decode once, let rank 0 build first, then
call a barrier, then let the other ranks build (they open rank 0's file).
"""

from __future__ import annotations

import hashlib
import json
import os
import pathlib
import warnings
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import torch
from PIL import Image
from tqdm import tqdm

from .. import validation
from ..atomic import atomic_path, write_text
from .records import ImageRecord

FORMAT_VERSION = 1
DEFAULT_MAX_WORKERS = 16
_COMPACT_ROWS = 256

DecodedImage = np.ndarray | Image.Image
ImageReader = Callable[[ImageRecord], DecodedImage]


def default_cache_dir() -> pathlib.Path:
    """``$REID_FAST_CACHE`` when set, else ``~/.cache/reid_fast``."""
    configured = os.environ.get("REID_FAST_CACHE")
    if configured:
        return pathlib.Path(configured).expanduser()
    return pathlib.Path.home() / ".cache" / "reid_fast"


def read_rgb(record: ImageRecord) -> Image.Image:
    """The default reader: open ``record.path`` with Pillow and decode it to RGB.

    Raises whatever Pillow raises for a missing, corrupt or truncated file.
    """
    with Image.open(record.path) as image:
        return image.convert("RGB")


def image_pixels(records: Sequence[ImageRecord]) -> np.ndarray:
    """(N,) int64 pixel counts H x W of the records' image files, read from the file
    headers (nothing is decoded). The AICity 2020 recipe calls images of at least 15,000
    pixels high-quality.

    Raises:
        ValueError: naming the file, when an image cannot be opened.
    """
    counts = np.empty((len(records),), dtype=np.int64)
    for index, record in enumerate(records):
        try:
            with Image.open(record.path) as image:
                width, height = image.size
        except (OSError, ValueError) as error:
            raise ValueError(f"cannot read the size of image {record.path!r}: {error}") from None
        counts[index] = width * height
    return counts


INTERPOLATIONS = ("bilinear", "bicubic")
"""The resize filters of the cache (Pillow's antialiased ones)."""

_PILLOW_FILTERS = {"bilinear": Image.Resampling.BILINEAR, "bicubic": Image.Resampling.BICUBIC}


def resize_rgb(image: DecodedImage, size: tuple[int, int],
               interpolation: str = "bilinear") -> np.ndarray:
    """``image`` as an (H, W, 3) uint8 array, resized with Pillow's antialiased
    ``interpolation`` filter (one of :data:`INTERPOLATIONS`) when its size differs from
    ``size = (H, W)``.

    ``image``: a PIL image (any mode; converted to RGB) or an (h, w, 3) uint8 array.
    """
    height, width = size
    if isinstance(image, np.ndarray):
        if image.dtype != np.uint8 or image.ndim != 3 or image.shape[2] != 3:
            raise ValueError(
                f"image must be an (h, w, 3) uint8 array, got shape {image.shape} dtype {image.dtype}"
            )
        if image.shape[:2] == (height, width):
            return image
        image = Image.fromarray(image)
    elif not isinstance(image, Image.Image):
        raise TypeError(f"image must be a PIL image or a numpy array, got {type(image).__name__}")
    if image.mode != "RGB":
        image = image.convert("RGB")
    if image.size != (width, height):
        image = image.resize((width, height), _PILLOW_FILTERS[interpolation])
    return np.asarray(image)


def file_stamp(path: str) -> str:
    """``"<size>:<mtime_ns>"`` of a file ("missing" when it cannot be read): what makes a
    cache stale."""
    try:
        stat = os.stat(path)
    except OSError:
        return "missing"
    return f"{stat.st_size}:{stat.st_mtime_ns}"


def _cache_stem(records: Sequence[ImageRecord], size: tuple[int, int], key: str | None,
                interpolation: str) -> str:
    """The file name (without extension) that identifies this cache's content (bilinear
    caches keep the names they had before other filters existed)."""
    digest = hashlib.sha256()
    identity = {"format": FORMAT_VERSION, "size": list(size), "key": key}
    if interpolation != "bilinear":
        identity["interpolation"] = interpolation
    digest.update(json.dumps(identity).encode())
    for record in records:
        digest.update(b"\0" + record.path.encode("utf-8", "surrogateescape"))
        if key is None:
            digest.update(b"\0" + file_stamp(record.path).encode())
    return f"images-{size[0]}x{size[1]}-{digest.hexdigest()[:32]}"


class ImageCache:
    """Images decoded once into a memory-mapped uint8 array. Create with :meth:`build`.

    Attributes:
        images: (N, H, W, 3) uint8 read-only ``np.memmap`` of the kept images (an
            ``np.lib.format`` ``.npy`` file, readable with ``np.load(path, mmap_mode="r")``).
        records: the N kept records, in input order (``images[i]`` is ``records[i]``).
        kept: (N,) int64 positions of the kept records in the records given to ``build``.
        skipped: ``(path, reason)`` of every record whose image could not be read.
        size: (H, W).
        path: the ``.npy`` file; its sidecar is ``path.with_suffix(".json")``.
    """

    def __init__(
        self,
        images: np.ndarray,
        records: list[ImageRecord],
        kept: np.ndarray,
        skipped: list[tuple[str, str]],
        size: tuple[int, int],
        path: pathlib.Path,
    ) -> None:
        self.images = images
        self.records = records
        self.kept = kept
        self.skipped = skipped
        self.size = size
        self.path = path

    @classmethod
    def build(
        cls,
        records: Sequence[ImageRecord],
        size: tuple[int, int],
        *,
        cache_dir: str | os.PathLike | None = None,
        read_image: ImageReader | None = None,
        key: str | None = None,
        progress: bool = True,
        workers: int | None = None,
        interpolation: str = "bilinear",
    ) -> ImageCache:
        """Open the cache of ``records`` at ``size``, decoding it first if it does not exist.

        Args:
            records: the images, in the order the cache keeps them.
            size: (H, W) of every cached image.
            cache_dir: folder of the cache files (default :func:`default_cache_dir`).
            read_image: ``record -> PIL image or (h, w, 3) uint8 array``; default
                :func:`read_rgb`. A custom reader needs a ``key`` (the cache cannot see
                when its output changes). Records whose reader raises an ``Exception``
                are skipped and listed in ``skipped``; a reader that returns something
                other than an image aborts the build.
            key: identifies the images' content in place of the files' sizes and
                modification times (change it whenever the images change).
            progress: show a tqdm progress bar while decoding.
            workers: decoding threads (default: the CPU count, at most 16).
            interpolation: the resize filter, one of :data:`INTERPOLATIONS` (part of the
                cache's identity).

        Raises:
            ValueError: empty ``records``, bad ``size`` / ``workers``, a custom reader
                without a key, or no image readable at all.
        """
        size = validation.size_hw("size", size)
        interpolation = validation.one_of("interpolation", interpolation, INTERPOLATIONS)
        records = list(records)
        if not records:
            raise ValueError("records is empty: nothing to cache")
        if read_image is not None and key is None:
            raise ValueError(
                "key is None with a custom read_image: pass key= naming the reader and its "
                "data (e.g. 'synthetic-v1-seed0') so that a changed reader gives a new cache"
            )
        if workers is None:
            workers = min(DEFAULT_MAX_WORKERS, os.cpu_count() or 1)
        workers = validation.integer("workers", workers, 1)
        folder = pathlib.Path(cache_dir).expanduser() if cache_dir is not None else default_cache_dir()
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / (_cache_stem(records, size, key, interpolation) + ".npy")

        cache = cls._open(path, records, size)
        if cache is None:
            _write(path, records, size, key, read_image or read_rgb, progress, workers,
                   interpolation)
            cache = cls._open(path, records, size)
            if cache is None:
                raise RuntimeError(f"the cache just written at {path} cannot be read back")
        if cache.skipped:
            first_path, first_reason = cache.skipped[0]
            warnings.warn(
                f"ImageCache: skipped {len(cache.skipped)} of {len(records)} images that could "
                f"not be read (first: {first_path}: {first_reason}); see ImageCache.skipped",
                RuntimeWarning,
                stacklevel=2,
            )
        return cache

    @classmethod
    def _open(cls, path: pathlib.Path, records: list[ImageRecord], size: tuple[int, int]) -> ImageCache | None:
        """The published cache at ``path`` if it is complete and matches ``records`` and
        ``size``, else None."""
        try:
            meta = json.loads(path.with_suffix(".json").read_text())
            if meta["format"] != FORMAT_VERSION or tuple(meta["size"]) != size or meta["count"] != len(records):
                return None
            skipped_at = [int(index) for index, _, _ in meta["skipped"]]
            if any(records[index].path != spath for index, (_, spath, _) in zip(skipped_at, meta["skipped"])):
                return None
            images = np.load(path, mmap_mode="r")
        except (OSError, ValueError, KeyError, TypeError, IndexError):
            return None
        kept = np.setdiff1d(np.arange(len(records), dtype=np.int64), np.asarray(skipped_at, dtype=np.int64))
        if images.dtype != np.uint8 or images.shape != (len(kept), size[0], size[1], 3):
            return None
        return cls(
            images,
            [records[index] for index in kept],
            kept,
            [(spath, reason) for _, spath, reason in meta["skipped"]],
            size,
            path,
        )

    def __len__(self) -> int:
        return len(self.records)

    def __repr__(self) -> str:
        return (
            f"ImageCache({len(self)} images of {self.size[0]}x{self.size[1]}, "
            f"{len(self.skipped)} skipped, path={str(self.path)!r})"
        )

    def batch(self, indices: np.ndarray, *, out: torch.Tensor | None = None) -> torch.Tensor:
        """Gather images ``indices`` into a fresh (B, H, W, 3) uint8 contiguous CPU tensor.

        ``indices``: (B,) integer array of positions in ``0..N-1``. ``out``: an optional
        contiguous (B, H, W, 3) uint8 CPU tensor to fill (e.g. pinned memory); returned.
        """
        positions = np.asarray(indices)
        if positions.ndim != 1 or positions.dtype.kind not in "iu":
            raise TypeError(
                f"indices must be a 1-d integer array, got shape {positions.shape} dtype {positions.dtype}"
            )
        if positions.size and (positions.min() < 0 or positions.max() >= len(self)):
            bad = positions[(positions < 0) | (positions >= len(self))][0]
            raise ValueError(f"indices contains {bad}, outside 0..{len(self) - 1}")
        shape = (len(positions), self.size[0], self.size[1], 3)
        if out is None:
            out = torch.empty(shape, dtype=torch.uint8)
        elif (
            tuple(out.shape) != shape
            or out.dtype != torch.uint8
            or out.device.type != "cpu"
            or not out.is_contiguous()
        ):
            raise ValueError(
                f"out must be a contiguous uint8 CPU tensor of shape {shape}, got shape "
                f"{tuple(out.shape)} dtype {out.dtype} device {out.device}"
            )
        np.take(self.images, positions, axis=0, out=out.numpy())
        return out


def _write(
    path: pathlib.Path,
    records: list[ImageRecord],
    size: tuple[int, int],
    key: str | None,
    read_image: ImageReader,
    progress: bool,
    workers: int,
    interpolation: str,
) -> None:
    """Decode ``records`` and publish the cache at ``path`` (and its sidecar) atomically:
    the array first, the sidecar last."""
    with atomic_path(path) as array_file:
        reasons = _decode_all(str(array_file), records, size, read_image, progress, workers,
                              interpolation)
        skipped_at = [index for index, reason in enumerate(reasons) if reason is not None]
        if len(skipped_at) == len(records):
            raise ValueError(
                f"none of the {len(records)} images could be read (first: {records[0].path}: {reasons[0]})"
            )
        if skipped_at:
            with atomic_path(array_file) as compacted:
                _compact(str(array_file), reasons, str(compacted))
    meta = {
        "format": FORMAT_VERSION,
        "size": list(size),
        "key": key,
        "count": len(records),
        "kept": len(records) - len(skipped_at),
        "skipped": [[index, records[index].path, reasons[index]] for index in skipped_at],
    }
    write_text(path.with_suffix(".json"), json.dumps(meta, indent=1))


def _decode_all(
    file: str,
    records: list[ImageRecord],
    size: tuple[int, int],
    read_image: ImageReader,
    progress: bool,
    workers: int,
    interpolation: str,
) -> list[str | None]:
    """Decode every record into row i of a new (len(records), H, W, 3) ``.npy`` at ``file``.

    Returns, per record, None or the reason it was skipped. Each thread writes its image
    straight into the memory map, so memory stays bounded by the images in flight.
    """
    out = np.lib.format.open_memmap(file, mode="w+", dtype=np.uint8, shape=(len(records), size[0], size[1], 3))

    def decode(index: int) -> str | None:
        try:
            image = read_image(records[index])
            if isinstance(image, Image.Image):
                image.load()
        except Exception as error:
            return f"{type(error).__name__}: {error}"
        try:
            out[index] = resize_rgb(image, size, interpolation)
        except TypeError as error:
            raise TypeError(f"read_image returned a bad image for {records[index].path}: {error}") from error
        except ValueError as error:
            raise ValueError(f"read_image returned a bad image for {records[index].path}: {error}") from error
        return None

    executor = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="reid_fast-ImageCache")
    try:
        reasons = list(
            tqdm(
                executor.map(decode, range(len(records))),
                total=len(records),
                desc=f"caching images at {size[0]}x{size[1]}",
                unit="img",
                disable=not progress,
            )
        )
    finally:
        executor.shutdown(wait=True, cancel_futures=True)
    out.flush()
    return reasons


def _compact(scratch: str, reasons: list[str | None], file: str) -> None:
    """Copy the rows of ``scratch`` whose reason is None into a new ``.npy`` at ``file``."""
    source = np.load(scratch, mmap_mode="r")
    keep = np.flatnonzero([reason is None for reason in reasons])
    target = np.lib.format.open_memmap(file, mode="w+", dtype=np.uint8, shape=(len(keep),) + source.shape[1:])
    for start in range(0, len(keep), _COMPACT_ROWS):
        rows = keep[start : start + _COMPACT_ROWS]
        target[start : start + len(rows)] = source[rows]
    target.flush()
    del target, source
