"""Camera and orientation models at test time (reid_fast.testtime.attributes), checked
against a per-image computation written out here: the image rendered, resized with
Pillow, normalised, passed through the model in eval mode."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from PIL import Image

from reid_fast.runs.datasets import evaluation_data
from reid_fast.testtime.attributes import extract_attributes
from reid_fast.testtime.run_model import load_run

MEAN = torch.tensor([0.485, 0.456, 0.406]).view(3, 1, 1)
STD = torch.tensor([0.229, 0.224, 0.225]).view(3, 1, 1)
SAMPLES = {"query": [0, 7, 29], "gallery": [0, 101, 337]}


@pytest.fixture(scope="module")
def camera(camera_run, attribute_cache):
    trained = load_run(camera_run)
    dataset, reader, key = evaluation_data(trained.config)
    features = extract_attributes([trained], "camera", dataset, reader=reader, cache_key=key,
                                  cache_dir=str(attribute_cache), progress=False)
    return trained, dataset, reader, key, features


@pytest.fixture(scope="module")
def orientation(orientation_run, attribute_cache):
    trained = load_run(orientation_run)
    dataset, reader, key = evaluation_data(trained.config)
    features = extract_attributes([trained], "orientation", dataset, reader=reader,
                                  cache_key=key, cache_dir=str(attribute_cache), progress=False)
    return trained, dataset, features


@torch.no_grad()
def raw_embedding(trained, image: np.ndarray, size: tuple[int, int]) -> torch.Tensor:
    """The eval-mode embedding of one rendered image resized to ``size`` = (H, W)."""
    resized = np.asarray(Image.fromarray(image).resize((size[1], size[0]), Image.Resampling.BILINEAR))
    x = torch.from_numpy(resized.copy()).permute(2, 0, 1).float() / 255.0
    x = ((x - MEAN) / STD)[None]
    trained.model.eval()
    return trained.model(x)[0].float()


def test_camera_outputs_match_a_per_image_computation(camera):
    trained, dataset, reader, _, features = camera
    assert features.task == "camera"
    assert features.classes == list(trained.classes)
    assert features.runs == [str(trained.run_dir)]
    size = trained.image_size
    for split, indices in SAMPLES.items():
        out = getattr(features, split)
        records = getattr(dataset, split)
        assert out.embeddings.shape == (len(records), trained.model.embedding_dim)
        assert out.probabilities.shape == (len(records), len(features.classes))
        np.testing.assert_allclose(out.embeddings.norm(dim=1).numpy(), 1.0, atol=1e-5)
        np.testing.assert_allclose(out.probabilities.sum(dim=1).numpy(), 1.0, atol=1e-5)
        for i in indices:
            raw = raw_embedding(trained, reader(records[i]), size)
            with torch.no_grad():
                expected = torch.softmax(trained.model.class_logits(raw[None]), dim=1)[0]
            np.testing.assert_allclose(out.probabilities[i].numpy(), expected.numpy(), atol=1e-5,
                                       err_msg=f"{split} {i}")
            np.testing.assert_allclose(out.embeddings[i].numpy(), (raw / raw.norm()).numpy(),
                                       atol=1e-5, err_msg=f"{split} {i}")


def test_camera_accuracy_is_a_hand_count(camera):
    _, dataset, _, _, features = camera
    correct = count = 0
    for split in ("query", "gallery"):
        predicted = getattr(features, split).probabilities.argmax(dim=1).tolist()
        for record, column in zip(getattr(dataset, split), predicted):
            if record.camid in features.classes:
                count += 1
                correct += features.classes[column] == record.camid
    assert count == len(dataset.query) + len(dataset.gallery)   # every test camera is a class
    assert (features.accuracy.correct, features.accuracy.count) == (correct, count)
    assert features.accuracy.num_classes == len(features.classes)
    assert 0 < correct < count                     # a tiny model: neither all wrong nor perfect


def test_orientation_accuracy_is_a_hand_count(orientation):
    trained, dataset, features = orientation
    assert features.task == "orientation" and features.classes == list(trained.classes)
    width = 360 / trained.config.orientation_bins
    correct = count = 0
    for split in ("query", "gallery"):
        predicted = getattr(features, split).probabilities.argmax(dim=1).tolist()
        for record, column in zip(getattr(dataset, split), predicted):
            label = int((record.attrs["orientation"] % 360) // width)
            if label in features.classes:
                count += 1
                correct += features.classes[column] == label
    assert count > 0
    assert (features.accuracy.correct, features.accuracy.count) == (correct, count)


def test_two_runs_of_one_task_are_fused(camera, attribute_cache):
    trained, dataset, reader, key, single = camera
    twice = extract_attributes([trained, trained], "camera", dataset, reader=reader, cache_key=key,
                               cache_dir=str(attribute_cache), progress=False)
    for split in ("query", "gallery"):
        one, two = getattr(single, split), getattr(twice, split)
        np.testing.assert_allclose(two.probabilities.numpy(), one.probabilities.numpy(), atol=1e-6)
        expected = torch.cat([one.embeddings, one.embeddings], dim=1) / math.sqrt(2)
        np.testing.assert_allclose(two.embeddings.numpy(), expected.numpy(), atol=1e-6)
        np.testing.assert_allclose(two.embeddings.norm(dim=1).numpy(), 1.0, atol=1e-5)
    assert twice.accuracy == single.accuracy
    assert twice.runs == [str(trained.run_dir)] * 2


def test_scales_are_summed(camera, attribute_cache):
    trained, dataset, reader, key, _ = camera
    scaled = extract_attributes([trained], "camera", dataset, scales=(1.0, 1.25), reader=reader,
                                cache_key=key, cache_dir=str(attribute_cache), progress=False)
    height, width = trained.image_size
    sizes = [(height, width), (round(height * 1.25), round(width * 1.25))]
    for split, indices in SAMPLES.items():
        records = getattr(dataset, split)
        for i in indices[:2]:
            image = reader(records[i])
            raw = sum(raw_embedding(trained, image, size) for size in sizes)
            with torch.no_grad():
                expected = torch.softmax(trained.model.class_logits(raw[None] / 2), dim=1)[0]
            out = getattr(scaled, split)
            np.testing.assert_allclose(out.probabilities[i].numpy(), expected.numpy(), atol=1e-5)
            np.testing.assert_allclose(out.embeddings[i].numpy(), (raw / raw.norm()).numpy(),
                                       atol=1e-5)


def expected_cameras(probabilities: torch.Tensor, classes: list[int], threshold: float) -> list[int]:
    out = []
    for row in probabilities.tolist():
        best = max(range(len(row)), key=lambda j: (row[j], -j))   # ties: the lower column
        out.append(classes[best] if row[best] >= threshold else -1)
    return out


def test_predicted_cameras(camera):
    _, _, _, _, features = camera
    maxima = torch.cat([features.query.probabilities, features.gallery.probabilities]).max(dim=1).values
    middle = float(maxima.sort().values[len(maxima) // 2])
    for threshold in (0.0, middle, 1.0):
        query, gallery = features.predicted_cameras(threshold)
        for split, got in (("query", query), ("gallery", gallery)):
            probabilities = getattr(features, split).probabilities
            assert got.dtype == torch.int64
            assert got.tolist() == expected_cameras(probabilities, features.classes, threshold), \
                (split, threshold)
        both = torch.cat([query, gallery])
        if threshold == 0.0:
            assert (both >= 0).all()
        elif threshold == 1.0:
            assert ((both == -1) == (maxima < 1.0)).all()
        else:                                    # the median splits sure and unsure images
            assert 0 < int((both == -1).sum()) < len(both)
            assert (both[maxima == middle] >= 0).all()    # a probability equal to it is kept


def test_bad_runs(run, camera_run, orientation_run, camera, orientation):
    _, dataset, reader, key, _ = camera
    options = {"reader": reader, "cache_key": key, "progress": False}
    with pytest.raises(ValueError, match="runs: .* was trained for the 'identity' task; camera "
                                         "models come from reid-fast train --task camera"):
        extract_attributes([load_run(run)], "camera", dataset, **options)
    with pytest.raises(ValueError, match="'orientation' task; camera models"):
        extract_attributes([load_run(camera_run), load_run(orientation_run)], "camera", dataset,
                           **options)
    with pytest.raises(ValueError, match="runs must hold at least one orientation run"):
        extract_attributes([], "orientation", dataset, **options)
    with pytest.raises(ValueError, match="task must be one of"):
        extract_attributes([load_run(camera_run)], "identity", dataset, **options)
    with pytest.raises(ValueError, match="need camera models, these are orientation models"):
        orientation[2].predicted_cameras(0.5)
