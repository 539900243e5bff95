"""The native workspace sizes refuse what does not fit, whoever the caller: a negative
size, or a product or sum of sizes beyond int64 or the address space, is a ValueError from
the carver (csrc/include/reid_fast/workspace.h), never a wrapped size that a kernel then
writes past. The public ops validate their arguments first; these calls go straight to the
bindings, as a future caller could."""

from __future__ import annotations

import pytest

from reid_fast._native import _C

INT64_MAX = 2**63 - 1


@pytest.mark.parametrize(
    "call, message",
    [
        pytest.param(lambda: _C.knn_workspace_bytes(2**62, 2**62, 512, 1, "cpu", 0),
                     r"workspace size overflows int64", id="knn-panels-product"),
        pytest.param(lambda: _C.pairwise_distance_workspace_bytes(2**40, 4, 2**40, "cpu"),
                     r"workspace size overflows int64", id="pairwise-panels-product"),
        pytest.param(lambda: _C.jaccard_workspace_bytes(1, 1, 1, INT64_MAX, 1, "cpu"),
                     r"workspace size 9223372036854775807 \+ 1 is negative or overflows int64",
                     id="jaccard-columns-plus-one"),
        pytest.param(lambda: _C.jaccard_workspace_bytes(1, 1, 1, 2**62, 1, "cpu"),
                     r"workspace region of 4611686018427387905 elements of 8 bytes overflows",
                     id="jaccard-columns-bytes"),
        pytest.param(lambda: _C.jaccard_workspace_bytes(1, 1, -5, 3, 1, "cpu"),
                     r"workspace region of -5 elements: sizes must be >= 0", id="negative-region"),
        pytest.param(lambda: _C.jaccard_workspace_bytes(1, 1, 1, 3, -1, "cpu"),
                     r"workspace size factor -1 must be >= 0", id="negative-factor"),
    ],
)
def test_sizes_that_do_not_fit_are_refused(call, message):
    with pytest.raises(ValueError, match=message):
        call()


def test_sizes_that_fit_are_measured():
    """The checks leave ordinary sizes alone: the Jaccard workspace grows by 8 bytes per
    column (the column starts), up to the carver's 256-byte alignment."""
    small = _C.jaccard_workspace_bytes(4, 4, 8, 1000, 4, "cpu")
    large = _C.jaccard_workspace_bytes(4, 4, 8, 1000 + 256, 4, "cpu")
    assert large - small == 256 * 8
