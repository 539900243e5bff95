"""Tiny inputs re-rank as their scaled-up copies do (issue 17, item 2's other end).

Re-ranking does not change when the distances are scaled (Dn divides by row maxima), and a
power-of-two scaling is exact in float32. So re-ranking features of norm ~1e-21 (2**-70
times unit features), or distance matrices of ~1e-21, must give bitwise the result of the
unscaled inputs. Before, their squared distances were float32 subnormals whose reciprocals
overflow: Dn and the result were Inf or NaN, without an error.
"""

from __future__ import annotations

import numpy as np
import pytest

import reid_fast
import reid_testing as rt

TINY = 2.0 ** -70  # exact in float32 and bfloat16; squared, below float32's smallest normal


def _features(rng, rows: int = 30, d: int = 8) -> np.ndarray:
    features, _ = rt.clustered_features(rng, rows, d, identities=6)
    return features / np.linalg.norm(features, axis=1, keepdims=True)


@pytest.mark.parametrize("framework, dtype", [("numpy", "float32"), ("torch", "float32"),
                                              ("torch", "bfloat16")])
def test_tiny_features(rng, framework, dtype):
    features = _features(rng)
    unit = rt.make_array(features, framework, "cpu", dtype)
    tiny = unit * TINY
    assert (rt.to_float64(tiny) == rt.to_float64(unit) * TINY).all()  # the scaling is exact
    got = rt.to_numpy(reid_fast.rerank(tiny[:10], tiny[10:], k1=8, k2=3))
    expected = rt.to_numpy(reid_fast.rerank(unit[:10], unit[10:], k1=8, k2=3))
    assert np.isfinite(got).all()
    np.testing.assert_array_equal(got, expected)


def test_tiny_distance_matrices(rng):
    features = _features(rng)
    e = np.sqrt(((features[:, None] - features[None]) ** 2).sum(-1)).astype(np.float32)
    blocks = lambda m: (m[:10, 10:], m[:10, :10], m[10:, 10:])  # noqa: E731
    got = reid_fast.rerank_distances(*blocks(e * np.float32(TINY)), k1=8, k2=3)
    expected = reid_fast.rerank_distances(*blocks(e), k1=8, k2=3)
    assert np.isfinite(got).all()
    np.testing.assert_array_equal(got, expected)


def test_a_row_of_a_matrix_with_a_subnormal_maximum_stays_finite():
    """A user's matrix in which one item is 1e-22 from every other (its squared distances
    1e-44, a subnormal, while the others are 1 apart): that row is normalised by float32's
    smallest normal number instead (reid_fast.ops.rerank.row_scale), so Dn and the result
    stay finite and in [0, 1]."""
    n, q = 8, 3
    e = np.ones((n, n), np.float32) - np.eye(n, dtype=np.float32)
    e[0, 1:] = e[1:, 0] = 1e-22
    got = reid_fast.rerank_distances(e[:q, q:], e[:q, :q], e[q:, q:], k1=4, k2=2)
    assert np.isfinite(got).all() and got.min() >= 0 and got.max() <= 1
