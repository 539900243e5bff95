"""Re-ID models without torchvision: ResNet (IBN-a), ResNeXt, SE-ResNeXt, Res2Net,
EfficientNet, DenseNet and a small CPU ResNet as backbones; avg / max / avgmax / GeM
pooling; BNNeck and class-block heads.

Backbone state-dict keys are torchvision's (the authors' for Res2Net and SE-ResNeXt), so
ImageNet weights load from a local file with :func:`load_pretrained` (or
``build_model(..., pretrained=path)``), or are downloaded and checked with
``pretrained="imagenet"`` (:func:`fetch_imagenet_weights`).
"""

from __future__ import annotations

from .builder import (
    ARCHS,
    BACKBONES,
    Backbone,
    apply_pretrained,
    build_backbone,
    build_model,
    register_backbone,
)
from .densenet import DenseNet, densenet121
from .efficientnet import EfficientNet, MBConv, efficientnet_b4
from .heads import HEADS, BNNeckHead, ClassBlockHead, build_head
from .imagenet import IMAGENET_WEIGHTS, ImagenetWeights, fetch_imagenet_weights
from .output import ModelOutput
from .pooling import POOLS, AvgMaxPool, AvgPool, GeM, MaxPool, build_pooling
from .pretrained import IMAGENET, backbone_state_dict, load_pretrained
from .reid_model import ReidModel
from .res2net import Bottle2neck, res2net101_26w_4s
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
    resnext101_32x8d,
    resnext101_32x16d,
    resnext101_64x4d,
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
    "apply_pretrained",
    "HEADS",
    "IMAGENET",
    "IMAGENET_WEIGHTS",
    "POOLS",
    "IBN",
    "AvgMaxPool",
    "AvgPool",
    "BNNeckHead",
    "BasicBlock",
    "Bottle2neck",
    "Bottleneck",
    "ClassBlockHead",
    "DenseNet",
    "EfficientNet",
    "GeM",
    "ImagenetWeights",
    "MBConv",
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
    "efficientnet_b4",
    "fetch_imagenet_weights",
    "load_pretrained",
    "register_backbone",
    "res2net101_26w_4s",
    "resnet101",
    "resnet18",
    "resnet34",
    "resnet50",
    "resnet_small",
    "resnext101_32x16d",
    "resnext101_32x8d",
    "resnext101_64x4d",
    "resize_pos_embed",
    "se_resnext101_32x4d",
    "vit_base_patch16",
    "vit_small_patch16",
]
