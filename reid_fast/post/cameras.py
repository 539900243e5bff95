"""Cameras at test time: predicted, clustered and completed (docs/design.md section 4).

AICity's test images carry no camera ids, so the AICity 2020 recipe predicts them:

- :func:`predict_cameras`: a camera classifier's probabilities -> camera ids, -1 where
  the classifier is unsure.
- :func:`camera_clusters`: DBSCAN over the camera-model embeddings of all query and
  gallery images (images of one scene cluster together, whichever camera took them).
- :func:`complete_camera_clusters`: inside a query cluster or a gallery track whose
  clustered members all agree, the unclustered members take that cluster.

Everything runs on the device of the inputs.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor

from .. import validation
from .params import AICITY2020
from .query_expansion import (
    _feature_pair,
    _labels,
    _require_finite,
    _tensor,
    density_clusters,
)
from .tracks import track_groups

__all__ = ["camera_clusters", "complete_camera_clusters", "predict_cameras"]


def predict_cameras(
    probabilities: Tensor, classes: Any = None, threshold: float = AICITY2020.camera_threshold
) -> tuple[Tensor, Tensor]:
    """Camera ids from a camera classifier: ``classes[argmax]`` of each row, or -1
    (unknown) where the largest probability is below ``threshold``.

    The default threshold 0.5 (ours; the seed reads predictions with -1 for "unsure" from
    a file) keeps a camera only when the classifier gives it more than all other cameras
    together. Ties between columns go to the lower column.

    Args:
        probabilities: (n, C) float tensor of per-camera probabilities (a softmax), CPU or
            CUDA, finite, C >= 1.
        classes: (C,) camera id of each column, >= 0 (tensor, array or sequence); default:
            column j is camera j.
        threshold: in [0, 1].

    Returns:
        ``(cameras, confidence)``: (n,) int64 camera ids (-1 unknown) and (n,) float32
        largest probabilities, on ``probabilities``' device.

    Raises:
        TypeError, ValueError: not a 2-D float tensor, no columns, NaN/Inf, classes not
            integers >= 0 or not one per column, threshold outside [0, 1].
    """
    p = _tensor("probabilities", probabilities).detach()
    if p.dim() != 2:
        raise ValueError(f"probabilities must be 2-D (n, cameras), got shape {tuple(p.shape)}")
    if not p.dtype.is_floating_point:
        raise TypeError(f"probabilities must be a floating-point tensor, got {p.dtype}")
    n, columns = p.shape
    if columns == 0:
        raise ValueError(f"probabilities must have at least one camera column, got shape {(n, 0)}")
    p = p.to(torch.float32)
    _require_finite("probabilities", p)
    threshold = validation.probability("threshold", threshold)
    if classes is None:
        ids = torch.arange(columns, dtype=torch.int64, device=p.device)
    else:
        ids = _labels("classes", classes, p.device)
        if ids.shape[0] != columns:
            raise ValueError(f"classes must have one camera id per column of probabilities "
                             f"({columns}), got {ids.shape[0]}")
        if bool((ids < 0).any()):
            first = int((ids < 0).nonzero()[0, 0])
            raise ValueError(f"classes must be camera ids >= 0, got -1 at index {first}")
    if n == 0:
        return (torch.empty((0,), dtype=torch.int64, device=p.device),
                torch.empty((0,), dtype=torch.float32, device=p.device))
    column = torch.argmax(p, dim=1)  # the first maximal column
    confidence = p.gather(1, column[:, None])[:, 0]
    cameras = torch.where(confidence >= threshold, ids[column], torch.full_like(column, -1))
    return cameras, confidence


def camera_clusters(
    query_embeddings: Tensor,
    gallery_embeddings: Tensor,
    eps: float = AICITY2020.camera_eps,
    min_samples: int | None = None,
) -> tuple[Tensor, Tensor]:
    """Camera clusters: DBSCAN (:func:`density_clusters`) over the camera-model embeddings
    of the query and gallery images together, on the distance 2 - 2 s (``metric=
    "sqeuclidean"``).

    Args:
        query_embeddings: (q, d) float32 camera-model embeddings, CPU or CUDA, finite (the
            seed L2-normalises them; rows are normalised for the cosine anyway).
        gallery_embeddings: (g, d) float32 on the same device.
        eps: radius on 2 - 2 s (default 0.3).
        min_samples: core size, itself included; default
            ``AICITY2020.camera_min_samples_for(q + g)`` (50 for AICity's 19342 images,
            scaled down for smaller sets).

    Returns:
        ``(query_clusters, gallery_clusters)``: (q,) and (g,) int64 cluster labels, -1 for
        noise ("unsure"), numbered over the q + g images (queries first); on the
        embeddings' device.

    Raises:
        TypeError, ValueError: as :func:`density_clusters`; different devices or
            embedding sizes.
    """
    query, gallery = _feature_pair("query_embeddings", query_embeddings,
                                   "gallery_embeddings", gallery_embeddings)
    q = query.shape[0]
    if min_samples is None:
        min_samples = AICITY2020.camera_min_samples_for(q + gallery.shape[0])
    labels = density_clusters(torch.cat([query, gallery]), eps, min_samples,
                              metric=AICITY2020.eps_metric)
    return labels[:q], labels[q:]


def complete_camera_clusters(clusters: Any, groups: Any) -> Tensor:
    """Cluster completion: in each group (a query cluster, a gallery track) whose camera
    cluster labels are exactly {-1, c}, the -1 members get c; every other group is left
    as it is (all -1, all c, or two different clusters).

    The seed's ``flag = np.unique(labels[members])``, ``len(flag) == 2`` -> -1 becomes
    ``flag[1]``. Group -1 means "in no group" (noise queries, images without a track):
    such an item is left as it is.

    Args:
        clusters: (n,) integer camera cluster labels, -1 = unsure (tensor on any device,
            array or sequence).
        groups: (n,) integer group labels, -1 = no group.

    Returns:
        (n,) int64 completed labels on ``clusters``' device (CPU for non-tensors).

    Raises:
        TypeError, ValueError: not 1-D integers >= -1, different lengths.
    """
    labels = _labels("clusters", clusters, None, minus_one="unsure")
    groups = _labels("groups", groups, labels.device, minus_one="no group")
    if groups.shape != labels.shape:
        raise ValueError(f"groups must have one label per item of clusters ({labels.shape[0]}), "
                         f"got {groups.shape[0]}")
    group, count = track_groups(groups)  # each -1 a singleton: nothing to complete
    known = labels >= 0
    if count == 0 or not bool(known.any()):
        return labels.clone()
    lowest = torch.full((count,), torch.iinfo(torch.int64).max, dtype=torch.int64,
                        device=labels.device)
    lowest.scatter_reduce_(0, group[known], labels[known], reduce="amin")
    highest = torch.full((count,), -1, dtype=torch.int64, device=labels.device)
    highest.scatter_reduce_(0, group[known], labels[known], reduce="amax")
    agreed = (highest >= 0) & (lowest == highest)  # per group: exactly one known label
    return torch.where(~known & agreed[group], highest[group], labels)
