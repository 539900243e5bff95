"""reid_fast.losses: each loss against a case worked out by hand and against a literal
per-anchor loop written here from the loss's definition (float64), values and gradients;
margin-softmax identities; autocast and devices; the spec parser and ReidLoss."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from reid_fast.losses import (
    LOSSES,
    ArcFace,
    CircleLoss,
    CosFace,
    CrossEntropyLabelSmooth,
    InstanceLoss,
    LossTerm,
    ReidLoss,
    SphereFace,
    TripletLoss,
    build_loss,
    parse_loss_spec,
)
from reid_fast.models.output import ModelOutput

TOL = {"rtol": 1e-5, "atol": 1e-5}

# Labels of the random batches: label 3 is a singleton (an anchor without positives).
RANDOM_LABELS = [0, 0, 0, 1, 1, 2, 2, 2, 2, 3, 4, 4]


def random_batch(rng: np.random.Generator, dim: int = 6) -> tuple[torch.Tensor, torch.Tensor]:
    """(12, dim) float32 features and their int64 labels, shuffled together."""
    order = rng.permutation(len(RANDOM_LABELS))
    labels = torch.tensor(RANDOM_LABELS, dtype=torch.int64)[order]
    features = torch.from_numpy(rng.standard_normal((len(RANDOM_LABELS), dim))).float()
    return features, labels


def value_and_grad(loss, features: torch.Tensor, labels: torch.Tensor):
    """Loss value and d loss / d features, for a fresh leaf copy of ``features``."""
    leaf = features.detach().clone().requires_grad_(True)
    value = loss(leaf, labels)
    (grad,) = torch.autograd.grad(value, leaf)
    return value.detach(), grad


def assert_matches_reference(loss, reference, features, labels) -> None:
    """The loss (float32) against the loop reference (float64): values and gradients."""
    value, grad = value_and_grad(loss, features, labels)
    ref_value, ref_grad = value_and_grad(reference, features.double(), labels)
    assert value.dtype == torch.float32
    torch.testing.assert_close(value.double(), ref_value, **TOL)
    torch.testing.assert_close(grad.double(), ref_grad, **TOL)


# --------------------------------------------------------------------------------------
# Literal references: one anchor (or sample) at a time, straight from the definitions
# --------------------------------------------------------------------------------------


def cosine(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    return (a @ b) / (a.norm() * b.norm())


def positives_and_negatives(labels: torch.Tensor, i: int) -> tuple[list[int], list[int]]:
    others = [j for j in range(len(labels)) if j != i]
    return (
        [j for j in others if labels[j] == labels[i]],
        [j for j in others if labels[j] != labels[i]],
    )


def triplet_reference(margin, metric="euclidean", normalize=False):
    def loss(x, labels):
        if normalize:
            x = x / x.norm(dim=1, keepdim=True)

        def distance(i, j):
            return 1.0 - cosine(x[i], x[j]) if metric == "cosine" else (x[i] - x[j]).norm()

        per_anchor = []
        for i in range(len(labels)):
            pos, neg = positives_and_negatives(labels, i)
            if not pos or not neg:
                continue
            gap = max(distance(i, j) for j in pos) - min(distance(i, k) for k in neg)
            per_anchor.append(F.softplus(gap) if margin is None else torch.relu(gap + margin))
        return torch.stack(per_anchor).mean()

    return loss


def circle_reference(m, gamma):
    def loss(x, labels):
        per_anchor = []
        for i in range(len(labels)):
            pos, neg = positives_and_negatives(labels, i)
            if not pos or not neg:
                continue
            sum_neg = 0.0
            for n in neg:
                s_n = cosine(x[i], x[n])
                a_n = torch.relu(s_n + m).detach()
                sum_neg = sum_neg + torch.exp(gamma * a_n * (s_n - m))
            sum_pos = 0.0
            for p in pos:
                s_p = cosine(x[i], x[p])
                a_p = torch.relu(1 + m - s_p).detach()
                sum_pos = sum_pos + torch.exp(-gamma * a_p * (s_p - (1 - m)))
            per_anchor.append(torch.log(1 + sum_neg * sum_pos))
        return torch.stack(per_anchor).mean()

    return loss


def instance_reference(gamma):
    def loss(x, labels):
        per_anchor = []
        for i in range(len(labels)):
            pos, neg = positives_and_negatives(labels, i)
            if not pos:
                continue
            exp_score = {j: torch.exp(gamma * cosine(x[i], x[j])) for j in pos + neg}
            mass_on_positives = sum(exp_score[j] for j in pos) / sum(exp_score.values())
            per_anchor.append(-torch.log(mass_on_positives))
        return torch.stack(per_anchor).mean()

    return loss


def smoothed_ce_reference(epsilon):
    def loss(logits, labels):
        num_classes = logits.shape[1]
        per_sample = []
        for i in range(len(labels)):
            log_prob = logits[i] - torch.logsumexp(logits[i], dim=0)
            total = 0.0
            for c in range(num_classes):
                target = (1 - epsilon) * float(c == labels[i]) + epsilon / num_classes
                total = total - target * log_prob[c]
            per_sample.append(total)
        return torch.stack(per_sample).mean()

    return loss


def arcface_reference(weight, scale, margin, easy_margin):
    """Target logit via theta = acos(cos) and cos(theta + m), one sample at a time."""
    weight = weight.detach().double()

    def loss(x, labels):
        per_sample = []
        for i in range(len(labels)):
            logits = []
            for c in range(weight.shape[0]):
                cos_c = cosine(x[i], weight[c])
                if c == labels[i]:
                    theta = torch.acos(cos_c)
                    if easy_margin:
                        cos_c = torch.cos(theta + margin) if cos_c > 0 else cos_c
                    elif theta + margin < math.pi:
                        cos_c = torch.cos(theta + margin)
                    else:
                        cos_c = cos_c - margin * math.sin(margin)
                logits.append(scale * cos_c)
            logits = torch.stack(logits)
            per_sample.append(torch.logsumexp(logits, dim=0) - logits[labels[i]])
        return torch.stack(per_sample).mean()

    return loss


# --------------------------------------------------------------------------------------
# Cross-entropy with label smoothing
# --------------------------------------------------------------------------------------


def test_label_smoothing_hand_case():
    # logits (0, ln 2, 0) -> softmax (1/4, 1/2, 1/4); label 1, eps = 0.3, C = 3
    # -> target (0.1, 0.8, 0.1); loss = -(0.1 ln 1/4 + 0.8 ln 1/2 + 0.1 ln 1/4)
    #    = 0.2 ln 4 + 0.8 ln 2 = 1.2 ln 2
    logits = torch.tensor([[0.0, math.log(2.0), 0.0]])
    value = CrossEntropyLabelSmooth(0.3)(logits, torch.tensor([1]))
    assert value.item() == pytest.approx(1.2 * math.log(2.0), rel=1e-6)


@pytest.mark.parametrize("epsilon", [0.0, 0.1, 0.45])
def test_label_smoothing_against_loop_and_torch(rng, epsilon):
    logits = torch.from_numpy(rng.standard_normal((7, 5)) * 3).float()
    labels = torch.from_numpy(rng.integers(0, 5, 7))
    loss = CrossEntropyLabelSmooth(epsilon)
    assert_matches_reference(loss, smoothed_ce_reference(epsilon), logits, labels)
    expected = F.cross_entropy(logits, labels, label_smoothing=epsilon)
    torch.testing.assert_close(loss(logits, labels), expected, **TOL)


def test_label_smoothing_zero_is_cross_entropy(rng):
    logits = torch.from_numpy(rng.standard_normal((9, 4))).float()
    labels = torch.from_numpy(rng.integers(0, 4, 9))
    torch.testing.assert_close(
        CrossEntropyLabelSmooth(0.0)(logits, labels), F.cross_entropy(logits, labels), **TOL
    )


# --------------------------------------------------------------------------------------
# Triplet
# --------------------------------------------------------------------------------------

# x0 = (0, 0), x1 = (3, 4) with label 0; x2 = (1, 0), x3 = (0, 2) with label 1.
# d01 = 5, d02 = 1, d03 = 2, d12 = sqrt 20, d13 = sqrt 13, d23 = sqrt 5.
HAND_FEATURES = torch.tensor([[0.0, 0.0], [3.0, 4.0], [1.0, 0.0], [0.0, 2.0]])
HAND_LABELS = torch.tensor([0, 0, 1, 1])
# Per anchor d_ap - d_an:  0: 5 - min(1, 2) = 4;  1: 5 - min(sqrt 20, sqrt 13) = 5 - sqrt 13;
# 2: sqrt 5 - min(1, sqrt 20) = sqrt 5 - 1;  3: sqrt 5 - min(2, sqrt 13) = sqrt 5 - 2.
HAND_GAPS = [4.0, 5.0 - math.sqrt(13.0), math.sqrt(5.0) - 1.0, math.sqrt(5.0) - 2.0]


def test_triplet_hand_case():
    # every gap + 0.3 is positive: mean(4.3, 1.69445, 1.53607, 0.53607) = 2.01665
    expected = sum(gap + 0.3 for gap in HAND_GAPS) / 4
    value = TripletLoss(margin=0.3)(HAND_FEATURES, HAND_LABELS)
    assert value.item() == pytest.approx(expected, rel=1e-6)


def test_triplet_hand_case_hinge_clips():
    # Same points, labels (0, 1, 0, 1): positives x0-x2 (d = 1) and x1-x3 (d = sqrt 13).
    # 0: 1 - min(5, 2) = -1 -> relu(-0.7) = 0;  1: sqrt 13 - min(5, sqrt 20) < -0.3 -> 0;
    # 2: 1 - min(sqrt 20, sqrt 5) = -1.236 -> 0;  3: sqrt 13 - min(2, sqrt 5) = 1.606 -> 1.906.
    # Clipped anchors still count: mean = (sqrt 13 - 2 + 0.3) / 4 = 0.47639
    value = TripletLoss(margin=0.3)(HAND_FEATURES, torch.tensor([0, 1, 0, 1]))
    assert value.item() == pytest.approx((math.sqrt(13.0) - 2.0 + 0.3) / 4, rel=1e-6)


def test_triplet_soft_margin_hand_case():
    # softplus(gap) = log(1 + exp(gap)) per anchor, then the mean
    expected = sum(math.log1p(math.exp(gap)) for gap in HAND_GAPS) / 4
    value = TripletLoss(margin=None)(HAND_FEATURES, HAND_LABELS)
    assert value.item() == pytest.approx(expected, rel=1e-6)


def test_triplet_excludes_anchors_without_positives():
    # a far-away singleton (100, 100) of label 2: no positive, so not an anchor, and
    # never the hardest negative of the others; the loss is the 4-anchor value.
    features = torch.cat([HAND_FEATURES, torch.tensor([[100.0, 100.0]])])
    labels = torch.cat([HAND_LABELS, torch.tensor([2])])
    expected = sum(gap + 0.3 for gap in HAND_GAPS) / 4
    assert TripletLoss(margin=0.3)(features, labels).item() == pytest.approx(expected, rel=1e-6)


@pytest.mark.parametrize(
    "margin, metric, normalize",
    [(0.3, "euclidean", False), (None, "euclidean", False), (0.3, "euclidean", True),
     (0.5, "cosine", False), (None, "cosine", False)],
)
def test_triplet_against_loop(rng, margin, metric, normalize):
    features, labels = random_batch(rng)
    loss = TripletLoss(margin=margin, metric=metric, normalize=normalize)
    assert_matches_reference(loss, triplet_reference(margin, metric, normalize), features, labels)


# --------------------------------------------------------------------------------------
# Circle and instance loss
# --------------------------------------------------------------------------------------

# x0 = (1, 0) and x1 = (0.6, 0.8) with label 0, x2 = (0, 1) with label 1 (no positive).
# Cosines: s01 = 0.6, s02 = 0, s12 = 0.8.
UNIT_FEATURES = torch.tensor([[1.0, 0.0], [0.6, 0.8], [0.0, 1.0]])
UNIT_LABELS = torch.tensor([0, 0, 1])


def test_circle_hand_case():
    # m = 0.25, gamma = 4. Positive pair s_p = 0.6: a_p = 1.25 - 0.6 = 0.65,
    #   -gamma a_p (s_p - 0.75) = -4 * 0.65 * (-0.15) = 0.39 (both anchors 0 and 1).
    # Anchor 0, s_n = 0:   a_n = 0.25, gamma a_n (s_n - 0.25) = 4 * 0.25 * (-0.25) = -0.25
    #   loss0 = log(1 + exp(-0.25 + 0.39)) = log(1 + exp(0.14))
    # Anchor 1, s_n = 0.8: a_n = 1.05, gamma a_n (0.8 - 0.25) = 4 * 1.05 * 0.55 = 2.31
    #   loss1 = log(1 + exp(2.31 + 0.39)) = log(1 + exp(2.7))
    # Anchor 2 has no positive: excluded.
    expected = (math.log1p(math.exp(0.14)) + math.log1p(math.exp(2.7))) / 2
    value = CircleLoss(m=0.25, gamma=4.0)(UNIT_FEATURES, UNIT_LABELS)
    assert value.item() == pytest.approx(expected, rel=1e-6)


@pytest.mark.parametrize("m, gamma", [(0.25, 64.0), (0.4, 8.0)])
def test_circle_against_loop(rng, m, gamma):
    features, labels = random_batch(rng)
    assert_matches_reference(CircleLoss(m, gamma), circle_reference(m, gamma), features, labels)


def test_instance_hand_case():
    # gamma = 1. Anchor 0: candidates x1 (0.6, positive), x2 (0):
    #   loss0 = -log(e^0.6 / (e^0.6 + e^0)) = log(1 + e^-0.6)
    # Anchor 1: candidates x0 (0.6, positive), x2 (0.8):
    #   loss1 = -log(e^0.6 / (e^0.6 + e^0.8)) = log(1 + e^0.2)
    # Anchor 2 has no positive: excluded.
    expected = (math.log1p(math.exp(-0.6)) + math.log1p(math.exp(0.2))) / 2
    value = InstanceLoss(gamma=1.0)(UNIT_FEATURES, UNIT_LABELS)
    assert value.item() == pytest.approx(expected, rel=1e-6)


@pytest.mark.parametrize("gamma", [1.0, 10.0])
def test_instance_against_loop(rng, gamma):
    features, labels = random_batch(rng)
    assert_matches_reference(InstanceLoss(gamma), instance_reference(gamma), features, labels)


# --------------------------------------------------------------------------------------
# Degenerate batches: gradients stay finite, no-anchor batches give a connected zero
# --------------------------------------------------------------------------------------

METRIC_LOSSES = [
    pytest.param(lambda: TripletLoss(0.3), id="triplet"),
    pytest.param(lambda: TripletLoss(None), id="triplet-soft"),
    pytest.param(lambda: TripletLoss(0.3, metric="cosine"), id="triplet-cosine"),
    pytest.param(lambda: CircleLoss(), id="circle"),
    pytest.param(lambda: InstanceLoss(), id="instance"),
]


@pytest.mark.filterwarnings("ignore:Anomaly Detection has been enabled")
@pytest.mark.parametrize("make_loss", METRIC_LOSSES)
def test_no_valid_anchor_gives_connected_zero(make_loss):
    features = torch.tensor([[1.0, 2.0], [3.0, -1.0], [0.5, 0.5]], requires_grad=True)
    with torch.autograd.detect_anomaly():
        value = make_loss()(features, torch.tensor([0, 1, 2]))  # no positives at all
        value.backward()
    assert value.item() == 0.0
    assert torch.equal(features.grad, torch.zeros_like(features))


@pytest.mark.filterwarnings("ignore:Anomaly Detection has been enabled")
@pytest.mark.parametrize("make_loss", METRIC_LOSSES)
def test_duplicate_features_have_finite_gradients(make_loss):
    # identical features within and across labels: zero distances everywhere, and a
    # batch where one label has no negatives (all others share it)
    base = torch.tensor([[0.3, -0.2, 0.9]])
    for features, labels in [
        (base.repeat(6, 1), torch.tensor([0, 0, 1, 1, 2, 2])),
        (torch.cat([base, base, base + 1.0]), torch.tensor([0, 0, 1])),
    ]:
        leaf = features.clone().requires_grad_(True)
        with torch.autograd.detect_anomaly():
            value = make_loss()(leaf, labels)
            value.backward()
        assert torch.isfinite(value)
        assert torch.isfinite(leaf.grad).all()


def test_triplet_duplicate_features_value():
    # all six features identical: d_ap = d_an (both the 1e-6 floor), loss = margin
    features = torch.ones(6, 4)
    value = TripletLoss(0.3)(features, torch.tensor([0, 0, 1, 1, 2, 2]))
    assert value.item() == pytest.approx(0.3, abs=1e-6)


# --------------------------------------------------------------------------------------
# ArcFace and CosFace
# --------------------------------------------------------------------------------------

# Class weights e0 = (1, 0), e1 = (0, 1); sample a = (0.6, 0.8) has cosines (0.6, 0.8),
# sample b = (-0.9, sqrt 0.19) has cosines (-0.9, sqrt 0.19 = 0.43589).
EYE_WEIGHT = torch.eye(2)
MARGIN_FEATURES = torch.tensor([[0.6, 0.8], [-0.9, math.sqrt(0.19)]])
MARGIN_LABELS = torch.tensor([0, 0])


def with_weight(module, weight):
    with torch.no_grad():
        module.weight.copy_(weight)
    return module


def test_arcface_hand_case():
    # s = 2, m = 0.5; cos(pi - 0.5) = -0.87758.
    # a: cos 0.6 > -0.87758 -> cos(theta + m) = 0.6 cos 0.5 - 0.8 sin 0.5
    #    = 0.6 * 0.87758 - 0.8 * 0.47943 = 0.14301
    # b: cos -0.9 <= -0.87758 -> fallback -0.9 - 0.5 sin 0.5 = -0.9 - 0.23971 = -1.13971
    arc = with_weight(ArcFace(2, 2, scale=2.0, margin=0.5), EYE_WEIGHT)
    target_a = 0.6 * math.cos(0.5) - 0.8 * math.sin(0.5)
    target_b = -0.9 - 0.5 * math.sin(0.5)
    expected_logits = torch.tensor([[2 * target_a, 2 * 0.8], [2 * target_b, 2 * math.sqrt(0.19)]])
    torch.testing.assert_close(arc.margin_logits(MARGIN_FEATURES, MARGIN_LABELS), expected_logits)
    # cross-entropy: log(1 + exp(other - target)) per sample, then the mean
    expected = (
        math.log1p(math.exp(2 * 0.8 - 2 * target_a))
        + math.log1p(math.exp(2 * math.sqrt(0.19) - 2 * target_b))
    ) / 2
    assert arc(MARGIN_FEATURES, MARGIN_LABELS).item() == pytest.approx(expected, rel=1e-6)


def test_arcface_easy_margin_hand_case():
    # easy margin: a (cos 0.6 > 0) gets cos(theta + m); b (cos -0.9 <= 0) keeps -0.9
    arc = with_weight(ArcFace(2, 2, scale=1.0, margin=0.5, easy_margin=True), EYE_WEIGHT)
    logits = arc.margin_logits(MARGIN_FEATURES, MARGIN_LABELS)
    expected = torch.tensor(
        [[0.6 * math.cos(0.5) - 0.8 * math.sin(0.5), 0.8], [-0.9, math.sqrt(0.19)]]
    )
    torch.testing.assert_close(logits, expected)


def test_cosface_hand_case():
    # s = 2, m = 0.35: target logits 2 (0.6 - 0.35) = 0.5 and 2 (-0.9 - 0.35) = -2.5
    cos_face = with_weight(CosFace(2, 2, scale=2.0, margin=0.35), EYE_WEIGHT)
    expected_logits = torch.tensor([[0.5, 1.6], [-2.5, 2 * math.sqrt(0.19)]])
    logits = cos_face.margin_logits(MARGIN_FEATURES, MARGIN_LABELS)
    torch.testing.assert_close(logits, expected_logits)
    # cross-entropy: log(1 + exp(other - target)) per sample, then the mean
    other_b = 2 * math.sqrt(0.19)
    expected = (math.log1p(math.exp(1.6 - 0.5)) + math.log1p(math.exp(other_b + 2.5))) / 2
    assert cos_face(MARGIN_FEATURES, MARGIN_LABELS).item() == pytest.approx(expected, rel=1e-6)


@pytest.mark.parametrize("easy_margin", [False, True])
@pytest.mark.parametrize("margin", [0.5, 2.0])
def test_arcface_against_loop(rng, margin, easy_margin):
    features, _ = random_batch(rng)
    labels = torch.from_numpy(rng.integers(0, 7, len(features)))
    arc = ArcFace(6, 7, scale=16.0, margin=margin, easy_margin=easy_margin)
    reference = arcface_reference(arc.weight, 16.0, margin, easy_margin)
    assert_matches_reference(arc, reference, features, labels)


def test_zero_margins_are_the_scaled_normalised_softmax(rng):
    features, _ = random_batch(rng)
    labels = torch.from_numpy(rng.integers(0, 7, len(features)))
    arc = ArcFace(6, 7, scale=8.0, margin=0.0)
    cos_face = with_weight(CosFace(6, 7, scale=8.0, margin=0.0), arc.weight)
    logits = 8.0 * (features / features.norm(dim=1, keepdim=True)) @ (
        arc.weight / arc.weight.norm(dim=1, keepdim=True)
    ).T
    expected = F.cross_entropy(logits, labels)
    torch.testing.assert_close(arc(features, labels), expected, **TOL)
    torch.testing.assert_close(cos_face(features, labels), expected, **TOL)


def test_cosface_margin_lowers_only_the_target_logit_by_scale_times_margin(rng):
    features, _ = random_batch(rng)
    labels = torch.from_numpy(rng.integers(0, 7, len(features)))
    with_margin = CosFace(6, 7, scale=30.0, margin=0.35)
    without = with_weight(CosFace(6, 7, scale=30.0, margin=0.0), with_margin.weight)
    shift = with_margin.margin_logits(features, labels) - without.margin_logits(features, labels)
    expected = -30.0 * 0.35 * F.one_hot(labels, 7).float()
    torch.testing.assert_close(shift, expected, rtol=0, atol=1e-5)


def test_margin_losses_check_feature_size():
    with pytest.raises(ValueError, match=r"feat_dim.*\(3, 5\)"):
        ArcFace(4, 3)(torch.ones(3, 5), torch.zeros(3, dtype=torch.int64))


# --------------------------------------------------------------------------------------
# Precision and devices
# --------------------------------------------------------------------------------------

ALL_LOSSES = [
    pytest.param(lambda: CrossEntropyLabelSmooth(0.1), id="ce"),
    *METRIC_LOSSES,
    pytest.param(lambda: ArcFace(6, 5), id="arcface"),
    pytest.param(lambda: CosFace(6, 5), id="cosface"),
]


def precision_batch() -> tuple[torch.Tensor, torch.Tensor]:
    generator = torch.Generator().manual_seed(0)
    features = torch.randn(10, 6, generator=generator)
    return features, torch.tensor([0, 0, 1, 1, 1, 2, 3, 3, 4, 4])


@pytest.mark.parametrize("make_loss", ALL_LOSSES)
@pytest.mark.parametrize("dtype", [torch.bfloat16, torch.float16], ids=["bf16", "fp16"])
def test_low_precision_inputs_and_autocast_compute_in_float32(make_loss, dtype):
    torch.manual_seed(0)
    loss = make_loss()
    features, labels = precision_batch()
    low = features.to(dtype)
    expected = loss(low.float(), labels)  # the rounded inputs, in float32
    with torch.autocast("cpu", dtype=torch.bfloat16):
        under_autocast = loss(low, labels)
    outside = loss(low, labels)
    for value in (under_autocast, outside):
        assert value.dtype == torch.float32
        torch.testing.assert_close(value, expected, rtol=1e-6, atol=1e-6)


@pytest.mark.parametrize("make_loss", ALL_LOSSES)
def test_cuda_matches_cpu(cuda, make_loss):
    torch.manual_seed(0)
    loss = make_loss()
    features, labels = precision_batch()
    expected, expected_grad = value_and_grad(loss, features, labels)
    value, grad = value_and_grad(loss.to(cuda), features.to(cuda), labels.to(cuda))
    assert value.device.type == "cuda"
    torch.testing.assert_close(value.cpu(), expected, rtol=1e-4, atol=1e-4)
    torch.testing.assert_close(grad.cpu(), expected_grad, rtol=1e-4, atol=1e-4)


# --------------------------------------------------------------------------------------
# Argument checks
# --------------------------------------------------------------------------------------


@pytest.mark.parametrize("make_loss", ALL_LOSSES)
def test_input_checks(make_loss):
    loss = make_loss()
    features = torch.ones(4, 6)
    labels = torch.tensor([0, 0, 1, 1])
    with pytest.raises(TypeError, match="labels must be an int64.*int32"):
        loss(features, labels.int())
    with pytest.raises(TypeError, match="must be a floating-point.*int64"):
        loss(torch.ones(4, 6, dtype=torch.int64), labels)
    with pytest.raises(ValueError, match=r"labels must have shape \(4,\).*\(3,\)"):
        loss(features, labels[:3])
    with pytest.raises(ValueError, match=r"shape \(B, K\).*\(4, 6, 1\)"):
        loss(features[..., None], labels)


@pytest.mark.parametrize(
    "make, message",
    [
        (lambda: CrossEntropyLabelSmooth(1.0), "epsilon must be < 1, got 1.0"),
        (lambda: CrossEntropyLabelSmooth(-0.1), "epsilon must be >= 0, got -0.1"),
        (lambda: TripletLoss(metric="l1"), "metric must be one of 'euclidean', 'cosine', got 'l1'"),
        (lambda: TripletLoss(margin=float("nan")), "margin must be finite, got nan"),
        (lambda: CircleLoss(gamma=0.0), "gamma must be > 0, got 0.0"),
        (lambda: InstanceLoss(gamma=-1.0), "gamma must be > 0, got -1.0"),
        (lambda: ArcFace(0, 3), "feat_dim must be >= 1, got 0"),
        (lambda: ArcFace(4, 3, margin=4.0), "margin must be < pi, got 4.0"),
        (lambda: CosFace(4, 3, scale=-1.0), "scale must be > 0, got -1.0"),
    ],
)
def test_constructor_checks(make, message):
    with pytest.raises(ValueError, match=message.replace("(", r"\(").replace(")", r"\)")):
        make()


# --------------------------------------------------------------------------------------
# The spec parser, build_loss and ReidLoss
# --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "spec, expected",
    [
        ("ce+triplet", {"ce": 1.0, "triplet": 1.0}),
        ("ce=1,triplet=0.5,circle=1", {"ce": 1.0, "triplet": 0.5, "circle": 1.0}),
        (" CE = 2 + instance ", {"ce": 2.0, "instance": 1.0}),
        ({"ce": 1, "arcface": 0.5}, {"ce": 1.0, "arcface": 0.5}),
        ("cosface", {"cosface": 1.0}),
        ("ce=1e+1+triplet=2.5e-1", {"ce": 10.0, "triplet": 0.25}),
    ],
)
def test_parse_loss_spec(spec, expected):
    parsed = parse_loss_spec(spec)
    assert parsed == expected
    assert list(parsed) == list(expected)
    assert all(type(weight) is float for weight in parsed.values())


@pytest.mark.parametrize(
    "spec, error, message",
    [
        ("ce+focal", ValueError, "unknown loss 'focal'.*valid: " + ", ".join(LOSSES)),
        ({"softmax": 1.0}, ValueError, "unknown loss 'softmax'"),
        ("ce=abc", ValueError, "weight of loss 'ce' must be a number; got 'abc'"),
        ("ce=-1", ValueError, "weight of loss 'ce' must be > 0, got -1.0"),
        ("triplet=0", ValueError, "weight of loss 'triplet' must be > 0, got 0.0"),
        ("ce=inf", ValueError, "weight of loss 'ce' must be finite, got inf"),
        ({"ce": True}, TypeError, "weight of loss 'ce' must be a real number, got bool"),
        ("ce+ce=2", ValueError, "loss 'ce' appears twice"),
        ("", ValueError, "spec must name at least one loss"),
        ({}, ValueError, "spec must name at least one loss"),
        ("ce+", ValueError, "unknown loss ''"),
        (["ce"], TypeError, "spec must be a str or a mapping.*list"),
    ],
)
def test_parse_loss_spec_errors(spec, error, message):
    with pytest.raises(error, match=message):
        parse_loss_spec(spec)


def test_build_loss_terms_and_options():
    loss = build_loss(
        "ce=1,triplet=0.5,circle,instance,arcface,cosface,sphereface",
        num_classes=5, feat_dim=6, label_smoothing=0.2, triplet_margin=None,
        circle_m=0.3, circle_gamma=32.0, instance_gamma=2.0,
        arc_scale=20.0, arc_margin=0.4, cos_scale=10.0, cos_margin=0.2,
        sphere_margin=3, sphere_lambda_min=2.0,
    )
    assert list(loss.terms) == ["ce", "triplet", "circle", "instance", "arcface", "cosface",
                                "sphereface"]
    assert LOSSES == ("ce", "triplet", "circle", "instance", "arcface", "cosface", "sphereface")
    assert loss.weights == {"ce": 1.0, "triplet": 0.5, "circle": 1.0, "instance": 1.0,
                            "arcface": 1.0, "cosface": 1.0, "sphereface": 1.0}
    assert loss.sources["ce"] == "logits"
    assert all(loss.sources[name] == "features" for name in LOSSES if name != "ce")
    terms = loss.terms
    assert terms["ce"].epsilon == 0.2 and terms["triplet"].margin is None
    assert (terms["circle"].m, terms["circle"].gamma, terms["instance"].gamma) == (0.3, 32.0, 2.0)
    assert (terms["arcface"].scale, terms["arcface"].margin) == (20.0, 0.4)
    assert (terms["cosface"].scale, terms["cosface"].margin) == (10.0, 0.2)
    assert (terms["sphereface"].margin, terms["sphereface"].lambda_min) == (3, 2.0)
    assert terms["arcface"].weight.shape == (5, 6)
    parameters = {id(p) for p in loss.parameters()}
    assert parameters == {id(terms["arcface"].weight), id(terms["cosface"].weight),
                          id(terms["sphereface"].weight)}


def model_output(rng: np.random.Generator, with_logits: bool = True):
    features, labels = random_batch(rng)
    logits = torch.from_numpy(rng.standard_normal((len(labels), 5))).float()
    return ModelOutput(logits if with_logits else None, features, features), labels % 5


def test_reid_loss_parts_sum_to_total_with_weights(rng):
    loss = build_loss("ce=1,triplet=0.5,circle=0.25,arcface=2", num_classes=5, feat_dim=6)
    output, labels = model_output(rng)
    total, parts = loss(output, labels)
    assert list(parts) == ["ce", "triplet", "circle", "arcface"]
    assert all(not part.requires_grad and part.dtype == torch.float32 for part in parts.values())
    expected = parts["ce"] + 0.5 * parts["triplet"] + 0.25 * parts["circle"] + 2 * parts["arcface"]
    torch.testing.assert_close(total.detach(), expected, **TOL)
    # each part is the standalone loss on the right field of the output
    torch.testing.assert_close(parts["ce"], CrossEntropyLabelSmooth(0.1)(output.logits, labels))
    torch.testing.assert_close(parts["triplet"], TripletLoss(0.3)(output.features, labels))
    total.backward()
    assert loss.terms["arcface"].weight.grad is not None


def test_reid_loss_needs_logits_for_ce(rng):
    output, labels = model_output(rng, with_logits=False)
    with pytest.raises(ValueError, match=r"'ce' needs output.logits.*logits=None"):
        build_loss("triplet+ce", num_classes=5, feat_dim=6)(output, labels)
    total, parts = build_loss("triplet", num_classes=5, feat_dim=6)(output, labels)
    assert set(parts) == {"triplet"}


def test_reid_loss_checks_terms():
    with pytest.raises(ValueError, match="source must be one of logits, features; got 'embedding'"):
        ReidLoss({"t": LossTerm(TripletLoss(), 1.0, "embedding")})
    with pytest.raises(ValueError, match=r"weight of loss term 't' must be > 0, got -2"):
        ReidLoss({"t": LossTerm(TripletLoss(), -2, "features")})
    with pytest.raises(ValueError, match="at least one loss term"):
        ReidLoss({})


def sphereface_at_60_degrees(**options) -> SphereFace:
    """Two classes in 2-D: class 0 at 60 degrees from the feature (3, 0), class 1 along it."""
    loss = SphereFace(2, 2, **options)
    with torch.no_grad():
        loss.weight.copy_(torch.tensor([[math.cos(math.pi / 3), math.sin(math.pi / 3)],
                                        [2.0, 0.0]]))
    return loss


def test_sphereface_matches_a_hand_computation():
    # theta = 60 deg, m = 4: 4 theta = 240 deg, k = floor(240 / 180) = 1,
    # cos(4 theta) = T_4(0.5) = 8/16 - 8/4 + 1 = -0.5, psi = (-1)^1 (-0.5) - 2 = -1.5.
    # The n-th call: lambda = max(5, 1500 / (1 + 0.1 n)); target logit
    # |x| (lambda 0.5 + psi) / (1 + lambda), the other |x| cos 0 = 3.
    loss = sphereface_at_60_degrees()
    x, y = torch.tensor([[3.0, 0.0]]), torch.tensor([0])
    for n in (1, 2):
        lam = 1500.0 / (1.0 + 0.1 * n)
        target = 3.0 * (lam * 0.5 - 1.5) / (1.0 + lam)
        expected = math.log(1.0 + math.exp(3.0 - target))
        assert loss(x, y).item() == pytest.approx(expected, rel=1e-5)
        assert int(loss.calls) == n
    loss.calls.fill_(2999)   # from call 2991 on 1500 / (1 + 0.1 n) < 5, so lambda = 5
    torch.testing.assert_close(loss.margin_logits(x, y), torch.tensor([[0.5, 3.0]]))
    assert loss(x, y).item() == pytest.approx(math.log(1.0 + math.exp(2.5)), rel=1e-5)


def test_sphereface_annealing_and_eval_mode():
    loss = SphereFace(4, 3, lambda_base=1000.0, lambda_min=5.0, lambda_gamma=0.12,
                      lambda_power=1.0)
    assert loss.annealed_lambda(10).item() == pytest.approx(1000.0 / 2.2)
    assert loss.annealed_lambda(10**6).item() == 5.0
    loss.eval()
    loss(torch.randn(2, 4), torch.tensor([0, 2]))
    assert int(loss.calls) == 0          # only training-mode calls advance the schedule
    assert "calls" in loss.state_dict()  # checkpointed with the criterion


def test_sphereface_margin_one_is_the_normalised_weight_softmax():
    loss = SphereFace(3, 4, margin=1, lambda_base=0.0, lambda_min=0.0)
    x, y = torch.randn(5, 3), torch.tensor([0, 1, 2, 3, 0])
    plain = x.norm(dim=1, keepdim=True) * (F.normalize(x, dim=1) @ F.normalize(loss.weight, dim=1).T)
    torch.testing.assert_close(loss.margin_logits(x, y), plain)


@pytest.mark.parametrize("options, error, message", [
    ({"margin": 0}, ValueError, "margin"),
    ({"margin": 2.5}, TypeError, "margin"),
    ({"lambda_min": -1.0}, ValueError, "lambda_min"),
    ({"lambda_base": 1.0, "lambda_min": 5.0}, ValueError, "lambda_base"),
])
def test_sphereface_rejects_bad_options(options, error, message):
    with pytest.raises(error, match=message):
        SphereFace(2, 2, **options)
