"""The camera- and direction-aware test-time recipes, one ablation row per step
(docs/design.md section 4).

- :func:`aicity2020_chain`: the 1st-place recipe (Baidu-UTS): gallery track fusion, query
  clusters, predicted-camera penalty, camera clusters, direction penalty, ntop
  suppression, re-ranking (k1 70, k2 10, lambda 0.2) with the penalties added back.
- :func:`voc_chain`: the 2nd-place variant (VOC-ReID): ``s_id - a s_camera - b
  s_orientation`` with the camera- and orientation-model similarities, then re-ranking
  of the penalised similarities with the penalty added back.

Inputs are what a user has at test time: the identity features, the gallery tracks
(``test_track.txt``), the images' pixel counts and the camera / orientation models'
outputs (:class:`reid_fast.testtime.attributes.AttributeFeatures`). The identities and
cameras of the feature set are read by ``record`` (the evaluation) only.
"""

from __future__ import annotations

from typing import Callable

import numpy as np
import torch

from ..ops.params import DEFAULT_RERANK, RerankParams
from ..post import (
    AICITY2020,
    VOC2020,
    Aicity2020Recipe,
    Penalties,
    VocRecipe,
    aicity2020_penalties,
    camera_clusters,
    cluster_query_expansion,
    cluster_similarity_edit,
    complete_camera_clusters,
    high_quality,
    ntop_penalty,
    penalised_distance,
    penalised_rerank,
    track_average,
    track_similarity_edit,
    voc_penalty,
)
from .attributes import AttributeFeatures
from .feature_file import FeatureSet

RECIPES = ("basic", "aicity2020", "voc")

Record = Callable[[str, torch.Tensor], None]


def _check_task(name: str, attributes: AttributeFeatures | None, task: str) -> None:
    if attributes is not None and attributes.task != task:
        raise ValueError(f"{name} must come from {task} models, got {attributes.task} models")


def aicity2020_chain(features: FeatureSet, *, query_pixels: np.ndarray, gallery_pixels: np.ndarray,
                     cameras: AttributeFeatures | None = None,
                     orientations: AttributeFeatures | None = None,
                     recipe: Aicity2020Recipe = AICITY2020, rerank: bool = True,
                     device: torch.device | str = "cpu",
                     record: Record = lambda *_: None) -> torch.Tensor:
    """The Baidu-UTS recipe on ``features``, calling ``record(step, distances)`` after each
    step. Steps without their model are skipped: without camera models no camera
    penalty, camera clusters or ntop; without orientation models no direction penalty
    (with them but no camera models, the direction term applies to every query, as the
    seed does for queries of unknown camera). A step whose weight is 0 (``track_weight``,
    ``query_eps``, ``cluster_weight``, ``ntop`` / ``ntop_weight``) is skipped too.

    Args:
        features: L2-normalised identity features; ``gallery.tracks`` are the gallery
            tracks (-1 none).
        query_pixels, gallery_pixels: (q,) / (g,) image sizes H x W
            (:func:`reid_fast.data.cache.image_pixels`).
        cameras: camera-model outputs for the same images, or None.
        orientations: orientation-model outputs for the same images, or None.
        recipe: the constants (default: the seed's).
        rerank: end with the re-ranking step (else the distances are ``1 - (S - P - E)``).
        device: where to compute.
        record: the ablation callback (:class:`reid_fast.testtime.chain.Ablation`).

    Returns:
        (q, g) float32 final distances on ``device``.
    """
    _check_task("cameras", cameras, "camera")
    _check_task("orientations", orientations, "orientation")
    query = features.query.tensor(device)
    gallery = features.gallery.tensor(device)
    tracks = torch.as_tensor(features.gallery.tracks, device=query.device)
    q, g = query.shape[0], gallery.shape[0]

    if recipe.track_weight > 0:
        gallery = track_average(gallery, tracks, recipe.track_weight,
                                high_quality=high_quality(gallery_pixels, recipe.min_pixels,
                                                          device=query.device))
        record(f"+ gallery track fusion ({recipe.track_weight:g} x mean of >= "
               f"{recipe.min_pixels:g}-pixel images)", penalised_distance(
                   query @ gallery.T, torch.zeros((q, g), device=query.device)))
    query_clusters = torch.full((q,), -1, dtype=torch.int64, device=query.device)
    if recipe.query_eps > 0:
        query, query_clusters = cluster_query_expansion(
            query, recipe.query_eps, recipe.query_min_samples, metric=recipe.eps_metric,
            high_quality=high_quality(query_pixels, recipe.min_pixels, device=query.device))
        record(f"+ query clusters (DBSCAN eps {recipe.query_eps:g} on 2 - 2s, "
               f"{int(query_clusters.max().item()) + 1 if q else 0} clusters)",
               penalised_distance(query @ gallery.T, torch.zeros((q, g), device=query.device)))
    similarity = query @ gallery.T

    terms: dict = {"query_groups": query_clusters, "gallery_groups": tracks,
                   "camera_weight": recipe.camera_weight,
                   "direction_weight": recipe.direction_weight,
                   "direction_threshold": recipe.direction_threshold,
                   "cluster_weight": recipe.cluster_weight, "device": query.device}

    def penalties() -> Penalties:
        return aicity2020_penalties(q, g, **terms)

    penalty = penalties()
    gallery_cameras = None
    if cameras is not None:
        query_cameras, gallery_cameras = cameras.predicted_cameras(recipe.camera_threshold)
        terms.update(query_cameras=query_cameras, gallery_cameras=gallery_cameras)
        penalty = penalties()
        record(f"+ predicted-camera penalty ({recipe.camera_weight:g}; "
               f"{int((query_cameras >= 0).sum())}/{q} queries, "
               f"{int((gallery_cameras >= 0).sum())}/{g} gallery sure)",
               penalised_distance(similarity, penalty.query_gallery))
    if cameras is not None and recipe.cluster_weight != 0:
        query_cam_clusters, gallery_cam_clusters = camera_clusters(
            cameras.query.embeddings, cameras.gallery.embeddings, recipe.camera_eps,
            recipe.camera_min_samples_for(q + g))
        terms.update(query_camera_clusters=complete_camera_clusters(query_cam_clusters,
                                                                    query_clusters),
                     gallery_camera_clusters=complete_camera_clusters(gallery_cam_clusters, tracks))
        penalty = penalties()
        found = int(torch.cat([query_cam_clusters, gallery_cam_clusters]).max().item()) + 1
        record(f"+ camera clusters ({recipe.cluster_weight:g}; {found} clusters)",
               penalised_distance(similarity, penalty.query_gallery))
    if orientations is not None:
        terms.update(query_directions=orientations.query.embeddings,
                     gallery_directions=orientations.gallery.embeddings)
        penalty = penalties()
        record(f"+ direction ({recipe.direction_weight:g} at similarity >= "
               f"{recipe.direction_threshold:g}, queries of unknown camera)",
               penalised_distance(similarity, penalty.query_gallery))
    suppression = None
    if gallery_cameras is not None and recipe.ntop > 0 and recipe.ntop_weight != 0:
        suppression = ntop_penalty(similarity - penalty.query_gallery, gallery_cameras, tracks,
                                   recipe.ntop, recipe.ntop_weight)
        record(f"+ ntop ({recipe.ntop} ranks, {recipe.ntop_weight:g} on the same camera, "
               "other tracks)", penalised_distance(similarity,
                                                    penalty.query_gallery + suppression))
    if not rerank:
        extra = suppression if suppression is not None else 0.0
        return penalised_distance(similarity, penalty.query_gallery + extra)
    params = RerankParams.for_items(q + g, recipe.rerank.k1, recipe.rerank.k2,
                                    recipe.rerank.lambda_)
    distances = penalised_rerank(
        similarity, cluster_similarity_edit(query @ query.T, query_clusters,
                                            recipe.query_cluster_edit),
        track_similarity_edit(gallery @ gallery.T, tracks, recipe.track_similarity), penalty,
        params.k1, params.k2, params.lambda_, suppression_qg=suppression)
    record(f"+ re-ranking (k1={params.k1}, k2={params.k2}, lambda={params.lambda_:g}, "
           "penalties added back)", distances)
    return distances


def voc_chain(features: FeatureSet, *, cameras: AttributeFeatures | None = None,
              orientations: AttributeFeatures | None = None, recipe: VocRecipe = VOC2020,
              rerank: RerankParams | None = DEFAULT_RERANK, device: torch.device | str = "cpu",
              record: Record = lambda *_: None) -> torch.Tensor:
    """VOC-ReID's variant: ``s = s_id - a s_camera - b s_orientation`` on q-g, q-q and g-g
    (:func:`reid_fast.post.voc_penalty`), then, with ``rerank``, re-ranking of the
    penalised similarities with the q-g penalty added back. A missing model's term is
    off. Arguments as :func:`aicity2020_chain`; returns (q, g) float32 distances."""
    _check_task("cameras", cameras, "camera")
    _check_task("orientations", orientations, "orientation")
    query = features.query.tensor(device)
    gallery = features.gallery.tensor(device)
    q, g = query.shape[0], gallery.shape[0]
    similarity = query @ gallery.T

    def embeddings(attributes: AttributeFeatures | None, side: str) -> torch.Tensor | None:
        return None if attributes is None else getattr(attributes, side).embeddings

    def penalties(with_orientation: bool) -> Penalties:
        orientation = orientations if with_orientation else None
        return Penalties(*[voc_penalty(embeddings(cameras, a), embeddings(cameras, b),
                                       embeddings(orientation, a), embeddings(orientation, b),
                                       recipe.camera_weight, recipe.orientation_weight)
                           for a, b in (("query", "gallery"), ("query", "query"),
                                        ("gallery", "gallery"))])

    penalty = Penalties.zeros(q, g, device=query.device)
    if cameras is not None:
        penalty = penalties(with_orientation=False)
        record(f"+ camera similarity (-{recipe.camera_weight:g} s_camera)",
               penalised_distance(similarity, penalty.query_gallery))
    if orientations is not None:
        penalty = penalties(with_orientation=True)
        record(f"+ orientation similarity (-{recipe.orientation_weight:g} s_orientation)",
               penalised_distance(similarity, penalty.query_gallery))
    distances = penalised_distance(similarity, penalty.query_gallery)
    if rerank is not None:
        params = RerankParams.for_items(q + g, rerank.k1, rerank.k2, rerank.lambda_)
        distances = penalised_rerank(similarity, query @ query.T, gallery @ gallery.T, penalty,
                                     params.k1, params.k2, params.lambda_)
        record(f"+ re-ranking (k1={params.k1}, k2={params.k2}, lambda={params.lambda_:g}, "
               "penalty added back)", distances)
    return distances
