"""The seed's test-time inputs (layumi/AICIty-reID-2020, pytorch/test_2020.py and
submit_result_multimodel.py): the round(1.1 x size) bicubic test size, its cumulative
multi-scale TTA and the crop fusion, each checked against a per-image computation or a
literal transcription of the seed's extract_feature."""

from __future__ import annotations

import json
import math
import shutil

import numpy as np
import pytest
import torch
from PIL import Image

from reid_fast.augment.convert import IMAGENET_MEAN, IMAGENET_STD
from reid_fast.cli import extract, pipeline
from reid_fast.data.cache import ImageCache
from reid_fast.data.formats import load_aicity
from reid_fast.data.records import ImageRecord
from reid_fast.runs.datasets import synthetic_vehicles
from reid_fast.testtime.extraction import extract_split, seed_view
from reid_fast.testtime.feature_file import load_features
from reid_fast.testtime.run_model import load_run

CPU = torch.device("cpu")
FILTERS = {"bilinear": Image.Resampling.BILINEAR, "bicubic": Image.Resampling.BICUBIC}


@pytest.fixture(scope="module")
def trained(run):
    return load_run(run, CPU)


@pytest.fixture(scope="module")
def images(tmp_path_factory):
    """Five image files of various sizes."""
    folder = tmp_path_factory.mktemp("seed_images")
    rng = np.random.default_rng(11)
    paths = []
    for i, (h, w) in enumerate([(40, 60), (64, 48), (53, 53), (90, 30), (33, 71)]):
        path = folder / f"im{i}.png"
        Image.fromarray(rng.integers(0, 256, size=(h, w, 3), dtype=np.uint8)).save(path)
        paths.append(str(path))
    return paths


def _pillow_batch(paths, size, interpolation):
    """(N, 3, H, W) normalised float32: each image resized alone by Pillow (what
    torchvision's Resize(size, interpolation) + ToTensor + Normalize give)."""
    rows = []
    for path in paths:
        with Image.open(path) as image:
            resized = image.convert("RGB").resize((size[1], size[0]), FILTERS[interpolation])
        rows.append(torch.from_numpy(np.asarray(resized).copy()).permute(2, 0, 1).float() / 255)
    x = torch.stack(rows)
    mean = torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1)
    std = torch.tensor(IMAGENET_STD).view(1, 3, 1, 1)
    return (x - mean) / std


@torch.no_grad()
def _per_image(model, paths, size, interpolation="bilinear"):
    """normalise(model(x) + model(mirror x)) of each image, one forward per image."""
    model.eval()
    out = []
    for x in _pillow_batch(paths, size, interpolation).split(1):
        out.append(torch.nn.functional.normalize(model(x) + model(x.flip(3)), dim=1))
    return torch.cat(out)


def _extract(trained, paths, tmp_path, **options):
    records = [ImageRecord(p, 0) for p in paths]
    features, placeholders = extract_split(trained.model, records, image_size=trained.image_size,
                                           device=CPU, batch_size=2, cache_dir=str(tmp_path),
                                           progress=False, **options)
    assert features.shape[0] == len(paths) and not placeholders
    return features


def test_bicubic_test_size_is_a_per_image_pillow_resize(trained, images, tmp_path):
    assert trained.image_size == (48, 48)          # round(48 x 1.1) = 53
    got = _extract(trained, images, tmp_path, size_factor=1.1, interpolation="bicubic")
    expected = _per_image(trained.model, images, (53, 53), "bicubic")
    torch.testing.assert_close(got, expected, rtol=0, atol=1e-5)
    bilinear = _extract(trained, images, tmp_path, size_factor=1.1)
    torch.testing.assert_close(bilinear, _per_image(trained.model, images, (53, 53)),
                               rtol=0, atol=1e-5)
    assert (got - bilinear).abs().max() > 1e-3


def test_the_cache_keys_on_the_interpolation(images, tmp_path):
    records = [ImageRecord(p, 0) for p in images]
    caches = {name: ImageCache.build(records, (53, 53), interpolation=name,
                                     cache_dir=str(tmp_path), progress=False)
              for name in ("bilinear", "bicubic", "bicubic")}
    assert caches["bilinear"].path != caches["bicubic"].path
    for name, cache in caches.items():
        expected = []
        for path in images:
            with Image.open(path) as image:
                expected.append(np.asarray(image.convert("RGB").resize((53, 53), FILTERS[name])))
        np.testing.assert_array_equal(np.asarray(cache.images), np.stack(expected))
    # a bicubic cache is rebuilt when a file changes (the files' stamps are in its key)
    Image.new("RGB", (20, 20), (200, 10, 10)).save(images[0] + ".tmp.png")
    shutil.move(images[0] + ".tmp.png", images[0])
    again = ImageCache.build(records, (53, 53), interpolation="bicubic", cache_dir=str(tmp_path),
                             progress=False)
    assert again.path != caches["bicubic"].path
    assert np.asarray(again.images)[0, 0, 0].tolist() == [200, 10, 10]


def test_seed_view_resizes_cumulatively():
    x = torch.arange(2 * 3 * 53 * 53, dtype=torch.float32).view(2, 3, 53, 53)
    assert seed_view(x, [1.0]) is x
    # floor(floor(53 sqrt 1.1) sqrt 1.2) = floor(55 x 1.095) = 60, not round(53 sqrt 1.2) = 58
    assert seed_view(x, [1.0, math.sqrt(1.1), math.sqrt(1.2)]).shape[2:] == (60, 60)


@torch.no_grad()
def _seed_extract_feature(model, img, scales):
    """A literal transcription of the seed's extract_feature (test_2020.py) for one
    batch: flip loop, cumulative interpolation over ms = sqrt(scales), sum, normalise."""
    ms = [math.sqrt(float(s)) for s in scales]
    ff = torch.zeros(img.shape[0], model.embedding_dim)
    for i in range(2):
        if i == 1:
            img = img.flip(3)                          # fliplr
        input_img = img
        for scale in ms:
            if scale != 1:
                input_img = torch.nn.functional.interpolate(input_img, scale_factor=scale,
                                                            mode="bilinear", align_corners=False)
            outputs = model(input_img)
            ff += outputs
    fnorm = torch.norm(ff, p=2, dim=1, keepdim=True)
    return ff.div(fnorm.expand_as(ff))


@pytest.mark.parametrize("scales", [(1.0, 1.1), (1.0, 1.1, 1.2), (1.21, 1.0)])
def test_seed_tta_is_the_seeds_extract_feature(trained, images, tmp_path, scales):
    trained.model.eval()
    got = _extract(trained, images, tmp_path, size_factor=1.1, interpolation="bicubic",
                   tta="seed", scales=scales)
    expected = _seed_extract_feature(trained.model, _pillow_batch(images, (53, 53), "bicubic"),
                                     scales)
    torch.testing.assert_close(got, expected, rtol=0, atol=1e-5)


def test_bad_test_time_options(trained, images, tmp_path):
    with pytest.raises(ValueError, match="interpolation must be one of"):
        _extract(trained, images, tmp_path, interpolation="nearest")
    with pytest.raises(ValueError, match="tta must be one of"):
        _extract(trained, images, tmp_path, tta="multi")
    with pytest.raises(ValueError, match="size_factor must be"):
        _extract(trained, images, tmp_path, size_factor=0)
    with pytest.raises(ValueError, match="crops must give one path or None per record"):
        _extract(trained, images, tmp_path, crops=[None])


@pytest.fixture(scope="module")
def aicity(trained, tmp_path_factory):
    """The run's synthetic test set in the AICity layout, and crops (the central 80%) of
    every query image and of every other gallery image, at the same relative paths."""
    root = tmp_path_factory.mktemp("seed_aicity") / "data"
    synthetic_vehicles(trained.config).write(root, layout="aicity")
    data = load_aicity(root)
    crops = root.parent / "crops"
    cropped = [r.path for r in data.query] + [r.path for r in data.gallery[::2]]
    for path in cropped:
        target = crops / path[len(str(root)) + 1:]
        target.parent.mkdir(parents=True, exist_ok=True)
        with Image.open(path) as image:
            w, h = image.size
            image.convert("RGB").crop((round(0.1 * w), round(0.1 * h), round(0.9 * w),
                                       round(0.9 * h))).save(target)
    return root, crops, data, cropped


def test_crops_are_fused_as_the_seed_fuses_them(run, trained, aicity, tmp_path, capsys):
    root, crops, data, cropped = aicity
    out = tmp_path / "f.npz"
    assert extract.main([str(run), "--data", str(root), "--crops", str(crops), "--output",
                         str(out), "--no-progress", "--cache-dir", str(tmp_path / "c")]) == 0
    q, g = len(data.query), len(data.gallery)
    assert (f"crops fused for {q} of {q} query and {(g + 1) // 2} of {g} gallery images"
            in capsys.readouterr().out)
    features = load_features(out)
    assert features.meta["crops"] == {"dir": str(crops), "query": q, "gallery": (g + 1) // 2}
    for split, records in (("query", data.query), ("gallery", data.gallery)):
        paths = [r.path for r in records]
        own = _per_image(trained.model, paths, (48, 48))
        crop_paths = [str(crops / p[len(str(root)) + 1:]) for p in paths]
        with_crop = torch.tensor([p in cropped for p in paths])
        of_crops = _per_image(trained.model, [c if has else p for c, p, has in
                                              zip(crop_paths, paths, with_crop)], (48, 48))
        expected = torch.where(with_crop[:, None],
                               torch.nn.functional.normalize(own + of_crops, dim=1), own)
        torch.testing.assert_close(torch.from_numpy(getattr(features, split).features),
                                   expected, rtol=0, atol=1e-5)


def test_crops_without_a_matching_name_are_an_error(run, aicity, tmp_path, capsys):
    root = aicity[0]
    unrelated = tmp_path / "crops"
    (unrelated / "image_query").mkdir(parents=True)
    Image.new("RGB", (8, 8)).save(unrelated / "image_query" / "not_a_test_image.jpg")
    assert extract.main([str(run), "--data", str(root), "--crops", str(unrelated),
                         "--no-progress", "--output", str(tmp_path / "f.npz")]) == 2
    error = capsys.readouterr().err
    assert "crops: no file in" in error and "image_query" in error
    assert extract.main([str(run), "--crops", str(unrelated), "--no-progress",
                         "--output", str(tmp_path / "f.npz")]) == 2
    assert "has no root folder" in capsys.readouterr().err


def test_pipeline_takes_the_extraction_options():
    args = pipeline.build_parser().parse_args(["RUN", "--tta", "seed", "--test-size-factor", "1.1",
                                               "--interpolation", "bicubic", "--crops", "C"])
    assert (args.tta, args.test_size_factor, args.interpolation, args.crops) == (
        "seed", 1.1, "bicubic", "C")
    assert args.scales == [1.0, 1.125]
    assert json.loads(json.dumps(vars(args)))["tta"] == "seed"
