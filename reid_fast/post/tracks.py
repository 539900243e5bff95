"""Track-level tricks: gallery items of one track (AICity's test_track.txt) share evidence.

docs/design.md section 4 ("Track averaging"). All on the device of the features.

- :func:`track_groups`: track ids -> dense track numbers 0..T-1 by first appearance.
- :func:`track_average`: gallery rows blended with the mean of their track (of its
  high-quality images, when a mask says which those are).
- :func:`track_features`: one L2-normalised mean feature per track.
- :func:`track_rerank`: k-reciprocal re-ranking of the queries against the track means,
  spread back to the track's images (ordered inside the track by their own distance).

A track id of -1 means "no track": such an item is a track of its own.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor

from .. import validation
from ..ops.distance import pairwise_distance
from ..ops.params import DEFAULT_RERANK, RerankParams
from ..ops.rerank import rerank
from .query_expansion import (
    _feature_matrix,
    _feature_pair,
    _group_means,
    _labels,
    _mask,
    _normalise_rows,
)

__all__ = ["track_average", "track_features", "track_groups", "track_rerank"]


def track_groups(trackids: Any, *, device: torch.device | str | None = None) -> tuple[Tensor, int]:
    """Dense track numbers.

    Tracks are numbered 0..T-1 in the order of their first appearance in ``trackids``;
    every item with track id -1 is a singleton track of its own, numbered at its position
    like any other track.

    Args:
        trackids: (g,) integer track ids (torch tensor on any device, NumPy array or
            sequence), >= -1; -1 = no track.
        device: where the result goes; default: ``trackids``' device (CPU for non-tensors).

    Returns:
        ``(track_index, T)``: (g,) int64 tensor with values in 0..T-1, and the number of
        tracks T.

    Raises:
        TypeError: non-integer ids.  ValueError: not 1-D, ids below -1.
    """
    ids = _labels("trackids", trackids, device, minus_one="an item without a track")
    g = ids.shape[0]
    if g == 0:
        return torch.empty((0,), dtype=torch.int64, device=ids.device), 0
    positions = torch.arange(g, dtype=torch.int64, device=ids.device)
    key = positions.clone()  # -1 items: keyed by their own position
    tracked = ids >= 0
    if bool(tracked.any()):
        unique_ids, inverse = torch.unique(ids[tracked], return_inverse=True)
        first = torch.full((unique_ids.shape[0],), g, dtype=torch.int64, device=ids.device)
        first.scatter_reduce_(0, inverse, positions[tracked], reduce="amin")
        key[tracked] = first[inverse]
    _, track_index = torch.unique(key, sorted=True, return_inverse=True)
    return track_index.to(torch.int64), int(track_index.max()) + 1


def _gallery_tracks(gallery: Any, trackids: Any) -> tuple[Tensor, Tensor, Tensor, int]:
    gallery = _feature_matrix("gallery", gallery)
    ids = _labels("trackids", trackids, gallery.device, minus_one="an item without a track")
    if ids.shape[0] != gallery.shape[0]:
        raise ValueError(f"trackids must have one id per gallery row ({gallery.shape[0]}), "
                         f"got {ids.shape[0]}")
    track_index, T = track_groups(ids)
    return gallery, ids, track_index, T


def track_average(gallery: Tensor, trackids: Any, weight: float = 1.0, *,
                  high_quality: Any = None) -> Tensor:
    """Gallery rows blended with their track's mean:
    ``g_i' = normalise(g_i + weight * mean_{j in track(i)} g_j)``.

    With ``high_quality`` (the AICity 2020 recipe: images of at least 15000 pixels, see
    :func:`reid_fast.post.high_quality`; weight 0.5) the mean runs over the track's
    high-quality images only, or over all of them when it has none.

    Items with track id -1 are returned unchanged (their track is themselves, and
    ``normalise((1 + w) g) = g`` for a unit row anyway).

    Args:
        gallery: (g, d) float32 L2-normalised features, CPU or CUDA, finite.
        trackids: (g,) integer track ids (tensor on any device, array or sequence), -1 =
            no track.
        weight: weight of the track mean, finite, >= 0 (default 1).
        high_quality: optional (g,) bool mask (tensor on any device, array or sequence).

    Returns:
        (g, d) float32 on ``gallery``'s device.

    Raises:
        TypeError, ValueError: bad features, ids, weight or mask, or len(trackids) != g.
    """
    weight = validation.real("weight", weight, 0.0)
    gallery, ids, track_index, T = _gallery_tracks(gallery, trackids)
    mask = None if high_quality is None else _mask("high_quality", high_quality, gallery.shape[0],
                                                   gallery.device)
    if T == 0:
        return gallery.clone()
    means = _group_means(gallery, track_index, T, mask)
    blended = _normalise_rows(gallery + weight * means[track_index])
    return torch.where((ids >= 0)[:, None], blended, gallery)


def track_features(gallery: Tensor, trackids: Any) -> tuple[Tensor, Tensor]:
    """One feature per track: the L2-normalised mean of its gallery rows.

    Args:
        gallery: (g, d) float32 features, CPU or CUDA, finite.
        trackids: (g,) integer track ids, -1 = no track (a singleton track).

    Returns:
        ``(features, track_index)``: (T, d) float32 track features, tracks numbered as
        :func:`track_groups` numbers them, and (g,) int64 track number of each gallery
        row; both on ``gallery``'s device.
    """
    gallery, _, track_index, T = _gallery_tracks(gallery, trackids)
    return _normalise_rows(_group_means(gallery, track_index, T)), track_index


def track_rerank(
    query: Tensor,
    gallery: Tensor,
    trackids: Any,
    k1: int = DEFAULT_RERANK.k1,
    k2: int = DEFAULT_RERANK.k2,
    lambda_: float = DEFAULT_RERANK.lambda_,
    within_track: float = 1e-3,
) -> Tensor:
    """Track-level k-reciprocal re-ranking.

    The queries are re-ranked against the T track mean features (:func:`track_features`)
    with :func:`reid_fast.ops.rerank.rerank` (squared Euclidean distance), k1 clamped to
    ``min(k1, q + T - 1)`` and k2 to ``min(k2, k1 + 1)`` so that small galleries work.
    Each gallery item then gets its track's re-ranked distance plus ``within_track`` times
    its own squared Euclidean distance to the query, which orders the images inside a
    track (and breaks ties between tracks by their images):

        ``D[i, j] = R[i, track(j)] + within_track * |q_i - g_j|^2``

    Args:
        query: (q, d) float32 L2-normalised features, q >= 1, CPU or CUDA, finite.
        gallery: (g, d) float32 features on the same device.
        trackids: (g,) integer track ids, -1 = no track.
        k1, k2, lambda_: re-ranking parameters (k1 >= 1, k2 >= 1, lambda_ in [0, 1]),
            clamped as above.
        within_track: weight of the image distance, finite, >= 0 (default 1e-3).

    Returns:
        (q, g) float32 distances on ``query``'s device.

    Raises:
        TypeError, ValueError: bad features, ids or parameters; empty query set.
    """
    query, gallery = _feature_pair("query", query, "gallery", gallery)
    RerankParams.for_items(2, k1, k2, lambda_)  # checks the parameters before any work
    within_track = validation.real("within_track", within_track, 0.0)
    if query.shape[0] == 0:
        raise ValueError("query is empty: track re-ranking needs at least one query")
    tracks, track_index = track_features(gallery, trackids)
    q, T = query.shape[0], tracks.shape[0]
    if T == 0:
        return torch.empty((q, 0), dtype=torch.float32, device=query.device)
    params = RerankParams.for_items(q + T, k1, k2, lambda_)
    by_track = rerank(query, tracks, params.k1, params.k2, params.lambda_)  # (q, T)
    own = pairwise_distance(query, gallery, "sqeuclidean")  # (q, g)
    return by_track[:, track_index] + within_track * own
