"""Host synchronisations of re-ranking (docs/design.md 2), counted on the CPU.

On CUDA every read of a tensor's data into Python (``.item()``, ``.tolist()``, ``int(t)``,
``float(t)``, ``bool(t)``, ``.cpu()``, ...) waits for the stream. The same Python code runs
on the CPU, so counting those calls on CPU tensors counts the syncs a CUDA call makes.
Re-ranking checks its user's inputs and reads back the nnz of each two-phase CSR output; the
ops it calls on what it derived itself (knn of the checked features, topk_rows of the checked
matrices, the CSR rows of V') do not check those again (``_arrays.derived_inputs``). Before
that, one call made 25 such reads on the CPU (35 syncs on CUDA, where knn and
pairwise_distance check finiteness too).
"""

from __future__ import annotations

import collections

import numpy as np
import pytest
import torch
import torch.distributed as dist

import reid_fast
import reid_fast.ops.sharded
import reid_testing as rt
from reid_fast.ops import _arrays

# The torch.Tensor methods that copy its data to the host.
HOST_READS = ("item", "tolist", "cpu", "numpy", "__array__", "__int__", "__float__", "__bool__",
              "__index__")

# One min/max per features array (query, gallery), or one for the three matrices.
FEATURE_CHECKS = 2
MATRIX_CHECKS = 1
# The nnz of V (with its longest row, for V''s workspace), then the nnz of V' when k2 > 1.
CSR_READS = {1: 1, 6: 2}


@pytest.fixture
def host_reads(monkeypatch) -> collections.Counter:
    """Counts, by method, the reads of tensor data into Python from here on."""
    counts = collections.Counter()
    for name in HOST_READS:
        original = getattr(torch.Tensor, name)

        def counted(self, *args, _original=original, _name=name, **kwargs):
            counts[_name] += 1
            return _original(self, *args, **kwargs)

        monkeypatch.setattr(torch.Tensor, name, counted)
    return counts


def _features(rng, q=12, g=40, d=8):
    query, gallery = (torch.from_numpy(rt.random_features(rng, rows, d).astype(np.float32))
                      for rows in (q, g))
    return query, gallery


def _matrices(query, gallery):
    f = torch.cat([query, gallery])
    e = torch.cdist(f, f)
    q = query.shape[0]
    return e[:q, q:].contiguous(), e[:q, :q].contiguous(), e[q:, q:].contiguous()


@pytest.mark.parametrize("k2", sorted(CSR_READS))
def test_rerank_from_features(rng, host_reads, k2):
    query, gallery = _features(rng)
    host_reads.clear()
    reid_fast.rerank(query, gallery, k1=10, k2=k2)
    assert sum(host_reads.values()) == FEATURE_CHECKS + CSR_READS[k2], host_reads


@pytest.mark.parametrize("op", [reid_fast.rerank_distances, reid_fast.rerank_similarities])
@pytest.mark.parametrize("k2", sorted(CSR_READS))
def test_rerank_from_matrices(rng, host_reads, op, k2):
    q_g, q_q, g_g = _matrices(*_features(rng))
    if op is reid_fast.rerank_similarities:
        q_g, q_q, g_g = (1 - m / 2 for m in (q_g, q_q, g_g))
    host_reads.clear()
    op(q_g, q_q, g_g, k1=10, k2=k2)
    assert sum(host_reads.values()) == MATRIX_CHECKS + CSR_READS[k2], host_reads


def test_sharded_rerank(rng, host_reads, tmp_path):
    """One process: the same reads as rerank (the gathers are collectives, not reads)."""
    query, gallery = _features(rng)
    dist.init_process_group("gloo", init_method=f"file://{tmp_path / 'init'}", rank=0,
                            world_size=1)
    try:
        host_reads.clear()
        reid_fast.ops.sharded.rerank(query, gallery, k1=10, k2=6)
        reads = sum(host_reads.values())
    finally:
        dist.destroy_process_group()
    assert reads == FEATURE_CHECKS + CSR_READS[6], host_reads


def test_the_user_inputs_are_still_checked(rng):
    """Only re-ranking's internal calls skip the checks of values: a NaN in the features, a bad
    CSR given to jaccard_distance, a NaN matrix given to topk_rows are still errors after a
    re-ranking call."""
    query, gallery = _features(rng)
    reid_fast.rerank(query, gallery, k1=10)
    query[1, 2] = float("nan")
    with pytest.raises(ValueError, match=r"\bquery\b.*finite"):
        reid_fast.rerank(query, gallery, k1=10)
    rows = rt.sparse_rows(np.array([[0.5, 0.0, 1.0]], np.float32))
    unordered = reid_fast.SparseRows(rows.indptr, rows.indices[::-1].copy(), rows.values, 3)
    with pytest.raises(ValueError, match=r"\bindices\b"):
        reid_fast.jaccard_distance(unordered, rows)
    with pytest.raises(ValueError, match=r"\bmatrix\b.*finite"):
        reid_fast.topk_rows(np.array([[1.0, np.nan]], np.float32), 1)


def test_feature_checks_skipped_inside_derived_inputs():
    """The finiteness check knn and pairwise_distance make on CUDA (and here, where it is
    forced) is what derived_inputs skips: the CPU counts above cannot see it."""
    x = np.array([[1.0, np.nan]], np.float32)
    with pytest.raises(ValueError, match=r"\bx\b.*finite"):
        _arrays.feature_pair(x, x, False, always_check_finite=True)
    with _arrays.derived_inputs():
        _arrays.feature_pair(x, x, False, always_check_finite=True)


def test_derived_inputs_is_scoped():
    assert _arrays.check_values()
    with pytest.raises(RuntimeError):
        with _arrays.derived_inputs():
            assert not _arrays.check_values()
            raise RuntimeError("inside")
    assert _arrays.check_values()
