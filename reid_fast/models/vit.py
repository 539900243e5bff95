"""Vision Transformer backbones (Dosovitskiy et al. 2021, "An image is worth 16x16
words") as TransReID (He et al., ICCV 2021) uses them for re-ID: optionally overlapping
patches (``stride_size`` < 16), position embeddings at the re-ID input size, and the
side-information embedding (SIE) of cameras and viewpoints.

State-dict keys are timm's (``patch_embed.proj``, ``cls_token``, ``pos_embed``,
``blocks.N.norm1`` / ``attn.qkv`` / ``attn.proj`` / ``norm2`` / ``mlp.fc1`` / ``mlp.fc2``,
``norm``), so timm's ImageNet ``vit_*_patch16_224`` weights load; a checkpoint's
``pos_embed`` of another (square) grid is resized on load with :func:`resize_pos_embed`.
The backbones have no classifier: ``forward`` returns the class token (TransReID's global
feature) as a (B, D, 1, 1) map, so the heads work unchanged; build them with ``pool="avg"``
(or ``"max"``): both are the identity on it, while ``"avgmax"`` doubles it and ``"gem"``
clamps it at its eps (dropping the negative half of a LayerNorm output).
"""

from __future__ import annotations

import math
from contextlib import contextmanager
from typing import Any, Iterator, MutableMapping, Sequence

import torch
import torch.nn.functional as F
from torch import nn

from .. import validation

PATCH_SIZE = 16
"""Side of a patch (the patch embedding's kernel) of the ``*_patch16`` backbones."""

SIE_COEF = 3.0
"""TransReID's default weight (lambda) of the side-information embedding."""


def patch_grid(image_size: Sequence[int], patch_size: int, stride: int) -> tuple[int, int]:
    """(rows, columns) of patches a ``patch_size`` convolution with ``stride`` and no
    padding takes from (H, W) images: ``((H - patch_size) // stride + 1, (W - ...) ...)``
    (224 x 224, patch 16, stride 16: 14 x 14; stride 12: 18 x 18)."""
    height, width = validation.size_hw("image_size", image_size)
    if min(height, width) < patch_size:
        raise ValueError(f"image_size must be at least the patch size {patch_size} on each "
                         f"side, got {(height, width)}")
    return (height - patch_size) // stride + 1, (width - patch_size) // stride + 1


def resize_pos_embed(pos_embed: torch.Tensor, grid: Sequence[int],
                     old_grid: Sequence[int] | None = None) -> torch.Tensor:
    """Position embeddings of another patch grid: the class token's row kept, the
    (old_rows, old_columns) grid of the others resized bicubically (``align_corners=False``,
    computed in float32) to ``grid`` = (rows, columns).

    Args:
        pos_embed: (1, 1 + old_rows * old_columns, D), row-major patch order.
        grid: the new (rows, columns).
        old_grid: the grid of ``pos_embed``; None = square (the token count minus one
            must then be a square, as in every ImageNet checkpoint).

    Returns:
        (1, 1 + rows * columns, D) in ``pos_embed``'s dtype and device; ``pos_embed``
        itself when the grids agree.
    """
    if pos_embed.dim() != 3 or pos_embed.shape[0] != 1 or pos_embed.shape[1] < 2:
        raise ValueError(f"pos_embed must be (1, 1 + N, D) with N >= 1, got shape "
                         f"{tuple(pos_embed.shape)}")
    rows, columns = validation.size_hw("grid", grid)
    tokens = pos_embed.shape[1] - 1
    if old_grid is None:
        side = math.isqrt(tokens)
        if side * side != tokens:
            raise ValueError(f"pos_embed has {tokens} patch positions, not a square grid: "
                             "pass old_grid")
        old_grid = (side, side)
    old_rows, old_columns = validation.size_hw("old_grid", old_grid)
    if old_rows * old_columns != tokens:
        raise ValueError(f"old_grid {(old_rows, old_columns)} does not hold the {tokens} patch "
                         "positions of pos_embed")
    if (old_rows, old_columns) == (rows, columns):
        return pos_embed
    dim = pos_embed.shape[2]
    patches = pos_embed[:, 1:].float().reshape(1, old_rows, old_columns, dim).permute(0, 3, 1, 2)
    patches = F.interpolate(patches, size=(rows, columns), mode="bicubic", align_corners=False)
    patches = patches.permute(0, 2, 3, 1).reshape(1, rows * columns, dim)
    return torch.cat((pos_embed[:, :1], patches.to(pos_embed.dtype)), dim=1)


class PatchEmbed(nn.Module):
    """``proj``: Conv2d(3, D, patch_size, stride), (B, 3, H, W) -> (B, D, rows, columns)
    (see :func:`patch_grid`); stride < patch_size overlaps the patches (TransReID)."""

    def __init__(self, dim: int, patch_size: int, stride: int) -> None:
        super().__init__()
        self.proj = nn.Conv2d(3, dim, kernel_size=patch_size, stride=stride)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return self.proj(images)


class Attention(nn.Module):
    """Multi-head self-attention: ``qkv`` Linear(D, 3D) with bias, softmax(q k^T /
    sqrt(D / num_heads)) v per head, ``proj`` Linear(D, D). (B, N, D) -> (B, N, D)."""

    def __init__(self, dim: int, num_heads: int) -> None:
        super().__init__()
        self.num_heads = num_heads
        self.qkv = nn.Linear(dim, 3 * dim)
        self.proj = nn.Linear(dim, dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        batch, tokens, dim = x.shape
        qkv = self.qkv(x).reshape(batch, tokens, 3, self.num_heads, dim // self.num_heads)
        q, k, v = qkv.permute(2, 0, 3, 1, 4)  # each (B, heads, N, D / heads)
        x = F.scaled_dot_product_attention(q, k, v)
        return self.proj(x.transpose(1, 2).reshape(batch, tokens, dim))


class Mlp(nn.Module):
    """``fc1`` Linear(D, hidden) -> GELU (exact) -> ``fc2`` Linear(hidden, D)."""

    def __init__(self, dim: int, hidden: int) -> None:
        super().__init__()
        self.fc1 = nn.Linear(dim, hidden)
        self.act = nn.GELU()
        self.fc2 = nn.Linear(hidden, dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc2(self.act(self.fc1(x)))


class Block(nn.Module):
    """Pre-norm transformer block: x + attn(norm1(x)), then + mlp(norm2(x)); LayerNorm
    eps 1e-6, MLP hidden width ``mlp_ratio * D``. (B, N, D) -> (B, N, D)."""

    def __init__(self, dim: int, num_heads: int, mlp_ratio: int) -> None:
        super().__init__()
        self.norm1 = nn.LayerNorm(dim, eps=1e-6)
        self.attn = Attention(dim, num_heads)
        self.norm2 = nn.LayerNorm(dim, eps=1e-6)
        self.mlp = Mlp(dim, mlp_ratio * dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x + self.attn(self.norm1(x))
        return x + self.mlp(self.norm2(x))


class VisionTransformer(nn.Module):
    """ViT trunk: patch embedding, class token, learned position embeddings, optional
    SIE, ``depth`` pre-norm blocks, final LayerNorm; the class token is the output.

    Args:
        dim: token width D (ViT-B 768, ViT-S 384).
        depth: number of blocks.
        num_heads: attention heads (D must be a multiple).
        mlp_ratio: MLP hidden width / D.
        image_size: (H, W) the position embeddings are built for (re-ID: 256 x 256
            vehicles, 256 x 128 persons; ImageNet 224 x 224).
        patch_size: patch side (the patch convolution's kernel).
        stride_size: the patch convolution's stride, 1..patch_size (TransReID's
            ``stride_size``; 12 with patch 16 = overlapping patches).
        num_cameras, num_views: SIE table sizes (0 = no such embedding).
        sie_coef: weight lambda of the side-information embedding.

    ``forward(images, cameras=None, views=None)``: images (B, 3, H, W) float ->
    (B, D, 1, 1), the normalised class token, same device and dtype (or the autocast
    dtype). Images of another size than ``image_size`` use the position embeddings
    resized to their grid on the fly (:func:`resize_pos_embed`; multi-scale test time).
    ``cameras`` / ``views``: (B,) int64 indices in [0, num_cameras) / [0, num_views);
    ``sie_coef * (camera_embed[cameras] + view_embed[views])`` (the terms given) is added
    to every token after the position embeddings. TransReID indexes one joint table by
    camera * num_views + view; here the two tables are separate and summed. Without
    either, nothing is added, even when the tables exist. For callers that only pass
    images (``ReidModel.forward``), :meth:`side_info` sets them for the forwards in a
    ``with`` block.

    ``out_channels`` = D. ``grid_size``: the (rows, columns) of ``image_size``.
    Loading a state dict whose ``pos_embed`` has another square grid (timm's 14 x 14 at
    224) resizes it to ``grid_size`` first (:meth:`adapt_state_dict`, a load-state-dict
    pre-hook); a non-square other grid is left to ``load_state_dict``'s size-mismatch
    error.
    """

    def __init__(
        self,
        *,
        dim: int,
        depth: int,
        num_heads: int,
        mlp_ratio: int = 4,
        image_size: Sequence[int] = (256, 256),
        patch_size: int = PATCH_SIZE,
        stride_size: int = PATCH_SIZE,
        num_cameras: int = 0,
        num_views: int = 0,
        sie_coef: float = SIE_COEF,
    ) -> None:
        super().__init__()
        dim = validation.integer("dim", dim, 1)
        depth = validation.integer("depth", depth, 1)
        num_heads = validation.integer("num_heads", num_heads, 1)
        if dim % num_heads:
            raise ValueError(f"dim must be a multiple of num_heads ({num_heads}), got {dim}")
        mlp_ratio = validation.integer("mlp_ratio", mlp_ratio, 1)
        patch_size = validation.integer("patch_size", patch_size, 1)
        stride_size = validation.integer("stride_size", stride_size, 1, patch_size,
                                         high_name="patch_size")
        self.num_cameras = validation.integer("num_cameras", num_cameras, 0)
        self.num_views = validation.integer("num_views", num_views, 0)
        self.sie_coef = validation.real("sie_coef", sie_coef)
        self.image_size = validation.size_hw("image_size", image_size)
        self.grid_size = patch_grid(self.image_size, patch_size, stride_size)
        self.patch_size = patch_size
        self.out_channels = dim

        self.patch_embed = PatchEmbed(dim, patch_size, stride_size)
        self.cls_token = nn.Parameter(torch.zeros(1, 1, dim))
        self.pos_embed = nn.Parameter(torch.zeros(1, 1 + math.prod(self.grid_size), dim))
        self.camera_embed = nn.Parameter(torch.zeros(num_cameras, dim)) if num_cameras else None
        self.view_embed = nn.Parameter(torch.zeros(num_views, dim)) if num_views else None
        self.blocks = nn.ModuleList(Block(dim, num_heads, mlp_ratio) for _ in range(depth))
        self.norm = nn.LayerNorm(dim, eps=1e-6)
        self._cameras: torch.Tensor | None = None
        self._views: torch.Tensor | None = None
        self._init_weights()
        self.register_load_state_dict_pre_hook(_resize_loaded_pos_embed)

    def _init_weights(self) -> None:
        """timm / TransReID: N(0, 0.02^2) class token, position and side embeddings and
        Linear weights (``trunc_normal_`` at its default bounds +-2, i.e. 100 std), zero
        Linear biases, LayerNorm 1 / 0; the patch convolution keeps PyTorch's default."""
        for param in (self.cls_token, self.pos_embed, self.camera_embed, self.view_embed):
            if param is not None:
                nn.init.trunc_normal_(param, std=0.02)
        for m in self.modules():
            if isinstance(m, nn.Linear):
                nn.init.trunc_normal_(m.weight, std=0.02)
                nn.init.zeros_(m.bias)
            elif isinstance(m, nn.LayerNorm):
                nn.init.ones_(m.weight)
                nn.init.zeros_(m.bias)

    def adapt_state_dict(self, state: MutableMapping[str, Any], prefix: str = ""
                         ) -> MutableMapping[str, Any]:
        """In place, and returned: a ``prefix + "pos_embed"`` entry of another square
        grid (timm's 14 x 14 at 224) resized to ``grid_size`` with
        :func:`resize_pos_embed`; every other entry, and a ``pos_embed`` of this shape or
        of a non-square grid, left as is. ``load_state_dict`` calls it (a pre-hook); a
        loader that checks shapes before ``load_state_dict`` calls it first."""
        key = prefix + "pos_embed"
        loaded = state.get(key)
        if not isinstance(loaded, torch.Tensor) or loaded.shape == self.pos_embed.shape:
            return state
        if loaded.dim() == 3 and loaded.shape[0] == 1 and loaded.shape[2] == self.out_channels:
            tokens = loaded.shape[1] - 1
            if tokens >= 1 and math.isqrt(tokens) ** 2 == tokens:
                state[key] = resize_pos_embed(loaded, self.grid_size)
        return state

    @contextmanager
    def side_info(self, cameras: torch.Tensor | None = None,
                  views: torch.Tensor | None = None) -> Iterator[None]:
        """Within the ``with`` block, ``forward`` calls given neither ``cameras`` nor
        ``views`` use these (checked at the forward, against its batch)::

            with model.backbone.side_info(cameras, views):
                output = model(images)  # ReidModel: images only

        The previous setting (none, or an outer block's) comes back on exit."""
        previous = self._cameras, self._views
        self._cameras, self._views = cameras, views
        try:
            yield
        finally:
            self._cameras, self._views = previous

    def _side_embedding(self, batch: int, cameras: torch.Tensor | None,
                        views: torch.Tensor | None) -> torch.Tensor | None:
        """(B, D) ``sie_coef`` * the sum of the given tables' rows, None when neither
        index is given."""
        terms = []
        for name, index, table in (("cameras", cameras, self.camera_embed),
                                   ("views", views, self.view_embed)):
            if index is None:
                continue
            if table is None:
                raise ValueError(f"{name} given, but the backbone has no {name} embedding: "
                                 f"build it with num_{name} > 0")
            if not isinstance(index, torch.Tensor) or index.dtype != torch.int64:
                raise TypeError(f"{name} must be an int64 tensor, got "
                                f"{getattr(index, 'dtype', type(index).__name__)}")
            if index.shape != (batch,):
                raise ValueError(f"{name} must have shape ({batch},) (one per image), got "
                                 f"{tuple(index.shape)}")
            if batch and (int(index.min()) < 0 or int(index.max()) >= len(table)):
                raise ValueError(f"{name} must be in [0, {len(table)}), got values "
                                 f"{int(index.min())}..{int(index.max())}")
            terms.append(table[index.to(table.device)])
        if not terms:
            return None
        return self.sie_coef * sum(terms)

    def forward(self, images: torch.Tensor, cameras: torch.Tensor | None = None,
                views: torch.Tensor | None = None) -> torch.Tensor:
        if images.dim() != 4 or images.shape[1] != 3:
            raise ValueError(f"images must be (B, 3, H, W), got shape {tuple(images.shape)}")
        if min(images.shape[2:]) < self.patch_size:
            raise ValueError(f"images must be at least {self.patch_size} pixels on each side, "
                             f"got {tuple(images.shape[2:])}")
        if cameras is None and views is None:
            cameras, views = self._cameras, self._views
        x = self.patch_embed(images)
        grid = tuple(x.shape[2:])
        x = x.flatten(2).transpose(1, 2)
        x = torch.cat((self.cls_token.expand(x.shape[0], -1, -1), x), dim=1)
        x = x + resize_pos_embed(self.pos_embed, grid, self.grid_size)
        side = self._side_embedding(x.shape[0], cameras, views)
        if side is not None:
            x = x + side[:, None]
        for block in self.blocks:
            x = block(x)
        return self.norm(x)[:, 0, :, None, None]


def _resize_loaded_pos_embed(module: VisionTransformer, state_dict: dict[str, Any], prefix: str,
                             *args: Any) -> None:
    """Load-state-dict pre-hook: :meth:`VisionTransformer.adapt_state_dict` on the copy
    of the state dict ``load_state_dict`` is loading."""
    module.adapt_state_dict(state_dict, prefix)


def _check_last_stride(last_stride: int) -> None:
    if last_stride != 1:
        raise ValueError(f"last_stride does not apply to ViT backbones (no strided last stage): "
                         f"keep the default 1, got {last_stride!r}")


def vit_base_patch16(*, last_stride: int = 1, image_size: Sequence[int] = (256, 256),
                     stride_size: int = PATCH_SIZE, num_cameras: int = 0, num_views: int = 0,
                     sie_coef: float = SIE_COEF) -> VisionTransformer:
    """ViT-B/16: D 768, 12 blocks, 12 heads (TransReID's backbone); 768 output channels.
    See :class:`VisionTransformer` for the options; ``last_stride`` must stay 1."""
    _check_last_stride(last_stride)
    return VisionTransformer(dim=768, depth=12, num_heads=12, image_size=image_size,
                             stride_size=stride_size, num_cameras=num_cameras,
                             num_views=num_views, sie_coef=sie_coef)


def vit_small_patch16(*, last_stride: int = 1, image_size: Sequence[int] = (256, 256),
                      stride_size: int = PATCH_SIZE, num_cameras: int = 0, num_views: int = 0,
                      sie_coef: float = SIE_COEF) -> VisionTransformer:
    """ViT-S/16 (timm's DeiT-S shape): D 384, 12 blocks, 6 heads; 384 output channels.
    See :class:`VisionTransformer` for the options; ``last_stride`` must stay 1."""
    _check_last_stride(last_stride)
    return VisionTransformer(dim=384, depth=12, num_heads=6, image_size=image_size,
                             stride_size=stride_size, num_cameras=num_cameras,
                             num_views=num_views, sie_coef=sie_coef)
