"""The AICity 2020 test-time chain: fuse -> post-process -> re-rank -> evaluate, with the
effect of every step measured (the ablation table).

Order of the steps (docs/design.md section 4), each optional:
1. fusion of several models' features (:func:`fuse_feature_sets`);
2. feature post-processing (:func:`post_process_features`): alpha query expansion,
   database-side augmentation, cluster query expansion, gallery track averaging;
3. distances (:func:`chain_distances`): cosine distance plus penalty, or k-reciprocal
   re-ranking of the penalised similarities with the penalty added back, or track-level
   re-ranking plus the penalty.

The chain reads the features, the image names and the gallery tracks; never the
identities or cameras a feature file carries (those are evaluation labels, read only by
:func:`evaluate_distances`). Camera and direction penalties come from predicted cameras
and orientations: :mod:`reid_fast.testtime.recipes`.
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass, replace
from typing import Any, Callable, Sequence

import torch

from ..eval.metrics import RankingMetrics, evaluate_ranking
from ..ops.distance import pairwise_distance
from ..ops.params import DEFAULT_RERANK, RerankParams
from ..post import (
    Penalties,
    alpha_query_expansion,
    cluster_query_expansion,
    database_augmentation,
    fuse_features,
    penalised_distance,
    penalised_rerank,
    track_average,
    track_rerank,
)
from .feature_file import FeatureSet, check_same_rows, load_distances


@dataclass
class PostConfig:
    """Parameters of the post-processing and re-ranking steps (0 / False = off)."""

    qe_k: int = 2                   # alpha query expansion: gallery neighbours
    qe_alpha: float = 3.0
    dba_k: int = 0                  # database-side augmentation: neighbours (itself included)
    dba_alpha: float = 0.0
    cluster_qe_eps: float = 0.0     # cluster QE: DBSCAN radius on cosine distance
    cluster_qe_min_samples: int = 2
    track_weight: float = 1.0       # gallery track averaging: weight of the track mean
    rerank: bool = True
    track_rerank: bool = False      # re-rank against gallery tracks instead of images
    k1: int = DEFAULT_RERANK.k1
    k2: int = DEFAULT_RERANK.k2
    lambda_: float = DEFAULT_RERANK.lambda_

    def as_dict(self) -> dict:
        return asdict(self)


def fuse_feature_sets(sets: Sequence[FeatureSet], weights: Sequence[float] | None = None,
                      device: torch.device | str = "cpu") -> FeatureSet:
    """Per-model L2 normalisation, weighted concatenation and renormalisation of the
    query and gallery features of several models. The files must describe the same
    images in the same order (names compared; ValueError naming the first mismatch)."""
    if not sets:
        raise ValueError("fuse needs at least one feature set")
    first = sets[0]
    for number, other in enumerate(sets[1:], start=2):
        check_same_rows(first.query.names, other.query.names, f"query names of feature set {number}")
        check_same_rows(first.gallery.names, other.gallery.names,
                        f"gallery names of feature set {number}")
    parts = {split: getattr(first, split).replace(
        fuse_features([getattr(s, split).tensor(device) for s in sets], weights))
        for split in ("query", "gallery")}
    meta = dict(first.meta)
    meta.update(fused=[s.meta.get("model", "?") for s in sets],
                fusion_weights=list(weights) if weights is not None else [1.0] * len(sets),
                embedding_dim=int(parts["query"].features.shape[1]))
    return FeatureSet(parts["query"], parts["gallery"], meta)


def post_process_features(features: FeatureSet, cfg: PostConfig,
                          device: torch.device | str = "cpu",
                          on_step: Callable[[str, torch.Tensor, torch.Tensor], None] | None = None
                          ) -> tuple[torch.Tensor, torch.Tensor]:
    """(query, gallery) float32 features on ``device`` after alpha QE, DBA, cluster QE and
    gallery track averaging (in that order, each when enabled in ``cfg``).
    ``on_step(label, query, gallery)`` is called after each applied step."""
    query = features.query.tensor(device)
    gallery = features.gallery.tensor(device)
    report = on_step or (lambda *_: None)
    if cfg.qe_k > 0:
        query = alpha_query_expansion(query, gallery, min(cfg.qe_k, gallery.shape[0]), cfg.qe_alpha)
        report(f"+ alpha query expansion (k={cfg.qe_k})", query, gallery)
    if cfg.dba_k > 1:
        gallery = database_augmentation(gallery, min(cfg.dba_k, gallery.shape[0]), cfg.dba_alpha)
        report(f"+ database-side augmentation (k={cfg.dba_k})", query, gallery)
    if cfg.cluster_qe_eps > 0:
        query, _ = cluster_query_expansion(query, cfg.cluster_qe_eps, cfg.cluster_qe_min_samples)
        report(f"+ cluster query expansion (eps={cfg.cluster_qe_eps:g})", query, gallery)
    if cfg.track_weight > 0 and (features.gallery.tracks >= 0).any():
        gallery = track_average(gallery, features.gallery.tracks, cfg.track_weight)
        report(f"+ gallery track averaging (w={cfg.track_weight:g})", query, gallery)
    return query, gallery


def chain_distances(query: torch.Tensor, gallery: torch.Tensor, features: FeatureSet,
                    cfg: PostConfig, penalties: Penalties | None, *, rerank: bool,
                    track_level: bool = False) -> torch.Tensor:
    """(q, g) float32 distances of L2-normalised features on their device: ``1 - s + P``
    without re-ranking; with it, re-ranking of the penalised similarities plus P (or,
    ``track_level``, track-level re-ranking plus P)."""
    sim_qg = query @ gallery.T
    q, g = sim_qg.shape
    if penalties is None:
        penalties = Penalties.zeros(q, g, device=sim_qg.device)
    if not rerank:
        return penalised_distance(sim_qg, penalties.query_gallery)
    if track_level:
        return track_rerank(query, gallery, features.gallery.tracks, cfg.k1, cfg.k2,
                            cfg.lambda_) + penalties.query_gallery
    params = RerankParams.for_items(q + g, cfg.k1, cfg.k2, cfg.lambda_)
    return penalised_rerank(sim_qg, query @ query.T, gallery @ gallery.T, penalties, params.k1,
                            params.k2, params.lambda_)


@dataclass
class AblationRow:
    """One line of the ablation table: the step and the metrics after it."""

    step: str
    metrics: RankingMetrics
    seconds: float

    def as_dict(self) -> dict:
        return {"step": self.step, **self.metrics.as_dict(), "seconds": round(self.seconds, 3)}


def distances_for(features: FeatureSet, distances_path: str | None = None,
                  device: torch.device | str = "cpu") -> Any:
    """The (q, g) distances of a saved distances file, its rows and columns checked
    against the names in ``features``; without a file, the cosine distance of the
    features on ``device``."""
    if not distances_path:
        return pairwise_distance(features.query.tensor(device), features.gallery.tensor(device),
                                 "cosine")
    matrix = load_distances(distances_path)
    check_same_rows(features.query.names, matrix.query_names, "query names of the distances")
    check_same_rows(features.gallery.names, matrix.gallery_names, "gallery names of the distances")
    return matrix.distances


def evaluate_distances(distances: torch.Tensor, features: FeatureSet) -> RankingMetrics:
    """Metrics of a (q, g) distance matrix against the labels of ``features``."""
    return evaluate_ranking(distances, features.query.ids, features.gallery.ids,
                            features.query.cams, features.gallery.cams,
                            same_camera_junk=features.same_camera_junk)


def format_ablation(rows: Sequence[AblationRow]) -> str:
    """The ablation table as aligned text (percentages)."""
    width = max([len(r.step) for r in rows] + [4])
    head = f"{'step':<{width}}  {'mAP':>6} {'R1':>6} {'R5':>6} {'R10':>6} {'mINP':>6} {'mAP@100':>8} {'time':>7}"
    lines = [head, "-" * len(head)]
    for r in rows:
        m = r.metrics
        lines.append(f"{r.step:<{width}}  {100 * m.mAP:6.1f} {100 * m.cmc.get(1, 0):6.1f} "
                     f"{100 * m.cmc.get(5, 0):6.1f} {100 * m.cmc.get(10, 0):6.1f} "
                     f"{100 * m.mINP:6.1f} {100 * m.mAP_top:8.1f} {r.seconds:6.2f}s")
    return "\n".join(lines)


class Ablation:
    """Collects the ablation table: ``ablation(step, distances)`` evaluates (q, g)
    distances against the labels of ``features`` (evaluation only) and appends a row with
    the time since the previous row (``clock`` default: ``time.perf_counter``)."""

    def __init__(self, features: FeatureSet, clock: Callable[[], float] | None = None) -> None:
        self.features = features
        self.rows: list[AblationRow] = []
        self._clock = clock or time.perf_counter
        self._last = self._clock()

    def __call__(self, step: str, distances: torch.Tensor) -> None:
        seconds = self._clock() - self._last
        self.rows.append(AblationRow(step, evaluate_distances(distances, self.features), seconds))
        self._last = self._clock()


def ablation_steps(features: FeatureSet, cfg: PostConfig, device: torch.device | str = "cpu",
                   time_fn: Callable[[], float] | None = None) -> tuple[list[AblationRow], torch.Tensor]:
    """Run post-processing and re-ranking on ``features``, evaluating after each
    step. Returns the rows (starting with the input features) and the final (q, g)
    distances. Labels must be known (identities >= 0) for the metrics to mean anything."""
    record = Ablation(features, time_fn)
    plain = replace(cfg, rerank=False)
    record("input features", chain_distances(features.query.tensor(device),
                                             features.gallery.tensor(device), features, plain,
                                             None, rerank=False))
    query, gallery = post_process_features(
        features, cfg, device,
        on_step=lambda step, q, g: record(step, chain_distances(q, g, features, plain, None,
                                                                rerank=False)))
    distances = chain_distances(query, gallery, features, cfg, None, rerank=False)
    if cfg.rerank:
        distances = chain_distances(query, gallery, features, cfg, None, rerank=True)
        record(f"+ re-ranking (k1={cfg.k1}, k2={cfg.k2}, lambda={cfg.lambda_:g})", distances)
    if cfg.track_rerank and (features.gallery.tracks >= 0).any():
        distances = chain_distances(query, gallery, features, cfg, None, rerank=True,
                                    track_level=True)
        record("+ track-level re-ranking (replaces image re-ranking)", distances)
    return record.rows, distances
