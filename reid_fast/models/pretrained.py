"""Loading ImageNet (or earlier re-ID) weights from a checkpoint into a backbone: a local
file, or ``"imagenet"`` for the published weights (:mod:`reid_fast.models.imagenet`)."""

from __future__ import annotations

import os
import re
from typing import Mapping

import torch
from torch import nn

from .imagenet import fetch_imagenet_weights
from .reid_model import ReidModel

IMAGENET = "imagenet"
"""The ``pretrained`` value that loads the backbone's published ImageNet weights."""

# Classifier prefixes of torchvision (ResNet fc, DenseNet classifier), pretrainedmodels and
# timm (ViT head).
_CLASSIFIER_PREFIXES = ("fc.", "classifier.", "last_linear.", "head.")
# pretrainedmodels (Cadene) SENets keep the stem in a "layer0" Sequential.
_CADENE_RENAMES = (("layer0.conv1.", "conv1."), ("layer0.bn1.", "bn1."))
# Old torchvision DenseNet checkpoints: "denselayer1.norm.1.weight" -> "denselayer1.norm1.weight".
_LEGACY_DENSE_KEY = re.compile(r"(denselayer\d+\.(?:norm|relu|conv))\.([12])\.")


def _unwrap(obj: object, path: str) -> Mapping[str, torch.Tensor]:
    if isinstance(obj, Mapping):
        for wrapper in ("state_dict", "model"):
            if isinstance(obj.get(wrapper), Mapping):
                obj = obj[wrapper]
                break
    if not isinstance(obj, Mapping) or not all(
        isinstance(k, str) and isinstance(v, torch.Tensor) for k, v in obj.items()
    ):
        raise TypeError(
            f"{path} holds a {type(obj).__name__}, not a state dict (a mapping of names to "
            "tensors, possibly under 'state_dict' or 'model')"
        )
    return obj


def _rename(key: str) -> str:
    for old, new in _CADENE_RENAMES:
        if key.startswith(old):
            key = new + key[len(old):]
    return _LEGACY_DENSE_KEY.sub(r"\1\2.", key)


def backbone_state_dict(state: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """The backbone part of a checkpoint's state dict, in this package's key names.

    Strips a DataParallel ``module.`` prefix; keeps only the ``backbone.`` entries of a
    :class:`ReidModel` checkpoint (prefix stripped); renames Cadene stem keys
    (``layer0.conv1`` -> ``conv1``, ``layer0.bn1`` -> ``bn1``) and legacy DenseNet keys
    (``norm.1`` -> ``norm1``); drops the classifier (``fc``, ``classifier``,
    ``last_linear``).
    """
    items = [(k[len("module."):] if k.startswith("module.") else k, v) for k, v in state.items()]
    if any(k.startswith("backbone.") for k, _ in items):
        items = [(k[len("backbone."):], v) for k, v in items if k.startswith("backbone.")]
    return {
        _rename(k): v for k, v in items if not k.startswith(_CLASSIFIER_PREFIXES)
    }


def load_pretrained(module: nn.Module, path: str | os.PathLike[str], *,
                    arch: str | None = None) -> tuple[list[str], list[str]]:
    """Copy the weights of checkpoint ``path`` into ``module``'s backbone (``module``
    itself when it is a bare backbone), in place.

    ``path`` = ``"imagenet"``: the published ImageNet weights of ``arch`` (default: the
    ``arch`` of a :class:`ReidModel` built by ``build_model``), downloaded and checked by
    :func:`~reid_fast.models.imagenet.fetch_imagenet_weights` on first use.

    The file is read with ``torch.load(path, map_location="cpu", weights_only=True)`` and
    may hold a raw state dict or one under ``"state_dict"`` / ``"model"``; keys go through
    :func:`backbone_state_dict` (classifier dropped, legacy names renamed). Tensors are
    copied into the existing parameters, keeping their device and dtype.

    Returns:
        ``(missing, unexpected)``: sorted backbone keys the checkpoint did not provide
        (BatchNorm ``num_batches_tracked`` counters not reported) and checkpoint keys the
        backbone does not have.

    Raises:
        FileNotFoundError: ``path`` does not exist.
        ConnectionError: ``"imagenet"`` and the download failed (the machine looks
            offline; the message says how to pass a local file).
        TypeError: the file holds no state dict.
        ValueError: no key matches (wrong architecture), or a matching key's shape differs
            (the message names the key and both shapes); ``"imagenet"`` without a known
            ``arch``, or for one without published weights.
    """
    if isinstance(path, str) and path == IMAGENET:
        if arch is None and isinstance(module, ReidModel):
            arch = module.config.get("arch")
        if arch is None:
            raise ValueError('pretrained="imagenet" needs arch= (the module is not a '
                             "ReidModel built by build_model)")
        path = fetch_imagenet_weights(arch)
    path = os.fspath(path)
    if not os.path.isfile(path):
        raise FileNotFoundError(f"pretrained weights not found: {path!r}")
    target = module.backbone if isinstance(module, ReidModel) else module
    loaded = torch.load(path, map_location="cpu", weights_only=True)
    state = backbone_state_dict(_unwrap(loaded, path))
    adapt = getattr(target, "adapt_state_dict", None)
    if adapt is not None:  # e.g. a ViT resizes position embeddings of another input size
        state = adapt(dict(state))
    expected = target.state_dict()
    matched = [k for k in state if k in expected]
    if not matched:
        raise ValueError(
            f"no key of {path!r} matches the {type(target).__name__} backbone (wrong "
            f"architecture?): the file has {sorted(state)[:4]}..., the backbone expects "
            f"{list(expected)[:4]}..."
        )
    for key in matched:
        if state[key].shape != expected[key].shape:
            raise ValueError(
                f"shape mismatch for {key!r} in {path!r}: checkpoint "
                f"{tuple(state[key].shape)}, model {tuple(expected[key].shape)} (wrong "
                "architecture or width?)"
            )
    target.load_state_dict({k: state[k] for k in matched}, strict=False)
    missing = sorted(
        k for k in expected if k not in state and not k.endswith("num_batches_tracked")
    )
    unexpected = sorted(k for k in state if k not in expected)
    return missing, unexpected
