"""Top-1 accuracy of a model's classifier: the metric on a hand-computed case, and the
evaluation of a small model against a per-image loop written out here."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from reid_fast.data.cache import ImageCache
from reid_fast.data.records import ImageRecord
from reid_fast.eval.classification import (
    ClassificationMetrics,
    classification_metrics,
    evaluate_classification,
)
from reid_fast.models import build_model


def test_metrics_by_hand():
    logits = torch.tensor([
        [2.0, 1.0, 0.0],   # predicts 0, label 0: right
        [0.1, 0.3, 0.2],   # predicts 1, label 2: wrong
        [5.0, 0.0, 0.0],   # label -1: not counted
        [-1.0, -2.0, -0.5],  # predicts 2, label 2: right
        [0.0, 0.0, 1.0],   # predicts 2, label 1: wrong
        [0.2, 0.9, 0.1],   # predicts 1, label 1: right
    ])
    metrics = classification_metrics(logits, np.array([0, 2, -1, 2, 1, 1]))
    assert (metrics.correct, metrics.count, metrics.num_classes) == (3, 5, 3)
    assert metrics.top1 == pytest.approx(0.6, abs=1e-12)
    assert metrics.chance == pytest.approx(1 / 3, abs=1e-12)
    assert metrics.as_dict() == {"top1": 0.6, "correct": 3, "count": 5, "num_classes": 3,
                                 "chance": 1 / 3}
    assert metrics.summary() == "top-1 60.0% of 5 images (3 classes, chance 33.3%)"
    none = classification_metrics(logits, torch.full((6,), -1))
    assert none.top1 is None and none.count == 0 and "n/a" in none.summary()


def test_total_adds_counts():
    total = ClassificationMetrics.total([ClassificationMetrics(3, 5, 8), ClassificationMetrics(7, 10, 8)])
    assert total == ClassificationMetrics(10, 15, 8) and total.top1 == pytest.approx(10 / 15, abs=1e-12)
    with pytest.raises(ValueError, match=r"parts must share num_classes, got \[4, 8\]"):
        ClassificationMetrics.total([ClassificationMetrics(1, 2, 8), ClassificationMetrics(1, 2, 4)])
    with pytest.raises(ValueError, match="at least one"):
        ClassificationMetrics.total([])


@pytest.mark.parametrize(
    "logits, labels, error, match",
    [
        (torch.zeros(3), [0, 0, 0], ValueError, r"logits must be \(N, C\)"),
        (torch.zeros(3, 2), [0.0, 1.0, 0.0], TypeError, "labels must be a 1-d integer array"),
        (torch.zeros(3, 2), [0, 1], ValueError, "labels has 2 entries but logits has 3 rows"),
        (torch.zeros(3, 2), [0, 2, 1], ValueError, r"labels must be in -1..1, got 2"),
        (torch.zeros(3, 2), [0, -2, 1], ValueError, r"labels must be in -1..1, got -2"),
    ],
)
def test_metrics_errors(logits, labels, error, match):
    with pytest.raises(error, match=match):
        classification_metrics(logits, np.array(labels))


def _transform(images: torch.Tensor, flip: bool = False) -> torch.Tensor:
    x = images.float() / 255.0 - 0.5
    return torch.flip(x, dims=[3]) if flip else x


@pytest.mark.parametrize("head, flip", [("bnneck", True), ("classblock", True), ("classblock", False)])
def test_evaluate_classification_matches_a_per_image_loop(tmp_path, head, flip):
    rng = np.random.default_rng(0)
    pictures = rng.integers(0, 256, size=(11, 16, 16, 3), dtype=np.uint8)
    records = [ImageRecord(path=f"memory://{i}", pid=i) for i in range(11)]
    cache = ImageCache.build(records, (16, 16), cache_dir=tmp_path, key="random-11",
                             read_image=lambda r: pictures[int(r.path.rsplit("/", 1)[1])],
                             progress=False, workers=1)
    torch.manual_seed(0)
    model = build_model("resnet_small", 5, head=head, embedding_dim=12, widths=(8, 8, 8, 8))
    model.train()(torch.randn(8, 3, 16, 16))  # running statistics away from their start
    model.eval()
    # The reference: each image alone, the mirror averaged in, the classifier by hand.
    classifier = model.head.classifier
    predictions = []
    with torch.no_grad():
        for picture in pictures:
            image = torch.from_numpy(picture).permute(2, 0, 1)[None]
            views = [model(_transform(image))] + ([model(_transform(image, flip=True))] if flip else [])
            embedding = sum(views) / len(views)
            logits = embedding @ classifier.weight.T + (0 if classifier.bias is None else classifier.bias)
            predictions.append(int(logits.argmax()))
    # Right for even images, wrong (the next class) for odd ones, unknown for 4 and 9.
    labels = np.array([p if i % 2 == 0 else (p + 1) % 5 for i, p in enumerate(predictions)])
    labels[[4, 9]] = -1
    metrics = evaluate_classification(model, cache, labels, _transform, device=torch.device("cpu"),
                                      batch_size=4, flip=flip)
    assert metrics == ClassificationMetrics(correct=5, count=9, num_classes=5)  # 0, 2, 6, 8, 10
    nothing = evaluate_classification(model, cache, np.full(11, -1), _transform,
                                      device=torch.device("cpu"))
    assert nothing == ClassificationMetrics(0, 0, 5)
    with pytest.raises(ValueError, match=r"labels must have one entry per cache image \(11\)"):
        evaluate_classification(model, cache, labels[:5], _transform, device=torch.device("cpu"))
