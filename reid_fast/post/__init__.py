"""Post-processing of re-ID features and distances (the AICity 2020 recipe, docs/design.md 4).

Every function takes torch tensors (CPU or CUDA) and computes on their device, returning
float32 tensors there; :mod:`reid_fast.reference.post` holds literal NumPy oracles.

Query expansion (:mod:`.query_expansion`):
    - ``average_query_expansion(query, gallery, k)``
    - ``alpha_query_expansion(query, gallery, k, alpha=3.0)``
    - ``database_augmentation(gallery, k, alpha=0.0)``
    - ``density_clusters(features, eps, min_samples)``  (DBSCAN on cosine distance)
    - ``cluster_query_expansion(query, eps=0.3, min_samples=2)``

Tracks (:mod:`.tracks`):
    - ``track_groups(trackids)``
    - ``track_average(gallery, trackids, weight=1.0)``
    - ``track_features(gallery, trackids)``
    - ``track_rerank(query, gallery, trackids, k1, k2, lambda_, within_track=1e-3)``
      (the re-ranking defaults: ``reid_fast.ops.params.DEFAULT_RERANK``)

Camera and direction awareness (:mod:`.penalties`):
    - ``camera_penalty(cams_a, cams_b, weight)``
    - ``direction_penalty(dir_a, dir_b, weight)``
    - ``camera_cluster_penalty(cams_a, cams_b, clusters, weight)``
    - ``Penalties(query_gallery, query_query, gallery_gallery)``, ``Penalties.zeros(q, g)``
    - ``penalised_rerank(sim_qg, sim_qq, sim_gg, penalties, k1, k2, lambda_)``
    - ``penalised_distance(sim_qg, penalty_qg)``

Fusion (:mod:`.fusion`):
    - ``fuse_features(features, weights=None)``
"""

from __future__ import annotations

from .fusion import fuse_features
from .penalties import (
    Penalties,
    camera_cluster_penalty,
    camera_penalty,
    direction_penalty,
    penalised_distance,
    penalised_rerank,
)
from .query_expansion import (
    alpha_query_expansion,
    average_query_expansion,
    cluster_query_expansion,
    database_augmentation,
    density_clusters,
)
from .tracks import track_average, track_features, track_groups, track_rerank

__all__ = [
    "Penalties",
    "alpha_query_expansion",
    "average_query_expansion",
    "camera_cluster_penalty",
    "camera_penalty",
    "cluster_query_expansion",
    "database_augmentation",
    "density_clusters",
    "direction_penalty",
    "fuse_features",
    "penalised_distance",
    "penalised_rerank",
    "track_average",
    "track_features",
    "track_groups",
    "track_rerank",
]
