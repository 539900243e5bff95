"""End-to-end training runs on a tiny synthetic dataset: exact resume after a kill, the
two-process gloo run, camera and orientation models, the run folder and the command
line."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from reid_fast.data.synthetic import SyntheticConfig, SyntheticVehicles
from reid_fast.models import build_model
from reid_fast.testtime.run_model import load_run

TINY = ["--synthetic-train-ids", "12", "--synthetic-test-ids", "8", "--image-size", "32", "32",
        "--batch-size", "16", "--instances", "4", "--no-progress", "--no-rerank",
        "--no-eval-untrained", "--eval-batch-size", "64"]


def _env() -> dict:
    env = dict(os.environ)
    env["OMP_NUM_THREADS"] = "1"          # identical arithmetic in every process
    env["PYTHONUNBUFFERED"] = "1"
    return env


def _train(tmp: Path, *args: str, check: bool = True) -> subprocess.CompletedProcess:
    cmd = [sys.executable, "-m", "reid_fast.train", *TINY, "--cache-dir", str(tmp / "cache"),
           "--output", str(tmp), *args]
    return subprocess.run(cmd, env=_env(), capture_output=True, text=True, check=check, timeout=600)


def _losses(run: Path) -> dict[int, float]:
    """step -> loss; each step is logged once (a resume cuts the log back to its
    checkpoint). A line cut short by a kill ends the log."""
    out = {}
    for line in (run / "metrics.jsonl").read_text().splitlines():
        try:
            record = json.loads(line)
        except json.JSONDecodeError:
            break
        if "loss" in record:
            assert record["step"] not in out, f"step {record['step']} logged twice"
            out[record["step"]] = record["loss"]
    return out


def test_killed_run_resumes_with_the_uninterrupted_losses(tmp_path):
    common = ["--epochs", "5", "--log-every", "1", "--checkpoint-every", "4", "--dropout", "0.0"]
    _train(tmp_path, *common, "--name", "whole")
    reference = _losses(tmp_path / "whole")
    total = max(reference)
    assert total >= 20

    # Same run, killed with SIGKILL (no chance to clean up) once it has passed step 6.
    killed = tmp_path / "killed"
    cmd = [sys.executable, "-m", "reid_fast.train", *TINY, "--cache-dir", str(tmp_path / "cache"),
           "--output", str(tmp_path), "--name", "killed", *common]
    proc = subprocess.Popen(cmd, env=_env(), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline:
        log = killed / "metrics.jsonl"
        if log.is_file() and len(_losses(killed)) >= 6:
            break
        if proc.poll() is not None:
            pytest.fail(f"training exited early: {proc.stderr.read().decode()[-2000:]}")
        time.sleep(0.01)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    before = _losses(killed)
    assert 6 <= max(before) < total, "the kill must land mid-run"

    result = _train(tmp_path, "--resume", str(killed))
    assert "resumed" in result.stdout
    resumed = _losses(killed)
    checkpoint_step = (max(before) // 4) * 4
    after = {s: v for s, v in resumed.items() if s > checkpoint_step}
    assert sorted(after) == list(range(checkpoint_step + 1, total + 1))
    for step, loss in after.items():
        assert loss == pytest.approx(reference[step], rel=1e-6, abs=1e-7), step
    assert (killed / "model.pt").is_file() and (killed / "final_eval.json").is_file()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_two_gloo_processes_train_and_stay_in_sync(tmp_path):
    worker = Path(__file__).with_name("ddp_train_worker.py")
    cmd = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2",
           "--master_addr", "127.0.0.1", "--master_port", str(_free_port()), str(worker),
           str(tmp_path), *TINY, "--cache-dir", str(tmp_path / "cache"), "--output", str(tmp_path),
           "--name", "ddp", "--epochs", "2", "--batch-size", "8", "--device", "cpu"]
    result = subprocess.run(cmd, env=_env(), capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    states = [torch.load(tmp_path / f"rank{r}.pt", weights_only=True) for r in (0, 1)]
    assert states[0]["steps"] == states[1]["steps"] > 0
    assert states[0]["world_size"] == 2
    # The weights left their initial values (the trainer seeds the initialisation with
    # --seed, default 0, then builds the model).
    torch.manual_seed(0)
    initial = build_model("resnet_small", 12).state_dict()
    for name, value in states[0]["model"].items():
        assert torch.equal(value, states[1]["model"][name]), f"replicas differ at {name}"
    moved = [n for n, v in states[0]["model"].items()
             if v.dtype.is_floating_point and not torch.equal(v, initial[n])]
    assert len(moved) > len(initial) // 2
    summary = json.loads((tmp_path / "ddp" / "final_eval.json").read_text())
    assert summary["plain"]["num_queries"] > 0
    lines = [json.loads(l) for l in (tmp_path / "ddp" / "metrics.jsonl").read_text().splitlines()]
    assert all(torch.isfinite(torch.tensor(l["loss"])) for l in lines if "loss" in l)


@pytest.mark.parametrize("task", ["camera", "orientation"])
def test_camera_and_orientation_models_train_and_report_accuracy(tmp_path, task):
    # The default batch (64 = 16 classes x 4) with 8 cameras: the PK sampler repeats them.
    result = _train(tmp_path, "--task", task, "--name", task, "--batch-size", "64", "--epochs", "2",
                    "--orientation-bins", "12")
    run = tmp_path / task
    data = SyntheticVehicles(SyntheticConfig(num_train_ids=12, num_test_ids=8)).dataset
    # The classes: the cameras of the training images, or the 30-degree bins they fill.
    if task == "camera":
        classes = sorted({r.camid for r in data.train})
        test_values = [r.camid for r in data.query + data.gallery]
        assert classes == list(range(1, 9))
        assert "each batch takes classes more than once" in result.stdout
        assert "no horizontal flips" not in result.stdout
    else:
        assert "no horizontal flips (a mirror changes the class)" in result.stdout
        classes = sorted({r.attrs["orientation"] // 30 for r in data.train})
        test_values = [r.attrs["orientation"] // 30 for r in data.query + data.gallery]
    saved = torch.load(run / "model.pt", weights_only=True)
    assert (saved["task"], saved["classes"], saved["num_classes"]) == (task, classes, len(classes))
    checkpoint = torch.load(run / "checkpoint.pt", weights_only=True)
    assert (checkpoint["task"], checkpoint["classes"]) == (task, classes)
    trained = load_run(run)
    assert (trained.task, trained.classes, trained.config.task) == (task, classes, task)
    assert trained.model.head.classifier.out_features == len(classes)

    final = json.loads((run / "final_eval.json").read_text())
    metrics = final["classification"]
    assert "plain" not in final and "rerank" not in final
    assert metrics["num_classes"] == len(classes) and metrics["chance"] == pytest.approx(1 / len(classes))
    assert metrics["count"] == sum(v in classes for v in test_values) > 0
    assert metrics["correct"] == round(metrics["top1"] * metrics["count"])
    assert 0 <= metrics["correct"] <= metrics["count"]
    evaluations = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()
                   if "eval" in line]
    assert [e["eval"] for e in evaluations] == ["final"] and evaluations[0]["classification"] == metrics
    assert f"[final] {task} top-1" in result.stdout
    assert f"{task} task" in result.stdout and "top-1" in result.stdout


def test_resume_refuses_another_task(tmp_path):
    _train(tmp_path, "--task", "camera", "--name", "cam", "--epochs", "2", "--max-steps", "3")
    result = _train(tmp_path, "--resume", str(tmp_path / "cam"), "--task", "orientation", check=False)
    assert result.returncode != 0
    assert "trained for task 'camera' with 8 classes, this run has task 'orientation'" in result.stderr
