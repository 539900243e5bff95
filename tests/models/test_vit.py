"""Tests of reid_fast.models.vit: ViT-S/B against timm's published parameter counts and
key names, patch grids (overlapping included), position-embedding resizing against hand
cases and F.interpolate, the side-information embedding, loading a 224 x 224 timm-layout
state dict into a 256 x 256 model, and the builder's registration.

ViT-B is only built on the meta device; forward passes use ViT-S at 64 x 64 (a 4 x 4
grid) or a one- or two-block ViT of width 32.
"""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from reid_fast.models import (
    ModelOutput,
    ReidModel,
    VisionTransformer,
    build_head,
    build_model,
    build_pooling,
    resize_pos_embed,
    vit_base_patch16,
    vit_small_patch16,
)
from reid_fast.models.vit import patch_grid


def n_params(module: nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


def tiny_vit(**options) -> VisionTransformer:
    """A ViT of width 32, one block, 2 heads, at 32 x 32 (2 x 2 patches) unless told."""
    torch.manual_seed(0)
    return VisionTransformer(**{"dim": 32, "depth": 1, "num_heads": 2, "image_size": (32, 32),
                                **options}).eval()


# ---------------------------------------------------------------------------------------
# Parameter counts and key names
# ---------------------------------------------------------------------------------------

# timm's parameter counts of its ImageNet-1k classifiers at 224 x 224 (sum of
# numel over timm.create_model(name).parameters(), the "Params (M)" 86.6 / 22.1 of the
# timm model cards), 1000-way head included.
TIMM_PARAMS = {
    vit_base_patch16: 86_567_656,  # vit_base_patch16_224
    vit_small_patch16: 22_050_664,  # vit_small_patch16_224
}


@pytest.mark.parametrize("factory", list(TIMM_PARAMS), ids=lambda f: f.__name__)
def test_parameter_count_matches_timm(factory):
    with torch.device("meta"):
        backbone = factory(image_size=(224, 224))
    head = backbone.out_channels * 1000 + 1000
    assert n_params(backbone) + head == TIMM_PARAMS[factory]


def test_position_embeddings_follow_the_grid():
    # Only pos_embed depends on the input size: one D-vector per patch plus the class token.
    with torch.device("meta"):
        at_224 = vit_base_patch16(image_size=(224, 224))
        at_256 = vit_base_patch16()  # 256 x 256: 16 x 16 patches
        overlapping = vit_base_patch16(stride_size=12)  # (256 - 16) // 12 + 1 = 21 per side
    assert at_224.pos_embed.shape == (1, 1 + 14 * 14, 768)
    assert at_256.pos_embed.shape == (1, 1 + 16 * 16, 768)
    assert overlapping.pos_embed.shape == (1, 1 + 21 * 21, 768)
    assert n_params(at_256) - n_params(at_224) == (256 - 196) * 768
    assert at_256.out_channels == 768 and at_256.grid_size == (16, 16)


def test_patch_grid():
    assert patch_grid((224, 224), 16, 16) == (14, 14)
    assert patch_grid((64, 64), 16, 16) == (4, 4)
    assert patch_grid((64, 64), 16, 12) == (5, 5)  # (64 - 16) // 12 + 1
    # TransReID's person input 256 x 128 with stride 12: 21 x 10 = 210 patches.
    assert patch_grid((256, 128), 16, 12) == (21, 10)
    with pytest.raises(ValueError, match="image_size must be at least the patch size 16"):
        patch_grid((256, 8), 16, 16)


def test_state_dict_keys_are_timms():
    with torch.device("meta"):
        keys = vit_base_patch16().state_dict()
    block = ["norm1.weight", "norm1.bias", "attn.qkv.weight", "attn.qkv.bias",
             "attn.proj.weight", "attn.proj.bias", "norm2.weight", "norm2.bias",
             "mlp.fc1.weight", "mlp.fc1.bias", "mlp.fc2.weight", "mlp.fc2.bias"]
    expected = (["cls_token", "pos_embed", "patch_embed.proj.weight", "patch_embed.proj.bias"]
                + [f"blocks.{i}.{name}" for i in range(12) for name in block]
                + ["norm.weight", "norm.bias"])
    assert sorted(keys) == sorted(expected)
    shapes = {
        "cls_token": (1, 1, 768), "patch_embed.proj.weight": (768, 3, 16, 16),
        "blocks.0.attn.qkv.weight": (2304, 768), "blocks.11.mlp.fc1.weight": (3072, 768),
        "blocks.11.mlp.fc2.weight": (768, 3072), "norm.weight": (768,),
    }
    for key, shape in shapes.items():
        assert keys[key].shape == shape, key
    # SIE tables are extra keys, present only when asked for.
    with torch.device("meta"):
        sie = vit_small_patch16(num_cameras=20, num_views=8)
    assert sie.state_dict()["camera_embed"].shape == (20, 384)
    assert sie.state_dict()["view_embed"].shape == (8, 384)


def test_layer_norms_and_initialisation():
    torch.manual_seed(0)
    net = vit_small_patch16(image_size=(64, 64))
    norms = [m for m in net.modules() if isinstance(m, nn.LayerNorm)]
    assert len(norms) == 2 * 12 + 1 and all(m.eps == 1e-6 for m in norms)
    act = net.blocks[0].mlp.act
    assert isinstance(act, nn.GELU) and act.approximate == "none"
    fc1 = net.blocks[3].mlp.fc1
    assert abs(fc1.weight.std().item() - 0.02) < 0.002 and torch.all(fc1.bias == 0)
    assert abs(net.pos_embed.std().item() - 0.02) < 0.002
    assert net.blocks[0].attn.qkv.bias is not None


# ---------------------------------------------------------------------------------------
# Forward
# ---------------------------------------------------------------------------------------

def test_vit_small_forward_shape_and_poolings():
    torch.manual_seed(0)
    net = vit_small_patch16(image_size=(64, 64)).eval()
    assert net.grid_size == (4, 4)
    images = torch.randn(2, 3, 64, 64)
    with torch.no_grad():
        out = net(images)
        assert out.shape == (2, 384, 1, 1)
        assert torch.equal(build_pooling("avg")(out), out[:, :, 0, 0])
        assert torch.equal(build_pooling("max")(out), out[:, :, 0, 0])
        assert torch.allclose(net(images.contiguous(memory_format=torch.channels_last)), out,
                              atol=1e-5)


def test_overlapping_patches_forward():
    torch.manual_seed(0)
    net = vit_small_patch16(image_size=(64, 64), stride_size=12).eval()
    assert net.grid_size == (5, 5) and net.pos_embed.shape == (1, 26, 384)
    with torch.no_grad():
        assert net.patch_embed(torch.zeros(1, 3, 64, 64)).shape == (1, 384, 5, 5)
        assert net(torch.randn(1, 3, 64, 64)).shape == (1, 384, 1, 1)


def test_the_class_token_is_the_output():
    # With the blocks' residual branches switched off (zero output projections), the
    # output is LayerNorm(cls_token + pos_embed[0]), whatever the image.
    net = tiny_vit()
    with torch.no_grad():
        for block in net.blocks:
            for linear in (block.attn.proj, block.mlp.fc2):
                linear.weight.zero_()
                linear.bias.zero_()
        expected = net.norm(net.cls_token[0, 0] + net.pos_embed[0, 0])
        out = net(torch.randn(3, 3, 32, 32))
    assert torch.allclose(out[:, :, 0, 0], expected.expand(3, -1), atol=1e-6)


def test_other_input_sizes_use_resized_position_embeddings():
    net = tiny_vit()  # built for 32 x 32: 2 x 2 patches
    images = torch.randn(2, 3, 48, 80)  # 3 x 5 patches
    same = tiny_vit(image_size=(48, 80))
    same.load_state_dict({**net.state_dict(),
                          "pos_embed": resize_pos_embed(net.pos_embed, (3, 5), (2, 2))})
    with torch.no_grad():
        assert torch.allclose(net(images), same(images), atol=1e-6)
    with pytest.raises(ValueError, match="at least 16 pixels"):
        net(torch.randn(1, 3, 15, 32))
    with pytest.raises(ValueError, match=r"images must be \(B, 3, H, W\)"):
        net(torch.randn(1, 1, 32, 32))


# ---------------------------------------------------------------------------------------
# Position-embedding resizing
# ---------------------------------------------------------------------------------------

def test_resizing_a_constant_grid_keeps_it_constant():
    pos = torch.full((1, 1 + 14 * 14, 8), 0.25)
    pos[0, 0] = -1.0  # the class token's row
    resized = resize_pos_embed(pos, (16, 8))
    assert resized.shape == (1, 1 + 16 * 8, 8)
    assert torch.equal(resized[0, 0], torch.full((8,), -1.0))
    assert torch.allclose(resized[:, 1:], torch.full((1, 128, 8), 0.25), atol=1e-6)


def test_resizing_matches_interpolate_on_the_grid():
    torch.manual_seed(0)
    pos = torch.randn(1, 1 + 14 * 14, 6)
    grid = pos[:, 1:].reshape(1, 14, 14, 6).permute(0, 3, 1, 2)
    expected = F.interpolate(grid, size=(16, 16), mode="bicubic", align_corners=False)
    resized = resize_pos_embed(pos, (16, 16))
    assert torch.equal(resized[:, :1], pos[:, :1])
    assert torch.allclose(resized[:, 1:].reshape(1, 16, 16, 6).permute(0, 3, 1, 2), expected,
                          atol=1e-6)


def test_resizing_keeps_row_major_order():
    # A 2 x 3 grid whose value is the column index: resizing the rows only (2 -> 5) keeps
    # every row [0, 1, 2]; a transposed reshape would mix the columns.
    pos = torch.tensor([0.0, 0, 1, 2, 0, 1, 2]).reshape(1, 7, 1)
    resized = resize_pos_embed(pos, (5, 3), old_grid=(2, 3))
    assert torch.allclose(resized[0, 1:, 0], torch.tensor([0.0, 1, 2] * 5), atol=1e-6)
    assert resize_pos_embed(pos, (2, 3), (2, 3)) is pos


def test_resize_pos_embed_errors():
    pos = torch.zeros(1, 1 + 6, 4)
    with pytest.raises(ValueError, match="6 patch positions, not a square grid: pass old_grid"):
        resize_pos_embed(pos, (4, 4))
    with pytest.raises(ValueError, match=r"old_grid \(2, 2\) does not hold the 6"):
        resize_pos_embed(pos, (4, 4), (2, 2))
    with pytest.raises(ValueError, match=r"pos_embed must be \(1, 1 \+ N, D\)"):
        resize_pos_embed(torch.zeros(7, 4), (4, 4))
    with pytest.raises(TypeError, match="grid must be a pair"):
        resize_pos_embed(pos, 4, (2, 3))


# ---------------------------------------------------------------------------------------
# Loading a timm-layout 224 x 224 state dict
# ---------------------------------------------------------------------------------------

def timm_layout_state_dict(dim: int, depth: int, num_heads: int) -> dict[str, torch.Tensor]:
    """What timm's ``vit_*_patch16_224`` state dict holds (same key names and shapes:
    14 x 14 position grid, 1000-way ``head``), with random values."""
    torch.manual_seed(1)
    source = VisionTransformer(dim=dim, depth=depth, num_heads=num_heads, image_size=(224, 224))
    state = {k: torch.randn_like(v) for k, v in source.state_dict().items()}
    state["head.weight"] = torch.randn(1000, dim)
    state["head.bias"] = torch.randn(1000)
    return state


def test_a_224_state_dict_loads_into_a_256_model():
    state = timm_layout_state_dict(32, 2, 2)
    assert state["pos_embed"].shape == (1, 197, 32)
    net = tiny_vit(depth=2, image_size=(256, 256))
    result = net.load_state_dict(state, strict=False)
    assert result.missing_keys == [] and sorted(result.unexpected_keys) == ["head.bias",
                                                                             "head.weight"]
    loaded = net.state_dict()
    assert torch.equal(loaded["pos_embed"], resize_pos_embed(state["pos_embed"], (16, 16)))
    for key in ("cls_token", "patch_embed.proj.weight", "blocks.1.attn.qkv.weight", "norm.bias"):
        assert torch.equal(loaded[key], state[key]), key
    assert state["pos_embed"].shape == (1, 197, 32)  # the caller's dict is left alone


def tiny_reid_model(**options) -> ReidModel:
    backbone = tiny_vit(**options)
    return ReidModel(backbone, build_pooling("avg"), build_head("bnneck", 32, 4)).eval()


def test_a_224_state_dict_loads_into_a_reid_model_at_256():
    # ReidModel.load_state_dict reaches the backbone's hook with the "backbone." prefix.
    state = timm_layout_state_dict(32, 1, 2)
    model = tiny_reid_model(image_size=(256, 256))
    result = model.load_state_dict({f"backbone.{k}": v for k, v in state.items()
                                    if not k.startswith("head.")}, strict=False)
    assert all(not k.startswith("backbone.") for k in result.missing_keys)
    assert torch.equal(model.backbone.pos_embed.detach(),
                       resize_pos_embed(state["pos_embed"], (16, 16)))


def test_adapt_state_dict_for_loaders_that_check_shapes_first():
    state = timm_layout_state_dict(32, 1, 2)
    net = tiny_vit(image_size=(64, 48))  # 4 x 3 patches
    pos = state["pos_embed"]
    adapted = net.adapt_state_dict(dict(state))
    assert torch.equal(adapted["pos_embed"], resize_pos_embed(pos, (4, 3)))
    assert all(adapted[k] is state[k] for k in state if k != "pos_embed")
    same = {"backbone.pos_embed": net.pos_embed.detach()}
    assert net.adapt_state_dict(same, "backbone.")["backbone.pos_embed"] is same[
        "backbone.pos_embed"]


def test_load_pretrained_takes_a_224_timm_file_into_a_256_model(tmp_path):
    # The loader checks shapes before load_state_dict: it adapts the position embeddings
    # first, and leaves timm's classifier ("head.") out.
    from reid_fast.models.pretrained import load_pretrained

    state = timm_layout_state_dict(32, 1, 2)
    torch.save(state, tmp_path / "vit224.pth")
    model = tiny_reid_model(image_size=(256, 256))
    load_pretrained(model, tmp_path / "vit224.pth")
    assert torch.equal(model.backbone.pos_embed.detach(),
                       resize_pos_embed(state["pos_embed"], (16, 16)))
    assert torch.equal(model.backbone.cls_token.detach(), state["cls_token"])


def test_a_non_square_grid_of_another_size_is_a_size_mismatch():
    net = tiny_vit()
    state = {**net.state_dict(), "pos_embed": torch.zeros(1, 1 + 6, 32)}
    with pytest.raises(RuntimeError, match="size mismatch for pos_embed"):
        net.load_state_dict(state)


# ---------------------------------------------------------------------------------------
# Side-information embedding
# ---------------------------------------------------------------------------------------

def without_sie(net: VisionTransformer) -> dict[str, torch.Tensor]:
    return {k: v for k, v in net.state_dict().items() if k not in ("camera_embed", "view_embed")}


def test_sie_changes_the_output_only_when_given():
    net = tiny_vit(num_cameras=3, num_views=2)
    images = torch.randn(2, 3, 32, 32)
    cameras, views = torch.tensor([0, 2]), torch.tensor([1, 1])
    with torch.no_grad():
        plain = net(images)
        no_tables = tiny_vit()
        no_tables.load_state_dict(without_sie(net))
        assert torch.equal(no_tables(images), plain)
        with_cameras = net(images, cameras=cameras)
        with_both = net(images, cameras=cameras, views=views)
        with net.side_info(cameras, views):
            in_context = net(images)
            explicit = net(images, views=views)  # explicit arguments replace the context
        after = net(images)
    assert not torch.allclose(with_cameras, plain) and not torch.allclose(with_both, with_cameras)
    assert torch.equal(in_context, with_both)
    assert torch.equal(explicit, net(images, views=views))
    assert torch.equal(after, plain)


def test_sie_adds_the_weighted_rows_to_every_token():
    # Camera c and view v add sie_coef * (camera_embed[c] + view_embed[v]) to every token,
    # class token included: the same as adding it to every row of pos_embed.
    net = tiny_vit(num_cameras=3, num_views=2, sie_coef=0.5)
    shift = 0.5 * (net.camera_embed[2] + net.view_embed[1]).detach()
    state = without_sie(net)
    state["pos_embed"] = state["pos_embed"] + shift
    shifted = tiny_vit()
    shifted.load_state_dict(state)
    images = torch.randn(2, 3, 32, 32)
    with torch.no_grad():
        out = net(images, cameras=torch.tensor([2, 2]), views=torch.tensor([1, 1]))
        assert torch.allclose(out, shifted(images), atol=1e-5)


def test_sie_through_reid_model():
    model = tiny_reid_model(num_cameras=2)
    images = torch.randn(2, 3, 32, 32)
    cameras = torch.tensor([0, 1])
    with torch.no_grad():
        plain = model(images)
        with model.backbone.side_info(cameras=cameras):
            with_cameras = model(images)
        expected = model.head(model.backbone(images, cameras=cameras)[:, :, 0, 0])
    assert with_cameras.shape == plain.shape == (2, 32)
    assert not torch.allclose(with_cameras, plain) and torch.equal(with_cameras, expected)


def test_sie_errors():
    net = tiny_vit(num_cameras=3)
    images = torch.randn(2, 3, 32, 32)
    with pytest.raises(ValueError, match="views given, but the backbone has no views embedding: "
                                         "build it with num_views > 0"):
        net(images, views=torch.tensor([0, 1]))
    with pytest.raises(TypeError, match="cameras must be an int64 tensor, got torch.int32"):
        net(images, cameras=torch.tensor([0, 1], dtype=torch.int32))
    with pytest.raises(TypeError, match="cameras must be an int64 tensor, got list"):
        net(images, cameras=[0, 1])
    with pytest.raises(ValueError, match=r"cameras must have shape \(2,\) \(one per image\), "
                                         r"got \(3,\)"):
        net(images, cameras=torch.tensor([0, 1, 2]))
    with pytest.raises(ValueError, match=r"cameras must be in \[0, 3\), got values 0..3"):
        net(images, cameras=torch.tensor([0, 3]))
    with pytest.raises(ValueError, match="num_cameras must be >= 0"):
        tiny_vit(num_cameras=-1)


# ---------------------------------------------------------------------------------------
# Builder and argument checks
# ---------------------------------------------------------------------------------------

def test_build_model_with_a_vit():
    model = build_model("vit_small_patch16", 5, image_size=(64, 64), stride_size=12,
                        num_cameras=3, num_views=2, sie_coef=1.5)
    backbone = model.backbone
    assert backbone.grid_size == (5, 5) and model.embedding_dim == 384
    assert (backbone.num_cameras, backbone.num_views, backbone.sie_coef) == (3, 2, 1.5)
    images = torch.randn(2, 3, 64, 64)
    out = model.train()(images)
    assert isinstance(out, ModelOutput) and out.logits.shape == (2, 5)
    rebuilt = build_model(**model.config)
    assert rebuilt.backbone.grid_size == (5, 5) and rebuilt.config == model.config


def test_vit_argument_checks():
    with pytest.raises(ValueError, match="last_stride does not apply to ViT backbones"):
        build_model("vit_small_patch16", 3, last_stride=2)
    with pytest.raises(ValueError, match="ibn=True needs a ResNet arch"):
        build_model("vit_small_patch16", 3, ibn=True)
    with pytest.raises(ValueError, match=r"stride_size must be between 1 and patch_size \(16\)"):
        vit_small_patch16(stride_size=17)
    with pytest.raises(ValueError, match="image_size must be at least the patch size 16"):
        vit_small_patch16(image_size=(256, 12))
    with pytest.raises(TypeError, match="image_size must be a pair"):
        vit_small_patch16(image_size=256)
    with pytest.raises(ValueError, match=r"dim must be a multiple of num_heads \(5\)"):
        VisionTransformer(dim=32, depth=1, num_heads=5)
