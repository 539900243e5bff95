"""Batch samplers for training: plain shuffle, class-balanced, and P identities x K images.

Every sampler is deterministic under (seed, epoch) and ready for DistributedDataParallel:
each rank builds the same *global* sequence of batches of ``batch_size * world_size``
indices from (seed, epoch), then keeps its own slice of every global batch (rank r takes
positions ``r * batch_size .. (r + 1) * batch_size - 1``). The ranks therefore get
disjoint batches, the same number of them, and together exactly what one process with
``batch_size * world_size`` would get.

``labels`` are the training labels of the images, one int >= 0 per image (e.g. from
:func:`reid_fast.data.records.relabel`); junk images (label -1) must be left out of the
training set first.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Protocol, runtime_checkable

import numpy as np

from .. import validation

SAMPLER_NAMES = ("shuffle", "balanced", "pk")


@runtime_checkable
class BatchSampler(Protocol):
    """What the loader needs from a sampler."""

    batch_size: int
    """Images per batch on this rank."""

    def __len__(self) -> int:
        """Batches per epoch for this rank (the same on every rank)."""
        ...

    def batches(self, epoch: int) -> list[np.ndarray]:
        """This rank's batches for ``epoch``: (batch_size,) int64 index arrays."""
        ...


def check_labels(labels: Sequence[int] | np.ndarray) -> np.ndarray:
    """``labels`` as a 1-d int64 array, checked: non-empty integers, none negative."""
    array = np.asarray(labels)
    if array.ndim != 1 or (array.size and array.dtype.kind not in "iu"):
        raise TypeError(f"labels must be a 1-d sequence of ints, got shape {array.shape} dtype {array.dtype}")
    if array.size == 0:
        raise ValueError("labels is empty: nothing to sample")
    negative = np.flatnonzero(array < 0)
    if negative.size:
        raise ValueError(
            f"labels[{negative[0]}] is {array[negative[0]]}: training labels must be >= 0 "
            "(leave junk images, label -1, out of the training set)"
        )
    return array.astype(np.int64, copy=False)


class _GlobalSequenceSampler:
    """Shared part of the samplers: the (seed, epoch) generator and the split of the
    global batches across ranks. Subclasses implement ``_global_batches``."""

    def __init__(self, labels: Sequence[int] | np.ndarray, batch_size: int, seed: int, rank: int, world_size: int):
        self.labels = check_labels(labels)
        self.batch_size = validation.integer("batch_size", batch_size, 1)
        self.seed = validation.integer("seed", seed, 0)
        self.world_size = validation.integer("world_size", world_size, 1)
        self.rank = validation.integer("rank", rank, 0)
        if self.rank >= self.world_size:
            raise ValueError(f"rank must be in 0..world_size-1 = 0..{self.world_size - 1}, got {rank!r}")
        self.global_batch_size = self.batch_size * self.world_size

    def batches(self, epoch: int) -> list[np.ndarray]:
        """This rank's batches for ``epoch`` (int64 index arrays, see the module doc)."""
        rng = np.random.default_rng([self.seed, validation.integer("epoch", epoch, 0)])
        return [
            np.ascontiguousarray(batch.reshape(self.world_size, -1)[self.rank])
            for batch in self._global_batches(rng)
        ]

    def _global_batches(self, rng: np.random.Generator) -> list[np.ndarray]:
        raise NotImplementedError


class ShuffleSampler(_GlobalSequenceSampler):
    """A fresh permutation of all images every epoch, cut into batches.

    ``drop_last=True`` drops the last incomplete global batch. With ``drop_last=False`` it
    is kept, padded with the permutation's first images to a multiple of ``world_size``
    so that every rank gets the same (smaller) last batch; with one process it is simply
    the remainder.
    """

    def __init__(
        self,
        labels: Sequence[int] | np.ndarray,
        batch_size: int,
        *,
        seed: int = 0,
        rank: int = 0,
        world_size: int = 1,
        drop_last: bool = True,
    ) -> None:
        super().__init__(labels, batch_size, seed, rank, world_size)
        self.drop_last = bool(drop_last)
        count = len(self.labels)
        if self.drop_last:
            self._num_batches = count // self.global_batch_size
            if self._num_batches == 0:
                raise ValueError(
                    f"batch_size * world_size = {self.global_batch_size} exceeds the {count} labels "
                    "with drop_last=True: an epoch would have no batch"
                )
        else:
            self._num_batches = math.ceil(count / self.global_batch_size)

    def __len__(self) -> int:
        return self._num_batches

    def _global_batches(self, rng: np.random.Generator) -> list[np.ndarray]:
        order = rng.permutation(len(self.labels))
        full = len(order) // self.global_batch_size
        batches = list(order[: full * self.global_batch_size].reshape(full, self.global_batch_size))
        if full < self._num_batches:
            rest = order[full * self.global_batch_size :]
            padding = np.resize(order, (-len(rest)) % self.world_size)
            batches.append(np.concatenate([rest, padding]))
        return batches


class ClassBalancedSampler(_GlobalSequenceSampler):
    """Images drawn with replacement, each with weight 1 / (images of its class), so every
    class is equally likely in every draw.

    ``num_samples``: draws per epoch over all ranks (default: the number of labels),
    rounded down to whole global batches.
    """

    def __init__(
        self,
        labels: Sequence[int] | np.ndarray,
        batch_size: int,
        *,
        seed: int = 0,
        rank: int = 0,
        world_size: int = 1,
        num_samples: int | None = None,
    ) -> None:
        super().__init__(labels, batch_size, seed, rank, world_size)
        self.num_samples = (len(self.labels) if num_samples is None
                            else validation.integer("num_samples", num_samples, 1))
        self._num_batches = self.num_samples // self.global_batch_size
        if self._num_batches == 0:
            raise ValueError(
                f"batch_size * world_size = {self.global_batch_size} exceeds num_samples = "
                f"{self.num_samples}: an epoch would have no batch"
            )
        self._by_class = np.argsort(self.labels, kind="stable")
        _, self._class_start, self._class_count = np.unique(
            self.labels[self._by_class], return_index=True, return_counts=True
        )

    def __len__(self) -> int:
        return self._num_batches

    def _global_batches(self, rng: np.random.Generator) -> list[np.ndarray]:
        draws = self._num_batches * self.global_batch_size
        classes = rng.integers(len(self._class_count), size=draws)
        members = rng.integers(0, self._class_count[classes])
        picks = self._by_class[self._class_start[classes] + members]
        return list(picks.reshape(self._num_batches, self.global_batch_size))


class PKSampler(_GlobalSequenceSampler):
    """Batches of ``p`` distinct identities x ``k`` images each (``batch_size = p * k``).

    Every epoch each identity's images are shuffled and cut into chunks of ``k`` (an
    identity with fewer than ``k`` images gets one chunk drawn with replacement; a
    remainder shorter than ``k`` is dropped). Each global batch takes one chunk from each
    of ``p * world_size`` distinct identities, chosen with probability proportional to
    their chunks left, so an epoch uses every identity about ``len(images) / k`` times.
    When fewer identities than needed have chunks left, the exhausted ones get fresh
    chunks. The epoch has ``total chunks // (p * world_size)`` batches.

    Fewer identities than ``p * world_size`` (classes of a camera or orientation task:
    8 cameras for p = 16): then ``classes_repeat`` is True and each global batch takes
    ``P // C`` chunks of every one of the C identities and one more chunk of ``P % C`` of
    them (P = p * world_size), so an identity fills several chunks of a batch. The extra
    ones are chosen like the distinct identities above (by chunks left, the exhausted
    ones refilled when too few have any); an identity whose chunks run short of what the
    batch takes gets fresh ones. The chunks are laid out in rounds, one chunk of each identity in a
    random order per round, so that every rank's slice spans as many identities as it can.
    """

    def __init__(
        self,
        labels: Sequence[int] | np.ndarray,
        p: int,
        k: int,
        *,
        seed: int = 0,
        rank: int = 0,
        world_size: int = 1,
    ) -> None:
        self.p = validation.integer("p", p, 1)
        self.k = validation.integer("k", k, 1)
        super().__init__(labels, self.p * self.k, seed, rank, world_size)
        by_class = np.argsort(self.labels, kind="stable")
        _, starts, counts = np.unique(self.labels[by_class], return_index=True, return_counts=True)
        self._members = np.split(by_class, starts[1:])
        self._ids_per_batch = self.p * self.world_size
        self.classes_repeat = len(self._members) < self._ids_per_batch
        self._chunks_per_id = np.maximum(counts // self.k, 1)
        self._num_batches = int(self._chunks_per_id.sum()) // self._ids_per_batch

    def __len__(self) -> int:
        return self._num_batches

    def _chunks(self, rng: np.random.Generator, identity: int) -> list[np.ndarray]:
        members = self._members[identity]
        if len(members) < self.k:
            shuffled = rng.choice(members, self.k, replace=True)
        else:
            shuffled = rng.permutation(members)[: self._chunks_per_id[identity] * self.k]
        return list(shuffled.reshape(-1, self.k))

    def _global_batches(self, rng: np.random.Generator) -> list[np.ndarray]:
        if self.classes_repeat:
            return self._repeating_batches(rng)
        stock = [self._chunks(rng, identity) for identity in range(len(self._members))]
        left = np.array([len(chunks) for chunks in stock], dtype=np.float64)
        batches = []
        for _ in range(self._num_batches):
            if np.count_nonzero(left) < self._ids_per_batch:
                for identity in np.flatnonzero(left == 0):
                    stock[identity] = self._chunks(rng, identity)
                    left[identity] = len(stock[identity])
            chosen = rng.choice(len(stock), size=self._ids_per_batch, replace=False, p=left / left.sum())
            left[chosen] -= 1
            batches.append(np.concatenate([stock[identity].pop() for identity in chosen]))
        return batches


    def _repeating_batches(self, rng: np.random.Generator) -> list[np.ndarray]:
        """The batches when there are fewer identities than chunks per batch (see the class
        docstring)."""
        count = len(self._members)
        repeats, extra = divmod(self._ids_per_batch, count)
        stock = [self._chunks(rng, identity) for identity in range(count)]
        batches = []
        for _ in range(self._num_batches):
            need = np.full(count, repeats)
            if extra:
                left = np.array([len(chunks) for chunks in stock], dtype=np.float64)
                if np.count_nonzero(left) < extra:
                    for identity in np.flatnonzero(left == 0):
                        stock[identity] = self._chunks(rng, identity)
                        left[identity] = len(stock[identity])
                need[rng.choice(count, size=extra, replace=False, p=left / left.sum())] += 1
            for identity in range(count):
                while len(stock[identity]) < need[identity]:
                    stock[identity] = self._chunks(rng, identity) + stock[identity]  # old ones pop first
            order = rng.permutation(count)
            rounds = [identity for r in range(int(need.max())) for identity in order if need[identity] > r]
            batches.append(np.concatenate([stock[identity].pop() for identity in rounds]))
        return batches


def build_sampler(
    name: str,
    labels: Sequence[int] | np.ndarray,
    batch_size: int,
    *,
    k: int = 4,
    seed: int = 0,
    rank: int = 0,
    world_size: int = 1,
) -> BatchSampler:
    """The sampler called ``name``: ``"shuffle"`` (:class:`ShuffleSampler`, drop_last),
    ``"balanced"`` (:class:`ClassBalancedSampler`) or ``"pk"`` (:class:`PKSampler` with
    ``p = batch_size // k``; ``batch_size`` must be a multiple of ``k``; with fewer classes
    than ``p * world_size`` a batch takes classes more than once)."""
    if name == "shuffle":
        return ShuffleSampler(labels, batch_size, seed=seed, rank=rank, world_size=world_size)
    if name == "balanced":
        return ClassBalancedSampler(labels, batch_size, seed=seed, rank=rank, world_size=world_size)
    if name == "pk":
        batch_size = validation.integer("batch_size", batch_size, 1)
        k = validation.integer("k", k, 1)
        if batch_size % k:
            raise ValueError(f"batch_size must be a multiple of k = {k} for the pk sampler, got {batch_size}")
        return PKSampler(labels, batch_size // k, k, seed=seed, rank=rank, world_size=world_size)
    raise ValueError(f"name must be one of {SAMPLER_NAMES}, got {name!r}")
