"""Samplers: determinism, epoch content, PK structure, class balance, and the split of
the global batch sequence across DistributedDataParallel ranks."""

from __future__ import annotations

from collections import Counter

import numpy as np
import pytest

from reid_fast.data.samplers import (
    BatchSampler,
    ClassBalancedSampler,
    PKSampler,
    ShuffleSampler,
    build_sampler,
)

# 12 identities with 1..23 images each (some fewer than k = 4), in shuffled order.
SIZES = [1, 2, 3, 4, 5, 6, 7, 9, 11, 13, 17, 23]
LABELS = np.random.default_rng(0).permutation(np.repeat(np.arange(len(SIZES)), SIZES))


def _make(kind: str, world_size: int = 1, rank: int = 0, seed: int = 0, scale: int = 1) -> BatchSampler:
    """A sampler of each kind on LABELS; ``scale`` multiplies the per-rank batch size."""
    if kind == "shuffle":
        return ShuffleSampler(LABELS, 6 * scale, seed=seed, rank=rank, world_size=world_size)
    if kind == "balanced":
        return ClassBalancedSampler(LABELS, 6 * scale, seed=seed, rank=rank, world_size=world_size)
    return PKSampler(LABELS, 2 * scale, 4, seed=seed, rank=rank, world_size=world_size)


KINDS = ["shuffle", "balanced", "pk"]


@pytest.mark.parametrize("kind", KINDS)
def test_deterministic_under_seed_and_epoch(kind):
    first, second = _make(kind), _make(kind)
    assert isinstance(first, BatchSampler)
    epoch3 = first.batches(3)
    assert len(epoch3) == len(first) > 0
    for batch in epoch3:
        assert batch.dtype == np.int64 and batch.shape == (first.batch_size,)
        assert batch.min() >= 0 and batch.max() < len(LABELS)
    for a, b in zip(epoch3, second.batches(3)):
        np.testing.assert_array_equal(a, b)
    assert not np.array_equal(np.concatenate(epoch3), np.concatenate(first.batches(4)))
    assert not np.array_equal(np.concatenate(epoch3), np.concatenate(_make(kind, seed=1).batches(3)))


def test_shuffle_epoch_is_a_permutation():
    count = len(LABELS)  # 101
    sampler = ShuffleSampler(LABELS, 10, seed=5)
    batches = sampler.batches(0)
    assert len(sampler) == len(batches) == count // 10
    seen = np.concatenate(batches)
    assert len(set(seen.tolist())) == len(seen) == 100 and set(seen.tolist()) <= set(range(count))

    keep_last = ShuffleSampler(LABELS, 10, seed=5, drop_last=False)
    batches = keep_last.batches(0)
    assert len(keep_last) == len(batches) == 11 and [len(b) for b in batches] == [10] * 10 + [1]
    assert sorted(np.concatenate(batches).tolist()) == list(range(count))


def test_pk_batches_hold_p_identities_times_k_images():
    p, k = 3, 4
    sampler = PKSampler(LABELS, p, k, seed=2)
    chunks = np.maximum(np.array(SIZES) // k, 1)
    assert sampler.batch_size == p * k and len(sampler) == chunks.sum() // p
    for batch in sampler.batches(0):
        ids = LABELS[batch]
        counts = Counter(ids.tolist())
        assert len(counts) == p and set(counts.values()) == {k}
        for identity in counts:
            members = batch[ids == identity]
            if SIZES[identity] >= k:  # replacement only for identities with fewer than k images
                assert len(set(members.tolist())) == k


def test_pk_epoch_uses_each_identity_about_images_over_k_times():
    p, k, epochs = 3, 4, 40
    sampler = PKSampler(LABELS, p, k, seed=3)
    uses = np.zeros(len(SIZES))
    for epoch in range(epochs):
        for batch in sampler.batches(epoch):
            uses[np.unique(LABELS[batch])] += 1
    expected = np.maximum(np.array(SIZES) // k, 1) * (len(sampler) * p) / np.maximum(np.array(SIZES) // k, 1).sum()
    np.testing.assert_allclose(uses / epochs, expected, rtol=0.2, atol=0.2)


def test_pk_with_fewer_classes_than_p_takes_each_class_p_over_c_times():
    # 8 classes (cameras) of 30..100 images, the trainer's default p = 16, k = 4.
    sizes = [30, 40, 50, 60, 70, 80, 90, 100]
    labels = np.random.default_rng(1).permutation(np.repeat(np.arange(8), sizes))
    sampler = PKSampler(labels, 16, 4, seed=0)
    assert sampler.classes_repeat and sampler.batch_size == 64
    assert len(sampler) == sum(n // 4 for n in sizes) // 16 == 128 // 16
    for batch in sampler.batches(0):
        ids = labels[batch]
        assert Counter(ids.tolist()) == {c: 8 for c in range(8)}  # 16 chunks = 2 per class
        assert all(len(set(chunk.tolist())) == 1 for chunk in ids.reshape(16, 4))  # chunks of one class
        assert set(ids[:32].tolist()) == set(range(8))  # rounds: every class in the first 8 chunks
    assert not PKSampler(labels, 8, 4).classes_repeat


def test_pk_repeats_split_the_remainder_and_the_ranks():
    # 12 identities, 14 chunks per global batch: each once, two of them twice.
    ranks = [PKSampler(LABELS, 7, 4, seed=4, rank=r, world_size=2) for r in range(2)]
    single = PKSampler(LABELS, 14, 4, seed=4)
    assert all(s.classes_repeat for s in ranks + [single]) and len(ranks[0]) == len(single)
    for step, global_batch in enumerate(single.batches(1)):
        counts = Counter(LABELS[global_batch].tolist())
        assert set(counts) == set(range(12)) and sorted(counts.values()) == [4] * 10 + [8] * 2
        parts = [sampler.batches(1)[step] for sampler in ranks]
        np.testing.assert_array_equal(np.concatenate(parts), global_batch)
        assert len(set(LABELS[parts[0]].tolist())) == 7  # the first round: distinct identities
    # The doubled identities are drawn by chunks left, two without replacement from fresh
    # chunks (one batch per epoch): identity 11 (23 images, 5 of the 23 chunks) with
    # probability 0.41, identity 0 (1 image, 1 chunk) 0.09; 400 epochs: ~165 and ~36.
    doubled = Counter()
    for epoch in range(400):
        for batch in single.batches(epoch):
            doubled.update(c for c, n in Counter(LABELS[batch].tolist()).items() if n == 8)
    assert len(single) == 1 and doubled[11] > 2.5 * doubled[0] > 0


def test_balanced_sampler_makes_classes_equally_likely():
    labels = np.concatenate([np.zeros(500, dtype=np.int64), np.repeat(np.arange(1, 10), 5)])
    sampler = ClassBalancedSampler(labels, 50, seed=7, num_samples=10_000)
    assert len(sampler) == 200
    drawn = labels[np.concatenate(sampler.batches(0))]
    observed = np.bincount(drawn, minlength=10)
    expected = len(drawn) / 10
    chi_square = ((observed - expected) ** 2 / expected).sum()
    assert chi_square < 27.88  # the 99.9% quantile of chi-square with 9 degrees of freedom
    # Within a class every image is drawn (class 0 has 500 images, ~1000 draws).
    assert len(np.unique(np.concatenate(sampler.batches(0))[drawn == 0])) > 400


@pytest.mark.parametrize("world_size", [2, 3])
@pytest.mark.parametrize("kind", KINDS)
def test_ranks_split_the_global_sequence(kind, world_size):
    ranks = [_make(kind, world_size, rank, seed=4) for rank in range(world_size)]
    single = _make(kind, seed=4, scale=world_size)
    lengths = {len(sampler) for sampler in ranks}
    assert lengths == {len(single)}
    per_rank = [sampler.batches(1) for sampler in ranks]
    global_batches = single.batches(1)
    assert all(len(batches) == len(global_batches) for batches in per_rank)
    for step, global_batch in enumerate(global_batches):
        parts = [batches[step] for batches in per_rank]
        np.testing.assert_array_equal(np.concatenate(parts), global_batch)
        if kind == "pk":
            id_sets = [set(LABELS[part].tolist()) for part in parts]
            assert sum(len(s) for s in id_sets) == len(set().union(*id_sets)) == 2 * world_size
    if kind == "shuffle":
        flat = [set(np.concatenate(batches).tolist()) for batches in per_rank]
        assert sum(len(s) for s in flat) == len(set().union(*flat))


@pytest.mark.parametrize("world_size", [2, 3])
def test_shuffle_keep_last_pads_ranks_equally(world_size):
    ranks = [ShuffleSampler(LABELS, 8, rank=r, world_size=world_size, drop_last=False) for r in range(world_size)]
    single = ShuffleSampler(LABELS, 8 * world_size, drop_last=False)
    last = [sampler.batches(0)[-1] for sampler in ranks]
    assert len({len(part) for part in last}) == 1 and len({len(s) for s in ranks}) == 1
    combined = np.concatenate(last)
    single_batches = single.batches(0)
    remainder = single_batches[-1]
    np.testing.assert_array_equal(combined[: len(remainder)], remainder)
    padding = combined[len(remainder) :]
    assert len(padding) == (-len(remainder)) % world_size
    np.testing.assert_array_equal(padding, np.concatenate(single_batches)[: len(padding)])
    covered = np.concatenate([np.concatenate(sampler.batches(0)) for sampler in ranks])
    assert set(covered.tolist()) == set(range(len(LABELS)))


def test_build_sampler_names():
    assert isinstance(build_sampler("shuffle", LABELS, 8), ShuffleSampler)
    assert isinstance(build_sampler("balanced", LABELS, 8), ClassBalancedSampler)
    pk = build_sampler("pk", LABELS, 8, k=2, rank=1, world_size=2)
    assert isinstance(pk, PKSampler) and (pk.p, pk.k, pk.batch_size, pk.rank) == (4, 2, 8, 1)
    with pytest.raises(ValueError, match="batch_size must be a multiple of k = 4 for the pk sampler, got 10"):
        build_sampler("pk", LABELS, 10)
    with pytest.raises(ValueError, match=r"name must be one of \('shuffle', 'balanced', 'pk'\), got 'random'"):
        build_sampler("random", LABELS, 8)


@pytest.mark.parametrize(
    ("make", "error", "match"),
    [
        (lambda: ShuffleSampler([0, 1, -1, 2], 2), ValueError, r"labels\[2\] is -1: training labels must be >= 0"),
        (lambda: ShuffleSampler([0.0, 1.0], 1), TypeError, "labels must be a 1-d sequence of ints"),
        (lambda: ShuffleSampler([], 1), ValueError, "labels is empty"),
        (lambda: ShuffleSampler(LABELS, 0), ValueError, "batch_size must be >= 1, got 0"),
        (lambda: ShuffleSampler(LABELS, 4, rank=2, world_size=2), ValueError, r"rank must be in 0..world_size-1"),
        (lambda: ShuffleSampler(LABELS, 60, world_size=2), ValueError, "batch_size \\* world_size = 120 exceeds"),
        (lambda: ClassBalancedSampler(LABELS, 8, num_samples=4), ValueError, "exceeds num_samples = 4"),
        (lambda: ShuffleSampler(LABELS, 4).batches(-1), ValueError, "epoch must be >= 0, got -1"),
    ],
)
def test_bad_arguments(make, error, match):
    with pytest.raises(error, match=match):
        make()
