"""Re-ID models without torchvision: ResNet (IBN-a), SE-ResNeXt, DenseNet and a small CPU
ResNet as backbones; avg / max / avgmax / GeM pooling; BNNeck and class-block heads.

Backbone state-dict keys are torchvision's, so ImageNet weights load from a local file
with :func:`load_pretrained` (or ``build_model(..., pretrained=path)``).
"""

from __future__ import annotations

from .builder import (
    ARCHS,
    BACKBONES,
    Backbone,
    build_backbone,
    build_model,
    register_backbone,
)
from .densenet import DenseNet, densenet121
from .heads import HEADS, BNNeckHead, ClassBlockHead, build_head
from .output import ModelOutput
from .pooling import POOLS, AvgMaxPool, AvgPool, GeM, MaxPool, build_pooling
from .pretrained import backbone_state_dict, load_pretrained
from .reid_model import ReidModel
from .resnet import (
    IBN,
    BasicBlock,
    Bottleneck,
    ResNet,
    SEModule,
    resnet18,
    resnet34,
    resnet50,
    resnet101,
    resnet_small,
    se_resnext101_32x4d,
)
from .vit import (
    VisionTransformer,
    resize_pos_embed,
    vit_base_patch16,
    vit_small_patch16,
)

__all__ = [
    "ARCHS",
    "BACKBONES",
    "Backbone",
    "HEADS",
    "POOLS",
    "IBN",
    "AvgMaxPool",
    "AvgPool",
    "BNNeckHead",
    "BasicBlock",
    "Bottleneck",
    "ClassBlockHead",
    "DenseNet",
    "GeM",
    "MaxPool",
    "ModelOutput",
    "ReidModel",
    "ResNet",
    "SEModule",
    "VisionTransformer",
    "backbone_state_dict",
    "build_backbone",
    "build_head",
    "build_model",
    "build_pooling",
    "densenet121",
    "load_pretrained",
    "register_backbone",
    "resnet101",
    "resnet18",
    "resnet34",
    "resnet50",
    "resnet_small",
    "resize_pos_embed",
    "se_resnext101_32x4d",
    "vit_base_patch16",
    "vit_small_patch16",
]
