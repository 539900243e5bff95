"""Post-processing of re-ID features and distances (the AICity 2020 recipe, docs/design.md 4).

Every function takes torch tensors (CPU or CUDA) and computes on their device, returning
float32 tensors there; :mod:`reid_fast.reference.post` holds literal NumPy oracles.

Query expansion (:mod:`.query_expansion`):
    - ``average_query_expansion(query, gallery, k)``
    - ``alpha_query_expansion(query, gallery, k, alpha=3.0)``
    - ``database_augmentation(gallery, k, alpha=0.0)``
    - ``density_clusters(features, eps, min_samples, *, metric="cosine")``  (DBSCAN on
      1 - s, or on 2 - 2s with ``metric="sqeuclidean"``)
    - ``cluster_query_expansion(query, eps=0.3, min_samples=2, *, metric="cosine",
      high_quality=None)``

Tracks (:mod:`.tracks`):
    - ``track_groups(trackids)``
    - ``track_average(gallery, trackids, weight=1.0, *, high_quality=None)``
    - ``track_features(gallery, trackids)``
    - ``track_rerank(query, gallery, trackids, k1, k2, lambda_, within_track=1e-3)``
      (the re-ranking defaults: ``reid_fast.ops.params.DEFAULT_RERANK``)

Camera and direction awareness (:mod:`.penalties`):
    - ``camera_penalty(cams_a, cams_b, weight)``
    - ``direction_similarity(dir_a, dir_b)``
    - ``direction_penalty(dir_a, dir_b, weight, threshold=None)``
    - ``camera_cluster_penalty(cams_a, cams_b, clusters, weight)``  (same cluster)
    - ``voc_penalty(camera_a, camera_b, orientation_a, orientation_b, camera_weight=0.1,
      orientation_weight=0.1)``  (VOC-ReID)
    - ``Penalties(query_gallery, query_query, gallery_gallery)``, ``Penalties.zeros(q, g)``
    - ``penalised_rerank(sim_qg, sim_qq, sim_gg, penalties, k1, k2, lambda_, *,
      suppression_qg=None)``
    - ``penalised_distance(sim_qg, penalty_qg)``

Cameras at test time (:mod:`.cameras`):
    - ``predict_cameras(probabilities, classes=None, threshold=0.5)``
    - ``camera_clusters(query_embeddings, gallery_embeddings, eps=0.3, min_samples=None)``
    - ``complete_camera_clusters(clusters, groups)``

The AICity 2020 winners' similarity edits (:mod:`.aicity`):
    - ``high_quality(pixels, min_pixels=15000)``
    - ``aicity2020_penalties(q, g, *, query_cameras=None, gallery_cameras=None,
      query_directions=None, gallery_directions=None, query_camera_clusters=None,
      gallery_camera_clusters=None, query_groups=None, gallery_groups=None, ...)``
    - ``ntop_penalty(sim_qg, gallery_cameras, gallery_trackids, ntop=29, weight=0.1)``
    - ``cluster_similarity_edit(sim_qq, clusters, weight=0.1)``
    - ``track_similarity_edit(sim_gg, trackids, value=1.0)``

Recipe constants (:mod:`.params`):
    - ``Aicity2020Recipe``, ``AICITY2020`` (Baidu-UTS); ``VocRecipe``, ``VOC2020`` (VOC-ReID)

Fusion (:mod:`.fusion`):
    - ``fuse_features(features, weights=None)``
"""

from __future__ import annotations

from .aicity import (
    aicity2020_penalties,
    cluster_similarity_edit,
    high_quality,
    ntop_penalty,
    track_similarity_edit,
)
from .cameras import camera_clusters, complete_camera_clusters, predict_cameras
from .fusion import fuse_features
from .params import AICITY2020, VOC2020, Aicity2020Recipe, VocRecipe
from .penalties import (
    Penalties,
    camera_cluster_penalty,
    camera_penalty,
    direction_penalty,
    direction_similarity,
    penalised_distance,
    penalised_rerank,
    voc_penalty,
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
    "AICITY2020",
    "Aicity2020Recipe",
    "Penalties",
    "VOC2020",
    "VocRecipe",
    "aicity2020_penalties",
    "alpha_query_expansion",
    "average_query_expansion",
    "camera_cluster_penalty",
    "camera_clusters",
    "camera_penalty",
    "cluster_query_expansion",
    "cluster_similarity_edit",
    "complete_camera_clusters",
    "database_augmentation",
    "density_clusters",
    "direction_penalty",
    "direction_similarity",
    "fuse_features",
    "high_quality",
    "ntop_penalty",
    "penalised_distance",
    "penalised_rerank",
    "predict_cameras",
    "track_average",
    "track_features",
    "track_groups",
    "track_rerank",
    "track_similarity_edit",
    "voc_penalty",
]
