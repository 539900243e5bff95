"""Camera and direction awareness: penalties on cosine similarities (docs/design.md section 4).

Appearance models over-rank gallery images taken by the query's own camera, or from the
same viewing direction, because background, lighting and pose are shared rather than the
vehicle. The AICity 2020 recipe therefore subtracts penalties from the cosine similarity
matrices q-g, q-q and g-g before k-reciprocal re-ranking, and adds the query-gallery
penalty back to the re-ranked distances:

    D = rerank_similarities(S_qg - P_qg - E_qg, S_qq - P_qq, S_gg - P_gg) + P_qg

(E_qg: optional q-g edits that stay, e.g. :func:`reid_fast.post.ntop_penalty`).

- :func:`camera_penalty`: ``weight`` for a shared camera (ids, or ``weight * P_a P_b^T``
  for predicted camera probabilities).
- :func:`direction_similarity`: cosine similarity of direction embeddings.
- :func:`direction_penalty`: ``weight * max(cos(dir_a, dir_b), 0)``, or ``weight`` where
  the cosine reaches a threshold (the AICity 2020 recipe's "same direction").
- :func:`camera_cluster_penalty`: ``weight`` where two known cameras lie in the same
  cluster (e.g. an intersection).
- :func:`voc_penalty`: VOC-ReID's ``a cos(cam_a, cam_b) + b cos(ori_a, ori_b)`` of camera-
  and orientation-model embeddings.
- :class:`Penalties`: the three matrices together; add them up with ``+``.
- :func:`penalised_rerank` and :func:`penalised_distance` (no re-ranking: ``1 - S + P``).

Everything is float32 on the device of the inputs; plain lists / NumPy arrays become CPU
tensors unless ``device=`` says otherwise.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch import Tensor

from .. import validation
from ..ops.params import DEFAULT_RERANK
from ..ops.rerank import rerank_similarities
from .params import VOC2020
from .query_expansion import (
    DeviceLike,
    _as_tensor,
    _device,
    _labels,
    _normalise_rows,
    _require_finite,
    _same_device,
    _tensor,
)

__all__ = [
    "Penalties",
    "camera_cluster_penalty",
    "camera_penalty",
    "direction_penalty",
    "direction_similarity",
    "penalised_distance",
    "penalised_rerank",
    "voc_penalty",
]


# --------------------------------------------------------------------------------------
# Input conversion
# --------------------------------------------------------------------------------------


def _cameras(name: str, value: Any, device: torch.device) -> Tensor:
    """(n,) int64 camera ids (-1 unknown) or (n, C) float32 camera probabilities."""
    x = _as_tensor(name, value)
    if x.dtype == torch.bool or x.dtype.is_complex:
        raise TypeError(f"{name} must hold integer camera ids or float probabilities, got {x.dtype}")
    if not x.dtype.is_floating_point:
        return _labels(name, x, device, minus_one="unknown")
    x = x.to(device)
    if x.dim() != 2:
        raise ValueError(f"{name}: camera probabilities must be 2-D (n, cameras), got shape "
                         f"{tuple(x.shape)} (integer camera ids are 1-D)")
    x = x.to(torch.float32)
    _require_finite(name, x)
    return x


def _one_hot(name: str, ids: Tensor, columns: int, other: str) -> Tensor:
    """(n, columns) float32 one-hot rows of ids, zero rows for -1."""
    if ids.numel() and bool((ids >= columns).any()):
        first = int((ids >= columns).nonzero()[0, 0])
        raise ValueError(f"{name}[{first}] = {int(ids[first])} is not a column of {other}'s "
                         f"{columns} camera probabilities")
    out = torch.zeros((ids.shape[0], columns), dtype=torch.float32, device=ids.device)
    known = ids >= 0
    out[known.nonzero()[:, 0], ids[known]] = 1.0
    return out


def _embeddings(name: str, value: Any, device: torch.device) -> Tensor:
    """(n, d) float32 embeddings on ``device``, finite, from a float tensor or array-like."""
    x = _as_tensor(name, value)
    if not x.dtype.is_floating_point:
        raise TypeError(f"{name} must hold floating-point embeddings, got {x.dtype}")
    if x.dim() != 2:
        raise ValueError(f"{name} must be 2-D (n, embedding size), got shape {tuple(x.shape)}")
    x = x.to(device=device, dtype=torch.float32)
    _require_finite(name, x)
    return x


def _cosine(name_a: str, a: Any, name_b: str, b: Any, device: DeviceLike) -> Tensor:
    """(n_a, n_b) float32 cosine similarities of the rows of two embedding matrices, each
    row L2-normalised (an all-zero row: similarity 0)."""
    dev = _device(device, (name_a, a), (name_b, b))
    a = _embeddings(name_a, a, dev)
    b = _embeddings(name_b, b, dev)
    if a.shape[1] != b.shape[1]:
        raise ValueError(f"{name_a} and {name_b} must have the same number of columns, got "
                         f"shapes {tuple(a.shape)} and {tuple(b.shape)}")
    return _normalise_rows(a) @ _normalise_rows(b).T


def _same_known(a: Tensor, b: Tensor) -> Tensor:
    """(n_a, n_b) bool: both labels known (>= 0) and equal."""
    return (a[:, None] == b[None, :]) & (a >= 0)[:, None] & (b >= 0)[None, :]


# --------------------------------------------------------------------------------------
# Penalty matrices
# --------------------------------------------------------------------------------------


def camera_penalty(cams_a: Any, cams_b: Any, weight: float, *, device: DeviceLike = None) -> Tensor:
    """Same-camera penalty ``weight * P_a @ P_b^T``.

    Each side is either (n,) integer camera ids, -1 = unknown (taken as one-hot rows,
    zero for unknown: the penalty is ``weight`` where both cameras are known and equal, 0
    elsewhere), or an (n, C) float matrix of camera probabilities (e.g. a camera
    classifier's softmax) or one-hot rows. Ids and probabilities can be mixed; the ids
    then index the C columns.

    Args:
        cams_a: (n_a,) ids or (n_a, C) probabilities (tensor, array or sequence).
        cams_b: (n_b,) ids or (n_b, C) probabilities.
        weight: finite real.
        device: where the result goes; default: the inputs' device (CPU for non-tensors).

    Returns:
        (n_a, n_b) float32 penalty.

    Raises:
        TypeError, ValueError: bad dtypes or shapes, ids below -1, mismatched C, NaN/Inf,
            tensors on different devices.
    """
    weight = validation.real("weight", weight)
    dev = _device(device, ("cams_a", cams_a), ("cams_b", cams_b))
    a = _cameras("cams_a", cams_a, dev)
    b = _cameras("cams_b", cams_b, dev)
    if a.dim() == 1 and b.dim() == 1:
        return _same_known(a, b).to(torch.float32) * weight
    if a.dim() == 1:
        a = _one_hot("cams_a", a, b.shape[1], "cams_b")
    elif b.dim() == 1:
        b = _one_hot("cams_b", b, a.shape[1], "cams_a")
    elif a.shape[1] != b.shape[1]:
        raise ValueError(f"cams_a and cams_b must have the same number of camera columns, got "
                         f"shapes {tuple(a.shape)} and {tuple(b.shape)}")
    return (a @ b.T) * weight


def direction_similarity(dir_a: Any, dir_b: Any, *, device: DeviceLike = None) -> Tensor:
    """Direction similarity: the cosine ``<a_i, b_j>`` of the L2-normalised rows of two
    direction (orientation) embeddings or direction-class probabilities; all-zero rows
    give 0.

    Args:
        dir_a: (n_a, d) float direction features (tensor, array or sequence).
        dir_b: (n_b, d) float direction features.
        device: where the result goes; default: the inputs' device (CPU for non-tensors).

    Returns:
        (n_a, n_b) float32 similarities in [-1, 1].

    Raises:
        TypeError, ValueError: not float, not 2-D, different d, NaN/Inf, tensors on
            different devices.
    """
    return _cosine("dir_a", dir_a, "dir_b", dir_b, device)


def direction_penalty(dir_a: Any, dir_b: Any, weight: float, threshold: float | None = None, *,
                      device: DeviceLike = None) -> Tensor:
    """Same-direction penalty on the direction similarity s (:func:`direction_similarity`).

    Appearance models rank images seen from the same viewing direction (front, rear,
    side) too high, since the shared pose looks like a shared identity; penalising
    direction similarity lets other views of the vehicle come up.

    - ``threshold=None`` (continuous): ``weight * max(s, 0)``.
    - ``threshold=t`` (the AICity 2020 recipe, t = 0.25): ``weight`` where ``s >= t``
      ("same direction"), 0 elsewhere.

    Args:
        dir_a: (n_a, d) float direction features (tensor, array or sequence).
        dir_b: (n_b, d) float direction features.
        weight: finite real.
        threshold: None, or a finite real.
        device: where the result goes; default: the inputs' device (CPU for non-tensors).

    Returns:
        (n_a, n_b) float32 penalty.

    Raises:
        TypeError, ValueError: as :func:`direction_similarity`; a bad weight or threshold.
    """
    weight = validation.real("weight", weight)
    if threshold is not None:
        threshold = validation.real("threshold", threshold)
    similarity = direction_similarity(dir_a, dir_b, device=device)
    if threshold is None:
        return similarity.clamp_min(0.0) * weight
    return (similarity >= threshold).to(torch.float32) * weight


def camera_cluster_penalty(
    cams_a: Any,
    cams_b: Any,
    clusters: Mapping[int, int] | Sequence[int],
    weight: float,
    *,
    device: DeviceLike = None,
) -> Tensor:
    """Same-cluster penalty: ``weight`` where both cameras are known and lie in the same
    cluster (e.g. the intersection a camera watches), 0 otherwise.

    The AICity 2020 recipe penalises the same camera cluster: two images of one scene
    share background and viewpoint, and its "cluster" term takes the per-image labels of
    :func:`reid_fast.post.camera_clusters` (:func:`reid_fast.post.aicity2020_penalties`);
    this function maps known camera ids to clusters instead.

    Args:
        cams_a: (n_a,) integer camera ids, -1 = unknown.
        cams_b: (n_b,) integer camera ids, -1 = unknown.
        clusters: camera id -> cluster id, as a mapping or a sequence indexed by camera id.
            Every known camera must have a cluster.
        weight: finite real.
        device: where the result goes; default: the inputs' device (CPU for non-tensors).

    Returns:
        (n_a, n_b) float32 penalty.
    """
    weight = validation.real("weight", weight)
    dev = _device(device, ("cams_a", cams_a), ("cams_b", cams_b))
    if isinstance(clusters, Mapping):
        items = list(clusters.items())
    elif isinstance(clusters, Sequence) and not isinstance(clusters, (str, bytes)):
        items = list(enumerate(clusters))
    else:
        raise TypeError(f"clusters must be a mapping camera -> cluster or a sequence, got "
                        f"{type(clusters).__name__}")
    for camera, cluster in items:
        for what, v in (("camera", camera), ("cluster", cluster)):
            if isinstance(v, bool) or not isinstance(v, (int, np.integer)):
                raise TypeError(f"clusters: {what} ids must be integers, got {v!r}")
        if camera < 0:
            raise ValueError(f"clusters: camera ids must be >= 0, got {camera}")
    size = max((int(c) for c, _ in items), default=0) + 1  # at least 1 slot (unmapped if empty)
    lookup = torch.zeros((size,), dtype=torch.int64)
    mapped = torch.zeros((size,), dtype=torch.bool)
    for camera, cluster in items:
        lookup[int(camera)] = int(cluster)
        mapped[int(camera)] = True
    lookup, mapped = lookup.to(dev), mapped.to(dev)

    sides = []
    for name, value in (("cams_a", cams_a), ("cams_b", cams_b)):
        ids = _labels(name, value, dev, minus_one="unknown")
        known = ids >= 0
        slot = ids.clamp(0, size - 1)
        unmapped = known & ((ids >= size) | ~mapped[slot])
        if bool(unmapped.any()):
            first = int(unmapped.nonzero()[0, 0])
            raise ValueError(f"{name}[{first}]: camera {int(ids[first])} has no cluster in clusters")
        sides.append((lookup[slot], known))
    (cluster_a, known_a), (cluster_b, known_b) = sides
    same = (cluster_a[:, None] == cluster_b[None, :]) & known_a[:, None] & known_b[None, :]
    return same.to(torch.float32) * weight


def voc_penalty(
    camera_a: Any,
    camera_b: Any,
    orientation_a: Any,
    orientation_b: Any,
    camera_weight: float = VOC2020.camera_weight,
    orientation_weight: float = VOC2020.orientation_weight,
    *,
    device: DeviceLike = None,
) -> Tensor:
    """VOC-ReID's camera and orientation penalty (AICity 2020, 2nd place):

        ``P[i, j] = camera_weight cos(camera_a_i, camera_b_j)``
        ``        + orientation_weight cos(orientation_a_i, orientation_b_j)``

    with the continuous cosine similarities of the camera-model and orientation-model
    embeddings (rows L2-normalised here), so ``S - P`` is their ``s_id - 0.1 s_camera -
    0.1 s_orientation`` (their code: ``distmat - 0.1 * cam_distmat - 0.1 * ori_distmat``).
    A pair given as (None, None) turns its term off (no such model).

    Args:
        camera_a, camera_b: (n_a, c) and (n_b, c) float camera-model embeddings, or both
            None.
        orientation_a, orientation_b: (n_a, o) and (n_b, o) float orientation-model
            embeddings, or both None (not both pairs None).
        camera_weight, orientation_weight: finite reals (default 0.1 each,
            :data:`reid_fast.post.VOC2020`).
        device: where the result goes; default: the inputs' device (CPU for non-tensors).

    Returns:
        (n_a, n_b) float32 penalty.

    Raises:
        TypeError, ValueError: as :func:`direction_similarity`, for each pair; one side of
            a pair None; both pairs None; row counts that differ between the camera and
            the orientation embeddings.
    """
    camera_weight = validation.real("camera_weight", camera_weight)
    orientation_weight = validation.real("orientation_weight", orientation_weight)
    pairs = {"camera": (camera_a, camera_b, camera_weight),
             "orientation": (orientation_a, orientation_b, orientation_weight)}
    dev = _device(device, ("camera_a", camera_a), ("camera_b", camera_b),
                  ("orientation_a", orientation_a), ("orientation_b", orientation_b))
    terms = []
    for kind, (a, b, weight) in pairs.items():
        if a is None and b is None:
            continue
        if a is None or b is None:
            given = f"{kind}_a" if b is None else f"{kind}_b"
            raise ValueError(f"{kind}_a and {kind}_b must both be given or both be None, got "
                             f"only {given}")
        terms.append((kind, weight * _cosine(f"{kind}_a", a, f"{kind}_b", b, dev)))
    if not terms:
        raise ValueError("voc_penalty needs camera or orientation embeddings, got None for both")
    if len(terms) == 2 and terms[0][1].shape != terms[1][1].shape:
        raise ValueError(f"orientation_a and orientation_b must give the "
                         f"{tuple(terms[0][1].shape)} matrix of camera_a and camera_b, got "
                         f"{tuple(terms[1][1].shape)}")
    return sum(term for _, term in terms)


# --------------------------------------------------------------------------------------
# Applying penalties
# --------------------------------------------------------------------------------------


def _matrix(name: str, value: Any) -> Tensor:
    x = _tensor(name, value)
    if x.dim() != 2:
        raise ValueError(f"{name} must be 2-D, got shape {tuple(x.shape)}")
    if not x.dtype.is_floating_point:
        raise TypeError(f"{name} must be a floating-point tensor, got {x.dtype}")
    return x


def _check_blocks(qg: tuple[str, Tensor], qq: tuple[str, Tensor], gg: tuple[str, Tensor]) -> None:
    """The (q, g), (q, q) and (g, g) matrices of one problem, named: shapes that agree and
    one device, or a ValueError naming the argument."""
    (qg_name, a), (qq_name, b), (gg_name, c) = qg, qq, gg
    q, g = a.shape
    if tuple(b.shape) != (q, q):
        raise ValueError(f"{qq_name} must have shape ({q}, {q}) to match {qg_name} "
                         f"{tuple(a.shape)}, got {tuple(b.shape)}")
    if tuple(c.shape) != (g, g):
        raise ValueError(f"{gg_name} must have shape ({g}, {g}) to match {qg_name} "
                         f"{tuple(a.shape)}, got {tuple(c.shape)}")
    _same_device(qg_name, a, qq_name, b)
    _same_device(qg_name, a, gg_name, c)


@dataclass
class Penalties:
    """The penalties on the three similarity matrices re-ranking uses.

    Attributes:
        query_gallery: (q, g) float32.
        query_query: (q, q) float32.
        gallery_gallery: (g, g) float32.

    All on one device; other float dtypes are converted to float32. ``a + b`` adds two
    Penalties of the same shapes element-wise (``sum([...])`` works too).
    """

    query_gallery: Tensor
    query_query: Tensor
    gallery_gallery: Tensor

    def __post_init__(self) -> None:
        qg = _matrix("query_gallery", self.query_gallery)
        qq = _matrix("query_query", self.query_query)
        gg = _matrix("gallery_gallery", self.gallery_gallery)
        _check_blocks(("query_gallery", qg), ("query_query", qq), ("gallery_gallery", gg))
        self.query_gallery = qg.to(torch.float32)
        self.query_query = qq.to(torch.float32)
        self.gallery_gallery = gg.to(torch.float32)

    @classmethod
    def zeros(cls, q: int, g: int, device: DeviceLike = None) -> Penalties:
        """All-zero penalties for q queries and g gallery items (CPU by default)."""
        return cls(torch.zeros((q, g), device=device), torch.zeros((q, q), device=device),
                   torch.zeros((g, g), device=device))

    def __add__(self, other: Penalties) -> Penalties:
        if not isinstance(other, Penalties):
            return NotImplemented
        if other.query_gallery.shape != self.query_gallery.shape:
            raise ValueError(f"cannot add Penalties for (q, g) = {tuple(other.query_gallery.shape)} "
                             f"to Penalties for {tuple(self.query_gallery.shape)}")
        _same_device("query_gallery", self.query_gallery, "other.query_gallery", other.query_gallery)
        return Penalties(self.query_gallery + other.query_gallery,
                         self.query_query + other.query_query,
                         self.gallery_gallery + other.gallery_gallery)

    def __radd__(self, other: Any) -> Penalties:
        if isinstance(other, int) and other == 0:  # sum() starts from 0
            return self
        return NotImplemented


def _similarities(name: str, value: Any) -> Tensor:
    x = _matrix(name, value)
    if x.dtype != torch.float32:
        raise TypeError(f"{name} must be float32, got {x.dtype} (convert it with .float())")
    _require_finite(name, x)
    return x


def _check_penalty(sim_name: str, sim: Tensor, name: str, penalty: Tensor) -> None:
    if tuple(penalty.shape) != tuple(sim.shape):
        raise ValueError(f"{name} must have the shape of {sim_name} {tuple(sim.shape)}, got "
                         f"{tuple(penalty.shape)}")
    _same_device(sim_name, sim, name, penalty)
    _require_finite(name, penalty)


def penalised_rerank(
    sim_qg: Tensor,
    sim_qq: Tensor,
    sim_gg: Tensor,
    penalties: Penalties,
    k1: int = DEFAULT_RERANK.k1,
    k2: int = DEFAULT_RERANK.k2,
    lambda_: float = DEFAULT_RERANK.lambda_,
    *,
    suppression_qg: Tensor | None = None,
) -> Tensor:
    """Re-ranking of penalised similarities, with the query-gallery penalty added back:

        ``D = rerank_similarities(S_qg - P_qg - E_qg, S_qq - P_qq, S_gg - P_gg, k1, k2, lambda_) + P_qg``

    (:func:`reid_fast.ops.rerank.rerank_similarities`: original distance (2 - 2 s)^2.)
    ``E_qg`` (``suppression_qg``, default 0) is a q-g edit that is *not* added back: the
    AICity 2020 recipe's ntop suppression (:func:`reid_fast.post.ntop_penalty`).

    Args:
        sim_qg: (q, g) float32 query-gallery cosine similarities, CPU or CUDA, finite.
        sim_qq: (q, q) query-query similarities.
        sim_gg: (g, g) gallery-gallery similarities.
        penalties: :class:`Penalties` of the same shapes, on the same device.
        k1, k2, lambda_: re-ranking parameters (k1 + 1 <= q + g, 1 <= k2 <= k1 + 1,
            0 <= lambda_ <= 1).
        suppression_qg: optional (q, g) float tensor on the same device, finite.

    Returns:
        (q, g) float32 distances on ``sim_qg``'s device.

    Raises:
        TypeError, ValueError: wrong types, shapes (naming both), devices, NaN/Inf,
            parameters out of range.
    """
    sim_qg = _similarities("sim_qg", sim_qg)
    sim_qq = _similarities("sim_qq", sim_qq)
    sim_gg = _similarities("sim_gg", sim_gg)
    if not isinstance(penalties, Penalties):
        raise TypeError(f"penalties must be a Penalties, got {type(penalties).__name__}")
    _check_blocks(("sim_qg", sim_qg), ("sim_qq", sim_qq), ("sim_gg", sim_gg))
    _check_penalty("sim_qg", sim_qg, "penalties.query_gallery", penalties.query_gallery)
    _check_penalty("sim_qq", sim_qq, "penalties.query_query", penalties.query_query)
    _check_penalty("sim_gg", sim_gg, "penalties.gallery_gallery", penalties.gallery_gallery)
    edited_qg = sim_qg - penalties.query_gallery
    if suppression_qg is not None:
        suppression_qg = _matrix("suppression_qg", suppression_qg)
        _check_penalty("sim_qg", sim_qg, "suppression_qg", suppression_qg)
        edited_qg = edited_qg - suppression_qg.to(torch.float32)
    reranked = rerank_similarities(edited_qg,
                                   sim_qq - penalties.query_query,
                                   sim_gg - penalties.gallery_gallery, k1, k2, lambda_)
    return reranked + penalties.query_gallery


def penalised_distance(sim_qg: Tensor, penalty_qg: Tensor) -> Tensor:
    """The no-re-ranking path: ``D = (1 - S_qg) + P_qg``.

    Args:
        sim_qg: (q, g) float32 cosine similarities, CPU or CUDA, finite.
        penalty_qg: (q, g) penalty on the same device.

    Returns:
        (q, g) float32 distances on ``sim_qg``'s device.
    """
    sim_qg = _similarities("sim_qg", sim_qg)
    penalty_qg = _matrix("penalty_qg", penalty_qg)
    _check_penalty("sim_qg", sim_qg, "penalty_qg", penalty_qg)
    return (1.0 - sim_qg) + penalty_qg.to(torch.float32)
