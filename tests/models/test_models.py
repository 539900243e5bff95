"""Tests of reid_fast.models: architectures against published parameter counts and
torchvision key names, pooling / heads / IBN / SE against hand computations, pretrained
loading (round trip, legacy names, errors), and forward passes (channels_last, bf16
autocast, eval determinism).

The big nets are built on the meta device (no memory, no initialisation cost) wherever
only structure and shapes are checked.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from reid_fast.models import (
    ARCHS,
    IBN,
    BasicBlock,
    Bottleneck,
    DenseNet,
    GeM,
    ModelOutput,
    ResNet,
    SEModule,
    build_head,
    build_model,
    build_pooling,
    densenet121,
    load_pretrained,
    resnet18,
    resnet34,
    resnet50,
    resnet101,
    resnet_small,
    se_resnext101_32x4d,
)


def n_params(module: nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


def with_imagenet_fc(backbone: nn.Module) -> int:
    """Parameters of the backbone plus a 1000-way linear classifier (weights + bias)."""
    return n_params(backbone) + backbone.out_channels * 1000 + 1000


# ---------------------------------------------------------------------------------------
# Architectures: parameter counts and key names
# ---------------------------------------------------------------------------------------

# torchvision's published parameter counts of its ImageNet classifiers.
PUBLISHED_PARAMS = {
    resnet18: 11_689_512,
    resnet34: 21_797_672,
    resnet50: 25_557_032,
    resnet101: 44_549_160,
    densenet121: 7_978_856,
}


@pytest.mark.parametrize("factory", list(PUBLISHED_PARAMS), ids=lambda f: f.__name__)
def test_parameter_count_matches_torchvision(factory):
    with torch.device("meta"):
        backbone = factory()
    assert with_imagenet_fc(backbone) == PUBLISHED_PARAMS[factory]


def test_resnext_and_se_parameter_counts():
    with torch.device("meta"):
        resnext = ResNet(Bottleneck, (3, 4, 23, 3), groups=32, base_width=4)
        se = se_resnext101_32x4d()
    # ResNeXt-101 32x4d: 44.2 M parameters as published (timm / Gluon model cards).
    assert abs(with_imagenet_fc(resnext) - 44.2e6) <= 0.05e6
    # SE adds, per block with C output channels, fc1 (C -> C/16, bias) and fc2 (back, bias).
    se_extra = sum(
        blocks * (2 * c * (c // 16) + c // 16 + c)
        for blocks, c in zip((3, 4, 23, 3), (256, 512, 1024, 2048))
    )
    assert n_params(se) == n_params(resnext) + se_extra


def test_ibn_keeps_the_parameter_count():
    # IN(affine) on half the channels + BN on the other half has as many affine
    # parameters as the BN it replaces.
    with torch.device("meta"):
        assert n_params(resnet50(ibn=True)) == n_params(resnet50())


EXPECTED_KEYS = {
    resnet50: [
        "conv1.weight", "bn1.running_mean", "layer1.0.downsample.0.weight",
        "layer1.0.downsample.1.weight", "layer1.2.conv3.weight", "layer3.5.bn2.running_var",
        "layer4.2.bn3.num_batches_tracked", "layer4.0.downsample.1.bias",
    ],
    resnet18: ["layer1.1.bn2.weight", "layer2.0.downsample.0.weight", "layer4.1.conv2.weight"],
    resnet101: ["layer3.22.conv3.weight", "layer3.22.bn3.running_mean"],
    densenet121: [
        "features.conv0.weight", "features.norm0.running_var",
        "features.denseblock1.denselayer1.norm1.weight",
        "features.denseblock2.denselayer12.conv2.weight",
        "features.denseblock4.denselayer16.norm2.bias", "features.transition1.norm.weight",
        "features.transition3.conv.weight", "features.norm5.running_mean",
    ],
    se_resnext101_32x4d: [
        "conv1.weight", "bn1.weight", "layer1.0.se_module.fc1.weight",
        "layer1.0.se_module.fc2.bias", "layer3.22.se_module.fc1.bias",
        "layer4.0.downsample.0.weight", "layer4.2.conv2.weight",
    ],
}
ABSENT_KEYS = {
    resnet50: ["fc.weight", "layer3.6.conv1.weight", "layer1.0.se_module.fc1.weight",
               "layer1.0.bn1.IN.weight"],
    resnet18: ["layer1.0.conv3.weight", "layer1.0.downsample.0.weight"],
    resnet101: ["layer3.23.conv1.weight"],
    densenet121: ["classifier.weight", "features.transition4.conv.weight",
                  "features.denseblock1.denselayer7.conv1.weight"],
    se_resnext101_32x4d: ["last_linear.weight", "layer0.conv1.weight"],
}


@pytest.mark.parametrize("factory", list(EXPECTED_KEYS), ids=lambda f: f.__name__)
def test_state_dict_keys_follow_torchvision(factory):
    with torch.device("meta"):
        keys = set(factory().state_dict())
    assert not [k for k in EXPECTED_KEYS[factory] if k not in keys]
    assert not [k for k in ABSENT_KEYS[factory] if k in keys]


def test_resnext_grouped_convolution_shape():
    with torch.device("meta"):
        state = se_resnext101_32x4d().state_dict()
    # layer1: width = 64 * 4/64 * 32 = 128, 32 groups of 4 input channels each.
    assert tuple(state["layer1.0.conv2.weight"].shape) == (128, 4, 3, 3)
    assert tuple(state["layer4.0.conv3.weight"].shape) == (2048, 1024, 1, 1)
    assert tuple(state["layer1.0.se_module.fc1.weight"].shape) == (16, 256, 1, 1)


def test_ibn_a_structure():
    with torch.device("meta"):
        net = resnet50(ibn=True)
    for stage in (net.layer1, net.layer2, net.layer3):
        for block in stage:
            assert isinstance(block.bn1, IBN)
            width = block.conv1.out_channels
            assert block.bn1.IN.num_features == width // 2
            assert block.bn1.BN.num_features == width - width // 2
            assert block.bn1.IN.affine
            assert isinstance(block.bn2, nn.BatchNorm2d) and isinstance(block.bn3, nn.BatchNorm2d)
    assert all(type(block.bn1) is nn.BatchNorm2d for block in net.layer4)
    keys = set(net.state_dict())
    assert {"layer1.0.bn1.IN.weight", "layer1.0.bn1.IN.bias", "layer1.0.bn1.BN.running_mean",
            "layer3.5.bn1.BN.weight", "layer4.0.bn1.weight"} <= keys
    assert "layer1.0.bn1.weight" not in keys


def test_ibn_forward_matches_hand_normalisation():
    torch.manual_seed(0)
    ibn = IBN(8).train()
    for norm in (ibn.IN, ibn.BN):
        nn.init.uniform_(norm.weight, 0.5, 1.5)
        nn.init.uniform_(norm.bias, -0.5, 0.5)
    x = torch.randn(3, 8, 4, 5)
    got = ibn(x).detach().numpy()
    xn = x.numpy().astype(np.float64)
    eps = 1e-5
    first = xn[:, :4]  # per sample, per channel over H, W
    first = (first - first.mean((2, 3), keepdims=True)) / np.sqrt(
        first.var((2, 3), keepdims=True) + eps)
    second = xn[:, 4:]  # per channel over batch, H, W
    second = (second - second.mean((0, 2, 3), keepdims=True)) / np.sqrt(
        second.var((0, 2, 3), keepdims=True) + eps)
    w = np.concatenate([ibn.IN.weight.detach().numpy(), ibn.BN.weight.detach().numpy()])
    b = np.concatenate([ibn.IN.bias.detach().numpy(), ibn.BN.bias.detach().numpy()])
    expected = np.concatenate([first, second], axis=1) * w[:, None, None] + b[:, None, None]
    np.testing.assert_allclose(got, expected, rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("activation, by_hand", [
    (nn.ReLU, lambda v: np.maximum(v, 0)),
    (nn.SiLU, lambda v: v / (1 + np.exp(-v))),  # EfficientNet's
])
def test_se_module_matches_hand_computation(activation, by_hand):
    torch.manual_seed(1)
    se = SEModule(4, 2, activation=activation)
    x = torch.randn(2, 4, 3, 3)
    got = se(x).detach().numpy()
    w1 = se.fc1.weight.detach().numpy()[:, :, 0, 0]
    b1 = se.fc1.bias.detach().numpy()
    w2 = se.fc2.weight.detach().numpy()[:, :, 0, 0]
    b2 = se.fc2.bias.detach().numpy()
    xn = x.numpy().astype(np.float64)
    squeezed = xn.mean((2, 3))  # (2, 4)
    gate = 1 / (1 + np.exp(-(by_hand(squeezed @ w1.T + b1) @ w2.T + b2)))
    np.testing.assert_allclose(got, xn * gate[:, :, None, None], rtol=1e-5, atol=1e-6)


def test_basic_block_rejects_resnext_options():
    with pytest.raises(ValueError, match="groups=32"):
        BasicBlock(8, 8, groups=32, base_width=4)


@pytest.mark.parametrize("arch", ["resnet50", "resnet101", "se_resnext101_32x4d", "densenet121",
                                  "resnext101_32x8d", "resnext101_32x16d", "resnext101_64x4d",
                                  "res2net101_26w_4s", "efficientnet_b4"])
def test_feature_map_size_and_last_stride_of_big_nets(arch):
    with torch.device("meta"):
        sizes = {}
        for last_stride in (1, 2):
            model = build_model(arch, 0, last_stride=last_stride).eval()
            sizes[last_stride] = tuple(model.backbone(torch.empty(2, 3, 256, 128)).shape)
    channels = {"densenet121": 1024, "efficientnet_b4": 1792}.get(arch, 2048)
    assert sizes[2] == (2, channels, 8, 4)  # stride 32
    assert sizes[1] == (2, channels, 16, 8)  # stride 16


def test_resnet_small_is_configurable_and_strides():
    net = resnet_small(widths=(8, 16, 24, 40), layers=(2, 1, 1, 2), last_stride=1).eval()
    assert net.out_channels == 40
    assert len(net.layer1) == 2 and len(net.layer4) == 2
    with torch.no_grad():
        assert tuple(net(torch.randn(1, 3, 64, 32)).shape) == (1, 40, 4, 2)
        net2 = resnet_small(widths=(8, 16, 24, 40), last_stride=2).eval()
        assert tuple(net2(torch.randn(1, 3, 64, 32)).shape) == (1, 40, 2, 1)


def test_real_forward_of_densenet_and_se_resnext():
    torch.manual_seed(0)
    x = torch.randn(2, 3, 64, 64)
    for arch, channels in (("densenet121", 1024), ("se_resnext101_32x4d", 2048)):
        model = build_model(arch, 5).eval()
        with torch.no_grad():
            emb = model(x)
        assert emb.shape == (2, channels) and torch.isfinite(emb).all()


# ---------------------------------------------------------------------------------------
# Pooling
# ---------------------------------------------------------------------------------------

# Channel 0 holds 0, 1, 2, 3 and channel 1 holds 4, 5, 6, 7.
TINY = torch.arange(8, dtype=torch.float32).reshape(1, 2, 2, 2)


@pytest.mark.parametrize("name, expected", [
    ("avg", [1.5, 5.5]),
    ("max", [3.0, 7.0]),
    ("avgmax", [4.5, 12.5]),
    ("gem", [(np.mean(np.array([0, 1, 2, 3.0]) ** 3)) ** (1 / 3),
             (np.mean(np.array([4, 5, 6, 7.0]) ** 3)) ** (1 / 3)]),
])
def test_pooling_by_hand(name, expected):
    pooled = build_pooling(name)(TINY)
    assert pooled.shape == (1, 2)
    np.testing.assert_allclose(pooled.detach().numpy()[0], expected, rtol=1e-5, atol=1e-5)


def test_gem_limits():
    x = torch.tensor([[[[0.5, 1.0], [1.5, 2.0]]]])
    gem = GeM()
    assert gem.p.detach().item() == 3.0 and gem.p.requires_grad
    with torch.no_grad():
        gem.p.fill_(1.0)
        np.testing.assert_allclose(gem(x).item(), 1.25, rtol=1e-6)  # the mean
        gem.p.fill_(50.0)
        # mean(x^p)^(1/p) lies in [max * (1/n)^(1/p), max] for n = 4 values.
        assert 2.0 * 0.25 ** (1 / 50) - 1e-5 <= gem(x).item() <= 2.0 + 1e-5
    # Non-positive inputs are clamped to eps.
    np.testing.assert_allclose(GeM()(-x).item(), 1e-6, rtol=1e-4)


def test_gem_p_learns():
    gem = GeM()
    gem(TINY + 1).sum().backward()
    assert gem.p.grad is not None and gem.p.grad.abs().item() > 0


def test_unknown_pool_lists_valid_names():
    with pytest.raises(ValueError, match="avg, max, avgmax, gem"):
        build_pooling("mean")


# ---------------------------------------------------------------------------------------
# Heads
# ---------------------------------------------------------------------------------------

def batch_norm_by_hand(x: np.ndarray, eps: float = 1e-5) -> np.ndarray:
    return (x - x.mean(0)) / np.sqrt(x.var(0) + eps)


def test_bnneck_train_and_eval_outputs():
    torch.manual_seed(0)
    head = build_head("bnneck", 6, 4)
    assert head.embedding_dim == 6
    assert head.classifier.bias is None
    assert not head.bn.bias.requires_grad and torch.all(head.bn.bias == 0)
    f = torch.randn(5, 6)
    out = head.train()(f)
    assert isinstance(out, ModelOutput)
    emb = batch_norm_by_hand(f.numpy().astype(np.float64))
    np.testing.assert_allclose(out.features.detach().numpy(), f.numpy())
    np.testing.assert_allclose(out.embedding.detach().numpy(), emb, rtol=1e-4, atol=1e-5)
    weight = head.classifier.weight.detach().numpy()
    np.testing.assert_allclose(out.logits.detach().numpy(), emb @ weight.T, rtol=1e-4, atol=1e-6)

    # Eval: running statistics (momentum 0.1 from mean 0 / var 1 after one batch).
    head.eval()
    mean = 0.1 * f.numpy().mean(0)
    var = 0.9 + 0.1 * f.numpy().var(0, ddof=1)
    expected = (f.numpy() - mean) / np.sqrt(var + 1e-5)
    got = head(f)
    assert isinstance(got, torch.Tensor) and got.shape == (5, 6)
    np.testing.assert_allclose(got.detach().numpy(), expected, rtol=1e-4, atol=1e-5)


def test_classblock_train_and_eval_outputs():
    torch.manual_seed(0)
    head = build_head("classblock", 6, 3, embedding_dim=4, dropout=0.5)
    assert head.embedding_dim == 4
    f = torch.randn(8, 6)
    out = head.train()(f)
    w, b = head.linear.weight.detach().numpy(), head.linear.bias.detach().numpy()
    emb = batch_norm_by_hand(f.numpy().astype(np.float64) @ w.T + b)
    np.testing.assert_allclose(out.embedding.detach().numpy(), emb, rtol=1e-4, atol=1e-5)
    # Dropout(0.5): each feature is 0 or twice the embedding.
    feats = out.features.detach().numpy()
    kept = feats != 0
    assert 0 < kept.sum() < kept.size
    np.testing.assert_allclose(feats[kept], 2 * emb[kept], rtol=1e-4, atol=1e-5)
    cw, cb = head.classifier.weight.detach().numpy(), head.classifier.bias.detach().numpy()
    np.testing.assert_allclose(out.logits.detach().numpy(), feats @ cw.T + cb, rtol=1e-4,
                               atol=1e-5)
    head.eval()
    first, second = head(f), head(f)
    assert first.shape == (8, 4) and torch.equal(first, second)


def test_heads_without_classifier():
    for name in ("bnneck", "classblock"):
        out = build_head(name, 6, 0).train()(torch.randn(4, 6))
        assert out.logits is None


def test_head_initialisation():
    torch.manual_seed(0)
    head = build_head("bnneck", 256, 2000)
    std = head.classifier.weight.std().item()
    assert 0.0009 < std < 0.0011
    assert torch.all(head.bn.weight == 1)


def test_head_argument_errors():
    with pytest.raises(ValueError, match="bnneck, classblock"):
        build_head("arcface", 6, 3)
    with pytest.raises(ValueError, match="dropout"):
        build_head("bnneck", 6, 3, dropout=0.5)
    with pytest.raises(ValueError, match="num_classes"):
        build_head("bnneck", 6, -1)


# ---------------------------------------------------------------------------------------
# ReidModel and build_model
# ---------------------------------------------------------------------------------------

SMALL = dict(widths=(8, 16, 16, 32))


@pytest.mark.parametrize("head, dim", [("bnneck", 32), ("classblock", 24)])
def test_model_train_and_eval_outputs(head, dim):
    torch.manual_seed(0)
    model = build_model("resnet_small", 7, head=head, embedding_dim=24, pool="gem", **SMALL)
    assert model.embedding_dim == dim
    x = torch.randn(4, 3, 64, 32)
    out = model.train()(x)
    assert isinstance(out, ModelOutput)
    assert out.logits.shape == (4, 7) and out.embedding.shape == (4, dim)
    out.logits.sum().backward()
    assert model.backbone.conv1.weight.grad is not None
    emb = model.eval()(x)
    assert isinstance(emb, torch.Tensor) and emb.shape == (4, dim)


@pytest.mark.parametrize("head, dropout", [("bnneck", 0.0), ("classblock", 0.5)])
def test_class_logits_are_the_training_logits_of_the_eval_embedding(head, dropout):
    torch.manual_seed(0)
    model = build_model("resnet_small", 7, head=head, embedding_dim=24, dropout=dropout, **SMALL)
    model.train()(torch.randn(6, 3, 64, 32))  # move the running statistics
    x = torch.randn(5, 3, 64, 32)
    with torch.no_grad():
        embedding = model.eval()(x)
        logits = model.class_logits(embedding)
        # The head's own training path, with BatchNorm and dropout in their eval behaviour.
        model.train()
        for module in model.modules():
            if isinstance(module, (nn.BatchNorm1d, nn.BatchNorm2d, nn.Dropout)):
                module.eval()
        reference = model(x).logits
    assert logits.shape == (5, 7)
    torch.testing.assert_close(logits, reference, rtol=1e-5, atol=1e-5)
    classifier = model.head.classifier
    by_hand = embedding @ classifier.weight.T + (0 if classifier.bias is None else classifier.bias)
    torch.testing.assert_close(logits, by_hand.detach(), rtol=1e-5, atol=1e-5)


def test_class_logits_errors():
    model = build_model("resnet_small", 7, **SMALL)
    with pytest.raises(ValueError, match=r"embedding must be \(B, 32\), got shape \(2, 31\)"):
        model.class_logits(torch.zeros(2, 31))
    without = build_model("resnet_small", 0, **SMALL)
    with pytest.raises(ValueError, match=r"head \(BNNeckHead\) has no classifier"):
        without.class_logits(torch.zeros(2, 32))


def test_eval_is_deterministic_and_batch_independent():
    torch.manual_seed(0)
    model = build_model("resnet_small", 7, ibn=True, pool="avgmax", **SMALL)
    model.train()(torch.randn(6, 3, 64, 32))  # move the running statistics
    model.eval()
    x = torch.randn(5, 3, 64, 32)
    with torch.no_grad():
        first, second, part = model(x), model(x), model(x[:2])
    assert torch.equal(first, second)
    torch.testing.assert_close(part, first[:2], rtol=1e-5, atol=1e-5)


def test_channels_last_and_bf16_autocast():
    torch.manual_seed(0)
    model = build_model("resnet_small", 7, ibn=True, pool="gem", head="classblock",
                        embedding_dim=16, **SMALL)
    model = model.to(memory_format=torch.channels_last)
    x = torch.randn(4, 3, 64, 32).contiguous(memory_format=torch.channels_last)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        out = model.train()(x)
        emb = model.eval()(x)
    reference = model(x)
    assert out.logits.shape == (4, 7) and out.features.shape == (4, 16)
    assert all(torch.isfinite(t.float()).all() for t in out)
    assert emb.shape == (4, 16) and torch.isfinite(emb.float()).all()
    # bf16 keeps about 3 significant digits; the embedding must stay close to float32.
    assert torch.nn.functional.cosine_similarity(emb.float(), reference, dim=1).min() > 0.98


def test_parameter_groups_partition_the_model():
    model = build_model("resnet_small", 7, pool="gem", **SMALL)
    backbone, head = model.backbone_parameters(), model.head_parameters()
    ids_b, ids_h = {id(p) for p in backbone}, {id(p) for p in head}
    assert not ids_b & ids_h
    assert ids_b | ids_h == {id(p) for p in model.parameters()}
    assert id(model.pool.p) in ids_h and id(model.head.classifier.weight) in ids_h
    assert id(model.backbone.conv1.weight) in ids_b


def test_config_rebuilds_the_architecture():
    model = build_model("resnet_small", 9, head="classblock", embedding_dim=20, ibn=True,
                        **SMALL)
    again = build_model(**model.config)
    shapes = {k: v.shape for k, v in model.state_dict().items()}
    assert shapes == {k: v.shape for k, v in again.state_dict().items()}


def test_backbone_initialisation():
    torch.manual_seed(0)
    net = resnet50()
    conv = net.layer3[0].conv2.weight  # fan_out = 256 * 3 * 3
    assert abs(conv.std().item() - np.sqrt(2 / (256 * 9))) < 0.05 * np.sqrt(2 / (256 * 9))
    assert torch.all(net.layer3[0].bn2.weight == 1) and torch.all(net.layer3[0].bn2.bias == 0)


def test_build_model_errors_list_valid_names():
    with pytest.raises(ValueError, match=", ".join(ARCHS)):
        build_model("vgg16", 3)
    with pytest.raises(ValueError, match="avgmax"):
        build_model("resnet_small", 3, pool="sum")
    with pytest.raises(ValueError, match="classblock"):
        build_model("resnet_small", 3, head="mlp")
    with pytest.raises(ValueError, match="ibn"):
        build_model("densenet121", 3, ibn=True)
    with pytest.raises(ValueError, match="last_stride"):
        build_model("resnet_small", 3, last_stride=3)
    with pytest.raises(ValueError, match=r"images must be \(B, 3, H, W\)"):
        build_model("resnet_small", 3, **SMALL)(torch.randn(2, 1, 32, 32))


# ---------------------------------------------------------------------------------------
# Pretrained weights
# ---------------------------------------------------------------------------------------

def random_state(module: nn.Module, seed: int) -> dict[str, torch.Tensor]:
    """The module's state dict filled with random values (so a copy is recognisable)."""
    gen = torch.Generator().manual_seed(seed)
    return {k: (torch.rand(v.shape, generator=gen) if v.is_floating_point() else v.clone())
            for k, v in module.state_dict().items()}


def assert_backbone_equals(backbone: nn.Module, state: dict[str, torch.Tensor]) -> None:
    own = backbone.state_dict()
    for key, value in state.items():
        assert torch.equal(own[key], value), key


@pytest.mark.parametrize("wrap", ["raw", "state_dict", "model", "dataparallel"])
def test_load_pretrained_round_trip(tmp_path, wrap):
    source = resnet_small(**SMALL)
    state = random_state(source, seed=1)
    file_state = dict(state, **{"fc.weight": torch.rand(1000, 32), "fc.bias": torch.rand(1000)})
    if wrap == "dataparallel":
        payload = {f"module.{k}": v for k, v in file_state.items()}
    elif wrap == "raw":
        payload = file_state
    else:
        payload = {wrap: file_state, "epoch": 3}
    path = tmp_path / "weights.pth"
    torch.save(payload, path)

    model = build_model("resnet_small", 5, **SMALL)
    head_before = {k: v.clone() for k, v in model.head.state_dict().items()}
    missing, unexpected = load_pretrained(model, path)
    assert missing == [] and unexpected == []
    assert_backbone_equals(model.backbone, state)
    assert all(torch.equal(v, head_before[k]) for k, v in model.head.state_dict().items())


def test_build_model_pretrained_and_reid_checkpoint(tmp_path):
    trained = build_model("resnet_small", 11, **SMALL)
    trained.load_state_dict(dict(trained.state_dict(), **{
        k: v for k, v in random_state(trained, seed=2).items() if k.startswith("backbone.")
    }))
    path = tmp_path / "reid.pth"
    torch.save({"model": trained.state_dict()}, path)
    # A re-ID checkpoint with another classifier width: only the backbone is taken.
    model = build_model("resnet_small", 3, pretrained=str(path), **SMALL)
    assert_backbone_equals(model.backbone, trained.backbone.state_dict())


def test_cadene_keys_are_renamed(tmp_path):
    source = resnet_small(**SMALL)
    state = random_state(source, seed=3)
    renamed = {("layer0." + k if k.startswith(("conv1.", "bn1.")) else k): v
               for k, v in state.items()}
    renamed["last_linear.weight"] = torch.rand(1000, 32)
    renamed["last_linear.bias"] = torch.rand(1000)
    assert "layer0.conv1.weight" in renamed and "layer0.bn1.running_var" in renamed
    path = tmp_path / "cadene.pth"
    torch.save(renamed, path)
    target = resnet_small(**SMALL)
    assert load_pretrained(target, path) == ([], [])
    assert_backbone_equals(target, state)


def test_legacy_densenet_keys_are_renamed(tmp_path):
    source = DenseNet(growth_rate=4, block_config=(2, 3), num_init_features=8, bn_size=2)
    state = random_state(source, seed=4)
    legacy = {}
    for key, value in state.items():
        for new, old in (("norm1.", "norm.1."), ("norm2.", "norm.2."),
                         ("conv1.", "conv.1."), ("conv2.", "conv.2.")):
            if ".denselayer" in key:
                key = key.replace(new, old)
        legacy[key] = value
    legacy["classifier.weight"] = torch.rand(1000, 14)
    assert "features.denseblock2.denselayer3.norm.2.running_mean" in legacy
    path = tmp_path / "legacy.pth"
    torch.save({"state_dict": legacy}, path)
    target = DenseNet(growth_rate=4, block_config=(2, 3), num_init_features=8, bn_size=2)
    assert load_pretrained(target, path) == ([], [])
    assert_backbone_equals(target, state)


def test_partial_checkpoint_reports_missing_and_unexpected(tmp_path):
    state = random_state(resnet_small(**SMALL), seed=5)
    del state["layer4.0.conv2.weight"]
    state["extra.weight"] = torch.rand(3)
    path = tmp_path / "partial.pth"
    torch.save(state, path)
    target = resnet_small(**SMALL)
    missing, unexpected = load_pretrained(target, path)
    assert missing == ["layer4.0.conv2.weight"] and unexpected == ["extra.weight"]
    with pytest.warns(UserWarning, match="1 backbone keys not in the file"):
        build_model("resnet_small", 2, pretrained=path, **SMALL)


def test_shape_mismatch_names_key_and_shapes(tmp_path):
    path = tmp_path / "wide.pth"
    torch.save(resnet_small(widths=(16, 16, 16, 32)).state_dict(), path)
    with pytest.raises(ValueError, match=r"'conv1.weight'.*\(16, 3, 7, 7\).*\(8, 3, 7, 7\)"):
        load_pretrained(resnet_small(**SMALL), path)


def test_wrong_architecture_is_refused(tmp_path):
    path = tmp_path / "densenet.pth"
    torch.save(DenseNet(4, (1, 1), 8, 2).state_dict(), path)
    with pytest.raises(ValueError, match="no key .* matches the ResNet backbone"):
        load_pretrained(build_model("resnet_small", 3, **SMALL), path)


def test_pretrained_file_errors(tmp_path):
    with pytest.raises(FileNotFoundError, match="nope.pth"):
        load_pretrained(resnet_small(**SMALL), tmp_path / "nope.pth")
    path = tmp_path / "list.pth"
    torch.save([1, 2, 3], path)
    with pytest.raises(TypeError, match="not a state dict"):
        load_pretrained(resnet_small(**SMALL), path)
