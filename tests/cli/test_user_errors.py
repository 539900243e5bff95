"""User errors of the commands, each one ``error:`` line naming the file or option and
exit code 2 (never a traceback): damaged input files, unwritable outputs, devices,
non-images, NaN options."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from reid_fast.cli import run_command
from reid_fast.testtime.feature_file import FeatureSet, SplitFeatures, save_features


def _split(n: int, rng: np.random.Generator) -> SplitFeatures:
    x = rng.standard_normal((n, 8)).astype(np.float32)
    x /= np.linalg.norm(x, axis=1, keepdims=True)
    return SplitFeatures(x, [f"{i}.jpg" for i in range(n)], np.arange(n) % 3, np.arange(n) % 2,
                         np.arange(n) // 2, [f"/nowhere/{i}.jpg" for i in range(n)])


@pytest.fixture
def features(tmp_path) -> Path:
    rng = np.random.default_rng(0)
    return save_features(FeatureSet(_split(4, rng), _split(10, rng), {"same_camera_junk": False}),
                         tmp_path / "features.npz")


def _error(capsys, name: str, argv: list) -> str:
    """The one error line of ``reid-fast name argv`` (which must exit with code 2)."""
    try:
        code = run_command(name, [str(a) for a in argv])
    except SystemExit as exit_:  # argparse's own usage errors
        code = exit_.code
    err = capsys.readouterr().err
    errors = [line for line in err.splitlines() if "error:" in line]
    assert code == 2 and len(errors) == 1, err
    return errors[0]


def _rewrite(source: Path, target: Path, **changes) -> Path:
    with np.load(source) as data:
        arrays = {k: data[k] for k in data.files}
    arrays.update(changes)
    np.savez(target, **arrays)
    return target


def test_a_damaged_features_file_is_a_user_error(features, tmp_path, capsys):
    raw = bytearray(features.read_bytes())
    at = raw.index(b"query_features.npy") + 200  # inside the member's data: bad CRC
    raw[at:at + 40] = bytes(40)
    corrupt = tmp_path / "corrupt.npz"
    corrupt.write_bytes(bytes(raw))
    line = _error(capsys, "evaluate", [corrupt])
    assert str(corrupt) in line and "BadZipFile" in line
    (tmp_path / "empty.npz").write_bytes(b"")
    assert str(tmp_path / "empty.npz") in _error(capsys, "evaluate", [tmp_path / "empty.npz"])
    distances = tmp_path / "d.npz"
    np.savez(distances, distances=np.zeros((4, 10), np.float32))
    distances.write_bytes(distances.read_bytes()[:-30])  # truncated
    assert str(distances) in _error(capsys, "submit", [distances, "--output", tmp_path / "t.txt"])


def test_meta_that_is_not_a_json_object_is_a_user_error(features, tmp_path, capsys):
    listed = _rewrite(features, tmp_path / "list.npz", meta=np.array(json.dumps([1, 2])))
    line = _error(capsys, "evaluate", [listed])
    assert line == f"error: {listed}: meta must be a JSON object, got list [1, 2]"
    garbled = _rewrite(features, tmp_path / "garbled.npz", meta=np.array("{nope"))
    assert f"{garbled}: meta must be a JSON object" in _error(capsys, "rerank", [
        garbled, "--output", tmp_path / "d.npz"])


def test_zero_column_features_are_refused_by_the_writer_and_the_reader(features, tmp_path,
                                                                        capsys):
    empty = np.zeros((4, 0), np.float32)
    with pytest.raises(ValueError, match=r"E >= 1 columns; got shape \(4, 0\)"):
        SplitFeatures(empty, list("abcd"), [0] * 4, [0] * 4, [-1] * 4)
    zero = _rewrite(features, tmp_path / "zero.npz", query_features=empty,
                    gallery_features=np.zeros((10, 0), np.float32))
    for name, argv in (("rerank", ["--output", tmp_path / "d.npz"]),
                       ("postprocess", ["--output", tmp_path / "p.npz", "--qe-k", "0"])):
        line = _error(capsys, name, [zero, *argv])
        assert line.startswith(f"error: {zero}: features must be (N, E)"), line
    assert sorted(p.name for p in tmp_path.iterdir()) == ["features.npz", "zero.npz"]


def test_an_unwritable_output_is_a_user_error_naming_it(features, tmp_path, capsys):
    folder = tmp_path / "folder.npz"
    folder.mkdir()
    a_file = tmp_path / "a_file"
    a_file.write_text("x")
    distances = tmp_path / "d.npz"
    assert run_command("rerank", [str(features), "--output", str(distances), "--no-rerank"]) == 0
    capsys.readouterr()
    cases = [("evaluate", [features, "--per-query", folder]),
             ("evaluate", [features, "--per-query", a_file / "q.csv"]),
             ("rerank", [features, "--output", folder]),
             ("postprocess", [features, "--output", a_file / "sub" / "p.npz"]),
             ("fuse", [features, features, "--output", folder]),
             ("submit", [distances, "--top", "3", "--output", a_file / "track2.txt"])]
    for name, argv in cases:
        line = _error(capsys, name, argv)
        assert line.startswith(f"error: cannot write {argv[-1]}: "), line


@pytest.mark.parametrize("device, says", [("bogus", "device 'bogus' is not a device name"),
                                          ("cuda", "torch sees no CUDA device")])
def test_a_bad_device_is_a_user_error(features, device, says, capsys, monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert says in _error(capsys, "evaluate", [features, "--device", device])


@pytest.mark.parametrize("name", ["evaluate", "demo"])
def test_cuda_that_reid_fast_cannot_use_is_a_user_error(features, name, capsys, monkeypatch):
    """torch sees a GPU, but reid_fast cannot use it (here: a driver older than the runtime)."""
    from reid_fast import _build

    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(_build, "cuda_status", lambda: {
        "usable": False, "compiled": True, "devices": 0, "error": "driver too old",
        "reason": "CUDA error: driver too old"})
    argv = [features] if name == "evaluate" else []
    line = _error(capsys, name, argv + ["--device", "cuda"])
    assert line == ("error: device 'cuda' requested but reid_fast cannot use the CUDA device "
                    "torch sees (CUDA error: driver too old)"), line


def test_heatmaps_of_a_file_that_is_not_an_image(tmp_path, capsys, monkeypatch):
    from types import SimpleNamespace

    import reid_fast.cli.visualize as visualize

    fake_run = SimpleNamespace(model=torch.nn.Identity(), image_size=(8, 8))
    monkeypatch.setattr(visualize, "load_run", lambda run, device: fake_run)
    text = tmp_path / "notanimage.txt"
    text.write_text("hello")
    line = _error(capsys, "visualize", ["heatmap", tmp_path, text, "--device", "cpu",
                                        "--output", tmp_path / "h.png"])
    assert line.startswith(f"error: {text} is not an image"), line


@pytest.mark.parametrize("command, option", [
    ("postprocess", "--track-weight"), ("postprocess", "--qe-alpha"),
    ("postprocess", "--dba-alpha"), ("postprocess", "--cluster-qe-eps"),
    ("rerank", "--lambda")])
@pytest.mark.parametrize("value", ["nan", "inf", "-1"])
def test_nan_and_negative_options_are_refused(features, tmp_path, command, option, value,
                                              capsys):
    line = _error(capsys, command, [features, "--output", tmp_path / "out.npz", option, value])
    assert f"argument {option}: " in line and value in line, line
    assert not (tmp_path / "out.npz").exists()
