"""Embedding extraction from an image cache, and its evaluation (plain and re-ranked)."""

from __future__ import annotations

from typing import Callable, Sequence

import numpy as np
import torch
from torch import nn
from tqdm.auto import tqdm

from ..data.cache import ImageCache
from ..data.records import ImageRecord
from ..ops.distance import pairwise_distance
from ..ops.params import RerankParams
from ..ops.rerank import rerank as rerank_features
from .metrics import RankingMetrics, evaluate_ranking


@torch.no_grad()
def extract_features(model: nn.Module, cache: ImageCache, transform: Callable[..., torch.Tensor],
                     *, device: torch.device, batch_size: int = 256, flip: bool = True,
                     autocast_dtype: torch.dtype | None = None, channels_last: bool = False,
                     progress: bool = False, desc: str = "extract",
                     normalize: bool = True) -> torch.Tensor:
    """L2-normalised embeddings of every cached image, in cache order.

    ``transform(images_uint8_nchw, flip=bool)`` prepares a batch (normalisation, optional
    mirror). With ``flip`` the embeddings of the image and its mirror are averaged before
    normalisation. ``normalize=False`` returns the raw averaged eval-mode embeddings (what
    the model's classifier takes, :meth:`reid_fast.models.ReidModel.class_logits`).
    Returns (N, E) float32 on ``device``.
    """
    was_training = model.training
    model.eval()
    out = []
    starts = range(0, len(cache), batch_size)
    for start in tqdm(starts, desc=desc, disable=not progress, leave=False, unit="batch"):
        index = np.arange(start, min(start + batch_size, len(cache)))
        images = cache.batch(index).to(device, non_blocking=True).permute(0, 3, 1, 2)
        views = [transform(images, flip=False)] + ([transform(images, flip=True)] if flip else [])
        total = None
        for x in views:
            if channels_last:
                x = x.contiguous(memory_format=torch.channels_last)
            with torch.autocast(device.type, dtype=autocast_dtype or torch.float32,
                                enabled=autocast_dtype is not None):
                f = model(x).float()
            total = f if total is None else total + f
        mean = total / len(views)  # exact: 1 or 2 views
        out.append(torch.nn.functional.normalize(mean, dim=1) if normalize else mean)
    model.train(was_training)
    if not out:
        return torch.zeros(0, getattr(model, "embedding_dim", 0), device=device)
    return torch.cat(out)


def _labels(records: Sequence[ImageRecord]) -> tuple[np.ndarray, np.ndarray]:
    return (np.array([r.pid for r in records], dtype=np.int64),
            np.array([r.camid for r in records], dtype=np.int64))


def evaluate_features(query: torch.Tensor, gallery: torch.Tensor,
                      query_records: Sequence[ImageRecord], gallery_records: Sequence[ImageRecord],
                      *, same_camera_junk: bool = True,
                      rerank: RerankParams | None = None) -> dict[str, RankingMetrics]:
    """Metrics of L2-normalised (q, E) / (g, E) features: cosine distance ("plain") and,
    with ``rerank`` parameters, k-reciprocal re-ranking ("rerank"; k1 and k2
    clamped to the sizes, :meth:`RerankParams.for_items`)."""
    qid, qcam = _labels(query_records)
    gid, gcam = _labels(gallery_records)
    results = {"plain": evaluate_ranking(pairwise_distance(query, gallery, "cosine"), qid, gid,
                                         qcam, gcam, same_camera_junk=same_camera_junk)}
    if rerank is not None:
        params = RerankParams.for_items(query.shape[0] + gallery.shape[0], rerank.k1, rerank.k2,
                                        rerank.lambda_)
        distances = rerank_features(query, gallery, params.k1, params.k2, params.lambda_)
        results["rerank"] = evaluate_ranking(distances, qid, gid, qcam, gcam,
                                             same_camera_junk=same_camera_junk)
    return results
