"""Model fusion: several models' features for the same images combined into one.

docs/design.md section 4 ("Fusion"): per-model L2 normalisation, weighted concatenation,
renormalisation. The cosine similarity of fused features is then the weighted mean of
the per-model cosine similarities (weights w_i^2 / sum w^2).
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor

from .. import validation
from .query_expansion import _feature_matrix, _normalise_rows, _same_device

__all__ = ["fuse_features"]


def fuse_features(features: Sequence[Tensor], weights: Sequence[float] | None = None) -> Tensor:
    """``normalise(concat_i(w_i * normalise(F_i)))`` along the feature dimension.

    Args:
        features: non-empty sequence of (N, E_i) float32 tensors, one per model, for the
            same N images in the same order, all on one device (CPU or CUDA), finite.
        weights: one positive finite weight per model; default all 1.

    Returns:
        (N, sum E_i) float32 L2-normalised rows on the features' device.

    Raises:
        TypeError: not a sequence of float32 tensors, non-numeric weights.
        ValueError: empty sequence, wrong dims, different N or devices, NaN/Inf, wrong
            number of weights or a weight that is not positive and finite.
    """
    if isinstance(features, torch.Tensor) or not isinstance(features, Sequence):
        raise TypeError("features must be a sequence (list or tuple) of (N, E_i) tensors, got "
                        f"{type(features).__name__}")
    if len(features) == 0:
        raise ValueError("features is empty: give at least one model's features")
    mats = [_feature_matrix(f"features[{i}]", f) for i, f in enumerate(features)]
    n = mats[0].shape[0]
    for i, m in enumerate(mats[1:], start=1):
        if m.shape[0] != n:
            raise ValueError(f"features[{i}] must have the same number of rows as features[0] "
                             f"({n}), got shape {tuple(m.shape)}")
        _same_device("features[0]", mats[0], f"features[{i}]", m)
    if weights is None:
        weights = [1.0] * len(mats)
    if isinstance(weights, (str, bytes)) or not isinstance(weights, Sequence):
        raise TypeError(f"weights must be a sequence of numbers, got {type(weights).__name__}")
    if len(weights) != len(mats):
        raise ValueError(f"weights must have one entry per model ({len(mats)}), got "
                         f"{len(weights)}: {list(weights)!r}")
    weights = [validation.real(f"weights[{i}]", w, positive=True) for i, w in enumerate(weights)]
    parts = [_normalise_rows(m) * w for m, w in zip(mats, weights)]
    return _normalise_rows(torch.cat(parts, dim=1))
