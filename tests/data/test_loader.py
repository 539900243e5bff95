"""BatchLoader: batches match the sampler and the source images, resume offset, thread
shutdown on early exit, and errors raised in the caller."""

from __future__ import annotations

import threading

import numpy as np
import pytest
import torch

from reid_fast.data.cache import ImageCache
from reid_fast.data.loader import BatchLoader
from reid_fast.data.records import ImageRecord
from reid_fast.data.samplers import ShuffleSampler

SIZE = (5, 4)
COUNT = 30


def _pixels(index: int) -> np.ndarray:
    """Image ``index``: channel 0 = index, channel 1 = row * 10 + column, channel 2 = 255 - index."""
    height, width = SIZE
    image = np.empty((height, width, 3), dtype=np.uint8)
    image[..., 0] = index
    image[..., 1] = np.arange(height)[:, None] * 10 + np.arange(width)[None, :]
    image[..., 2] = 255 - index
    return image


@pytest.fixture
def cache(tmp_path):
    records = [ImageRecord(path=f"synthetic://{i}", pid=i % 7) for i in range(COUNT)]
    return ImageCache.build(
        records, SIZE, cache_dir=tmp_path, read_image=lambda r: _pixels(int(r.path[12:])), key="loader", progress=False
    )


LABELS = [i % 7 for i in range(COUNT)]


def _loader_threads() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name == "reid_fast-BatchLoader"]


def _check_batch(images, labels, indices, device="cpu"):
    assert images.shape == (len(indices), 3, *SIZE) and images.dtype == torch.uint8
    assert images.device.type == device and labels.device.type == device
    assert images.is_contiguous(memory_format=torch.channels_last)
    expected = np.stack([_pixels(i) for i in indices]).transpose(0, 3, 1, 2)
    np.testing.assert_array_equal(images.cpu().numpy(), expected)
    assert labels.dtype == torch.int64
    np.testing.assert_array_equal(labels.cpu().numpy(), [LABELS[i] for i in indices])


@pytest.mark.parametrize("prefetch", [0, 2])
def test_batches_follow_the_sampler(cache, prefetch):
    sampler = ShuffleSampler(LABELS, 4, seed=1)
    loader = BatchLoader(cache, LABELS, sampler, prefetch=prefetch)
    assert len(loader) == len(sampler) == 7
    produced = list(loader.epoch(2))
    expected = sampler.batches(2)
    assert len(produced) == len(expected)
    for (images, labels, indices), batch in zip(produced, expected):
        np.testing.assert_array_equal(indices, batch)
        _check_batch(images, labels, indices)
    assert _loader_threads() == []


def test_start_resumes_part_way(cache):
    sampler = ShuffleSampler(LABELS, 4, seed=1)
    loader = BatchLoader(cache, LABELS, sampler)
    resumed = [indices for _, _, indices in loader.epoch(5, start=3)]
    expected = sampler.batches(5)[3:]
    assert len(resumed) == len(expected) == 4
    for got, batch in zip(resumed, expected):
        np.testing.assert_array_equal(got, batch)
    assert list(loader.epoch(5, start=len(sampler))) == []
    with pytest.raises(ValueError, match=r"start must be between 0 and the number of batches \(7\), got 8"):
        loader.epoch(5, start=8)


def test_early_break_stops_the_thread(cache):
    loader = BatchLoader(cache, LABELS, ShuffleSampler(LABELS, 2), prefetch=1)
    for step, (images, _, indices) in enumerate(loader.epoch(0)):
        _check_batch(images, loader.labels[torch.from_numpy(indices)], indices)
        if step == 1:
            break
    assert _loader_threads() == []

    iterator = loader.epoch(1)
    next(iterator)
    assert len(_loader_threads()) == 1
    iterator.close()
    assert _loader_threads() == []


class _BadSampler:
    """Yields a cache position out of range in its third batch."""

    batch_size = 2

    def __len__(self) -> int:
        return 4

    def batches(self, epoch: int) -> list[np.ndarray]:
        return [np.array([0, 1]), np.array([2, 3]), np.array([4, COUNT]), np.array([5, 6])]


def test_errors_in_the_thread_reach_the_caller(cache):
    loader = BatchLoader(cache, LABELS, _BadSampler())
    received = []
    with pytest.raises(ValueError, match=f"indices contains {COUNT}, outside 0..{COUNT - 1}"):
        for _, _, indices in loader.epoch(0):
            received.append(indices.tolist())
    assert received == [[0, 1], [2, 3]]
    assert _loader_threads() == []


def test_bad_arguments(cache):
    sampler = ShuffleSampler(LABELS, 4)
    with pytest.raises(ValueError, match=f"labels has 3 entries but the cache has {COUNT} images"):
        BatchLoader(cache, [0, 1, 2], sampler)
    with pytest.raises(TypeError, match="labels must be a 1-d sequence of ints"):
        BatchLoader(cache, np.zeros(COUNT), sampler)
    with pytest.raises(ValueError, match="prefetch must be >= 0, got -1"):
        BatchLoader(cache, LABELS, sampler, prefetch=-1)
    assert BatchLoader(cache, LABELS, sampler).prefetch == 0          # CPU default
    assert BatchLoader(cache, LABELS, sampler, prefetch=3).prefetch == 3


@pytest.mark.cuda
def test_cuda_batches(cache):
    sampler = ShuffleSampler(LABELS, 4, seed=1)
    loader = BatchLoader(cache, LABELS, sampler, device="cuda")
    for (images, labels, indices), batch in zip(loader.epoch(0), sampler.batches(0)):
        np.testing.assert_array_equal(indices, batch)
        _check_batch(images, labels, indices, device="cuda")
    assert _loader_threads() == []
