"""Tests of the AICity 2020 winners' backbones: ResNeXt-101 32x8d / 32x16d / 64x4d,
Res2Net-101 26w x 4s and EfficientNet-B4, against published parameter counts, the key
names of their weight releases, last stride 1 vs 2, hand-checked blocks and a state-dict
round trip through load_pretrained.

The full-size nets are built on the meta device unless a real forward is the point.
"""

from __future__ import annotations

import pytest
import torch
from torch import nn

from reid_fast.models import (
    ARCHS,
    Bottle2neck,
    Bottleneck,
    EfficientNet,
    MBConv,
    ResNet,
    build_model,
    efficientnet_b4,
    load_pretrained,
    res2net101_26w_4s,
    resnext101_32x8d,
    resnext101_32x16d,
    resnext101_64x4d,
)
from reid_fast.models.efficientnet import make_divisible

NEW_ARCHS = ("resnext101_32x8d", "resnext101_32x16d", "resnext101_64x4d", "res2net101_26w_4s",
             "efficientnet_b4")


def n_params(module: nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


def with_imagenet_fc(backbone: nn.Module) -> int:
    """Parameters of the backbone plus a 1000-way linear classifier (weights + bias)."""
    return n_params(backbone) + backbone.out_channels * 1000 + 1000


def random_state(module: nn.Module, seed: int) -> dict[str, torch.Tensor]:
    gen = torch.Generator().manual_seed(seed)
    return {k: (torch.rand(v.shape, generator=gen) if v.is_floating_point() else v.clone())
            for k, v in module.state_dict().items()}


def small(arch: str) -> nn.Module:
    """A narrow, shallow net with the key layout of ``arch`` (the same classes)."""
    if arch == "resnext":
        return ResNet(Bottleneck, (1, 1, 2, 1), widths=(16, 16, 32, 32), groups=4,
                      base_width=8)
    if arch == "res2net":
        return ResNet(Bottle2neck, (1, 2, 1, 1), widths=(16, 16, 32, 32), base_width=26)
    return EfficientNet(0.25, 0.5)


def test_new_archs_are_registered():
    assert set(NEW_ARCHS) <= set(ARCHS)


# torchvision's published parameter counts (its model documentation's "num_params", with
# the 1000-class classifier). resnext101_32x16d is not in torchvision: its count is that of
# torchvision's ResNet class with groups=32, width_per_group=16, the architecture of
# facebookresearch/WSL-Images' resnext101_32x16d_wsl.
PUBLISHED_PARAMS = {
    resnext101_32x8d: 88_791_336,
    resnext101_32x16d: 194_026_792,
    resnext101_64x4d: 83_455_272,
    efficientnet_b4: 19_341_616,
}


@pytest.mark.parametrize("factory", list(PUBLISHED_PARAMS), ids=lambda f: f.__name__)
def test_parameter_count_matches_torchvision(factory):
    with torch.device("meta"):
        backbone = factory()
    assert with_imagenet_fc(backbone) == PUBLISHED_PARAMS[factory]


def test_res2net_parameter_count_matches_the_paper_release():
    # Res2Net-PretrainedModels' README (Gao et al.) lists res2net101_26w_4s with "45.21M"
    # parameters, rounded to 0.01 M; ours (with the 2048x1000 fc) is 45,206,688.
    with torch.device("meta"):
        total = with_imagenet_fc(res2net101_26w_4s())
    assert total == 45_206_688
    assert round(total / 1e6, 2) == 45.21


def test_resnext_grouped_widths():
    with torch.device("meta"):
        shapes = {f.__name__: {k: tuple(v.shape) for k, v in f().state_dict().items()}
                  for f in (resnext101_32x8d, resnext101_32x16d, resnext101_64x4d)}
    # layer1 inner width = int(64 * base_width / 64) * groups, each group sees base_width
    # input channels of the grouped 3x3 convolution.
    assert shapes["resnext101_32x8d"]["layer1.0.conv2.weight"] == (256, 8, 3, 3)
    assert shapes["resnext101_32x16d"]["layer1.0.conv2.weight"] == (512, 16, 3, 3)
    assert shapes["resnext101_64x4d"]["layer1.0.conv2.weight"] == (256, 4, 3, 3)
    # layer4 inner width = 512 * base_width / 64 * groups.
    assert shapes["resnext101_32x16d"]["layer4.2.conv3.weight"] == (2048, 4096, 1, 1)
    for state in shapes.values():
        assert "layer3.22.bn3.running_mean" in state and "fc.weight" not in state


def test_res2net_keys_follow_the_release():
    with torch.device("meta"):
        shapes = {k: tuple(v.shape) for k, v in res2net101_26w_4s().state_dict().items()}
    # layer1: width floor(64 * 26 / 64) = 26, 4 splits -> conv1 to 104 channels, three
    # 3x3 convolutions on 26 channels, conv3 to 256.
    assert shapes["layer1.0.conv1.weight"] == (104, 64, 1, 1)
    assert shapes["layer1.0.convs.2.weight"] == (26, 26, 3, 3)
    assert shapes["layer1.0.bns.0.running_var"] == (26,)
    assert shapes["layer1.0.conv3.weight"] == (256, 104, 1, 1)
    assert shapes["layer1.0.downsample.0.weight"] == (256, 64, 1, 1)
    # layer4: width floor(512 * 26 / 64) = 208.
    assert shapes["layer4.2.convs.0.weight"] == (208, 208, 3, 3)
    assert "layer3.22.bns.2.weight" in shapes
    assert not {"layer1.0.convs.3.weight", "layer1.0.conv2.weight", "fc.weight"} & set(shapes)


def test_efficientnet_b4_keys_follow_torchvision():
    with torch.device("meta"):
        net = efficientnet_b4()
    shapes = {k: tuple(v.shape) for k, v in net.state_dict().items()}
    assert [len(net.features[i]) for i in range(1, 8)] == [2, 4, 4, 6, 6, 8, 2]
    assert shapes["features.0.0.weight"] == (48, 3, 3, 3)
    assert shapes["features.0.1.running_mean"] == (48,)
    # Stage 1 (expansion 1): depthwise 3x3 first, no expansion convolution.
    assert shapes["features.1.0.block.0.0.weight"] == (48, 1, 3, 3)
    assert shapes["features.1.0.block.1.fc1.weight"] == (12, 48, 1, 1)  # 48 // 4
    assert shapes["features.1.0.block.2.0.weight"] == (24, 48, 1, 1)
    # Stage 2, first block: 24 -> 6 * 24 = 144 expansion, depthwise 3x3,
    # SE to 24 // 4 = 6.
    assert shapes["features.2.0.block.0.0.weight"] == (144, 24, 1, 1)
    assert shapes["features.2.0.block.1.0.weight"] == (144, 1, 3, 3)
    assert shapes["features.2.0.block.2.fc1.weight"] == (6, 144, 1, 1)
    assert shapes["features.2.0.block.2.fc2.bias"] == (144,)
    assert shapes["features.2.0.block.3.1.weight"] == (32,)
    # Stage 6 (272 channels, 5x5) and the head 448 -> 1792.
    assert shapes["features.6.7.block.1.0.weight"] == (1632, 1, 5, 5)
    assert shapes["features.8.0.weight"] == (1792, 448, 1, 1)
    assert not {"features.9.0.weight", "classifier.1.weight", "features.1.0.block.3.0.weight"
                } & set(shapes)


def test_make_divisible_by_hand():
    # B4's widths: 32, 16, 112, 192 x 1.4 = 44.8, 22.4, 156.8, 268.8.
    assert [make_divisible(v) for v in (44.8, 22.4, 156.8, 268.8)] == [48, 24, 160, 272]
    # 27 rounds to 24, which loses over 10%, so one more step: 32.
    assert make_divisible(27) == 32
    assert make_divisible(3) == 8


@pytest.mark.parametrize("arch", NEW_ARCHS)
def test_build_model_and_last_stride_at_64px(arch):
    channels = 1792 if arch == "efficientnet_b4" else 2048
    with torch.device("meta"):
        for last_stride, side in ((2, 2), (1, 4)):  # output stride 32 vs 16
            model = build_model(arch, 7, last_stride=last_stride).eval()
            assert model.config["arch"] == arch
            assert model.backbone.out_channels == channels
            feature_map = model.backbone(torch.empty(2, 3, 64, 64))
            assert tuple(feature_map.shape) == (2, channels, side, side)
            assert tuple(model(torch.empty(2, 3, 64, 64)).shape) == (2, channels)


def test_efficientnet_last_stride_moves_only_the_last_downsampling_stage():
    with torch.device("meta"):
        strides = {ls: [stage[0].block[1 if i > 0 else 0][0].stride[0]
                        for i, stage in enumerate(efficientnet_b4(last_stride=ls).features[1:8])]
                   for ls in (1, 2)}
    assert strides[2] == [1, 2, 2, 2, 1, 2, 1]
    assert strides[1] == [1, 2, 2, 2, 1, 1, 1]


def test_real_forward_of_res2net_and_efficientnet():
    torch.manual_seed(0)
    x = torch.randn(1, 3, 64, 64)
    for arch, channels in (("res2net101_26w_4s", 2048), ("efficientnet_b4", 1792)):
        model = build_model(arch, 5).eval()
        with torch.no_grad():
            emb = model(x)
        assert emb.shape == (1, channels) and torch.isfinite(emb).all()


@pytest.mark.parametrize("arch", ["res2net", "efficientnet"])
def test_small_variants_train(arch):
    torch.manual_seed(0)
    net = small(arch).train()
    out = net(torch.randn(2, 3, 64, 64))
    assert out.shape == (2, 128 if arch == "res2net" else 320, 2, 2)
    out.square().mean().backward()
    assert all(p.grad is not None for p in net.parameters())


@pytest.mark.parametrize("first", [False, True], ids=["hierarchical", "stage-first"])
def test_bottle2neck_matches_hand_composition(first):
    torch.manual_seed(0)
    downsample = nn.Sequential(nn.Conv2d(16, 16, 1, bias=False), nn.BatchNorm2d(16))
    block = Bottle2neck(16, 4, downsample=downsample if first else None,
                        base_width=32, scale=4).eval()  # width 4 * 32 // 64 = 2
    x = torch.randn(2, 16, 5, 5)

    def branch(i: int, t: torch.Tensor) -> torch.Tensor:
        return torch.relu(block.bns[i](block.convs[i](t)))

    with torch.no_grad():
        got = block(x)
        s = torch.split(torch.relu(block.bn1(block.conv1(x))), 2, dim=1)
        if first:  # every split on its own, the last one average-pooled
            y = [branch(0, s[0]), branch(1, s[1]), branch(2, s[2]),
                 nn.functional.avg_pool2d(s[3], 3, stride=1, padding=1)]
        else:  # hierarchical: each split adds the previous output
            y1 = branch(0, s[0])
            y2 = branch(1, s[1] + y1)
            y = [y1, y2, branch(2, s[2] + y2), s[3]]
        expected = block.bn3(block.conv3(torch.cat(y, dim=1)))
        expected = torch.relu(expected + (downsample(x) if first else x))
    torch.testing.assert_close(got, expected)


def test_bottle2neck_rejects_resnet_options():
    with pytest.raises(ValueError, match="ibn=True"):
        ResNet(Bottle2neck, (1, 1, 1, 1), base_width=26, ibn=True)
    with pytest.raises(ValueError, match="scale must be >= 2"):
        Bottle2neck(16, 4, scale=1)


def test_mbconv_stochastic_depth_drops_whole_samples():
    torch.manual_seed(0)
    block = MBConv(8, 8, expand_ratio=6, kernel=3, stride=1, stochastic_depth_prob=0.5)
    x = torch.randn(64, 8, 4, 4)
    with torch.no_grad():
        branch = block.block.train()(x)
        block.train()
        torch.manual_seed(1)
        out = block(x)
        # Each sample is x (branch dropped) or x + branch / 0.5 (kept, rescaled); the
        # BatchNorm statistics are those of the same batch in both calls.
        kept = [torch.allclose(out[i], x[i] + 2 * branch[i], atol=1e-5) for i in range(64)]
        dropped = [torch.equal(out[i], x[i]) for i in range(64)]
        assert all(k != d for k, d in zip(kept, dropped))
        assert 10 < sum(kept) < 54
        block.eval()
        torch.testing.assert_close(block(x), x + block.block(x))
    assert not MBConv(8, 16, expand_ratio=6, kernel=3, stride=1,
                      stochastic_depth_prob=0.5).use_residual


def test_efficientnet_stochastic_depth_schedule_and_errors():
    with torch.device("meta"):
        net = efficientnet_b4(stochastic_depth_prob=0.32)
    probs = [block.stochastic_depth_prob for stage in net.features[1:8] for block in stage]
    assert len(probs) == 32
    assert probs[0] == 0 and probs[1] == pytest.approx(0.01) and probs[-1] == pytest.approx(0.31)
    with pytest.raises(ValueError, match="stochastic_depth_prob"):
        EfficientNet(1.0, 1.0, stochastic_depth_prob=1.0)
    with pytest.raises(TypeError, match="stochastic_depth_prob"):
        EfficientNet(1.0, 1.0, stochastic_depth_prob="0.2")
    with pytest.raises(ValueError, match="last_stride"):
        build_model("efficientnet_b4", 3, last_stride=4)


@pytest.mark.parametrize("arch, classifier", [
    ("resnext", {"fc.weight": (1000, 128), "fc.bias": (1000,)}),
    ("res2net", {"fc.weight": (1000, 128), "fc.bias": (1000,)}),
    ("efficientnet", {"classifier.1.weight": (1000, 320), "classifier.1.bias": (1000,)}),
])
def test_state_dict_round_trip_with_release_classifier(tmp_path, arch, classifier):
    source = small(arch)
    assert classifier[next(iter(classifier))][1] == source.out_channels
    state = random_state(source, seed=7)
    path = tmp_path / f"{arch}.pth"
    torch.save(dict(state, **{k: torch.rand(shape) for k, shape in classifier.items()}), path)
    target = small(arch)
    assert load_pretrained(target, path) == ([], [])
    own = target.state_dict()
    assert all(torch.equal(own[k], v) for k, v in state.items())


def test_efficientnet_b4_round_trip_at_full_size(tmp_path):
    state = random_state(efficientnet_b4(), seed=8)
    path = tmp_path / "efficientnet_b4.pth"
    torch.save(dict(state, **{"classifier.1.weight": torch.rand(1000, 1792),
                              "classifier.1.bias": torch.rand(1000)}), path)
    model = build_model("efficientnet_b4", 3, pretrained=path)
    own = model.backbone.state_dict()
    assert all(torch.equal(own[k], v) for k, v in state.items())
