"""Tests of reid_fast.augment: batched augmentation on the model's device.

References are independent of the code under test: hand-computed pixels, Python's
colorsys for RGB <-> HSV, Pillow's ImageOps / ImageEnhance for the AutoAugment colour
ops, ``F.pad`` + slicing for pad + crop, ``torch.flip`` / ``torch.rot90`` for flips and
quarter turns, and ``F.interpolate`` for resizing.
"""

from __future__ import annotations

import colorsys

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from PIL import Image, ImageEnhance, ImageOps

from reid_fast import augment as A

MEAN = torch.tensor(A.IMAGENET_MEAN).view(1, 3, 1, 1)
STD = torch.tensor(A.IMAGENET_STD).view(1, 3, 1, 1)


def seeded(seed: int = 0) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def cache_batch(batch: int = 6, height: int = 12, width: int = 10, seed: int = 0) -> torch.Tensor:
    """uint8 (B, 3, H, W) as the loader hands it: a channels-last view of an NHWC cache."""
    shape = (batch, height, width, 3)
    nhwc = torch.randint(0, 256, shape, generator=seeded(seed), dtype=torch.uint8)
    return nhwc.permute(0, 3, 1, 2)


def float_batch(batch: int = 4, height: int = 9, width: int = 11, seed: int = 1) -> torch.Tensor:
    """float32 (B, 3, H, W) on the 8-bit grid k / 255 (so PIL sees the same values)."""
    return cache_batch(batch, height, width, seed).to(torch.float32) / 255.0


ONE_LEVEL = 1.01 / 255 / 0.224
"""One 8-bit level after normalisation by the smallest ImageNet std."""


def interpolate(images: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """The reference resize: torch's antialiased bilinear interpolation."""
    return F.interpolate(images, size=size, mode="bilinear", antialias=True, align_corners=False)


def reference_normalize(images: torch.Tensor) -> torch.Tensor:
    x = images.to(torch.float32) / 255.0 if images.dtype == torch.uint8 else images
    return (x - MEAN.to(x.device)) / STD.to(x.device)


def plain(**overrides) -> A.AugmentConfig:
    """A configuration that does nothing but normalise, with ``overrides``."""
    settings = dict(size=(12, 10), pad=0, flip_p=0.0, erasing_p=0.0)
    settings.update(overrides)
    return A.AugmentConfig(**settings)


def to_pil(image: torch.Tensor) -> Image.Image:
    """(3, H, W) float32 on the 8-bit grid -> PIL RGB image."""
    array = (image * 255).round().to(torch.uint8).permute(1, 2, 0).numpy()
    return Image.fromarray(np.ascontiguousarray(array))


def from_pil(image: Image.Image) -> torch.Tensor:
    return torch.from_numpy(np.asarray(image).copy()).permute(2, 0, 1).to(torch.float32) / 255.0


def assert_same_levels(actual: torch.Tensor, expected: torch.Tensor) -> None:
    """Equal 8-bit levels (values k / 255 up to float rounding)."""
    torch.testing.assert_close(actual, expected, rtol=0, atol=1e-6)
    assert torch.equal((actual * 255).round(), (expected * 255).round())


# --------------------------------------------------------------------------------------
# The training pipeline: shapes, layout, identity, determinism
# --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "overrides",
    [
        {},
        {"pad_mode": "reflect"},
        {"random_resized_crop": True},
        {"color_jitter": 0.4, "erasing_value": "random"},
        {"autoaugment_p": 1.0},
    ],
    ids=["default", "reflect", "rrc", "jitter-noise", "autoaugment"],
)
def test_train_output_shape_dtype_layout_device(device, overrides):
    images = cache_batch(5, 20, 16).to(device)
    augment = A.TrainAugment(A.AugmentConfig(size=(24, 12), **overrides))
    out = augment(images, seeded(3), progress=0.2)
    assert out.shape == (5, 3, 24, 12)
    assert out.dtype == torch.float32
    assert out.device.type == torch.device(device).type
    assert out.is_contiguous(memory_format=torch.channels_last)
    assert torch.isfinite(out).all()


def test_train_values_stay_in_the_normalised_range():
    images = cache_batch(8)
    out = A.TrainAugment(A.AugmentConfig(size=(12, 10), erasing_p=0.0, color_jitter=0.5))(
        images, seeded()
    )
    low, high = (0 - MEAN) / STD, (1 - MEAN) / STD
    assert (out >= low - 1e-6).all() and (out <= high + 1e-6).all()


@pytest.mark.parametrize("dtype", [torch.uint8, torch.float32])
def test_train_identity_is_normalisation(dtype):
    images = cache_batch()
    if dtype == torch.float32:
        images = images.to(torch.float32) / 255.0
    out = A.TrainAugment(plain())(images, seeded())
    torch.testing.assert_close(out, reference_normalize(images), rtol=0, atol=1e-6)


def test_train_rrc_full_box_is_identity():
    images = cache_batch()
    config = plain(random_resized_crop=True, rrc_scale=(1.0, 1.0), rrc_ratio=(10 / 12, 10 / 12))
    out = A.TrainAugment(config)(images, seeded())
    torch.testing.assert_close(out, reference_normalize(images), rtol=0, atol=1e-6)


def test_train_autoaugment_at_end_of_training_is_identity():
    images = cache_batch()
    out = A.TrainAugment(plain(autoaugment_p=1.0))(images, seeded(), progress=1.0)
    torch.testing.assert_close(out, reference_normalize(images), rtol=0, atol=1e-6)


def test_train_pad_crop_flip_matches_reference_steps():
    images = cache_batch(7)
    pad = 3
    out = A.TrainAugment(plain(pad=pad, flip_p=0.5))(images, seeded(5))
    # The pipeline draws the row offsets, the column offsets, then the flips.
    generator = seeded(5)
    offsets = torch.randint(0, 2 * pad + 1, (2, 7), generator=generator)
    flipped = torch.rand(7, generator=generator, dtype=torch.float64) < 0.5
    padded = F.pad(images.to(torch.float32), (pad, pad, pad, pad))
    top, left = offsets.tolist()
    expected = torch.stack(
        [padded[b, :, top[b] : top[b] + 12, left[b] : left[b] + 10] for b in range(7)]
    )
    expected = torch.where(flipped[:, None, None, None], expected.flip(3), expected)
    assert 0 < int(flipped.sum()) < 7
    torch.testing.assert_close(out, reference_normalize(expected / 255.0), rtol=0, atol=1e-6)


def test_train_resizes_inputs_of_another_size():
    images = cache_batch(3, 24, 20)
    out = A.TrainAugment(plain(size=(12, 10)))(images, seeded())
    expected = interpolate(images.to(torch.float32), (12, 10)) / 255.0
    # uint8 resizing rounds: within one level, i.e. 1 / 255 / std after normalisation.
    torch.testing.assert_close(out, reference_normalize(expected), rtol=0, atol=ONE_LEVEL)


def test_train_channels_last_view_and_contiguous_input_agree():
    view = cache_batch(6)
    config = A.AugmentConfig(size=(12, 10), color_jitter=0.3, autoaugment_p=0.8)
    a = A.TrainAugment(config)(view, seeded(9), progress=0.1)
    b = A.TrainAugment(config)(view.contiguous(), seeded(9), progress=0.1)
    torch.testing.assert_close(a, b, rtol=0, atol=1e-6)


def test_train_is_deterministic_under_a_seed():
    images = cache_batch(8)
    config = A.AugmentConfig(
        size=(12, 10),
        random_resized_crop=True,
        color_jitter=0.3,
        autoaugment_p=1.0,
        erasing_value="random",
    )
    augment = A.TrainAugment(config)
    first = augment(images, seeded(11), progress=0.3)
    assert torch.equal(first, augment(images, seeded(11), progress=0.3))
    assert not torch.equal(first, augment(images, seeded(12), progress=0.3))


def test_train_writes_into_a_reused_buffer():
    images = cache_batch(6)
    augment = A.TrainAugment(A.AugmentConfig(size=(12, 10), erasing_p=0.5))
    fresh = augment(images, seeded(5))
    buffer = torch.full_like(fresh, float("nan"))     # stale contents must not leak through
    out = augment(images, seeded(5), out=buffer)
    assert out.data_ptr() == buffer.data_ptr()
    assert torch.equal(out, fresh)
    with pytest.raises(ValueError, match="out must be a float32 channels-last tensor"):
        augment(images, seeded(5), out=torch.empty(6, 3, 12, 10))   # not channels-last


def test_train_leaves_its_input_alone():
    images = float_batch(5, 12, 10)
    before = images.clone()
    config = A.AugmentConfig(size=(12, 10), color_jitter=0.3, autoaugment_p=1.0)
    A.TrainAugment(config)(images, seeded())
    assert torch.equal(images, before)


def test_train_empty_batch():
    out = A.TrainAugment(A.AugmentConfig(size=(12, 10)))(cache_batch(0), seeded())
    assert out.shape == (0, 3, 12, 10)


@pytest.mark.cuda
def test_train_is_the_same_on_cuda_and_cpu(cuda):
    images = cache_batch(6, 16, 12)
    config = A.AugmentConfig(size=(16, 12), color_jitter=0.3, erasing_value="random")
    on_cpu = A.TrainAugment(config)(images, seeded(4))
    on_gpu = A.TrainAugment(config)(images.to(cuda), seeded(4))
    torch.testing.assert_close(on_gpu.cpu(), on_cpu, rtol=0, atol=1e-4)


@pytest.mark.cuda
def test_autoaugment_is_the_same_on_cuda_and_cpu(cuda):
    # Same random choices; values may differ where a level rounds the other way.
    x = float_batch(32, 16, 12)
    policy = A.AutoAugment(p=1.0)
    on_cpu = policy(x, seeded(4))
    on_gpu = policy(x.to(cuda), seeded(4)).cpu()
    changed_cpu = (on_cpu != x).flatten(1).any(dim=1)
    changed_gpu = (on_gpu != x).flatten(1).any(dim=1)
    assert torch.equal(changed_cpu, changed_gpu)
    assert (on_gpu - on_cpu).abs().mean() < 1e-3


@pytest.mark.cuda
def test_train_rrc_on_cuda_matches_cpu_within_one_level(cuda):
    images = cache_batch(6, 16, 12)
    config = A.AugmentConfig(size=(16, 12), random_resized_crop=True, erasing_p=0.0)
    on_cpu = A.TrainAugment(config)(images, seeded(4))
    on_gpu = A.TrainAugment(config)(images.to(cuda), seeded(4))
    torch.testing.assert_close(on_gpu.cpu(), on_cpu, rtol=0, atol=ONE_LEVEL)


# --------------------------------------------------------------------------------------
# Configuration and input validation
# --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "images, error, name",
    [
        (torch.zeros(2, 3, 8), ValueError, "images"),
        (torch.zeros(2, 4, 8, 8), ValueError, "images"),
        (torch.zeros(2, 3, 8, 8, dtype=torch.int32), TypeError, "images"),
        (torch.zeros(2, 3, 8, 8, dtype=torch.float64), TypeError, "images"),
        (np.zeros((2, 3, 8, 8), dtype=np.uint8), TypeError, "images"),
    ],
)
def test_bad_images_are_named(images, error, name):
    with pytest.raises(error, match=name):
        A.TrainAugment(A.AugmentConfig(size=(8, 8)))(images, seeded())
    with pytest.raises(error, match=name):
        A.EvalTransform((8, 8))(images)
    with pytest.raises(error, match=name):
        A.hflip(images, True)


def test_bad_generator_and_progress_are_named():
    augment = A.TrainAugment(A.AugmentConfig(size=(12, 10)))
    with pytest.raises(TypeError, match="generator"):
        augment(cache_batch(), 0)
    with pytest.raises(ValueError, match="progress"):
        augment(cache_batch(), seeded(), progress=1.5)


@pytest.mark.parametrize(
    "field, value",
    [
        ("size", (0, 8)),
        ("pad", -1),
        ("pad_mode", "wrap"),
        ("flip_p", 1.5),
        ("erasing_p", -0.1),
        ("autoaugment_p", 2.0),
        ("color_jitter", -1.0),
        ("rrc_scale", (0.9, 0.5)),
        ("std", (0.2, 0.0, 0.2)),
        ("erasing_value", "zeros"),
    ],
)
def test_bad_config_fields_are_named(field, value):
    with pytest.raises(ValueError, match=field):
        A.AugmentConfig(**{field: value})


def test_bad_op_parameters_are_named():
    x = float_batch(2)
    with pytest.raises(ValueError, match="bits"):
        A.posterize(x, 9)
    with pytest.raises(ValueError, match="shifts"):
        A.adjust_hue(x, 0.7)
    with pytest.raises(ValueError, match="factors"):
        A.adjust_brightness(x, [1.0, -0.5])
    with pytest.raises(ValueError, match="factors"):
        A.adjust_contrast(x, [1.0, 1.0, 1.0])
    with pytest.raises(ValueError, match="top"):
        A.pad_crop(x, 5, 0, pad=2)
    with pytest.raises(ValueError, match="boxes"):
        A.resized_crop(x, torch.tensor([[0, 0, 20, 5], [0, 0, 5, 5]]), (4, 4))
    with pytest.raises(ValueError, match="policy"):
        A.AutoAugment(policy=[(("blur", 0.5, 3),)])
    with pytest.raises(TypeError, match="float32"):
        A.erase(cache_batch(2), torch.zeros(2, 4, dtype=torch.int64))


# --------------------------------------------------------------------------------------
# Geometry: pad + crop, flip, resized crop, resize, affine ops
# --------------------------------------------------------------------------------------


def test_pad_crop_matches_hand_shifted_image():
    x = torch.arange(1, 3 * 4 * 5 + 1, dtype=torch.float32).view(1, 3, 4, 5)
    out = A.pad_crop(x, top=0, left=4, pad=2)  # original pixel (i - 2, j + 2)
    expected = torch.zeros_like(x)
    for i in range(4):
        for j in range(5):
            if 0 <= i - 2 < 4 and 0 <= j + 2 < 5:
                expected[0, :, i, j] = x[0, :, i - 2, j + 2]
    assert torch.equal(out, expected)


@pytest.mark.parametrize("mode", ["constant", "reflect"])
@pytest.mark.parametrize("dtype", [torch.uint8, torch.float32])
def test_pad_crop_flip_matches_f_pad(device, mode, dtype):
    images = cache_batch(6, 7, 9).to(dtype).to(device)
    pad = 3
    generator = seeded(2)
    top, left = torch.randint(0, 2 * pad + 1, (2, 6), generator=generator)
    flipped = torch.tensor([True, False, True, True, False, False])
    out = A.pad_crop_flip(images, top, left, flipped, pad, mode)
    padded = F.pad(images.to(torch.float32), (pad, pad, pad, pad), mode=mode).to(dtype)
    expected = torch.stack(
        [padded[b, :, top[b] : top[b] + 7, left[b] : left[b] + 9] for b in range(6)]
    )
    expected = torch.where(flipped.to(device)[:, None, None, None], expected.flip(3), expected)
    assert out.dtype == dtype and out.is_contiguous(memory_format=torch.channels_last)
    assert torch.equal(out, expected)


def test_pad_zero_crop_is_identity():
    images = cache_batch()
    assert torch.equal(A.pad_crop(images, 0, 0, pad=0), images)
    assert torch.equal(A.random_pad_crop(images, 0, seeded()), images)


def test_hflip_equals_torch_flip_and_twice_is_identity(device):
    images = cache_batch(5).to(device)
    flags = torch.tensor([True, False, True, False, True])
    once = A.hflip(images, flags)
    expected = torch.where(flags.to(device)[:, None, None, None], images.flip(3), images)
    assert torch.equal(once, expected)
    assert torch.equal(A.hflip(once, flags), images)
    assert torch.equal(A.random_hflip(images, 0.0, seeded()), images)
    assert torch.equal(A.random_hflip(images, 1.0, seeded()), images.flip(3))


@pytest.mark.parametrize("dtype", [torch.uint8, torch.float32])
def test_resized_crop_of_whole_image_is_identity(dtype):
    images = cache_batch().to(dtype)
    boxes = torch.tensor([[0, 0, 12, 10]] * 6)
    assert torch.equal(A.resized_crop(images, boxes, (12, 10)), images)


def test_resized_crop_matches_interpolate_of_each_box():
    images = float_batch(3, 16, 12)
    boxes = torch.tensor([[2, 1, 10, 8], [0, 0, 16, 12], [5, 3, 7, 9]])
    out = A.resized_crop(images, boxes, (8, 6), flipped=[False, True, False])
    for b, (t, l, h, w) in enumerate(boxes.tolist()):
        expected = interpolate(images[b : b + 1, :, t : t + h, l : l + w], (8, 6))[0]
        if b == 1:
            expected = expected.flip(2)
        torch.testing.assert_close(out[b], expected, rtol=0, atol=1e-6)


def test_resize_uint8_and_float_agree_within_one_level():
    images = cache_batch(3, 24, 20)
    as_uint8 = A.resize(images, (9, 7)).to(torch.float32)
    as_float = A.resize(images.to(torch.float32), (9, 7))
    assert as_uint8.shape == (3, 3, 9, 7)
    assert (as_uint8 - as_float).abs().max() <= 1.0 + 1e-4


def test_random_resized_boxes_respect_scale_ratio_and_bounds():
    boxes = A.random_resized_boxes(seeded(), 500, 40, 30, scale=(0.3, 0.7), ratio=(0.5, 2.0))
    top, left, height, width = boxes.unbind(1)
    assert (top >= 0).all() and (left >= 0).all()
    assert (top + height <= 40).all() and (left + width <= 30).all()
    area = (height * width).to(torch.float64) / (40 * 30)
    # Rounding each side moves the area by at most half a pixel row and column.
    slack = (0.5 * (height + width) + 0.25).to(torch.float64) / (40 * 30)
    assert (area >= 0.3 - slack).all() and (area <= 0.7 + slack).all()
    aspect = width.to(torch.float64) / height
    assert (aspect >= 0.5 * (1 - 1 / height)).all() and (aspect <= 2.0 * (1 + 1 / height)).all()


def test_rrc_fallback_is_central_crop_within_ratio():
    # No box of area 5x the image fits: every sample falls back to the central crop.
    wide = A.random_resized_boxes(seeded(), 4, 10, 40, scale=(5.0, 6.0), ratio=(1.0, 2.0))
    assert wide.tolist() == [[0, 10, 10, 20]] * 4
    tall = A.random_resized_boxes(seeded(), 2, 40, 10, scale=(5.0, 6.0), ratio=(0.5, 2.0))
    assert tall.tolist() == [[10, 0, 20, 10]] * 2


def test_rotate_quarter_turn_equals_rot90():
    images = float_batch(2, 8, 8)
    out = A.rotate(images, 90.0)
    torch.testing.assert_close(out, torch.rot90(images, 1, dims=(2, 3)), rtol=0, atol=1e-5)


def test_translate_by_whole_pixels_shifts_and_fills():
    images = float_batch(2, 6, 8)
    out = A.translate_x(images, [2.0, -3.0], fill=0.25)
    expected = torch.full_like(images, 0.25)
    expected[0, :, :, 2:] = images[0, :, :, :-2]
    expected[1, :, :, :-3] = images[1, :, :, 3:]
    torch.testing.assert_close(out, expected, rtol=0, atol=1e-5)
    down = A.translate_y(images, 1.0)
    torch.testing.assert_close(down[:, :, 1:], images[:, :, :-1], rtol=0, atol=1e-5)
    assert down[:, :, 0].abs().max() <= 1e-5


def test_shear_x_moves_rows_by_factor_times_height_from_centre():
    images = float_batch(1, 5, 9)
    # Row i is at y = i + 0.5 - 2.5; factor 1 makes output (x, y) read input x + y.
    out = A.shear_x(images, 1.0)
    torch.testing.assert_close(out[0, :, 3, :-1], images[0, :, 3, 1:], rtol=0, atol=1e-5)
    torch.testing.assert_close(out[0, :, 2], images[0, :, 2], rtol=0, atol=1e-5)
    torch.testing.assert_close(out[0, :, 0, 2:], images[0, :, 0, :-2], rtol=0, atol=1e-5)


@pytest.mark.parametrize("op", [A.rotate, A.shear_x, A.shear_y, A.translate_x, A.translate_y])
def test_zero_geometric_transforms_are_exact_identities(op):
    images = float_batch()
    assert torch.equal(op(images, 0.0, fill=0.5), images)


# --------------------------------------------------------------------------------------
# Colour
# --------------------------------------------------------------------------------------


def test_rgb_to_hsv_matches_colorsys_and_round_trips():
    colours = torch.rand(1, 3, 7, 9, generator=seeded(3))
    colours[0, :, 0, 0] = torch.tensor([0.5, 0.5, 0.5])  # grey
    colours[0, :, 0, 1] = torch.tensor([1.0, 1.0, 0.0])  # tie between red and green
    hsv = A.rgb_to_hsv(colours)
    expected = torch.tensor(
        [colorsys.rgb_to_hsv(*colours[0, :, i, j].tolist()) for i in range(7) for j in range(9)]
    ).T.reshape(1, 3, 7, 9)
    torch.testing.assert_close(hsv, expected.to(torch.float32), rtol=0, atol=1e-6)
    torch.testing.assert_close(A.hsv_to_rgb(hsv), colours, rtol=0, atol=2e-6)


def test_hsv_to_rgb_matches_colorsys():
    hsv = torch.rand(1, 3, 5, 6, generator=seeded(4))
    expected = torch.tensor(
        [colorsys.hsv_to_rgb(*hsv[0, :, i, j].tolist()) for i in range(5) for j in range(6)]
    ).T.reshape(1, 3, 5, 6)
    torch.testing.assert_close(A.hsv_to_rgb(hsv), expected.to(torch.float32), rtol=0, atol=2e-6)


def test_hue_shift_of_pure_red():
    red = torch.zeros(3, 3, 2, 2)
    red[:, 0] = 1.0
    out = A.adjust_hue(red, [1 / 3, -1 / 3, 0.5])
    torch.testing.assert_close(out[0, :, 0, 0], torch.tensor([0.0, 1.0, 0.0]), rtol=0, atol=1e-6)
    torch.testing.assert_close(out[1, :, 0, 0], torch.tensor([0.0, 0.0, 1.0]), rtol=0, atol=1e-6)
    torch.testing.assert_close(out[2, :, 0, 0], torch.tensor([0.0, 1.0, 1.0]), rtol=0, atol=1e-6)


def test_hue_shift_matches_colorsys():
    images = torch.rand(2, 3, 4, 5, generator=seeded(5))
    shifts = [0.23, -0.41]
    out = A.adjust_hue(images, shifts)
    for b, shift in enumerate(shifts):
        for i in range(4):
            for j in range(5):
                h, s, v = colorsys.rgb_to_hsv(*images[b, :, i, j].tolist())
                expected = colorsys.hsv_to_rgb((h + shift) % 1.0, s, v)
                torch.testing.assert_close(
                    out[b, :, i, j], torch.tensor(expected, dtype=torch.float32), rtol=0, atol=2e-6
                )


def test_brightness_contrast_saturation_by_hand():
    x = torch.tensor([0.2, 0.5, 0.9]).view(1, 3, 1, 1).repeat(2, 1, 1, 2)
    x[1, :, 0, 1] = torch.tensor([0.0, 0.1, 0.3])
    brighter = A.adjust_brightness(x, 1.5)
    expected = torch.tensor([0.3, 0.75, 1.0])
    torch.testing.assert_close(brighter[0, :, 0, 0], expected, rtol=0, atol=1e-6)
    luma = 0.299 * x[:, 0] + 0.587 * x[:, 1] + 0.114 * x[:, 2]  # (2, 1, 2)
    mean = luma.mean(dim=(1, 2)).view(2, 1, 1, 1)
    torch.testing.assert_close(
        A.adjust_contrast(x, 0.5), (0.5 * x + 0.5 * mean).clamp(0, 1), rtol=0, atol=1e-6
    )
    torch.testing.assert_close(
        A.adjust_saturation(x, 0.0), luma[:, None].expand_as(x), rtol=0, atol=1e-6
    )
    torch.testing.assert_close(
        A.adjust_saturation(x, 2.0), (2 * x - luma[:, None]).clamp(0, 1), rtol=0, atol=1e-6
    )


def test_identity_colour_parameters_are_exact():
    x = float_batch()
    for op in (A.adjust_brightness, A.adjust_contrast, A.adjust_saturation, A.adjust_sharpness):
        assert torch.equal(op(x, 1.0), x)
    assert torch.equal(A.adjust_hue(x, 0.0), x)
    assert torch.equal(A.posterize(x, 8), x)
    assert torch.equal(A.solarize(x, 1.01), x)
    assert torch.equal(A.color_jitter(x, seeded()), x)


def test_per_sample_factors_touch_only_their_sample():
    x = float_batch(3)
    out = A.adjust_brightness(x, [1.0, 0.5, 1.0])
    assert torch.equal(out[0], x[0]) and torch.equal(out[2], x[2])
    torch.testing.assert_close(out[1], x[1] * 0.5, rtol=0, atol=1e-7)


def test_color_jitter_brightness_factors_lie_in_range():
    x = torch.full((200, 3, 2, 2), 0.4)
    out = A.color_jitter(x, seeded(), brightness=0.3)
    factors = out[:, 0, 0, 0] / 0.4
    assert factors.min() >= 0.7 - 1e-5 and factors.max() <= 1.3 + 1e-5
    assert factors.max() - factors.min() > 0.4  # spread over the range, per sample


def test_sharpness_matches_pil():
    x = float_batch(2, 9, 11)
    for factor in (0.0, 0.5, 2.0):
        out = A.adjust_sharpness(x, factor)
        for b in range(2):
            expected = from_pil(ImageEnhance.Sharpness(to_pil(x[b])).enhance(factor))
            torch.testing.assert_close(out[b], expected, rtol=0, atol=1.01 / 255)


def test_invert_solarize_posterize_match_pil():
    x = float_batch(3)
    inverted = A.invert(x)
    solarized = A.solarize(x, 128 / 255)
    posterized = A.posterize(x, [1, 3, 6])
    for b, bits in enumerate([1, 3, 6]):
        image = to_pil(x[b])
        assert_same_levels(inverted[b], from_pil(ImageOps.invert(image)))
        assert_same_levels(solarized[b], from_pil(ImageOps.solarize(image, 128)))
        assert_same_levels(posterized[b], from_pil(ImageOps.posterize(image, bits)))


def test_posterize_by_hand():
    x = torch.tensor([200, 77, 255], dtype=torch.float32).view(1, 3, 1, 1) / 255
    out = A.posterize(x, 2) * 255  # keep the two top bits: 192, 64, 192
    assert out.flatten().round().tolist() == [192.0, 64.0, 192.0]


def test_equalize_matches_pil():
    # 48 x 40 = 1920 pixels per channel: step = (1920 - top bin) // 255 > 0.
    x = float_batch(3, 48, 40)
    x[1] = (x[1] * 0.3 + 0.1) ** 2  # a skewed histogram
    x[1] = (x[1] * 255).round() / 255
    x[2, 1] = 0.5  # a flat channel: PIL leaves it alone
    out = A.equalize(x)
    assert not torch.equal(out[0], x[0])
    for b in range(3):
        assert_same_levels(out[b], from_pil(ImageOps.equalize(to_pil(x[b]))))


def test_autocontrast_matches_pil():
    x = float_batch(3) * 0.6 + 0.2
    x = (x * 255).round() / 255
    out = A.autocontrast(x)
    for b in range(3):
        expected = from_pil(ImageOps.autocontrast(to_pil(x[b])))
        torch.testing.assert_close(out[b], expected, rtol=0, atol=1.01 / 255)
    assert torch.equal(A.autocontrast(torch.full((1, 3, 2, 2), 0.3)), torch.full((1, 3, 2, 2), 0.3))


# --------------------------------------------------------------------------------------
# AutoAugment
# --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "name",
    ["rotate", "shear_x", "shear_y", "translate_x", "translate_y", "brightness", "color",
     "contrast", "sharpness", "posterize", "solarize"],
)
def test_autoaugment_ops_at_level_zero_are_identities(name):
    x = float_batch()
    levels = torch.zeros(4)
    signs = torch.tensor([1.0, -1.0, 1.0, -1.0])
    assert torch.equal(A.apply_op(x, name, levels, signs), x)


def test_autoaugment_op_levels_map_to_documented_parameters():
    x = float_batch(2)
    cases = [
        ("posterize", 9.0, 1.0, A.posterize(x, 4)),
        ("solarize", 4.5, 1.0, A.solarize(x, 0.5 * 256 / 255)),
        ("brightness", 9.0, -1.0, A.adjust_brightness(x, 0.1)),
        ("contrast", 3.0, 1.0, A.adjust_contrast(x, 1.3)),
        ("rotate", 3.0, 1.0, A.rotate(x, 10.0)),
        ("shear_y", 6.0, -1.0, A.shear_y(x, -0.2)),
        ("translate_x", 9.0, 1.0, A.translate_x(x, 11 * 150 / 331)),
        ("invert", 9.0, 1.0, 1 - x),
    ]
    for name, level, sign, expected in cases:
        torch.testing.assert_close(A.apply_op(x, name, level, sign, fill=0.0), expected)


def test_autoaugment_probability_fades_linearly():
    assert A.faded_probability(0.8, 0.0) == pytest.approx(0.8)
    assert A.faded_probability(0.8, 0.25) == pytest.approx(0.6)
    assert A.faded_probability(0.8, 1.0) == 0.0
    with pytest.raises(ValueError, match="progress"):
        A.faded_probability(0.8, -0.1)


def test_autoaugment_fade_changes_the_expected_share_of_samples():
    x = torch.rand(400, 3, 2, 2, generator=seeded(8))
    policy = A.AutoAugment(p=1.0, policy=[(("invert", 1.0, 0),)])

    def changed(progress: float) -> int:
        out = policy(x, seeded(9), progress)
        return int((out != x).flatten(1).any(dim=1).sum())

    assert changed(0.0) == 400
    assert 150 <= changed(0.5) <= 250  # binomial(400, 0.5): mean 200, sd 10
    assert changed(1.0) == 0
    assert torch.equal(A.AutoAugment(p=0.0)(x, seeded()), x)


def test_autoaugment_imagenet_policy_keeps_range_and_is_deterministic():
    x = float_batch(16, 10, 10)
    policy = A.AutoAugment(p=1.0)
    out = policy(x, seeded(1))
    assert out.shape == x.shape and out.dtype == torch.float32
    assert (out >= 0).all() and (out <= 1).all()
    assert torch.equal(out, policy(x, seeded(1)))
    assert not torch.equal(out, x)
    assert len(A.IMAGENET_POLICY) == 25 and all(len(sub) == 2 for sub in A.IMAGENET_POLICY)


# --------------------------------------------------------------------------------------
# Random erasing and normalisation
# --------------------------------------------------------------------------------------


def _changed_box(before: torch.Tensor, after: torch.Tensor) -> tuple[int, int, int, int] | None:
    """The bounding box of changed pixels, checking that they fill it."""
    changed = (before != after).any(dim=0)
    if not changed.any():
        return None
    rows = changed.any(dim=1).nonzero().flatten()
    cols = changed.any(dim=0).nonzero().flatten()
    top, bottom, left, right = int(rows[0]), int(rows[-1]) + 1, int(cols[0]), int(cols[-1]) + 1
    assert changed[top:bottom, left:right].all()
    assert int(changed.sum()) == (bottom - top) * (right - left)
    return top, left, bottom - top, right - left


def test_random_erasing_writes_one_rectangle_of_bounded_area():
    x = float_batch(64, 24, 20)
    out = A.random_erasing(x, seeded(2), p=0.5, area=(0.05, 0.3), value=-7.0)
    erased = 0
    for b in range(64):
        box = _changed_box(x[b], out[b])
        if box is None:
            continue
        erased += 1
        top, left, height, width = box
        assert (out[b, :, top : top + height, left : left + width] == -7.0).all()
        slack = (0.5 * (height + width) + 0.25) / (24 * 20)
        assert 0.05 - slack <= height * width / (24 * 20) <= 0.3 + slack
    assert 16 <= erased <= 48


def test_erasing_boxes_are_the_rectangles_written():
    x = float_batch(8, 16, 16)
    boxes = A.erasing_boxes(seeded(3), 8, 16, 16, p=1.0)
    out = A.erase(x, boxes, value=(1.5, 2.5, 3.5))
    for b in range(8):
        top, left, height, width = boxes[b].tolist()
        assert _changed_box(x[b], out[b]) == (top, left, height, width)
        region = out[b, :, top : top + height, left : left + width]
        assert (region[0] == 1.5).all() and (region[1] == 2.5).all() and (region[2] == 3.5).all()


def test_erasing_noise_is_standard_normal_drawn_in_order():
    x = torch.zeros(2, 3, 10, 10)
    boxes = torch.tensor([[1, 2, 3, 4], [0, 0, 5, 6]])
    out = A.erase_with_noise(x, boxes, seeded(6))
    noise = torch.randn(3 * 12 + 3 * 30, generator=seeded(6))
    assert torch.equal(out[0, :, 1:4, 2:6], noise[:36].view(3, 3, 4))
    assert torch.equal(out[1, :, 0:5, 0:6], noise[36:].view(3, 5, 6))
    assert int((out != 0).sum()) == 36 + 90


def test_erasing_inplace_and_copy():
    x = float_batch(2)
    boxes = torch.tensor([[0, 0, 2, 2], [0, 0, 0, 0]])
    copy = A.erase(x, boxes, 0.0)
    assert not torch.equal(copy, x) and (x[0, :, :2, :2] != 0).any()
    same = A.erase(x, boxes, 0.0, inplace=True)
    assert same is x and torch.equal(x, copy)


def test_pipeline_erasing_changes_only_a_rectangle_to_the_mean_colour():
    images = cache_batch(32, 16, 16)
    with_erasing = A.TrainAugment(plain(size=(16, 16), erasing_p=0.5, pad=2, flip_p=0.5))
    without = A.TrainAugment(plain(size=(16, 16), erasing_p=0.0, pad=2, flip_p=0.5))
    a, b = with_erasing(images, seeded(7)), without(images, seeded(7))
    erased = 0
    for i in range(32):
        box = _changed_box(b[i], a[i])
        if box is not None:
            erased += 1
            top, left, height, width = box
            assert (a[i, :, top : top + height, left : left + width] == 0).all()
    assert 6 <= erased <= 26


def test_normalize_by_hand():
    x = torch.tensor([0, 128, 255], dtype=torch.uint8).view(1, 3, 1, 1)
    out = A.normalize(x, mean=(0.5, 0.5, 0.5), std=(0.5, 0.25, 0.5))
    torch.testing.assert_close(out.flatten(), torch.tensor([-1.0, (128 / 255 - 0.5) / 0.25, 1.0]))
    assert out.is_contiguous(memory_format=torch.channels_last)


# --------------------------------------------------------------------------------------
# Evaluation transform
# --------------------------------------------------------------------------------------


def test_eval_transform_normalises_and_flips(device):
    images = cache_batch(3).to(device)
    transform = A.EvalTransform((12, 10))
    out = transform(images)
    torch.testing.assert_close(out, reference_normalize(images), rtol=0, atol=1e-6)
    assert out.is_contiguous(memory_format=torch.channels_last)
    assert torch.equal(transform(images, flip=True), out.flip(3))


def test_eval_transform_resizes_with_antialiasing():
    images = float_batch(2, 40, 30)
    out = A.EvalTransform((10, 8))(images)
    expected = interpolate(images, (10, 8))
    torch.testing.assert_close(out, reference_normalize(expected), rtol=0, atol=1e-5)
    assert out.shape == (2, 3, 10, 8)


def test_resize_bicubic_is_torch_antialiased_bicubic_clamped():
    x = float_batch(3, 20, 18)
    expected = F.interpolate(x, size=(9, 7), mode="bicubic", antialias=True,
                             align_corners=False).clamp(0.0, 1.0)
    torch.testing.assert_close(A.resize(x, (9, 7), "bicubic"), expected, rtol=0, atol=1e-6)
    up = A.resize(x, (40, 36), "bicubic")
    assert float(up.min()) >= 0.0 and float(up.max()) <= 1.0
    with pytest.raises(ValueError, match="mode must be one of"):
        A.resize(x, (9, 7), "nearest")


def test_eval_transform_resizes_bicubic_on_request():
    x = float_batch(2, 20, 18)
    out = A.EvalTransform((9, 7), interpolation="bicubic")(x)
    expected = F.interpolate(x, size=(9, 7), mode="bicubic", antialias=True,
                             align_corners=False).clamp(0.0, 1.0)
    torch.testing.assert_close(out, reference_normalize(expected), rtol=0, atol=1e-5)


@pytest.mark.parametrize("mode", ["bilinear", "bicubic"])
def test_train_pads_before_the_random_resized_crop(mode):
    # Pad 2 turns 12 x 10 into 16 x 14; scale 1 and ratio 14/16 leave one box, the whole
    # padded image (area 224: width sqrt(224 * 14/16) = 14, height 16), resized back.
    images = float_batch(4, 12, 10)
    config = plain(pad=2, random_resized_crop=True, rrc_scale=(1.0, 1.0),
                   rrc_ratio=(14 / 16, 14 / 16), interpolation=mode)
    out = A.TrainAugment(config)(images, seeded())
    expected = F.interpolate(F.pad(images, (2, 2, 2, 2)), size=(12, 10), mode=mode,
                             antialias=True, align_corners=False).clamp(0.0, 1.0)
    torch.testing.assert_close(out, reference_normalize(expected), rtol=0, atol=1e-5)


def test_train_resizes_with_the_configured_filter():
    images = float_batch(2, 24, 20)
    out = A.TrainAugment(plain(interpolation="bicubic"))(images, seeded())
    expected = F.interpolate(images, size=(12, 10), mode="bicubic", antialias=True,
                             align_corners=False).clamp(0.0, 1.0)
    torch.testing.assert_close(out, reference_normalize(expected), rtol=0, atol=1e-5)


INVERT_ALWAYS = ((("invert", 1.0, 0),),)
"""A policy of one sub-policy: invert, always (it changes every image)."""


def _inverted_samples(per_batch: bool, seed: int) -> torch.Tensor:
    images = float_batch(6, 5, 5)
    out = A.AutoAugment(1.0, INVERT_ALWAYS, per_batch=per_batch)(images, seeded(seed),
                                                                   progress=0.5)
    inverted = torch.isclose(out, 1.0 - images).flatten(1).all(dim=1)
    assert bool((inverted | torch.isclose(out, images).flatten(1).all(dim=1)).all())
    return inverted


def test_autoaugment_per_batch_draws_once_for_the_whole_batch():
    # p(0.5) = 0.5: per batch every batch is all inverted or all plain, and both happen
    # over 30 seeds; per sample some batch mixes them.
    per_batch = [_inverted_samples(True, seed) for seed in range(30)]
    assert all(bool(b.all()) or not bool(b.any()) for b in per_batch)
    assert {bool(b.all()) for b in per_batch} == {True, False}
    per_sample = [_inverted_samples(False, seed) for seed in range(30)]
    assert any(bool(b.any()) and not bool(b.all()) for b in per_sample)


def test_train_augment_passes_autoaugment_per_batch():
    assert A.TrainAugment(plain(autoaugment_p=1.0, autoaugment_per="batch")).autoaugment.per_batch
    assert not A.TrainAugment(plain(autoaugment_p=1.0)).autoaugment.per_batch


@pytest.mark.parametrize("overrides, message", [
    ({"interpolation": "nearest"}, "interpolation must be one of"),
    ({"autoaugment_per": "epoch"}, "autoaugment_per must be one of"),
])
def test_augment_config_rejects_unknown_filter_and_draw(overrides, message):
    with pytest.raises(ValueError, match=message):
        plain(**overrides)


def test_autoaugment_per_batch_must_be_a_bool():
    with pytest.raises(TypeError, match="per_batch must be a bool"):
        A.AutoAugment(1.0, per_batch=1)
