"""AutoAugment-style policies, batched, with a probability that fades over training.

A policy is a list of sub-policies; a sub-policy is a short sequence of
``(op name, probability, level)``. Per sample (or, ``per_batch``, once for the whole
batch, as the AICity 2020 winner's loader does): with probability ``p(progress)`` the
policy is applied, i.e. one sub-policy is drawn uniformly and each of its ops is applied
with its own probability, in order. ``p(progress) = p0 * (1 - progress)`` fades from p0
at the start of training (progress 0) to 0 at the end (progress 1), the trick of the
AICity 2020 winning vehicle re-ID system.

Levels are integers 0..9 (Cubuk et al., "AutoAugment", CVPR 2019) mapped linearly onto
each op's range, with level 0 the identity; for the signed ops (rotate, shear,
translate and the enhancements) the direction is drawn per sample:

- rotate: up to 30 degrees; shear_x / shear_y: factor up to 0.3;
- translate_x / translate_y: up to 150/331 of the image width / height;
- brightness, color (saturation), contrast, sharpness: factor 1 +- 0.9 level / 9;
- posterize: 8 - round(4 level / 9) bits; solarize: threshold (1 - level / 9) x 256/255;
- autocontrast, equalize, invert: the level is ignored.
"""

from __future__ import annotations

from typing import Any, Callable, Sequence

import torch

from .. import validation
from . import color, warp
from ._batching import bernoulli, random_sign
from ._validate import check_generator, per_sample
from .convert import to_float

MAX_LEVEL = 9

Op = tuple[str, float, int]
SubPolicy = tuple[Op, ...]

IMAGENET_POLICY: tuple[SubPolicy, ...] = (
    (("posterize", 0.4, 8), ("rotate", 0.6, 9)),
    (("solarize", 0.6, 5), ("autocontrast", 0.6, 5)),
    (("equalize", 0.8, 8), ("equalize", 0.6, 3)),
    (("posterize", 0.6, 7), ("posterize", 0.6, 6)),
    (("equalize", 0.4, 7), ("solarize", 0.2, 4)),
    (("equalize", 0.4, 4), ("rotate", 0.8, 8)),
    (("solarize", 0.6, 3), ("equalize", 0.6, 7)),
    (("posterize", 0.8, 5), ("equalize", 1.0, 2)),
    (("rotate", 0.2, 3), ("solarize", 0.6, 8)),
    (("equalize", 0.6, 8), ("posterize", 0.4, 6)),
    (("rotate", 0.8, 8), ("color", 0.4, 0)),
    (("rotate", 0.4, 9), ("equalize", 0.6, 2)),
    (("equalize", 0.0, 7), ("equalize", 0.8, 8)),
    (("invert", 0.6, 4), ("equalize", 1.0, 8)),
    (("color", 0.6, 4), ("contrast", 1.0, 8)),
    (("rotate", 0.8, 8), ("color", 1.0, 2)),
    (("color", 0.8, 8), ("solarize", 0.8, 7)),
    (("sharpness", 0.4, 7), ("invert", 0.6, 8)),
    (("shear_x", 0.6, 5), ("equalize", 1.0, 9)),
    (("color", 0.4, 0), ("equalize", 0.6, 3)),
    (("equalize", 0.4, 7), ("solarize", 0.2, 4)),
    (("solarize", 0.6, 5), ("autocontrast", 0.6, 5)),
    (("invert", 0.6, 4), ("equalize", 1.0, 8)),
    (("color", 0.6, 4), ("contrast", 1.0, 8)),
    (("equalize", 0.8, 8), ("equalize", 0.6, 3)),
)
"""The ImageNet policy of the AutoAugment paper (25 sub-policies of two ops)."""

# (images, level fraction in [0, 1] per sample, sign per sample, fill) -> images
_OpFunction = Callable[[torch.Tensor, torch.Tensor, torch.Tensor, float], torch.Tensor]

TRANSLATE_FRACTION = 150 / 331

_OPS: dict[str, _OpFunction] = {
    "rotate": lambda x, f, s, fill: warp.rotate(x, 30.0 * f * s, fill),
    "shear_x": lambda x, f, s, fill: warp.shear_x(x, 0.3 * f * s, fill),
    "shear_y": lambda x, f, s, fill: warp.shear_y(x, 0.3 * f * s, fill),
    "translate_x": lambda x, f, s, fill: warp.translate_x(
        x, TRANSLATE_FRACTION * x.shape[3] * f * s, fill
    ),
    "translate_y": lambda x, f, s, fill: warp.translate_y(
        x, TRANSLATE_FRACTION * x.shape[2] * f * s, fill
    ),
    "brightness": lambda x, f, s, fill: color.adjust_brightness(x, 1.0 + 0.9 * f * s),
    "color": lambda x, f, s, fill: color.adjust_saturation(x, 1.0 + 0.9 * f * s),
    "contrast": lambda x, f, s, fill: color.adjust_contrast(x, 1.0 + 0.9 * f * s),
    "sharpness": lambda x, f, s, fill: color.adjust_sharpness(x, 1.0 + 0.9 * f * s),
    "posterize": lambda x, f, s, fill: color.posterize(x, 8 - torch.round(4.0 * f).to(torch.int64)),
    "solarize": lambda x, f, s, fill: color.solarize(x, (1.0 - f) * (256.0 / 255.0)),
    "autocontrast": lambda x, f, s, fill: color.autocontrast(x),
    "equalize": lambda x, f, s, fill: color.equalize(x),
    "invert": lambda x, f, s, fill: color.invert(x),
}

OPS: tuple[str, ...] = tuple(_OPS)
"""The op names a policy may use."""


def apply_op(
    images: torch.Tensor, name: str, levels: Any, signs: Any, fill: float = 0.5
) -> torch.Tensor:
    """Apply one policy op to every sample.

    Args:
        images: (B, 3, H, W) uint8 or float32 in [0, 1], any device.
        name: one of :data:`OPS`.
        levels: level(s) in [0, MAX_LEVEL]: one number or (B,) values.
        signs: -1 / +1 direction(s) for the signed ops: one number or (B,) values.
        fill: grey level of the area uncovered by rotate / shear / translate.

    Returns:
        (B, 3, H, W) float32 in [0, 1] on the device of ``images``.
    """
    if name not in _OPS:
        raise ValueError(f"name must be one of {', '.join(OPS)}; got {name!r}")
    x = to_float(images)
    level = per_sample(levels, x.shape[0], "levels", torch.float64)
    sign = per_sample(signs, x.shape[0], "signs", torch.float64)
    if level.numel() and not (0 <= float(level.min()) and float(level.max()) <= MAX_LEVEL):
        raise ValueError(f"levels must lie in [0, {MAX_LEVEL}]; got {level.tolist()}")
    if not bool((sign.abs() == 1).all()):
        raise ValueError(f"signs must be -1 or +1; got {sign.tolist()}")
    return _OPS[name](x, level / MAX_LEVEL, sign, fill)


def faded_probability(p0: float, progress: float) -> float:
    """``p0 * (1 - progress)``: the policy's probability at a point of training."""
    p0 = validation.probability("p0", p0)
    progress = validation.probability("progress", progress)
    return p0 * (1.0 - progress)


def _check_policy(policy: Sequence[Sequence[Op]]) -> tuple[SubPolicy, ...]:
    if not isinstance(policy, Sequence) or len(policy) == 0:
        raise ValueError(f"policy must be a non-empty sequence of sub-policies; got {policy!r}")
    checked = []
    for sub_policy in policy:
        if not isinstance(sub_policy, Sequence) or len(sub_policy) == 0:
            raise ValueError(
                f"policy: each sub-policy must be a non-empty sequence; got {sub_policy!r}"
            )
        ops = []
        for op in sub_policy:
            if not (isinstance(op, Sequence) and len(op) == 3):
                raise ValueError(f"policy: each op must be (name, probability, level); got {op!r}")
            name, probability, level = op
            if name not in _OPS:
                raise ValueError(f"policy: op name must be one of {', '.join(OPS)}; got {name!r}")
            validation.probability(f"policy: probability of {name}", probability)
            validation.integer(f"policy: level of {name}", level, 0, MAX_LEVEL)
            ops.append((name, float(probability), level))
        checked.append(tuple(ops))
    return tuple(checked)


class AutoAugment:
    """A policy applied with a probability that fades over training.

    Args:
        p: probability p0 of applying the policy to a sample at progress 0.
        policy: sub-policies of (op name, probability, level); the ImageNet policy by
            default.
        fill: grey level in [0, 1] of the area uncovered by rotate / shear / translate
            (0.5, the mid grey of the original implementation).
        per_batch: one draw decides for the whole batch whether the policy is applied
            (the AICity 2020 winner: a batch is either all augmented or all plain);
            False, one draw per sample. Either way each applied sample draws its own
            sub-policy, op probabilities and directions.
    """

    def __init__(
        self,
        p: float = 1.0,
        policy: Sequence[Sequence[Op]] = IMAGENET_POLICY,
        fill: float = 0.5,
        per_batch: bool = False,
    ) -> None:
        self.p = validation.probability("p", p)
        self.policy = _check_policy(policy)
        self.fill = validation.probability("fill", fill)
        if not isinstance(per_batch, bool):
            raise TypeError(f"per_batch must be a bool; got {type(per_batch).__name__}")
        self.per_batch = per_batch

    def probability(self, progress: float) -> float:
        """The probability of applying the policy at ``progress`` in [0, 1]."""
        return faded_probability(self.p, progress)

    def __call__(
        self, images: torch.Tensor, generator: torch.Generator, progress: float = 0.0
    ) -> torch.Tensor:
        """Augment a batch.

        Args:
            images: (B, 3, H, W) uint8 or float32 in [0, 1], any device.
            generator: CPU generator for every random choice (drawn on the CPU, so the
                result is the same on every device).
            progress: fraction of training done, in [0, 1].

        Returns:
            (B, 3, H, W) float32 in [0, 1] on the device of ``images``; samples the
            policy leaves alone are exactly ``images`` (as float).
        """
        x = to_float(images)
        check_generator(generator)
        batch = x.shape[0]
        draws = 1 if self.per_batch else batch
        applied = bernoulli(generator, draws, self.probability(progress)).expand(batch)
        choice = torch.randint(len(self.policy), (batch,), generator=generator)
        out = None  # the caller's tensor is never written to: copied at the first change
        for slot in range(max(len(sub_policy) for sub_policy in self.policy)):
            draw = torch.rand(batch, generator=generator, dtype=torch.float64)
            signs = random_sign(generator, batch)
            entries = [sub[slot] if slot < len(sub) else ("", 0.0, 0) for sub in self.policy]
            probability = torch.tensor([entry[1] for entry in entries], dtype=torch.float64)
            level = torch.tensor([float(entry[2]) for entry in entries], dtype=torch.float64)
            active = applied & (draw < probability[choice])
            for name in dict.fromkeys(entry[0] for entry in entries if entry[0]):
                uses = torch.tensor([entry[0] == name for entry in entries])[choice] & active
                index = torch.nonzero(uses).flatten()
                if index.numel() == 0:
                    continue
                device_index = index.to(x.device)
                source = x if out is None else out
                result = apply_op(
                    source.index_select(0, device_index),
                    name,
                    level[choice[index]],
                    signs[index],
                    self.fill,
                )
                if out is None:
                    out = x.clone() if x is images else x
                out.index_copy_(0, device_index, result)
        return x if out is None else out
