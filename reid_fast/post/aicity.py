"""The AICity 2020 winning recipe's similarity edits (Baidu-UTS, docs/design.md section 4).

Each step is one function, callable with the others off; the constants default to the
seed's (:data:`reid_fast.post.AICITY2020`).

- :func:`high_quality`: the images of at least 15000 pixels, whose features the query
  cluster and track means use (:func:`reid_fast.post.cluster_query_expansion`,
  :func:`reid_fast.post.track_average`).
- :func:`aicity2020_penalties`: the camera / direction / camera-cluster penalties on the
  q-g, q-q and g-g similarities, each term off when its input is None.
- :func:`ntop_penalty`: the sequential same-camera suppression on the penalised q-g
  similarities.
- :func:`cluster_similarity_edit`: +-0.1 on q-q similarities within / between query
  clusters.
- :func:`track_similarity_edit`: g-g similarity 1 within a track.

The re-ranking that combines them is :func:`reid_fast.post.penalised_rerank` (with
``suppression_qg`` = the ntop penalty). Everything is float32 on the inputs' device.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor

from .. import validation
from ..ops.topk_rows import topk_rows
from .params import AICITY2020
from .penalties import (
    Penalties,
    _embeddings,
    _same_known,
    _similarities,
    direction_penalty,
)
from .query_expansion import DeviceLike, _as_tensor, _device, _labels, _require_finite
from .tracks import track_groups

__all__ = [
    "aicity2020_penalties",
    "cluster_similarity_edit",
    "high_quality",
    "ntop_penalty",
    "track_similarity_edit",
]


def high_quality(pixels: Any, min_pixels: float = AICITY2020.min_pixels, *,
                 device: DeviceLike = None) -> Tensor:
    """The high-quality images: ``pixels >= min_pixels`` (the seed's images of fewer than
    15000 = 150 x 150 pixels are its "junk").

    Args:
        pixels: (n,) H x W pixel counts per image, finite, >= 0 (tensor, array or sequence).
        min_pixels: finite, >= 0 (default 15000).
        device: where the result goes; default: ``pixels``' device (CPU for non-tensors).

    Returns:
        (n,) bool mask.

    Raises:
        TypeError, ValueError: not 1-D real numbers, NaN/Inf or negative counts, a bad
            min_pixels.
    """
    min_pixels = validation.real("min_pixels", min_pixels, 0.0)
    x = _as_tensor("pixels", pixels)
    if x.dtype == torch.bool or x.dtype.is_complex:
        raise TypeError(f"pixels must hold real numbers, got {x.dtype}")
    if x.dim() != 1:
        raise ValueError(f"pixels must be 1-D (one count per image), got shape {tuple(x.shape)}")
    x = x.to(_device(device, ("pixels", pixels)))
    if x.dtype.is_floating_point:
        _require_finite("pixels", x)
    if x.numel() and bool((x < 0).any()):
        first = int((x < 0).nonzero()[0, 0])
        raise ValueError(f"pixels must be >= 0, got {x[first].item()} at index {first}")
    return x >= min_pixels


def aicity2020_penalties(
    q: int,
    g: int,
    *,
    query_cameras: Any = None,
    gallery_cameras: Any = None,
    query_directions: Any = None,
    gallery_directions: Any = None,
    query_camera_clusters: Any = None,
    gallery_camera_clusters: Any = None,
    query_groups: Any = None,
    gallery_groups: Any = None,
    camera_weight: float = AICITY2020.camera_weight,
    direction_weight: float = AICITY2020.direction_weight,
    direction_threshold: float = AICITY2020.direction_threshold,
    cluster_weight: float = AICITY2020.cluster_weight,
    device: DeviceLike = None,
) -> Penalties:
    """The recipe's penalties on the q-g, q-q and g-g cosine similarities.

    For row i (a query for q-g and q-q, a gallery image for g-g) and column j:

        ``P[i, j] = camera_weight    [cam_i known and cam_j == cam_i]``
        ``        + direction_weight [cam_i unknown and dir_sim(i, j) >= direction_threshold]``
        ``        + cluster_weight   [cluster_i known and cluster_j == cluster_i]``

    (dir_sim: :func:`reid_fast.post.direction_similarity`). In q-q and g-g, P is 0 on the
    diagonal and between members of one group (a query cluster; a gallery track). -1 means unknown (cameras, camera clusters) or no group:
    two noise queries or two images without a track are penalised like any other pair
    (the seed exempts all -1 items from each other).

    Every input is optional: None means unknown / no group for every item of that side,
    so leaving out the cameras turns the camera term off and lets the direction term
    (when directions are given) apply to every row; leaving out the directions, camera
    clusters or groups turns their term (or exemption) off.

    Args:
        q, g: the numbers of queries and gallery images, >= 0.
        query_cameras, gallery_cameras: (q,) / (g,) predicted camera ids, -1 unknown.
        query_directions, gallery_directions: (q, d) / (g, d) float direction embeddings,
            both or neither (:func:`reid_fast.post.direction_similarity`).
        query_camera_clusters, gallery_camera_clusters: (q,) / (g,) camera cluster labels
            (:func:`reid_fast.post.camera_clusters`, completed), -1 unsure.
        query_groups: (q,) query cluster labels, -1 noise.
        gallery_groups: (g,) track ids, -1 no track.
        camera_weight, direction_weight, cluster_weight: finite reals (0.3, 0.1, 0.2).
        direction_threshold: finite real (0.25).
        device: where the result goes; default: the tensor inputs' device (CPU if none).

    Label inputs are tensors, arrays or sequences of integers; direction embeddings
    float tensors, arrays or sequences.

    Returns:
        :class:`reid_fast.post.Penalties` (float32 (q, g), (q, q), (g, g)).

    Raises:
        TypeError, ValueError: a bad input (named), a length other than q or g,
            directions on one side only, tensors on different devices.
    """
    q = validation.integer("q", q, 0)
    g = validation.integer("g", g, 0)
    camera_weight = validation.real("camera_weight", camera_weight)
    direction_weight = validation.real("direction_weight", direction_weight)
    direction_threshold = validation.real("direction_threshold", direction_threshold)
    cluster_weight = validation.real("cluster_weight", cluster_weight)
    inputs = {
        "query_cameras": query_cameras, "gallery_cameras": gallery_cameras,
        "query_directions": query_directions, "gallery_directions": gallery_directions,
        "query_camera_clusters": query_camera_clusters,
        "gallery_camera_clusters": gallery_camera_clusters,
        "query_groups": query_groups, "gallery_groups": gallery_groups,
    }
    dev = _device(device, *inputs.items())
    if (query_directions is None) != (gallery_directions is None):
        given = "query_directions" if gallery_directions is None else "gallery_directions"
        raise ValueError(f"query_directions and gallery_directions must both be given or both "
                         f"be None, got only {given}")

    def sized(name: str, x: Tensor, n: int) -> Tensor:
        if x.shape[0] != n:
            side = "query" if name.startswith("query") else "gallery image"
            raise ValueError(f"{name} must have {n} rows (one per {side}), got {x.shape[0]}")
        return x

    def labels(name: str, n: int, minus_one: str) -> Tensor:
        value = inputs[name]
        if value is None:
            return torch.full((n,), -1, dtype=torch.int64, device=dev)
        return sized(name, _labels(name, value, dev, minus_one), n)

    cams = labels("query_cameras", q, "unknown"), labels("gallery_cameras", g, "unknown")
    clusters = (labels("query_camera_clusters", q, "unsure"),
                labels("gallery_camera_clusters", g, "unsure"))
    groups = labels("query_groups", q, "noise"), labels("gallery_groups", g, "no track")
    dirs = None
    if query_directions is not None:
        dirs = (sized("query_directions",
                      _embeddings("query_directions", query_directions, dev), q),
                sized("gallery_directions",
                      _embeddings("gallery_directions", gallery_directions, dev), g))

    def block(a: int, b: int) -> Tensor:
        """Rows of side a (0 query, 1 gallery) against columns of side b."""
        # In place where it can: the g-g block of AICity is 18290 x 18290.
        penalty = _same_known(cams[a], cams[b]).to(torch.float32).mul_(camera_weight)
        if dirs is not None:
            same_direction = direction_penalty(dirs[a], dirs[b], direction_weight,
                                               direction_threshold)
            penalty.add_(same_direction.mul_((cams[a] < 0).to(torch.float32)[:, None]))
        penalty.add_(_same_known(clusters[a], clusters[b]).to(torch.float32).mul_(cluster_weight))
        if a == b:
            exempt = _same_known(groups[a], groups[a])
            exempt.fill_diagonal_(True)
            penalty.masked_fill_(exempt, 0.0)
        return penalty

    return Penalties(block(0, 1), block(0, 0), block(1, 1))


def ntop_penalty(
    sim_qg: Tensor,
    gallery_cameras: Any,
    gallery_trackids: Any,
    ntop: int = AICITY2020.ntop,
    weight: float = AICITY2020.ntop_weight,
) -> Tensor:
    """The recipe's "ntop" suppression: "the same camera, another track, is another
    vehicle".

    Sequential, for j = 0 .. min(ntop, g) - 1 and every query row at once: take the
    gallery item t at rank j of the row's *current* similarities S - E (descending; equal
    values: the lower index first, where the seed's unstable argsort left it open); if
    t's predicted camera is known, add ``weight`` to E on every gallery item of that
    camera outside t's track. An item with track id -1 is a track of its own (the seed
    lumps all -1 items into one track).

    ``sim_qg`` is meant to be the penalised similarity ``S_qg - P_qg``
    (:func:`aicity2020_penalties`); the result E is subtracted from it and, unlike
    P_qg, not added back after re-ranking (``penalised_rerank(..., suppression_qg=E)``).
    O(ntop q g) work on the device (one :func:`reid_fast.ops.topk_rows.topk_rows` per step).

    Args:
        sim_qg: (q, g) float32 similarities, CPU or CUDA, finite.
        gallery_cameras: (g,) predicted camera ids, -1 unknown (tensor, array or sequence).
        gallery_trackids: (g,) track ids, -1 no track.
        ntop: number of steps, >= 0 (default 29).
        weight: finite real (default 0.1).

    Returns:
        (q, g) float32 suppression E (a multiple of ``weight``) on ``sim_qg``'s device.

    Raises:
        TypeError, ValueError: bad similarities, labels not of length g, bad ntop / weight.
    """
    sim = _similarities("sim_qg", sim_qg)
    q, g = sim.shape
    cameras = _labels("gallery_cameras", gallery_cameras, sim.device, minus_one="unknown")
    trackids = _labels("gallery_trackids", gallery_trackids, sim.device, minus_one="no track")
    for name, labels in (("gallery_cameras", cameras), ("gallery_trackids", trackids)):
        if labels.shape[0] != g:
            raise ValueError(f"{name} must have one label per column of sim_qg ({g}), got "
                             f"{labels.shape[0]}")
    ntop = validation.integer("ntop", ntop, 0)
    weight = validation.real("weight", weight)
    tracks, _ = track_groups(trackids)
    counts = torch.zeros((q, g), dtype=torch.float32, device=sim.device)
    if q == 0:
        return counts
    for j in range(min(ntop, g)):
        # The j + 1 largest of each row, equal values by the lower index (the smallest of -S).
        _, order = topk_rows(-(sim - weight * counts), j + 1)
        top = order[:, j]  # (q,)
        camera, track = cameras[top][:, None], tracks[top][:, None]
        counts += ((cameras[None, :] == camera) & (camera >= 0)
                   & (tracks[None, :] != track)).to(torch.float32)
    return weight * counts


def cluster_similarity_edit(sim_qq: Tensor, clusters: Any,
                            weight: float = AICITY2020.query_cluster_edit) -> Tensor:
    """The recipe's q-q edit: ``+weight`` between two queries of one cluster (the
    diagonal of clustered queries included, as the seed), ``-weight`` between two
    clustered queries of different clusters; noise queries (-1) unchanged.

    Args:
        sim_qq: (q, q) float32 query-query similarities, CPU or CUDA, finite.
        clusters: (q,) query cluster labels, -1 noise (tensor, array or sequence), e.g.
            from :func:`reid_fast.post.cluster_query_expansion`.
        weight: finite real (default 0.1).

    Returns:
        (q, q) float32 edited similarities on ``sim_qq``'s device.

    Raises:
        TypeError, ValueError: not square, bad labels or length, a bad weight.
    """
    sim = _square("sim_qq", sim_qq)
    labels = _labels("clusters", clusters, sim.device, minus_one="noise")
    _check_length("clusters", labels, "sim_qq", sim)
    weight = validation.real("weight", weight)
    same = _same_known(labels, labels)
    clustered = labels >= 0
    different = clustered[:, None] & clustered[None, :] & ~same
    return sim + weight * (same.to(torch.float32) - different.to(torch.float32))


def track_similarity_edit(sim_gg: Tensor, trackids: Any,
                          value: float = AICITY2020.track_similarity) -> Tensor:
    """The recipe's g-g edit: the similarity of two images of one track (the diagonal
    included) becomes ``value``; images without a track (-1) are unchanged.

    Args:
        sim_gg: (g, g) float32 gallery-gallery similarities, CPU or CUDA, finite.
        trackids: (g,) track ids, -1 no track (tensor, array or sequence).
        value: finite real (default 1).

    Returns:
        (g, g) float32 edited similarities on ``sim_gg``'s device.

    Raises:
        TypeError, ValueError: not square, bad ids or length, a bad value.
    """
    sim = _square("sim_gg", sim_gg)
    ids = _labels("trackids", trackids, sim.device, minus_one="no track")
    _check_length("trackids", ids, "sim_gg", sim)
    value = validation.real("value", value)
    return sim.masked_fill(_same_known(ids, ids), value)


def _square(name: str, value: Any) -> Tensor:
    x = _similarities(name, value)
    if x.shape[0] != x.shape[1]:
        raise ValueError(f"{name} must be square, got shape {tuple(x.shape)}")
    return x


def _check_length(name: str, labels: Tensor, matrix_name: str, matrix: Tensor) -> None:
    if labels.shape[0] != matrix.shape[0]:
        raise ValueError(f"{name} must have one label per row of {matrix_name} "
                         f"({matrix.shape[0]}), got {labels.shape[0]}")
