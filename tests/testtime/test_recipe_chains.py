"""The test-time recipes (testtime/recipes.py) against the literal references of
reid_fast.reference.post, with hand-made camera / orientation model outputs."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import reid_testing as rt
import torch

from reid_fast.eval.classification import ClassificationMetrics
from reid_fast.ops.params import RerankParams
from reid_fast.post import Aicity2020Recipe, VocRecipe
from reid_fast.reference import post as ref
from reid_fast.testtime.attributes import AttributeFeatures, AttributeSplit
from reid_fast.testtime.feature_file import FeatureSet, SplitFeatures
from reid_fast.testtime.recipes import aicity2020_chain, voc_chain

Q, G = 14, 46
CLASSES = [2, 5, 7, 9]  # the camera ids of the camera model's classes


def _unit(x: np.ndarray) -> np.ndarray:
    x = x / np.linalg.norm(x, axis=1, keepdims=True)
    return x.astype(np.float32).astype(np.float64)


def _problem(seed: int = 3):
    """Clustered identity features with tracks, pixel counts, a camera model's
    probabilities and embeddings and an orientation model's embeddings; the evaluation
    labels of the feature set are the identities and cameras."""
    rng = np.random.default_rng(seed)
    x, identity = rt.clustered_features(rng, Q + G, 16, 9, 0.7)
    x = _unit(x)
    camera = rng.integers(0, len(CLASSES), size=Q + G)
    tracks = 10 * identity[Q:] + camera[Q:]
    tracks[rng.random(G) < 0.15] = -1
    logits = 3.0 * np.eye(len(CLASSES))[camera] + rng.standard_normal((Q + G, len(CLASSES)))
    probabilities = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    camera_embeddings = _unit(np.eye(len(CLASSES))[camera] + 0.3 * rng.standard_normal(
        (Q + G, len(CLASSES))))
    orientation_embeddings = _unit(rng.standard_normal((Q + G, 5)))
    pixels = rng.integers(8000, 30000, size=Q + G)

    def split(rows: slice, tracks: np.ndarray) -> SplitFeatures:
        n = rows.stop - rows.start
        return SplitFeatures(torch.tensor(x[rows], dtype=torch.float32),
                             [f"{rows.start + i:06d}.jpg" for i in range(n)],
                             identity[rows], np.array(CLASSES)[camera[rows]], tracks)

    features = FeatureSet(split(slice(0, Q), np.full(Q, -1)), split(slice(Q, Q + G), tracks),
                          {"same_camera_junk": True})

    def attributes(task: str, embeddings: np.ndarray, probs: np.ndarray, classes) -> AttributeFeatures:
        def part(rows):
            return AttributeSplit(torch.tensor(embeddings[rows], dtype=torch.float32),
                                  torch.tensor(probs[rows], dtype=torch.float32))
        return AttributeFeatures(task, list(classes), part(slice(0, Q)), part(slice(Q, Q + G)),
                                 ClassificationMetrics(0, 0, len(classes)), ["hand-made"])

    cameras = attributes("camera", camera_embeddings, probabilities, CLASSES)
    orientations = attributes("orientation", orientation_embeddings,
                              np.full((Q + G, 3), 1 / 3), range(3))
    inputs = dict(x=x, tracks=tracks, pixels=pixels, probabilities=probabilities,
                  camera_embeddings=camera_embeddings, orientation_embeddings=orientation_embeddings)
    return features, cameras, orientations, inputs


RECIPE = Aicity2020Recipe(rerank=RerankParams(20, 6, 0.2), camera_threshold=0.6)


def _reference(inputs: dict, recipe: Aicity2020Recipe) -> np.ndarray:
    """The recipe from the oracles: predicted cameras and camera clusters, then
    reference.post.aicity2020_distances (query clusters, track fusion, completion,
    penalties, ntop, edits, penalised re-ranking)."""
    x, p = inputs["x"], inputs["probabilities"]
    cameras, _ = ref.predict_cameras(p, CLASSES, recipe.camera_threshold)
    camera_clusters = ref.camera_clusters(inputs["camera_embeddings"][:Q],
                                          inputs["camera_embeddings"][Q:], recipe.camera_eps,
                                          recipe.camera_min_samples_for(Q + G))
    directions = inputs["orientation_embeddings"]
    return ref.aicity2020_distances(x[:Q], x[Q:], inputs["tracks"], inputs["pixels"][:Q],
                                    inputs["pixels"][Q:], cameras[:Q], cameras[Q:],
                                    directions[:Q], directions[Q:], camera_clusters[0],
                                    camera_clusters[1], recipe)


def test_aicity2020_chain_matches_the_reference_and_records_each_step():
    features, cameras, orientations, inputs = _problem()
    rows = []
    got = aicity2020_chain(features, query_pixels=inputs["pixels"][:Q],
                           gallery_pixels=inputs["pixels"][Q:], cameras=cameras,
                           orientations=orientations, recipe=RECIPE,
                           record=lambda step, d: rows.append((step, d.clone())))
    expected = _reference(inputs, RECIPE)
    assert (ref.predict_cameras(inputs["probabilities"], CLASSES, 0.6)[0] == -1).any()
    rt.assert_rerank_close(got, expected, atol=1e-4)
    steps = [step.split(" (")[0] for step, _ in rows]
    assert steps == ["+ gallery track fusion", "+ query clusters", "+ predicted-camera penalty",
                     "+ camera clusters", "+ direction", "+ ntop", "+ re-ranking"]
    assert torch.equal(rows[-1][1], got)
    # The row before re-ranking is the seed's first-stage ranking: 1 - (S - P - E).
    no_rerank = aicity2020_chain(features, query_pixels=inputs["pixels"][:Q],
                                 gallery_pixels=inputs["pixels"][Q:], cameras=cameras,
                                 orientations=orientations, recipe=RECIPE, rerank=False)
    assert torch.equal(no_rerank, rows[-2][1])


def test_aicity2020_chain_without_models_or_with_steps_off():
    features, cameras, _, inputs = _problem()
    pixels = dict(query_pixels=inputs["pixels"][:Q], gallery_pixels=inputs["pixels"][Q:])
    rows = []
    got = aicity2020_chain(features, **pixels, recipe=RECIPE,
                           record=lambda step, d: rows.append(step))
    assert [step.split(" (")[0] for step in rows] == [
        "+ gallery track fusion", "+ query clusters", "+ re-ranking"]
    # No camera or orientation input: every camera unknown, no direction, no clusters.
    unknown = np.full(Q + G, -1)
    x = inputs["x"]
    expected = ref.aicity2020_distances(x[:Q], x[Q:], inputs["tracks"], inputs["pixels"][:Q],
                                        inputs["pixels"][Q:], unknown[:Q], unknown[Q:], None,
                                        None, unknown[:Q], unknown[Q:], RECIPE)
    rt.assert_rerank_close(got, expected, atol=1e-4)

    off = dataclasses.replace(RECIPE, track_weight=0.0, query_eps=0.0, ntop=0, cluster_weight=0.0)
    rows.clear()
    aicity2020_chain(features, **pixels, cameras=cameras, recipe=off,
                     record=lambda step, d: rows.append(step))
    assert [step.split(" (")[0] for step in rows] == ["+ predicted-camera penalty",
                                                      "+ re-ranking"]


def test_chains_never_read_the_evaluation_labels():
    features, cameras, orientations, inputs = _problem()
    rng = np.random.default_rng(0)
    shuffled = FeatureSet(*(dataclasses.replace(part, ids=rng.permutation(part.ids),
                                                cams=rng.permutation(part.cams))
                            for part in (features.query, features.gallery)), features.meta)
    pixels = dict(query_pixels=inputs["pixels"][:Q], gallery_pixels=inputs["pixels"][Q:])
    for chain, options in ((aicity2020_chain, dict(pixels, recipe=RECIPE)), (voc_chain, {})):
        a = chain(features, cameras=cameras, orientations=orientations, **options)
        b = chain(shuffled, cameras=cameras, orientations=orientations, **options)
        assert torch.equal(a, b)


def test_voc_chain_matches_the_reference():
    features, cameras, orientations, inputs = _problem()
    x, cam, ori = inputs["x"], inputs["camera_embeddings"], inputs["orientation_embeddings"]
    recipe = VocRecipe(0.15, 0.05)

    def penalty(a: slice, b: slice, with_orientation: bool = True) -> np.ndarray:
        p = ref.voc_penalty(cam[a], cam[b], ori[a], ori[b], 0.15, 0.05)
        return p if with_orientation else p - 0.05 * ref.cosine_similarity(ori[a], ori[b])

    qs, gs = slice(0, Q), slice(Q, Q + G)
    rows = []
    got = voc_chain(features, cameras=cameras, orientations=orientations, recipe=recipe,
                    rerank=RerankParams(20, 6, 0.3), record=lambda step, d: rows.append((step, d)))
    expected = ref.penalised_rerank(ref.cosine_similarity(x[qs], x[gs]),
                                    ref.cosine_similarity(x[qs], x[qs]),
                                    ref.cosine_similarity(x[gs], x[gs]), penalty(qs, gs),
                                    penalty(qs, qs), penalty(gs, gs), 20, 6, 0.3)
    rt.assert_rerank_close(got, expected, atol=1e-4)
    assert [step.split(" (")[0] for step, _ in rows] == [
        "+ camera similarity", "+ orientation similarity", "+ re-ranking"]
    np.testing.assert_allclose(rows[0][1].numpy(), ref.penalised_distance(
        ref.cosine_similarity(x[qs], x[gs]), penalty(qs, gs, with_orientation=False)), atol=1e-5)
    np.testing.assert_allclose(rows[1][1].numpy(), ref.penalised_distance(
        ref.cosine_similarity(x[qs], x[gs]), penalty(qs, gs)), atol=1e-5)
    plain = voc_chain(features, orientations=orientations, recipe=recipe, rerank=None)
    np.testing.assert_allclose(plain.numpy(), ref.penalised_distance(
        ref.cosine_similarity(x[qs], x[gs]), 0.05 * ref.cosine_similarity(ori[qs], ori[gs])),
        atol=1e-5)


def test_models_of_the_wrong_task_are_refused():
    features, cameras, orientations, inputs = _problem()
    with pytest.raises(ValueError, match="cameras must come from camera models, got orientation"):
        voc_chain(features, cameras=orientations)
    with pytest.raises(ValueError, match="orientations must come from orientation models"):
        aicity2020_chain(features, query_pixels=inputs["pixels"][:Q],
                         gallery_pixels=inputs["pixels"][Q:], orientations=cameras)
    with pytest.raises(ValueError, match="predicted cameras need camera models"):
        orientations.predicted_cameras(0.5)
