"""The training input pipeline and the training step.

- input_pipeline: images/s delivered into the model, as normalised, augmented float
  batches on the model's device. Ours: the decode-once uint8 memmap cache + BatchLoader +
  batched TrainAugment. Baseline: the per-image Pillow pipeline of the public re-ID
  baselines (open JPEG, resize, pad, random crop, flip, to float, normalise, random
  erasing; collated by a torch DataLoader with 2 persistent worker processes). Same JPEGs,
  same size (256 x 256), same augmentations, same batch size (64), same run.
  The cache is built once per dataset and size and reused across epochs and runs, so its
  one-off build time is recorded beside the benchmark (``cache_build_s``), not timed.
- train_step: one ResNet-50 training step (augment + forward + backward + SGD) at
  256 x 256 from the cached pipeline: images/s. CPU float32 (batch 16); CUDA bf16 +
  channels-last (batch 64), with the GPU utilisation sampled by nvidia-smi.
"""

from __future__ import annotations

import random
import time

import numpy as np
import pytest
import torch

import reid_bench

SIZE = tuple(reid_bench.TRAINING["image_size"])
BATCH = reid_bench.TRAINING["batch"]
BATCHES_PER_ROUND = reid_bench.TRAINING["batches_per_round"]


@pytest.fixture(scope="session")
def jpeg_records(tmp_path_factory):
    """Synthetic vehicles written as VeRi-layout JPEGs at 256 x 256, re-read by the VeRi
    loader: the training records both pipelines read."""
    from reid_fast.data.formats import load_veri
    from reid_fast.data.synthetic import SyntheticConfig, SyntheticVehicles

    root = tmp_path_factory.mktemp("veri")
    SyntheticVehicles(SyntheticConfig(num_train_ids=reid_bench.TRAINING["train_ids"], num_test_ids=4,
                                      image_size=SIZE)).write(
        root, layout="veri")
    records = load_veri(root).train
    assert len(records) >= BATCH * BATCHES_PER_ROUND
    return records


@pytest.fixture(scope="session")
def image_cache(jpeg_records, tmp_path_factory):
    from reid_fast.data.cache import ImageCache

    start = time.perf_counter()
    cache = ImageCache.build(jpeg_records, SIZE, cache_dir=tmp_path_factory.mktemp("cache"),
                             progress=False)
    return cache, time.perf_counter() - start


class PillowTrainDataset(torch.utils.data.Dataset):
    """The per-image pipeline: every image decoded and transformed on every epoch."""

    def __init__(self, records, size, pad=10, flip_p=0.5, erasing_p=0.5):
        self.records, self.size, self.pad = records, size, pad
        self.flip_p, self.erasing_p = flip_p, erasing_p
        self.mean = np.array([0.485, 0.456, 0.406], np.float32)[:, None, None]
        self.std = np.array([0.229, 0.224, 0.225], np.float32)[:, None, None]

    def __len__(self):
        return len(self.records)

    def __getitem__(self, i):
        from PIL import Image, ImageOps

        h, w = self.size
        with Image.open(self.records[i].path) as image:
            image = image.convert("RGB").resize((w, h), Image.BILINEAR)
        image = ImageOps.expand(image, border=self.pad, fill=0)
        x0, y0 = random.randint(0, 2 * self.pad), random.randint(0, 2 * self.pad)
        image = image.crop((x0, y0, x0 + w, y0 + h))
        if random.random() < self.flip_p:
            image = image.transpose(Image.FLIP_LEFT_RIGHT)
        x = np.asarray(image, dtype=np.float32).transpose(2, 0, 1) / 255.0
        x = (x - self.mean) / self.std
        if random.random() < self.erasing_p:
            for _ in range(100):
                area = random.uniform(0.02, 0.4) * h * w
                ratio = np.exp(random.uniform(np.log(0.3), np.log(3.3)))
                eh, ew = int(round((area * ratio) ** 0.5)), int(round((area / ratio) ** 0.5))
                if eh < h and ew < w:
                    y, xx = random.randint(0, h - eh), random.randint(0, w - ew)
                    x[:, y:y + eh, xx:xx + ew] = 0.0   # the mean, as TrainAugment's default
                    break
        return torch.from_numpy(x), self.records[i].pid


def _augment_config():
    from reid_fast.augment import AugmentConfig

    return AugmentConfig(size=SIZE, pad=10, flip_p=0.5, erasing_p=0.5)


@pytest.mark.parametrize("side", ["ours", "baseline"])
def test_input_pipeline(benchmark, record, request, jpeg_records, image_cache, side):
    from reid_fast.augment import TrainAugment
    from reid_fast.data.loader import BatchLoader
    from reid_fast.data.records import relabel
    from reid_fast.data.samplers import ShuffleSampler

    device = "cuda" if torch.cuda.is_available() else "cpu"
    cache, build_s = image_cache
    labels, _ = relabel(cache.records)
    if side == "ours":
        loader = BatchLoader(cache, labels, ShuffleSampler(labels, BATCH, seed=0), device)
        augment = TrainAugment(_augment_config())
        generator = torch.Generator().manual_seed(0)
        epoch = iter(range(10**6))
        buffer = [None]   # the trainer's pattern: the previous batch's buffer is reused

        def run():
            n = 0
            for i, (images, _, _) in enumerate(loader.epoch(next(epoch))):
                x = augment(images, generator, out=buffer[0])
                buffer[0] = x
                n += x.shape[0]
                if i + 1 == BATCHES_PER_ROUND:
                    break
            reid_bench.synchronize(device)
            return n

        impl = "uint8 memmap cache + BatchLoader + TrainAugment (reused output buffer)"
    else:
        loader = torch.utils.data.DataLoader(
            PillowTrainDataset(jpeg_records, SIZE), batch_size=BATCH, shuffle=True,
            num_workers=2, persistent_workers=True, drop_last=True,
            pin_memory=device == "cuda")

        def run():
            n = 0
            for i, (x, _) in enumerate(loader):
                x = x.to(device, non_blocking=True)
                n += x.shape[0]
                if i + 1 == BATCHES_PER_ROUND:
                    break
            reid_bench.synchronize(device)
            return n

        impl = "per-image Pillow transforms, DataLoader(num_workers=2)"
    run()  # warm-up: worker start-up, first touch of the memmap and of the allocator's pages
    benchmark.group = f"input_pipeline {device}"
    rounds = request.config.getoption("--reid-rounds") or 10
    images = benchmark.pedantic(run, rounds=rounds, warmup_rounds=2, iterations=1)
    fields = {"op": "input_pipeline", "side": side, "impl": impl, "size": f"{SIZE[0]}x{SIZE[1]}-b{BATCH}",
              "device": device, "dtype": "uint8->float32", "images_per_round": images,
              "images_per_s": images / benchmark.stats.stats.median,
              "cache_build_s": build_s if side == "ours" else None,
              "num_images": len(jpeg_records), "peak_memory_bytes": None}
    benchmark.extra_info.update(fields)
    record(benchmark, **fields)


def test_train_step_resnet50(benchmark, record, request, image_cache):
    from reid_fast.augment import TrainAugment
    from reid_fast.data.records import relabel
    from reid_fast.losses import build_loss
    from reid_fast.models import build_model

    cuda = torch.cuda.is_available()
    device = torch.device("cuda" if cuda else "cpu")
    batch = reid_bench.TRAINING["step_batch"][device.type]
    dtype = torch.bfloat16 if cuda else None
    cache, _ = image_cache
    labels, mapping = relabel(cache.records)
    model = build_model("resnet50", len(mapping)).to(device, memory_format=torch.channels_last)
    criterion = build_loss("ce+triplet", num_classes=len(mapping), feat_dim=model.embedding_dim).to(device)
    optimizer = torch.optim.SGD(list(model.parameters()) + list(criterion.parameters()), lr=0.01,
                                momentum=0.9, nesterov=True)
    augment = TrainAugment(_augment_config())
    generator = torch.Generator().manual_seed(0)
    index = np.arange(batch)
    images = cache.batch(index).to(device).permute(0, 3, 1, 2)
    target = torch.as_tensor([labels[i] for i in index], device=device)

    def step():
        x = augment(images, generator)
        with torch.autocast(device.type, dtype=dtype or torch.float32, enabled=dtype is not None):
            loss, _ = criterion(model(x), target)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        reid_bench.synchronize(device.type)

    benchmark.group = f"train_step resnet50 {device.type}"
    rounds = request.config.getoption("--reid-rounds") or (20 if cuda else 2)
    with reid_bench.GpuUtilisation() as utilisation:
        benchmark.pedantic(step, rounds=rounds, warmup_rounds=2 if cuda else 1, iterations=1)
    fields = {"op": "train_step_resnet50", "side": "ours", "impl": "ResNet-50 BNNeck ce+triplet SGD",
              "size": f"{SIZE[0]}x{SIZE[1]}-b{batch}", "device": device.type,
              "dtype": "bf16 autocast, channels-last" if cuda else "float32, channels-last",
              "images_per_s": batch / benchmark.stats.stats.median,
              "gpu_utilisation_percent": utilisation.mean, "peak_memory_bytes": None}
    benchmark.extra_info.update(fields)
    record(benchmark, **fields)
