"""ImageCache: content against Pillow, skipping unreadable files, reuse, invalidation,
atomic publication and custom readers."""

from __future__ import annotations

import io
import os
import threading

import numpy as np
import pytest
import torch
from PIL import Image

from reid_fast.data import cache as cache_module
from reid_fast.data.cache import ImageCache
from reid_fast.data.records import ImageRecord

SIZE = (16, 12)  # (H, W)


def _random_pixels(seed: int, height: int, width: int) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, size=(height, width, 3), dtype=np.uint8)


def _reference(path: str, size: tuple[int, int]) -> np.ndarray:
    """The specification: Pillow RGB decode, then a bilinear resize to (W, H)."""
    with Image.open(path) as image:
        return np.asarray(image.convert("RGB").resize((size[1], size[0]), Image.Resampling.BILINEAR))


@pytest.fixture
def image_files(tmp_path):
    """Six readable images in several formats, modes and sizes (one already at SIZE)."""
    folder = tmp_path / "images"
    folder.mkdir()
    specs = [
        ("a.jpg", "RGB", (30, 41)),
        ("b.png", "RGB", SIZE),
        ("c.png", "RGBA", (25, 20)),
        ("d.png", "L", (8, 9)),
        ("e.bmp", "RGB", (40, 33)),
        ("f.png", "P", (21, 17)),
    ]
    paths = []
    for seed, (name, mode, (height, width)) in enumerate(specs):
        pixels = _random_pixels(seed, height, width)
        image = Image.fromarray(pixels)
        if mode == "RGBA":
            image = Image.fromarray(np.dstack([pixels, pixels[..., :1]]), "RGBA")
        elif mode != "RGB":
            image = image.convert(mode)
        image.save(folder / name)
        paths.append(str(folder / name))
    return paths


def _records(paths):
    return [ImageRecord(path=p, pid=i, camid=i % 3) for i, p in enumerate(paths)]


@pytest.fixture
def count_default_reads(monkeypatch):
    """Replace the default reader by a counting wrapper; returns the call counter."""
    calls = {"n": 0}
    original = cache_module.read_rgb

    def counting(record):
        calls["n"] += 1
        return original(record)

    monkeypatch.setattr(cache_module, "read_rgb", counting)
    return calls


def test_content_equals_pillow_reference(image_files, tmp_path):
    cache = ImageCache.build(_records(image_files), SIZE, cache_dir=tmp_path / "c", progress=False, workers=2)
    assert len(cache) == len(image_files) and cache.skipped == []
    assert cache.size == SIZE and cache.path.suffix == ".npy" and cache.path.parent == tmp_path / "c"
    assert isinstance(cache.images, np.memmap) and not cache.images.flags.writeable
    assert cache.images.shape == (len(image_files), *SIZE, 3) and cache.images.dtype == np.uint8
    assert [r.path for r in cache.records] == image_files
    np.testing.assert_array_equal(cache.kept, np.arange(len(image_files)))
    for row, path in zip(cache.images, image_files):
        np.testing.assert_array_equal(row, _reference(path, SIZE))
    # An image already at SIZE is stored untouched.
    np.testing.assert_array_equal(cache.images[1], _random_pixels(1, *SIZE))
    # The file is a self-describing .npy.
    np.testing.assert_array_equal(np.load(cache.path), cache.images)


def test_unreadable_images_are_skipped_with_reasons(image_files, tmp_path):
    jpeg = io.BytesIO()
    Image.fromarray(_random_pixels(9, 40, 40)).save(jpeg, "JPEG")
    truncated = tmp_path / "truncated.jpg"
    truncated.write_bytes(jpeg.getvalue()[: len(jpeg.getvalue()) // 2])
    garbage = tmp_path / "garbage.jpg"
    garbage.write_bytes(b"this is not an image")
    missing = tmp_path / "missing.jpg"
    paths = [image_files[0], str(truncated), image_files[1], str(garbage), str(missing), image_files[2]]

    with pytest.warns(RuntimeWarning, match="skipped 3 of 6 images"):
        cache = ImageCache.build(_records(paths), SIZE, cache_dir=tmp_path / "c", progress=False, workers=2)

    assert len(cache) == 3 and cache.images.shape[0] == 3
    assert [r.path for r in cache.records] == [image_files[0], image_files[1], image_files[2]]
    assert [r.pid for r in cache.records] == [0, 2, 5]
    np.testing.assert_array_equal(cache.kept, [0, 2, 5])
    assert [p for p, _ in cache.skipped] == [str(truncated), str(garbage), str(missing)]
    reasons = [reason for _, reason in cache.skipped]
    assert reasons[0].startswith("OSError: image file is truncated")
    assert reasons[1].startswith("UnidentifiedImageError")
    assert reasons[2].startswith("FileNotFoundError")
    for row, path in zip(cache.images, [image_files[0], image_files[1], image_files[2]]):
        np.testing.assert_array_equal(row, _reference(path, SIZE))

    with pytest.warns(RuntimeWarning, match="skipped 3 of 6 images"):
        reopened = ImageCache.build(_records(paths), SIZE, cache_dir=tmp_path / "c", progress=False)
    assert reopened.path == cache.path and reopened.skipped == cache.skipped
    np.testing.assert_array_equal(reopened.kept, [0, 2, 5])


def test_no_readable_image_is_an_error(tmp_path):
    with pytest.raises(ValueError, match="none of the 2 images could be read"):
        ImageCache.build(
            _records([str(tmp_path / "x.jpg"), str(tmp_path / "y.jpg")]), SIZE, cache_dir=tmp_path / "c", progress=False
        )
    assert os.listdir(tmp_path / "c") == []


def test_second_build_reuses_without_decoding(image_files, tmp_path, count_default_reads):
    records = _records(image_files)
    first = ImageCache.build(records, SIZE, cache_dir=tmp_path / "c", progress=False)
    assert count_default_reads["n"] == len(image_files)
    second = ImageCache.build(records, SIZE, cache_dir=tmp_path / "c", progress=False)
    assert count_default_reads["n"] == len(image_files)
    assert second.path == first.path
    np.testing.assert_array_equal(second.images, first.images)


def test_changed_file_or_size_gives_a_new_cache(image_files, tmp_path, count_default_reads):
    records = _records(image_files)
    first = ImageCache.build(records, SIZE, cache_dir=tmp_path / "c", progress=False)
    first_images = np.array(first.images)

    Image.fromarray(_random_pixels(99, 30, 41)).save(image_files[0])
    stat = os.stat(image_files[0])
    os.utime(image_files[0], ns=(stat.st_atime_ns, stat.st_mtime_ns + 10**9))
    changed = ImageCache.build(records, SIZE, cache_dir=tmp_path / "c", progress=False)
    assert changed.path != first.path
    assert count_default_reads["n"] == 2 * len(image_files)
    np.testing.assert_array_equal(changed.images[0], _reference(image_files[0], SIZE))
    np.testing.assert_array_equal(changed.images[1:], first_images[1:])

    resized = ImageCache.build(records, (10, 7), cache_dir=tmp_path / "c", progress=False)
    assert resized.path not in (first.path, changed.path)
    assert resized.images.shape == (len(image_files), 10, 7, 3)
    np.testing.assert_array_equal(resized.images[3], _reference(image_files[3], (10, 7)))


class _Interrupt(BaseException):
    """Stands for a KeyboardInterrupt raised inside the reader."""


def test_interrupted_build_publishes_nothing(tmp_path):
    records = [ImageRecord(path=f"synthetic://{i}", pid=i) for i in range(8)]

    def interrupted(record):
        if record.path == "synthetic://3":
            raise _Interrupt
        return _random_pixels(1, 5, 5)

    with pytest.raises(_Interrupt):
        ImageCache.build(records, SIZE, cache_dir=tmp_path / "c", read_image=interrupted, key="k", progress=False)
    assert os.listdir(tmp_path / "c") == []

    def returns_garbage(record):
        return "not an image" if record.path == "synthetic://5" else _random_pixels(1, 5, 5)

    with pytest.raises(TypeError, match="read_image returned a bad image for synthetic://5"):
        ImageCache.build(records, SIZE, cache_dir=tmp_path / "c", read_image=returns_garbage, key="k", progress=False)
    assert os.listdir(tmp_path / "c") == []


def test_half_written_or_stale_files_are_not_used(image_files, tmp_path, count_default_reads):
    records = _records(image_files)
    cache = ImageCache.build(records, SIZE, cache_dir=tmp_path / "c", progress=False)
    sidecar = cache.path.with_suffix(".json")
    reference = np.array(cache.images)
    del cache

    # A published array without its sidecar (a build that stopped between the renames).
    sidecar.unlink()
    rebuilt = ImageCache.build(records, SIZE, cache_dir=tmp_path / "c", progress=False)
    assert count_default_reads["n"] == 2 * len(image_files)
    np.testing.assert_array_equal(rebuilt.images, reference)
    path = rebuilt.path
    del rebuilt

    # A sidecar whose array is truncated.
    np.save(path, reference[:2])
    rebuilt = ImageCache.build(records, SIZE, cache_dir=tmp_path / "c", progress=False)
    assert count_default_reads["n"] == 3 * len(image_files)
    np.testing.assert_array_equal(rebuilt.images, reference)
    del rebuilt

    # A stale temporary file of a crashed build is ignored (and left alone).
    path.unlink()
    sidecar.unlink()
    stale = path.parent / (path.stem + ".crashed.npy.tmp")
    with open(stale, "wb") as handle:
        np.save(handle, np.zeros_like(reference))
    rebuilt = ImageCache.build(records, SIZE, cache_dir=tmp_path / "c", progress=False)
    assert count_default_reads["n"] == 4 * len(image_files)
    np.testing.assert_array_equal(rebuilt.images, reference)
    assert sorted(os.listdir(tmp_path / "c")) == sorted([path.name, sidecar.name, stale.name])


def test_custom_reader_with_key(tmp_path):
    arrays = {f"synthetic://{i}": _random_pixels(10 + i, *(SIZE if i % 2 else (20 + i, 9))) for i in range(5)}
    records = [ImageRecord(path=p, pid=0) for p in arrays]
    calls = []

    def reader(record):
        calls.append(record.path)
        return arrays[record.path]

    cache = ImageCache.build(records, SIZE, cache_dir=tmp_path, read_image=reader, key="synthetic-v1", progress=False)
    for row, path in zip(cache.images, arrays):
        expected = arrays[path]
        if expected.shape[:2] != SIZE:
            expected = np.asarray(Image.fromarray(expected).resize((SIZE[1], SIZE[0]), Image.Resampling.BILINEAR))
        np.testing.assert_array_equal(row, expected)
    assert len(calls) == 5

    again = ImageCache.build(records, SIZE, cache_dir=tmp_path, read_image=reader, key="synthetic-v1", progress=False)
    assert again.path == cache.path and len(calls) == 5
    other = ImageCache.build(records, SIZE, cache_dir=tmp_path, read_image=reader, key="synthetic-v2", progress=False)
    assert other.path != cache.path and len(calls) == 10

    with pytest.raises(ValueError, match="key is None with a custom read_image"):
        ImageCache.build(records, SIZE, cache_dir=tmp_path, read_image=reader, progress=False)

    def wrong_dtype(record):
        return arrays[record.path].astype(np.float32)

    with pytest.raises(ValueError, match=r"uint8 array, got shape \(\d+, \d+, 3\) dtype float32"):
        ImageCache.build(records, SIZE, cache_dir=tmp_path, read_image=wrong_dtype, key="f32", progress=False)


def test_concurrent_builders_agree(image_files, tmp_path):
    records = _records(image_files)
    results, errors = [], []

    def build():
        try:
            results.append(ImageCache.build(records, SIZE, cache_dir=tmp_path / "c", progress=False, workers=1))
        except BaseException as error:  # noqa: BLE001 - collected and re-checked below
            errors.append(error)

    threads = [threading.Thread(target=build) for _ in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == [] and len(results) == 3
    assert len({r.path for r in results}) == 1
    for result in results:
        for row, path in zip(result.images, image_files):
            np.testing.assert_array_equal(row, _reference(path, SIZE))
    assert sorted(os.listdir(tmp_path / "c")) == sorted([results[0].path.name, results[0].path.stem + ".json"])


def test_batch_gathers_rows(image_files, tmp_path):
    cache = ImageCache.build(_records(image_files), SIZE, cache_dir=tmp_path, progress=False)
    indices = np.array([4, 0, 4, 2])
    batch = cache.batch(indices)
    assert batch.dtype == torch.uint8 and batch.shape == (4, *SIZE, 3) and batch.is_contiguous()
    np.testing.assert_array_equal(batch.numpy(), np.asarray(cache.images)[indices])
    out = torch.zeros((2, *SIZE, 3), dtype=torch.uint8)
    assert cache.batch(np.array([1, 3]), out=out) is out
    np.testing.assert_array_equal(out.numpy()[1], cache.images[3])
    assert cache.batch(np.array([], dtype=np.int64)).shape == (0, *SIZE, 3)
    with pytest.raises(ValueError, match="indices contains 6, outside 0..5"):
        cache.batch(np.array([0, 6]))
    with pytest.raises(ValueError, match="indices contains -1"):
        cache.batch(np.array([-1]))
    with pytest.raises(TypeError, match="indices must be a 1-d integer array"):
        cache.batch(np.array([0.0]))
    with pytest.raises(ValueError, match="out must be a contiguous uint8 CPU tensor"):
        cache.batch(np.array([0]), out=torch.zeros((2, *SIZE, 3), dtype=torch.uint8))


def test_default_cache_dir_follows_environment(image_files, tmp_path, monkeypatch):
    monkeypatch.setenv("REID_FAST_CACHE", str(tmp_path / "env-cache"))
    cache = ImageCache.build(_records(image_files[:2]), SIZE, progress=False)
    assert cache.path.parent == tmp_path / "env-cache"
    monkeypatch.delenv("REID_FAST_CACHE")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert cache_module.default_cache_dir() == tmp_path / "home" / ".cache" / "reid_fast"


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"size": (0, 5)}, ValueError, r"size must be a pair \(H, W\) of integers >= 1, got \(0, 5\)"),
        ({"size": (5,)}, ValueError, r"size must be a pair \(H, W\) of integers >= 1"),
        ({"records": []}, ValueError, "records is empty"),
        ({"workers": 0}, ValueError, "workers must be >= 1, got 0"),
    ],
)
def test_bad_arguments(image_files, tmp_path, kwargs, error, match):
    arguments = {"records": _records(image_files), "size": SIZE, "cache_dir": tmp_path, "progress": False}
    arguments.update(kwargs)
    with pytest.raises(error, match=match):
        ImageCache.build(**arguments)


def test_image_pixels_reads_sizes_from_headers(tmp_path):
    sizes = [(30, 20), (150, 100), (1, 1)]  # (W, H)
    records = []
    for index, (w, h) in enumerate(sizes):
        path = tmp_path / f"{index}.png"
        Image.new("RGB", (w, h)).save(path)
        records.append(ImageRecord(str(path), pid=index))
    assert cache_module.image_pixels(records).tolist() == [600, 15000, 1]
    assert cache_module.image_pixels([]).shape == (0,)
    (tmp_path / "broken.jpg").write_bytes(b"not an image")
    with pytest.raises(ValueError, match="broken.jpg"):
        cache_module.image_pixels(records + [ImageRecord(str(tmp_path / "broken.jpg"), pid=3)])
