"""Extension points end to end: a plugin module (tests/train/plugin_example.py) registers
a backbone, a dataset layout and a loss; a tiny training run on a folder of that layout
uses all three, the run records the plugin, and test time loads the run without being told
about it again. Each step runs in a child process, as users run the commands, so that the
registrations do not leak into the other tests."""

from __future__ import annotations

import csv
import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
from PIL import Image

PLUGIN = Path(__file__).with_name("plugin_example.py")


def _listing_dataset(root: Path) -> None:
    """12 identities x 2 cameras x 2 images of solid colour with noise; 8 train ids, 4
    test ids (one query per test id, the rest gallery)."""
    rng = np.random.default_rng(0)
    rows = []
    for pid in range(12):
        colour = rng.integers(0, 256, size=3)
        for cam in range(2):
            for shot in range(2):
                image = np.clip(colour + rng.normal(0, 12, size=(32, 32, 3)), 0, 255)
                name = f"{pid:03d}_{cam}_{shot}.png"
                Image.fromarray(image.astype(np.uint8)).save(root / name)
                split = "train" if pid < 8 else ("query" if cam == 0 and shot == 0 else "gallery")
                rows.append({"split": split, "path": name, "id": pid, "camera": cam})
    with open(root / "listing.csv", "w", newline="") as f:
        writer = csv.DictWriter(f, ["split", "path", "id", "camera"])
        writer.writeheader()
        writer.writerows(rows)


def _child(args: list[str], cwd: Path) -> subprocess.CompletedProcess:
    done = subprocess.run([sys.executable, *args], cwd=cwd, capture_output=True, text=True,
                          timeout=600, env=dict(os.environ, COLUMNS="200"))
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-4000:]
    return done


def test_a_plugin_backbone_layout_and_loss_train_and_load(tmp_path):
    data = tmp_path / "data"
    data.mkdir()
    _listing_dataset(data)

    help_text = _child(["-m", "reid_fast.train", "--plugins", str(PLUGIN), "--help"], tmp_path).stdout
    assert "plugin_tiny_cnn" in help_text and "plugin-listing" in help_text
    assert "plugin_center" in help_text

    _child(["-m", "reid_fast", "train", "--plugins", str(PLUGIN), "--data", str(data),
            "--arch", "plugin_tiny_cnn", "--loss", "ce+plugin_center=0.01", "--image-size", "32",
            "32", "--epochs", "2", "--batch-size", "16", "--instances", "2", "--sampler", "pk",
            "--no-progress", "--no-eval-untrained", "--no-rerank", "--output", str(tmp_path / "runs"),
            "--name", "plugged", "--cache-dir", str(tmp_path / "cache"), "--device", "cpu",
            "--json"], tmp_path)
    run = tmp_path / "runs" / "plugged"
    config = json.loads((run / "config.json").read_text())
    assert config["train"]["plugins"] == [str(PLUGIN)]
    assert config["model"]["arch"] == "plugin_tiny_cnn"
    assert config["data"]["layout"] == "auto"  # detected by the plugin's matcher
    assert json.loads((run / "final_eval.json").read_text())

    # Test time: reid_fast.load imports the run's plugin by itself.
    code = textwrap.dedent(f"""
        import json, torch, reid_fast
        from reid_fast.models import BACKBONES
        assert "plugin_tiny_cnn" not in BACKBONES
        model = reid_fast.load({str(run)!r}, device="cpu")
        paths = [{str(data / "000_0_0.png")!r}, {str(data / "011_1_1.png")!r}]
        features = model.embed(paths)
        print(json.dumps({{"shape": list(features.shape),
                          "norms": features.norm(dim=1).tolist(),
                          "arch": model.run.config.arch}}))
    """)
    out = json.loads(_child(["-c", code], tmp_path).stdout.strip().splitlines()[-1])
    assert out["shape"] == [2, 16] and out["arch"] == "plugin_tiny_cnn"
    np.testing.assert_allclose(out["norms"], [1.0, 1.0], atol=1e-5)
