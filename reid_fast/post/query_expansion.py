"""Query expansion and database-side augmentation on the device of the features.

docs/design.md section 4 ("Query expansion"). Every function takes L2-normalised float32
torch feature rows (CPU or CUDA) and returns float32 tensors on the same device; the math
is the same on both (neighbour search through :func:`reid_fast.ops.knn.knn`, the rest
plain tensor ops), and nothing leaves the device but a few scalars (validity checks).

- :func:`average_query_expansion` (Chum et al., ICCV 2007): each query plus its k most
  similar gallery rows, renormalised.
- :func:`alpha_query_expansion` (Radenovic et al., TPAMI 2018): the same with weights
  ``max(s, 0) ** alpha`` on the neighbours.
- :func:`database_augmentation`: every gallery row replaced by the (weighted) mean of
  itself and its nearest gallery rows.
- :func:`density_clusters`: DBSCAN on cosine distance (or 2 - 2s), dense on the device.
- :func:`cluster_query_expansion`: queries replaced by the mean of their density cluster
  (of its high-quality members, when a mask says which those are).

"Most similar" is by cosine similarity ``s = <x, y> / (|x| |y|)``: the neighbours come
from ``knn(..., metric="cosine")`` (distance ``1 - s``, ascending, so the most similar
first, equal distances by the lower index).

The private helpers at the bottom of this module validate inputs (and average groups of
rows) for the whole of :mod:`reid_fast.post`.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from torch import Tensor

from .. import validation
from ..ops.distance import pairwise_distance
from ..ops.knn import knn

__all__ = [
    "alpha_query_expansion",
    "average_query_expansion",
    "cluster_query_expansion",
    "database_augmentation",
    "density_clusters",
]

NORM_EPS = 1e-12
"""Row norms below this are clamped to it when normalising (as torch.nn.functional.normalize)."""

DENSITY_METRICS = ("cosine", "sqeuclidean")
"""The distances :func:`density_clusters` takes eps on."""

DeviceLike = torch.device | str | None


# --------------------------------------------------------------------------------------
# Query expansion
# --------------------------------------------------------------------------------------


def average_query_expansion(query: Tensor, gallery: Tensor, k: int) -> Tensor:
    """Average query expansion: ``q' = normalise(q + sum of the k gallery rows most similar
    to q)``.

    Args:
        query: (q, d) float32 L2-normalised query features, CPU or CUDA, finite; q may be 0.
        gallery: (g, d) float32 gallery features on the same device.
        k: number of gallery neighbours, 0 <= k <= g. 0 returns a copy of ``query``.

    Returns:
        (q, d) float32 expanded queries on ``query``'s device, rows of unit norm.

    Raises:
        TypeError: not a torch tensor, not float32, k not an integer.
        ValueError: wrong dims, mismatched devices or feature sizes, NaN/Inf, k out of range.
    """
    query, gallery = _feature_pair("query", query, "gallery", gallery)
    k = validation.integer("k", k, 0, gallery.shape[0], high_name="the number of gallery rows")
    if k == 0:
        return query.clone()
    _, indices = knn(query, gallery, k, "cosine")  # (q, k)
    neighbours = gallery[indices]  # (q, k, d)
    return _normalise_rows(query + neighbours.sum(dim=1))


def alpha_query_expansion(query: Tensor, gallery: Tensor, k: int, alpha: float = 3.0) -> Tensor:
    """Alpha query expansion: ``q' = normalise(q + sum_{i in top-k} max(s_i, 0) ** alpha g_i)``,
    s_i the cosine similarity of q and g_i and top-k the k most similar gallery rows.

    ``0 ** 0`` is 1, so alpha = 0 gives :func:`average_query_expansion`.

    Args:
        query: (q, d) float32 L2-normalised query features, CPU or CUDA, finite; q may be 0.
        gallery: (g, d) float32 gallery features on the same device.
        k: number of gallery neighbours, 0 <= k <= g. 0 returns a copy of ``query``.
        alpha: exponent of the weights, finite and >= 0 (default 3).

    Returns:
        (q, d) float32 expanded queries on ``query``'s device, rows of unit norm.

    Raises:
        TypeError, ValueError: as :func:`average_query_expansion`; alpha negative or not finite.
    """
    query, gallery = _feature_pair("query", query, "gallery", gallery)
    k = validation.integer("k", k, 0, gallery.shape[0], high_name="the number of gallery rows")
    alpha = validation.real("alpha", alpha, 0.0)
    if k == 0:
        return query.clone()
    _, indices = knn(query, gallery, k, "cosine")  # (q, k)
    neighbours = gallery[indices]  # (q, k, d)
    weights = _similarity_weights(query.unsqueeze(1), neighbours, alpha)  # (q, k)
    return _normalise_rows(query + torch.einsum("qk,qkd->qd", weights, neighbours))


def database_augmentation(gallery: Tensor, k: int, alpha: float = 0.0) -> Tensor:
    """Database-side augmentation (DBA): ``g_i' = normalise(sum_{j in N(i)} w_j g_j)`` with
    ``w_j = max(s_ij, 0) ** alpha`` (alpha = 0: the plain mean), s_ij the cosine similarity.

    N(i) is row i itself plus its k - 1 most similar *other* gallery rows (equal
    similarities by the lower index). For distinct rows that is exactly the k nearest rows
    under cosine distance, since a row is its own nearest; writing it this way keeps the
    row in its own set when an exact duplicate with a lower index exists, or when float32
    rounding puts a near-duplicate ahead of it.

    Args:
        gallery: (g, d) float32 L2-normalised features, CPU or CUDA, finite.
        k: neighbourhood size including the row itself, 1 <= k <= g. 1 returns a copy.
        alpha: weight exponent, finite and >= 0 (default 0).

    Returns:
        (g, d) float32 augmented gallery on ``gallery``'s device.

    Raises:
        TypeError, ValueError: not a float32 2-D torch tensor, NaN/Inf, k out of range,
            alpha negative or not finite.
    """
    gallery = _feature_matrix("gallery", gallery)
    g = gallery.shape[0]
    alpha = validation.real("alpha", alpha, 0.0)
    if g == 0:
        raise ValueError("gallery is empty: database augmentation needs at least one row")
    k = validation.integer("k", k, 1, g, high_name="the number of gallery rows")
    if k == 1:
        return gallery.clone()
    _, indices = knn(gallery, gallery, k, "cosine")  # (g, k)
    rows = torch.arange(g, device=gallery.device)
    # Rows whose own index is not among their k nearest (duplicates, rounding): their first
    # k - 1 entries are then the k - 1 nearest others; the last slot becomes the row itself.
    missing = ~(indices == rows[:, None]).any(dim=1)
    indices[:, k - 1] = torch.where(missing, rows, indices[:, k - 1])
    neighbours = gallery[indices]  # (g, k, d)
    weights = _similarity_weights(gallery.unsqueeze(1), neighbours, alpha)  # (g, k)
    return _normalise_rows(torch.einsum("gk,gkd->gd", weights, neighbours))


def _similarity_weights(anchor: Tensor, neighbours: Tensor, alpha: float) -> Tensor:
    """max(cos(anchor, neighbour), 0) ** alpha; anchor (n, 1, d), neighbours (n, k, d)."""
    dots = (anchor * neighbours).sum(dim=2)  # (n, k)
    norms = anchor.norm(dim=2).clamp_min(NORM_EPS) * neighbours.norm(dim=2).clamp_min(NORM_EPS)
    return torch.pow((dots / norms).clamp_min(0.0), alpha)


# --------------------------------------------------------------------------------------
# Density clustering and cluster query expansion
# --------------------------------------------------------------------------------------


def density_clusters(features: Tensor, eps: float, min_samples: int, *,
                     metric: str = "cosine") -> Tensor:
    """DBSCAN on the cosine distance ``1 - <x_i, x_j> / (|x_i| |x_j|)``, on the device.

    Definitions: the neighbourhood of i is every j with distance <= eps, i itself always
    included; i is a *core* point when its neighbourhood has at least ``min_samples``
    members (as scikit-learn counts them). Clusters are the connected components of the
    graph of core points joined when within eps of each other. A non-core point within
    eps of a core point is a *border* point; every other point is noise.

    ``metric="sqeuclidean"`` takes eps on the squared Euclidean distance between the
    L2-normalised rows, ``|x/|x| - y/|y||^2 = 2 - 2 s``, twice the cosine distance: the
    AICity 2020 code's ``2 - 2 x x^T`` of its L2-normalised features (eps 0.5 for queries,
    0.3 for camera embeddings). This is the one place where an eps on 2 - 2 s becomes one
    on the cosine distance (halved).

    Deterministic labelling (the one a textbook DBSCAN that seeds clusters from the core
    points in index order produces, as scikit-learn's does):

    - clusters are numbered 0, 1, ... in the order of their smallest *core* member index;
    - a border point within eps of cores of several clusters joins the lowest-numbered of
      them;
    - noise is -1.

    Implementation: one dense (n, n) cosine distance matrix (:func:`pairwise_distance`),
    a boolean adjacency, then connected components by iterated minimum-label propagation
    with pointer jumping (``label = min(label[label], min over core neighbours of label)``
    until nothing changes; one tiny device-to-host sync per iteration). Memory is O(n^2):
    about 10 bytes x n^2 at the peak (two boolean adjacency matrices and the int64 labels
    of one propagation step; the float32 distances are dropped once thresholded), e.g.
    250 MB for n = 5000, 3.7 GB for AICity's 19342 query and gallery images.

    Args:
        features: (n, d) float32 features, CPU or CUDA, finite; n may be 0.
        eps: neighbourhood radius in ``metric``, finite, >= 0.
        min_samples: neighbourhood size for a core point (itself included), >= 1.
        metric: ``"cosine"`` (1 - s, default) or ``"sqeuclidean"`` (2 - 2 s).

    Returns:
        (n,) int64 labels on ``features``' device: cluster numbers, -1 for noise.

    Raises:
        TypeError, ValueError: not a float32 2-D torch tensor, NaN/Inf, eps negative or not
            finite, min_samples < 1, an unknown metric.
    """
    features = _feature_matrix("features", features)
    eps = validation.real("eps", eps, 0.0)
    min_samples = validation.integer("min_samples", min_samples, 1)
    if validation.one_of("metric", metric, DENSITY_METRICS) == "sqeuclidean":
        eps = eps / 2.0  # 2 - 2 s <= eps  <=>  1 - s <= eps / 2
    n = features.shape[0]
    device = features.device
    if n == 0:
        return torch.empty((0,), dtype=torch.int64, device=device)

    adjacency = pairwise_distance(features, features, "cosine") <= eps  # (n, n) bool
    adjacency.fill_diagonal_(True)  # i is in its own neighbourhood whatever the rounding
    core = adjacency.sum(dim=1) >= min_samples  # (n,)
    core_adjacency = adjacency & core[:, None] & core[None, :]

    # Connected components of the core graph: each core point ends with the smallest core
    # index of its component; non-core points hold the sentinel n throughout.
    sentinel = torch.full((n,), n, dtype=torch.int64, device=device)
    indices = torch.arange(n, dtype=torch.int64, device=device)
    component = torch.where(core, indices, sentinel)
    while True:
        # Labels are core indices of the same component (or n), so label[label] is valid
        # for core points: pointer jumping halves the remaining distance each time.
        jumped = torch.where(core, component[component.clamp_max(n - 1)], sentinel)
        neighbour_min = torch.where(core_adjacency, component[None, :], n).amin(dim=1)
        updated = torch.minimum(jumped, neighbour_min)
        if bool(torch.equal(updated, component)):
            break
        component = updated

    # Border points: the lowest-numbered adjacent cluster, i.e. the smallest component
    # label (= smallest core index) among their core neighbours; n if none (noise).
    border = torch.where(adjacency & core[None, :], component[None, :], n).amin(dim=1)
    raw = torch.where(core, component, border)  # smallest core index of the cluster, or n
    # Renumber 0, 1, ... by the smallest core index; the sentinel n sorts last.
    _, inverse = torch.unique(raw, sorted=True, return_inverse=True)
    labels = inverse.to(torch.int64)
    return torch.where(raw == n, torch.full_like(labels, -1), labels)


def cluster_query_expansion(
    query: Tensor,
    eps: float = 0.3,
    min_samples: int = 2,
    *,
    metric: str = "cosine",
    high_quality: Any = None,
) -> tuple[Tensor, Tensor]:
    """Cluster query expansion: queries in a density cluster are replaced by the
    renormalised mean of their cluster's queries (border members included); noise queries
    are unchanged.

    With ``high_quality`` (the AICity 2020 recipe: images of at least 15000 pixels, see
    :func:`reid_fast.post.high_quality`) the mean runs over the cluster's high-quality
    members only, or over all of them when it has none.

    Args:
        query: (q, d) float32 L2-normalised query features, CPU or CUDA, finite.
        eps: DBSCAN radius in ``metric`` (default 0.3), see :func:`density_clusters`.
        min_samples: DBSCAN core size, itself included (default 2).
        metric: ``"cosine"`` (1 - s, default) or ``"sqeuclidean"`` (2 - 2 s, the recipe's
            eps 0.5).
        high_quality: optional (q,) bool mask (tensor on any device, array or sequence).

    Returns:
        ``(new_query, labels)``: (q, d) float32 and (q,) int64 cluster labels (-1 noise),
        both on ``query``'s device.

    Raises:
        TypeError, ValueError: as :func:`density_clusters`; a mask that is not bool or not
            of length q.
    """
    query = _feature_matrix("query", query)
    mask = None if high_quality is None else _mask("high_quality", high_quality, query.shape[0],
                                                   query.device)
    labels = density_clusters(query, eps, min_samples, metric=metric)
    means = _normalise_rows(_group_means(query, labels, query.shape[0], mask))
    clustered = labels >= 0
    return torch.where(clustered[:, None], means[labels.clamp_min(0)], query), labels


# --------------------------------------------------------------------------------------
# Helpers shared by reid_fast.post: input validation, group means
# --------------------------------------------------------------------------------------


def _group_means(x: Tensor, group: Tensor, count: int, high_quality: Tensor | None = None
                 ) -> Tensor:
    """(count, d) mean of the rows of each group (``group`` (n,) in 0..count-1, or -1 for
    a row in none); with a (n,) bool ``high_quality`` mask, the mean of the group's
    high-quality rows where it has any, else of all its rows. Empty groups: zero rows."""
    member = group >= 0
    slot = group.clamp_min(0)
    weight = member.to(x.dtype)
    if high_quality is not None:
        good = (high_quality & member).to(x.dtype)
        good_count = torch.zeros((count,), dtype=x.dtype, device=x.device).index_add_(0, slot, good)
        weight = torch.where(good_count[slot] > 0, good, weight)
    sums = torch.zeros((count, x.shape[1]), dtype=x.dtype, device=x.device)
    sums.index_add_(0, slot, x * weight[:, None])
    counts = torch.zeros((count,), dtype=x.dtype, device=x.device).index_add_(0, slot, weight)
    return sums / counts.clamp_min(1.0)[:, None]


def _normalise_rows(x: Tensor) -> Tensor:
    """Rows divided by max(|row|, 1e-12)."""
    return x / x.norm(dim=1, keepdim=True).clamp_min(NORM_EPS)


def _require_finite(name: str, x: Tensor) -> None:
    """ValueError naming ``name`` if ``x`` holds NaN or Inf (one device sync)."""
    if x.numel() == 0 or bool(torch.isfinite(x).all()):
        return
    bad = (~torch.isfinite(x)).nonzero()
    first = tuple(int(i) for i in bad[0].tolist())
    value = float(x[first])
    raise ValueError(f"{name} must be finite, got {int(bad.shape[0])} NaN or Inf value(s), "
                     f"the first at index {first}: {value}")


def _tensor(name: str, value: Any) -> Tensor:
    if not isinstance(value, torch.Tensor):
        raise TypeError(f"{name} must be a torch.Tensor, got "
                        f"{type(value).__module__}.{type(value).__qualname__}")
    return value


def _feature_matrix(name: str, value: Any) -> Tensor:
    """A finite 2-D float32 torch tensor with at least one column (detached)."""
    x = _tensor(name, value)
    if x.dim() != 2:
        raise ValueError(f"{name} must be 2-D (rows, features), got shape {tuple(x.shape)}")
    if x.dtype != torch.float32:
        raise TypeError(f"{name} must be float32, got {x.dtype} (convert it with .float())")
    if x.shape[1] == 0:
        raise ValueError(f"{name} must have at least one feature column, got shape {tuple(x.shape)}")
    _require_finite(name, x)
    return x.detach()


def _same_device(name_a: str, a: Tensor, name_b: str, b: Tensor) -> None:
    if a.device != b.device:
        raise ValueError(f"{name_b} must be on the same device as {name_a} ({a.device}), "
                         f"got {b.device}")


def _feature_pair(name_x: str, x: Any, name_y: str, y: Any) -> tuple[Tensor, Tensor]:
    """Two feature matrices on one device with the same number of columns."""
    x = _feature_matrix(name_x, x)
    y = _feature_matrix(name_y, y)
    _same_device(name_x, x, name_y, y)
    if x.shape[1] != y.shape[1]:
        raise ValueError(f"{name_y} must have as many columns as {name_x} ({x.shape[1]}), "
                         f"got shape {tuple(y.shape)}")
    return x, y


def _device(device: DeviceLike, *named: tuple[str, Any]) -> torch.device:
    """``device`` if given; else the device shared by the tensor inputs; else the CPU."""
    if device is not None:
        return torch.device(device)
    found: tuple[str, torch.device] | None = None
    for name, value in named:
        if isinstance(value, torch.Tensor):
            if found is None:
                found = (name, value.device)
            elif value.device != found[1]:
                raise ValueError(f"{name} must be on the same device as {found[0]} ({found[1]}), "
                                 f"got {value.device} (or pass device=)")
    return found[1] if found is not None else torch.device("cpu")


def _as_tensor(name: str, value: Any) -> Tensor:
    """A tensor as it is (detached), anything else through NumPy onto the CPU."""
    if isinstance(value, torch.Tensor):
        return value.detach()
    array = np.asarray(value)
    if array.dtype == object:
        raise TypeError(f"{name} must be a tensor or an array-like of numbers, got {value!r}")
    return torch.from_numpy(np.array(array, copy=True))


def _labels(name: str, value: Any, device: DeviceLike, minus_one: str = "none") -> Tensor:
    """(n,) int64 labels >= -1 (camera ids, cluster labels, track ids; -1 = ``minus_one``)
    from a tensor, array or sequence of integers, on ``device`` (default: where they are)."""
    if isinstance(value, torch.Tensor):
        x = value.detach()
        if x.dtype.is_floating_point or x.dtype.is_complex or x.dtype == torch.bool:
            raise TypeError(f"{name} must hold integers, got {x.dtype}")
    else:
        array = np.asarray(value)
        if array.size == 0:
            array = array.astype(np.int64)  # [] is float64 in NumPy
        if array.dtype.kind not in "iu":
            raise TypeError(f"{name} must hold integers, got dtype {array.dtype}")
        x = torch.from_numpy(array.astype(np.int64, copy=True))
    if x.dim() != 1:
        raise ValueError(f"{name} must be 1-D (one label per item), got shape {tuple(x.shape)}")
    ids = x.to(dtype=torch.int64, device=device if device is not None else x.device)
    if ids.numel() and bool((ids < -1).any()):
        first = int((ids < -1).nonzero()[0, 0])
        raise ValueError(f"{name} must be >= 0, or -1 for {minus_one}; got {int(ids[first])} "
                         f"at index {first}")
    return ids


def _mask(name: str, value: Any, n: int, device: torch.device) -> Tensor:
    """(n,) bool tensor on ``device`` from a bool tensor, array or sequence."""
    x = _as_tensor(name, value)
    if x.dtype != torch.bool:
        raise TypeError(f"{name} must be a bool mask, got {x.dtype}")
    if tuple(x.shape) != (n,):
        raise ValueError(f"{name} must have shape ({n},), got {tuple(x.shape)}")
    return x.to(device)
