"""Shared helpers of the tests of reid_fast.post (tensors, tolerances, test data)."""

from __future__ import annotations

import math

import numpy as np
import reid_testing as rt
import torch

ATOL = 1e-5
SQ = math.sqrt


def T(values, device: str = "cpu") -> torch.Tensor:
    """float32 tensor."""
    return torch.tensor(np.asarray(values, dtype=np.float64), dtype=torch.float32, device=device)


def as64(x: torch.Tensor) -> np.ndarray:
    return x.detach().to("cpu", torch.float64).numpy()


def close(got: torch.Tensor, expected, atol: float = ATOL) -> None:
    assert got.dtype == torch.float32, got.dtype
    np.testing.assert_allclose(as64(got), np.asarray(expected, dtype=np.float64), rtol=0, atol=atol)


def unit(values) -> np.ndarray:
    v = np.asarray(values, dtype=np.float64)
    return v / np.linalg.norm(v, axis=-1, keepdims=True)


def random_unit(seed: int, rows: int, d: int = 16) -> np.ndarray:
    """(rows, d) float64 unit rows, rounded to float32 values (what the op sees)."""
    rng = np.random.default_rng(seed)
    x = unit(rt.random_features(rng, rows, d))
    return x.astype(np.float32).astype(np.float64)


def clustered_unit(seed: int, rows: int, d: int = 16, identities: int = 8, noise: float = 0.6):
    rng = np.random.default_rng(seed)
    x, labels = rt.clustered_features(rng, rows, d, identities, noise)
    return unit(x).astype(np.float32).astype(np.float64), labels


def cosine_distance_sorted(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    return np.sort(1.0 - unit(x) @ unit(y).T, axis=1)


def assert_topk_gap(x: np.ndarray, y: np.ndarray, ks, min_gap: float = 1e-5, skip_self=False):
    """No near-tie between the k-th and (k+1)-th nearest (cosine) of any row."""
    s = cosine_distance_sorted(x, y)
    if skip_self:
        s = s[:, 1:]
    for k in ks:
        if 0 < k < s.shape[1]:
            gap = s[:, k] - s[:, k - 1]
            assert gap.min() > min_gap, f"test data has a near-tie at k = {k}: {gap.min()}"


def angles(degrees) -> np.ndarray:
    r = np.deg2rad(np.asarray(degrees, dtype=np.float64))
    return np.stack([np.cos(r), np.sin(r)], axis=1)


def eps_in_gap(x: np.ndarray, quantile: float) -> float:
    """An eps in the middle of a clear gap of the pairwise cosine distances near a quantile."""
    distances = np.unique(np.round(1.0 - x @ x.T, 12)[np.triu_indices(len(x), 1)])
    start = int(quantile * (len(distances) - 1))
    for i in range(start, len(distances) - 1):
        if distances[i + 1] - distances[i] > 1e-4:
            return float((distances[i] + distances[i + 1]) / 2)
    raise AssertionError("no gap")
