"""Training-engine pieces: configuration sources, schedules, EMA, atomic checkpoints,
the curve plot."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
import torch
from PIL import Image

from reid_fast.runs.checkpoint import load_checkpoint, save_atomic
from reid_fast.runs.config import (
    TrainConfig,
    build_parser,
    config_from_args,
    load_config_file,
    resolve_config_path,
)
from reid_fast.runs.model import build_run_model
from reid_fast.train.ema import ModelEMA
from reid_fast.train.optim import build_optimizer, lr_factor
from reid_fast.train.trainer import MetricsLog
from reid_fast.viz.curves import plot_training_curves


def test_defaults_then_file_then_command_line(tmp_path):
    path = tmp_path / "c.toml"
    path.write_text('[optim]\nlr = 0.5\nepochs = 3\n[data]\nimage_size = [32, 48]\n')
    cfg = config_from_args(build_parser().parse_args(["--config", str(path), "--epochs", "7"]))
    assert (cfg.lr, cfg.epochs, cfg.image_size) == (0.5, 7, [32, 48])
    assert cfg.arch == TrainConfig().arch


@pytest.mark.parametrize("preset", ["aicity2020", "veri776"])
def test_presets_resolve_and_load(preset):
    values = load_config_file(resolve_config_path(preset))
    cfg = TrainConfig(**values)
    expected = {"aicity2020": ("se_resnext101_32x4d", [384, 384], 24, 0.02, 0.5),
                "veri776": ("resnet50", [256, 256], 48, 0.02, 0.5)}[preset]
    assert (cfg.arch, cfg.image_size, cfg.batch_size, cfg.lr, cfg.erasing_p) == expected
    assert cfg.last_stride == 1


def test_config_file_errors(tmp_path):
    bad = tmp_path / "bad.toml"
    bad.write_text("[optim]\nlearning_rate = 1\n")
    with pytest.raises(ValueError, match="unknown key \\[optim\\] 'learning_rate'"):
        load_config_file(bad)
    bad.write_text("[optim]\nepochs = 'ten'\n")
    with pytest.raises(ValueError, match="epochs must be a int; got 'ten'"):
        load_config_file(bad)
    bad.write_text("[nope]\nx = 1\n")
    with pytest.raises(ValueError, match="unknown section \\[nope\\]"):
        load_config_file(bad)
    with pytest.raises(FileNotFoundError, match="neither a file nor a shipped preset"):
        resolve_config_path("no-such-preset")
    stored = tmp_path / "config.json"         # a run's config.json, cut short or garbage
    for content, message in ((b'{"optim": {"lr"', "not a readable JSON configuration"),
                             (b"\xff\xfe\x00", "not a readable JSON configuration"),
                             (b"[1, 2]", "a configuration is a JSON table of keys, got a list")):
        stored.write_bytes(content)
        with pytest.raises(ValueError, match=f"^{stored}: {message}"):
            load_config_file(stored)


def test_task_options(tmp_path):
    assert (TrainConfig().task, TrainConfig().orientation_bins) == ("identity", 36)
    cfg = config_from_args(build_parser().parse_args(["--task", "orientation", "--orientation-bins", "8"]))
    assert (cfg.task, cfg.orientation_bins) == ("orientation", 8)
    with pytest.raises(SystemExit):
        build_parser().parse_args(["--task", "color"])
    path = tmp_path / "c.toml"
    path.write_text('[data]\ntask = "colour"\n')
    with pytest.raises(ValueError, match=r"task must be one of 'identity', 'camera', 'orientation', got 'colour'"):
        TrainConfig(**load_config_file(path))
    with pytest.raises(TypeError, match="task must be a string, got int 2"):
        TrainConfig(task=2)
    with pytest.raises(ValueError, match="--orientation-bins must be between 1 and 360, got 0"):
        TrainConfig(orientation_bins=0)


@pytest.mark.parametrize("argv, message", [
    (["--epochs", "-1"], "--epochs must be >= 1, got -1"),
    (["--epochs", "0"], "--epochs must be >= 1, got 0"),
    (["--batch-size", "0"], "--batch-size must be >= 1, got 0"),
    (["--instances", "0"], "--instances must be >= 1, got 0"),
    (["--max-steps", "-1"], "--max-steps must be >= 0, got -1"),
    (["--image-size", "0", "32"], r"--image-size must be a pair \(H, W\) of integers >= 1"),
    (["--lr", "nan"], "--lr must be finite, got nan"),
    (["--lr", "-0.1"], "--lr must be > 0, got -0.1"),
    (["--lr", "0"], "--lr must be > 0, got 0.0"),
    (["--weight-decay", "-1"], "--weight-decay must be >= 0, got -1.0"),
    (["--flip-p", "1.5"], r"--flip-p must be in \[0, 1\], got 1.5"),
    (["--milestones", "10", "-5"], r"--milestones\[1\] must be >= 0, got -5"),
])
def test_out_of_range_options_name_the_option(argv, message):
    with pytest.raises(ValueError, match=f"^{message}"):
        config_from_args(build_parser().parse_args(argv))


def test_resolved_config_round_trips_through_json(tmp_path):
    cfg = TrainConfig(lr=0.123, data=["a", "b"], milestones=[3, 5])
    cfg.save(tmp_path / "config.json")
    assert TrainConfig(**load_config_file(tmp_path / "config.json")) == cfg


def test_lr_factor_by_hand():
    common = dict(total_steps=100, steps_per_epoch=10, warmup_epochs=1.0)
    # Warm-up: 0.01 + 0.99 * step / 10.
    assert lr_factor(0, schedule="cosine", **common) == pytest.approx(0.01)
    assert lr_factor(5, schedule="cosine", **common) == pytest.approx(0.505)
    # Cosine over the 90 steps after warm-up: step 55 is half-way -> 0.5.
    assert lr_factor(10, schedule="cosine", **common) == pytest.approx(1.0)
    assert lr_factor(55, schedule="cosine", **common) == pytest.approx(0.5)
    assert lr_factor(100, schedule="cosine", **common) == pytest.approx(0.0, abs=1e-12)
    # Multi-step at epochs 4 and 7 (steps 40 and 70), gamma 0.1.
    ms = dict(schedule="multistep", milestones=[4, 7], gamma=0.1, **common)
    assert [lr_factor(s, **ms) for s in (39, 40, 69, 70)] == pytest.approx([1, 0.1, 0.1, 0.01])
    with pytest.raises(ValueError, match="schedule must be"):
        lr_factor(20, schedule="linear", **common)


def test_lr_factor_warmup_start_by_hand():
    # The AICity 2020 winner's warm-up from x 0.1: 0.1 + 0.9 * step / 10.
    common = dict(total_steps=100, steps_per_epoch=10, warmup_epochs=1.0, schedule="multistep",
                  milestones=[6], warmup_start=0.1)
    assert [lr_factor(s, **common) for s in (0, 5, 9, 10)] == pytest.approx([0.1, 0.55, 0.91, 1])
    with pytest.raises(ValueError, match="warmup_start must lie in"):
        lr_factor(0, **{**common, "warmup_start": 0.0})


def test_optimizer_groups_and_backbone_multiplier():
    backbone = torch.nn.Linear(3, 4)
    head = torch.nn.Linear(4, 2)
    opt = build_optimizer("sgd", backbone.parameters(), head.parameters(), lr=0.1,
                          backbone_lr_mult=0.1, weight_decay=1e-3)
    lrs = sorted((g["lr"], g["weight_decay"], len(g["params"])) for g in opt.param_groups)
    # backbone weight (decay) + bias (no decay) at 0.01; head weight + bias at 0.1.
    assert lrs == [(pytest.approx(0.01), 0.0, 1), (pytest.approx(0.01), 1e-3, 1),
                   (0.1, 0.0, 1), (0.1, 1e-3, 1)]
    assert opt.defaults["nesterov"] is True
    with pytest.raises(ValueError, match="optimizer must be"):
        build_optimizer("lion", [], head.parameters(), lr=0.1)


def test_ema_by_hand():
    model = torch.nn.BatchNorm1d(2)
    ema = ModelEMA(model, decay=0.9)
    with torch.no_grad():
        model.weight.fill_(2.0)                  # ema: 0.9 * 1 + 0.1 * 2 = 1.1
        model.num_batches_tracked.fill_(5)       # integers are copied
    ema.update(model)
    assert torch.allclose(ema.module.weight, torch.full((2,), 1.1))
    assert int(ema.module.num_batches_tracked) == 5
    ema.update(model)                            # 0.9 * 1.1 + 0.2 = 1.19
    assert torch.allclose(ema.module.weight, torch.full((2,), 1.19))
    with pytest.raises(ValueError, match="decay must be in"):
        ModelEMA(model, 1.0)


def test_checkpoint_is_atomic(tmp_path, monkeypatch):
    path = tmp_path / "checkpoint.pt"
    save_atomic({"w": torch.ones(2)}, path)

    def broken_save(obj, f):
        f.write(b"partial")
        raise RuntimeError("disk full")

    monkeypatch.setattr(torch, "save", broken_save)
    with pytest.raises(RuntimeError, match="disk full"):
        save_atomic({"w": torch.zeros(2)}, path)
    monkeypatch.undo()
    assert torch.equal(load_checkpoint(tmp_path)["w"], torch.ones(2))   # the old one, intact
    assert [p.name for p in tmp_path.iterdir()] == ["checkpoint.pt"]   # no temporary left
    with pytest.raises(FileNotFoundError, match="checkpoint not found"):
        load_checkpoint(tmp_path / "nothing")


def test_curve_plot_draws_both_panels(tmp_path):
    path = tmp_path / "curves.png"
    steps = list(range(1, 21))
    plot_training_curves(path, {"total": (steps, [math.exp(-s / 5) for s in steps])},
                         {"mAP plain": ([0, 5], [3.0, 70.0])})
    image = Image.open(path).convert("RGB")
    assert image.size == (900, 380)
    left, right = image.crop((60, 30, 430, 340)), image.crop((500, 30, 880, 340))
    blue = (31, 119, 180)
    def has(panel, colour):
        return bool((np.asarray(panel) == colour).all(axis=2).any())

    assert has(left, blue)      # the loss line
    assert has(right, blue)     # the mAP points


def _saved_state(path) -> dict:
    """A trainer-like checkpoint (weights, optimiser state, plain values) saved to ``path``."""
    model = torch.nn.Linear(64, 32)
    optimizer = torch.optim.AdamW(model.parameters())
    model(torch.ones(1, 64)).sum().backward()
    optimizer.step()
    state = {"model": model.state_dict(), "optimizer": optimizer.state_dict(),
             "position": {"epoch": 1, "global_step": 4}, "classes": [3, 5], "evaluations": "[]"}
    save_atomic(state, path)
    return state


def test_checkpoint_checksum_catches_a_flipped_byte(tmp_path):
    path = tmp_path / "checkpoint.pt"
    state = _saved_state(path)
    loaded = load_checkpoint(path)
    assert "sha256" not in loaded and loaded["classes"] == [3, 5]
    assert torch.equal(loaded["model"]["weight"], state["model"]["weight"])
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0x01
    path.write_bytes(bytes(data))
    with pytest.raises(ValueError, match=f"--resume x: {path} is damaged: its content does not "
                                         "match the SHA-256 checksum"):
        load_checkpoint(path, what="--resume x")


def test_a_checkpoint_without_checksum_loads_with_a_warning(tmp_path):
    path = tmp_path / "model.pt"
    torch.save({"model": {"w": torch.ones(2)}}, path)      # as older versions wrote it
    with pytest.warns(UserWarning, match=f"{path} has no checksum"):
        assert torch.equal(load_checkpoint(path)["model"]["w"], torch.ones(2))


@pytest.mark.parametrize("damage", ["empty", "truncated", "random", "text", "list"])
def test_an_unreadable_checkpoint_is_a_value_error_naming_it(tmp_path, damage):
    path = tmp_path / "checkpoint.pt"
    _saved_state(path)
    data = path.read_bytes()
    if damage == "list":
        torch.save([1, 2], path)
    else:
        path.write_bytes({"empty": b"", "truncated": data[: len(data) // 2],
                          "random": np.random.default_rng(0).bytes(4000),
                          "text": b"not a checkpoint\n"}[damage])
    with pytest.raises(ValueError, match=f"^--resume {tmp_path}: {path} (is not a readable "
                                         "PyTorch file|holds a list)"):
        load_checkpoint(tmp_path, what=f"--resume {tmp_path}")


@pytest.mark.parametrize("content", [b"", b"not weights\n", bytes(range(256)) * 8])
def test_an_unreadable_pretrained_file_is_a_value_error_naming_it(tmp_path, content):
    path = tmp_path / "weights.pth"
    path.write_bytes(content)
    with pytest.raises(ValueError, match=f"^--pretrained: {path} is not a readable PyTorch file"):
        build_run_model(TrainConfig(), 4, pretrained=path)


def test_resume_cuts_the_metrics_log_back_to_the_checkpoint(tmp_path):
    path = tmp_path / "metrics.jsonl"
    records = [{"eval": "untrained", "step": 0}] + [{"step": s, "loss": 1.0 / s} for s in range(1, 8)]
    records.insert(5, {"eval": "epoch 1", "step": 4})
    lines = "".join(json.dumps(r) + "\n" for r in records)
    path.write_text(lines + '{"step": 8, "lo')      # killed in the middle of a write
    log = MetricsLog(path, True)
    log.truncate(4)
    assert log.read() == [r for r in records if r["step"] <= 4]
    assert [p.name for p in tmp_path.iterdir()] == ["metrics.jsonl"]   # no temporary left
    log.truncate(4)                                 # a second resume at the same step
    assert log.read() == [r for r in records if r["step"] <= 4]
    path.write_text(lines + "not json\n" + '{"step": 9}\n')
    with pytest.raises(ValueError, match=f"{path}, line 10: not a JSON record with a step"):
        log.truncate(4)
    MetricsLog(tmp_path / "absent.jsonl", True).truncate(3)     # nothing logged yet: nothing to do
    assert not (tmp_path / "absent.jsonl").exists()
