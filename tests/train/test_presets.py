"""The shipped presets (each constant written out as the seed's code and run names give
it), ``--print-config``, ``--smoke`` on every preset, ``--finetune`` and
``--tensorboard``."""

from __future__ import annotations

import json
import sys
import types
from pathlib import Path

import pytest
import torch

from reid_fast.cli.train import main
from reid_fast.models import BACKBONES, build_model
from reid_fast.runs.checkpoint import load_checkpoint
from reid_fast.runs.config import (
    SMOKE_OVERRIDES,
    build_parser,
    config_from_args,
    preset_names,
)
from reid_fast.train.finetune import load_finetune
from reid_fast.train.tensorboard import (
    TENSORBOARD_MISSING,
    ScalarLog,
    tensorboard_available,
)
from reid_fast.train.trainer import MetricsLog

TINY = ["--synthetic-train-ids", "12", "--synthetic-test-ids", "8", "--image-size", "32", "32",
        "--batch-size", "16", "--instances", "4", "--no-progress", "--no-rerank",
        "--no-eval-untrained", "--eval-batch-size", "64", "--device", "cpu"]

_SEED_AUGMENT = {"interpolation": "bicubic", "pad": 15, "random_resized_crop": True,
                 "rrc_scale": [0.75, 1.0], "rrc_ratio": [0.75, 1.3333], "flip_p": 0.5,
                 "erasing_p": 0.5, "color_jitter": 0.0}
_SEED_SGD = {"optimizer": "sgd", "momentum": 0.9, "weight_decay": 5e-4, "gamma": 0.1,
             "backbone_lr_mult": 0.1, "schedule": "multistep"}
_CLASS_BLOCK = {"head": "classblock", "embedding_dim": 512, "pool": "avg", "last_stride": 1,
                "sampler": "shuffle", "loss": "ce", "label_smoothing": 0.0,
                "precision": "fp32", "data": [], "synthetic": False, "finetune": ""}

EXPECTED = {
    "aicity2020": {
        **_CLASS_BLOCK, **_SEED_AUGMENT, **_SEED_SGD,
        "arch": "se_resnext101_32x4d", "image_size": [384, 384], "dropout": 0.0,
        "batch_size": 24, "autoaugment_p": 1.0, "autoaugment_per": "batch",
        "lr": 0.02, "milestones": [60, 75], "epochs": 80, "warmup_epochs": 5.0,
        "warmup_start": 0.1, "arc_scale": 64.0, "arc_margin": 0.5,
    },
    "aicity2020-ft": {
        **_CLASS_BLOCK, **_SEED_AUGMENT, **_SEED_SGD,
        "arch": "se_resnext101_32x4d", "image_size": [384, 384], "dropout": 0.0,
        "batch_size": 24, "autoaugment_p": 0.0, "lr": 0.02, "milestones": [30],
        "epochs": 40, "warmup_epochs": 0.0, "arc_scale": 64.0, "arc_margin": 0.5,
    },
    "veri776": {
        **_CLASS_BLOCK, **_SEED_AUGMENT, **_SEED_SGD,
        "arch": "resnet50", "image_size": [256, 256], "dropout": 0.0, "batch_size": 48,
        "autoaugment_p": 0.0, "lr": 0.02, "milestones": [60, 75], "epochs": 80,
        "warmup_epochs": 0.0,
    },
    "veri776-ft": {
        **_CLASS_BLOCK, **_SEED_AUGMENT, **_SEED_SGD,
        "arch": "resnet50", "image_size": [256, 256], "dropout": 0.2, "batch_size": 48,
        "autoaugment_p": 0.0, "lr": 0.01, "milestones": [30], "epochs": 40,
        "warmup_epochs": 5.0, "warmup_start": 0.1,
    },
    "transreid": {
        "arch": "vit_base_patch16", "head": "bnneck", "image_size": [256, 256],
        "sampler": "pk", "instances": 4, "batch_size": 64, "loss": "ce+triplet",
        "label_smoothing": 0.1, "triplet_margin": 0.3, "interpolation": "bicubic", "pad": 10,
        "random_resized_crop": False, "flip_p": 0.5, "erasing_p": 0.5, "autoaugment_p": 0.0,
        "optimizer": "sgd", "lr": 0.008, "momentum": 0.9, "weight_decay": 1e-4,
        "backbone_lr_mult": 1.0, "schedule": "cosine", "epochs": 120, "warmup_epochs": 5.0,
        "warmup_start": 0.01, "precision": "fp32",
    },
}


def _printed_config(capsys, *argv: str) -> dict:
    assert main([*argv, "--print-config"]) == 0
    sections = json.loads(capsys.readouterr().out)
    return {k: v for section in sections.values() for k, v in section.items()}


def test_every_preset_is_tested():
    assert preset_names() == sorted(EXPECTED)


@pytest.mark.parametrize("preset", sorted(EXPECTED))
def test_print_config_gives_the_seed_constants(preset, capsys):
    flat = _printed_config(capsys, "--config", preset)
    assert {k: flat[k] for k in EXPECTED[preset]} == EXPECTED[preset]


def test_print_config_applies_smoke_then_explicit_options(capsys):
    flat = _printed_config(capsys, "--config", "aicity2020", "--smoke", "--batch-size", "6")
    assert flat["image_size"] == [64, 64] and flat["max_steps"] == 3
    assert flat["batch_size"] == 6                       # explicit beats --smoke
    assert flat["arch"] == "se_resnext101_32x4d"         # the preset's backbone stays
    assert {k: flat[k] for k in SMOKE_OVERRIDES if k != "batch_size"} == {
        k: v for k, v in SMOKE_OVERRIDES.items() if k != "batch_size"}


@pytest.fixture(scope="module")
def smoke_dir(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("smoke")


@pytest.mark.parametrize("preset", sorted(EXPECTED))
def test_smoke_runs_every_preset(preset, smoke_dir, capsys):
    arch = EXPECTED[preset]["arch"]
    if arch not in BACKBONES:
        pytest.skip(f"backbone {arch!r} is not registered in this tree (models/vit.py)")
    assert main(["--config", preset, "--smoke", "--cache-dir", str(smoke_dir / "cache"),
                 "--output", str(smoke_dir), "--name", preset]) == 0
    run = smoke_dir / preset
    steps = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    assert [r["step"] for r in steps if "loss" in r] == [1, 2, 3]
    saved = json.loads((run / "config.json").read_text())
    assert saved["model"]["arch"] == arch and saved["data"]["image_size"] == [64, 64]
    assert "3 steps" in capsys.readouterr().out


@pytest.fixture(scope="module")
def stage_one(tmp_path_factory) -> Path:
    """A finished 2-step run of the small ResNet with a class block, 12 identities."""
    out = tmp_path_factory.mktemp("stage1")
    assert main([*TINY, "--cache-dir", str(out / "cache"), "--output", str(out),
                 "--name", "one", "--head", "classblock", "--embedding-dim", "32",
                 "--max-steps", "2"]) == 0
    return out / "one"


def test_finetune_carries_all_but_the_classifier(stage_one):
    saved = load_checkpoint(stage_one / "model.pt")
    before = saved["model"]
    torch.manual_seed(5)
    model = build_model("resnet_small", 7, head="classblock", embedding_dim=32)
    fresh = {k: v.clone() for k, v in model.state_dict().items()}
    report = load_finetune(model, stage_one)
    after = model.state_dict()
    assert report.reinitialised == ("head.classifier.weight", "head.classifier.bias")
    assert set(report.carried) == set(after) - set(report.reinitialised)
    assert {"head.linear.weight", "head.bn.running_mean", "head.bn.num_batches_tracked"} <= set(
        report.carried)
    for key in report.carried:
        assert torch.equal(after[key], before[key]), key
    for key in report.reinitialised:
        assert after[key].shape[0] == 7 and before[key].shape[0] == saved["num_classes"]
        assert torch.equal(after[key], fresh[key]), key


def test_finetune_refuses_another_architecture(stage_one):
    model = build_model("resnet_small", 7, head="bnneck")
    with pytest.raises(ValueError, match="--finetune .*differs from this run's outside the"):
        load_finetune(model, stage_one)
    with pytest.raises(FileNotFoundError, match="--finetune .*no trained model at"):
        load_finetune(model, stage_one / "nothing")


def test_finetune_option_starts_stage_two(stage_one, capsys):
    out = stage_one.parent
    assert main([*TINY, "--synthetic-train-ids", "10", "--cache-dir", str(out / "cache"),
                 "--output", str(out), "--name", "two", "--head", "classblock",
                 "--embedding-dim", "32", "--max-steps", "1", "--finetune", str(stage_one)]) == 0
    line = next(x for x in capsys.readouterr().out.splitlines() if x.startswith("finetune:"))
    assert str(stage_one / "model.pt") in line
    assert line.endswith("new classifier: head.classifier.weight, head.classifier.bias")
    assert load_checkpoint(out / "two" / "model.pt")["num_classes"] == 10


def test_tensorboard_missing_is_one_line(tmp_path, capsys):
    if tensorboard_available():
        pytest.skip("tensorboard is installed here")
    assert main([*TINY, "--output", str(tmp_path), "--tensorboard"]) == 2
    err = capsys.readouterr().err
    assert err == f"error: {TENSORBOARD_MISSING}\n"
    assert "pip install 'reid_fast[tensorboard]'" in err
    with pytest.raises(ModuleNotFoundError, match="needs the tensorboard package"):
        ScalarLog(tmp_path)


class _Writer:
    """Stands in for torch.utils.tensorboard.SummaryWriter: records the calls."""

    def __init__(self, log_dir: str) -> None:
        self.log_dir, self.scalars, self.closed = log_dir, [], False

    def add_scalar(self, tag: str, value: float, step: int) -> None:
        self.scalars.append((tag, value, step))

    def close(self) -> None:
        self.closed = True


def test_metrics_records_become_tensorboard_scalars(tmp_path, monkeypatch):
    fake = types.ModuleType("torch.utils.tensorboard")
    fake.SummaryWriter = _Writer
    monkeypatch.setitem(sys.modules, "torch.utils.tensorboard", fake)
    log = MetricsLog(tmp_path / "metrics.jsonl", True, ScalarLog(tmp_path))
    log.write(step=3, epoch=0, loss=2.5, parts={"ce": 2.0}, lr=0.02, lr_backbone=0.002,
              images_per_s=10.0)
    log.write(eval="final", epoch=1, step=4, seconds=1.5,
              plain={"mAP": 0.5, "rank1": 0.75}, classification={"top1": None})
    writer = log.scalars.writer
    log.close()
    assert writer.log_dir == str(tmp_path / "tensorboard") and writer.closed
    assert writer.scalars == [
        ("train/loss", 2.5, 3), ("train/parts/ce", 2.0, 3), ("train/lr", 0.02, 3),
        ("train/lr_backbone", 0.002, 3), ("train/images_per_s", 10.0, 3),
        ("eval/seconds", 1.5, 4), ("eval/plain/mAP", 0.5, 4), ("eval/plain/rank1", 0.75, 4),
    ]
    assert len(log.read()) == 2


def _one_error_line(capsys) -> str:
    err = capsys.readouterr().err
    assert err.startswith("error: ") and err.count("\n") == 1, err
    return err


def test_an_existing_run_is_refused_without_overwrite(tmp_path, capsys):
    run = tmp_path / "r"
    run.mkdir()
    (run / "config.json").write_text("{}\n")
    argv = [*TINY, "--cache-dir", str(tmp_path / "cache"), "--output", str(tmp_path),
            "--name", "r", "--max-steps", "1"]
    assert main(argv) == 2
    err = _one_error_line(capsys)
    assert f"{run} already holds a run (config.json): continue it with --resume {run}" in err
    assert "--overwrite" in err
    assert [p.name for p in run.iterdir()] == ["config.json"]     # untouched
    assert main([*argv, "--resume", str(run), "--overwrite"]) == 2
    assert "--overwrite replaces a run and --resume continues one" in _one_error_line(capsys)


def test_overwrite_deletes_the_training_files_first(tmp_path, capsys):
    run = tmp_path / "r"
    (run / "tensorboard").mkdir(parents=True)
    for name in ("model.pt", "checkpoint.pt", "final_eval.json", "curves.png", "notes.txt"):
        (run / name).write_text("old\n")
    (run / "metrics.jsonl").write_text('{"step": 99, "loss": 9.0}\n')
    assert main([*TINY, "--cache-dir", str(tmp_path / "cache"), "--output", str(tmp_path),
                 "--name", "r", "--max-steps", "1", "--overwrite"]) == 0
    records = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    assert [(r.get("eval"), r["step"]) for r in records] == [("step 1", 1)]   # step 99 gone
    assert not (run / "tensorboard").exists()
    assert (run / "notes.txt").read_text() == "old\n"              # not a training file
    assert load_checkpoint(run / "model.pt")["num_classes"] == 12
    assert load_checkpoint(run)["position"]["global_step"] == 1
    assert not json.loads((run / "config.json").read_text())["train"].get("overwrite")


@pytest.mark.parametrize("content", [b"", b"random \x00\xff bytes" * 50])
def test_resume_of_an_unreadable_checkpoint_is_one_error_line(tmp_path, capsys, content):
    run = tmp_path / "r"
    config = config_from_args(build_parser().parse_args(
        [*TINY, "--cache-dir", str(tmp_path / "cache"), "--output", str(tmp_path), "--name", "r"]))
    config.save(run / "config.json")
    (run / "checkpoint.pt").write_bytes(content)
    assert main(["--resume", str(run)]) == 2
    err = _one_error_line(capsys)
    assert err.startswith(f"error: --resume {run}: {run / 'checkpoint.pt'} is not a readable "
                          "PyTorch file")


def test_negative_epochs_are_one_error_line(capsys):
    assert main(["--epochs", "-1", "--print-config"]) == 2
    assert _one_error_line(capsys) == "error: --epochs must be >= 1, got -1\n"
