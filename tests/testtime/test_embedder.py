"""reid_fast.load(RUN).embed(images): the public inference API, checked against the
extraction path of ``reid-fast extract`` (extract_split) on the same image files."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image

import reid_fast
from reid_fast.data.records import ImageRecord
from reid_fast.testtime.extraction import extract_split


@pytest.fixture(scope="module")
def images(tmp_path_factory):
    """Five image files of various sizes (none at the model's size)."""
    folder = tmp_path_factory.mktemp("images")
    rng = np.random.default_rng(3)
    paths = []
    for i, (h, w) in enumerate([(40, 60), (64, 48), (48, 48), (90, 30), (33, 71)]):
        path = folder / f"im{i}.png"
        Image.fromarray(rng.integers(0, 256, size=(h, w, 3), dtype=np.uint8)).save(path)
        paths.append(str(path))
    return paths


@pytest.fixture(scope="module")
def model(run):
    return reid_fast.load(run, device="cpu")


def _extracted(model, paths, tmp_path, scales=(1.0,), flip=True):
    records = [ImageRecord(p, 0) for p in paths]
    features, placeholders = extract_split(model.run.model, records, image_size=model.image_size,
                                           scales=scales, flip=flip, device=torch.device("cpu"),
                                           batch_size=2, cache_dir=str(tmp_path), progress=False)
    assert features.shape[0] == len(paths) and not placeholders
    return features


@pytest.mark.parametrize("scales, flip", [((1.0,), True), ((1.0,), False), ((1.0, 1.25), True)])
def test_paths_give_the_extracted_features(model, images, tmp_path, scales, flip):
    got = model.embed(images, scales=scales, flip=flip, batch_size=3)
    expected = _extracted(model, images, tmp_path, scales, flip)
    assert got.shape == (len(images), model.embedding_dim) and got.dtype == torch.float32
    torch.testing.assert_close(got, expected, rtol=0, atol=2e-6)
    torch.testing.assert_close(got.norm(dim=1), torch.ones(len(images)), rtol=0, atol=1e-5)


def test_every_input_kind_gives_the_same_features(model, images):
    expected = model.embed(images)
    pil = [Image.open(p) for p in images]
    arrays = [np.asarray(im.convert("RGB")) for im in pil]
    torch.testing.assert_close(model.embed(pil), expected, rtol=0, atol=0)
    torch.testing.assert_close(model.embed(arrays), expected, rtol=0, atol=0)
    mixed = [images[0], pil[1], arrays[2], images[3], arrays[4]]
    torch.testing.assert_close(model.embed(mixed), expected, rtol=0, atol=0)
    # one image alone: another batch size, so the convolutions may round differently
    torch.testing.assert_close(model.embed(images[2]), expected[2:3], rtol=0, atol=1e-6)
    for batch_size in (1, 2, 64):
        torch.testing.assert_close(model.embed(images, batch_size=batch_size), expected,
                                   rtol=0, atol=1e-6)


def test_tensors_at_the_model_size(model, images):
    h, w = model.image_size
    rng = np.random.default_rng(5)
    batch = rng.integers(0, 256, size=(3, h, w, 3), dtype=np.uint8)  # (N, H, W, 3)
    from_arrays = model.embed(batch)
    as_uint8 = torch.from_numpy(batch).permute(0, 3, 1, 2)
    torch.testing.assert_close(model.embed(as_uint8), from_arrays, rtol=0, atol=0)
    torch.testing.assert_close(model.embed(list(as_uint8)), from_arrays, rtol=0, atol=0)
    torch.testing.assert_close(model.embed(as_uint8.float() / 255), from_arrays, rtol=0, atol=1e-5)
    # a tensor of another size is resized on its device: close to the host path, not equal
    big = torch.from_numpy(np.array(Image.open(images[1]).convert("RGB"))).permute(2, 0, 1)
    assert torch.nn.functional.cosine_similarity(model.embed(big), model.embed(images[1])) > 0.95


def test_empty_input_and_errors(model, images):
    assert model.embed([]).shape == (0, model.embedding_dim)
    with pytest.raises(TypeError, match=r"images\[1\] must be a path, a PIL image"):
        model.embed([images[0], 3.5])
    with pytest.raises(TypeError, match="images must be a path"):
        model.embed(7)
    with pytest.raises(ValueError, match=r"images\[0\] must be an \(H, W, 3\) uint8 array"):
        model.embed([np.zeros((8, 8), np.uint8)])
    with pytest.raises(ValueError, match=r"images\[0\] must be a \(3, H, W\) tensor"):
        model.embed([torch.zeros(4, 8, 8)])
    with pytest.raises(TypeError, match="uint8 or floating point"):
        model.embed(torch.zeros(3, 8, 8, dtype=torch.int32))
    with pytest.raises(ValueError, match="batch_size must be >= 1, got 0"):
        model.embed(images, batch_size=0)
    with pytest.raises(ValueError, match="scales"):
        model.embed(images, scales=())
    with pytest.raises(FileNotFoundError, match="no trained model"):
        reid_fast.load(images[0] + ".missing")


def test_repr_and_attributes(model, run):
    assert model.device == torch.device("cpu") and model.image_size == (48, 48)
    assert str(run) in repr(model) and "resnet_small" in repr(model)


@pytest.mark.cuda
def test_cuda_matches_cpu(run, images, cuda):
    on_gpu = reid_fast.load(run, device=cuda).embed(images)
    assert on_gpu.device.type == "cuda"
    torch.testing.assert_close(on_gpu.cpu(), reid_fast.load(run).embed(images), rtol=0, atol=1e-3)
