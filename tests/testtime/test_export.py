"""ONNX export: reid_fast.testtime.onnx_export.export_onnx and reid-fast export."""

from __future__ import annotations

import json
import subprocess
import sys
import warnings
from pathlib import Path

import pytest
import torch

from reid_fast.cli.export import main
from reid_fast.models import build_model
from reid_fast.runs.checkpoint import save_atomic
from reid_fast.runs.config import TrainConfig
from reid_fast.testtime.onnx_export import ExportReport, export_onnx

SIZE = (64, 64)


def _model(seed: int = 0) -> torch.nn.Module:
    torch.manual_seed(seed)
    model = build_model("resnet_small", 10)
    # Non-trivial BatchNorm statistics, so eval mode differs visibly from training mode.
    with torch.no_grad():
        for module in model.modules():
            if isinstance(module, torch.nn.BatchNorm2d | torch.nn.BatchNorm1d):
                module.running_mean.uniform_(-0.2, 0.2)
                module.running_var.uniform_(0.5, 1.5)
    return model


def _run_onnx(path: Path, images: torch.Tensor):
    ort = pytest.importorskip("onnxruntime")
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    return session.run(["embedding"], {"images": images.numpy()})[0]


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    """One export shared by the tests that only read it: (model, report)."""
    pytest.importorskip("onnx")
    pytest.importorskip("onnxruntime")
    model = _model()
    model.train()
    before = {k: v.clone() for k, v in model.state_dict().items()}
    path = tmp_path_factory.mktemp("export") / "model.onnx"
    report = export_onnx(model, path, SIZE, batch_size=4)
    return model, before, report


def test_export_matches_torch(exported):
    onnx = pytest.importorskip("onnx")
    model, _, report = exported
    assert isinstance(report, ExportReport)
    assert report.path.is_file()
    onnx.checker.check_model(str(report.path))
    graph = onnx.load(str(report.path)).graph
    assert [i.name for i in graph.input] == ["images"]
    assert [o.name for o in graph.output] == ["embedding"]
    assert report.checked_with == "onnxruntime"
    assert report.max_abs_diff is not None and report.max_abs_diff <= 1e-4
    assert report.opset == 17
    assert report.input_shape == ("batch", 3, *SIZE)
    assert report.embedding_dim == model.embedding_dim
    assert report.seconds > 0
    as_dict = report.as_dict()
    assert as_dict["path"] == str(report.path) and as_dict["input_shape"] == ["batch", 3, 64, 64]
    json.dumps(as_dict)

    # A fresh batch of another size than the traced one (4): the batch axis is dynamic.
    images = torch.randn(3, 3, *SIZE, generator=torch.Generator().manual_seed(123))
    reference = model.eval()(images).detach().numpy()
    model.train()
    got = _run_onnx(report.path, images)
    assert got.shape == (3, model.embedding_dim)
    assert abs(got - reference).max() <= 1e-4
    # No temporary file left next to it.
    assert sorted(p.name for p in report.path.parent.iterdir()) == ["model.onnx"]


def test_caller_model_unchanged(exported):
    model, before, _ = exported
    assert model.training
    assert all(m.training for m in model.modules())
    assert all(p.device.type == "cpu" and p.dtype == torch.float32 for p in model.parameters())
    after = model.state_dict()
    assert before.keys() == after.keys()
    for key, value in before.items():
        assert torch.equal(value, after[key]), key


def test_static_batch_and_opset(tmp_path):
    pytest.importorskip("onnx")
    model = build_model("resnet_small", 0, widths=(8, 16, 16, 32)).eval()
    report = export_onnx(model, tmp_path / "static.onnx", (32, 48), batch_size=2, opset=13,
                         dynamic_batch=False)
    assert report.input_shape == (2, 3, 32, 48)
    assert report.opset == 13
    if report.checked_with == "onnxruntime":
        images = torch.randn(2, 3, 32, 48)
        got = _run_onnx(report.path, images)
        assert abs(got - model(images).detach().numpy()).max() <= 1e-4
        with pytest.raises(Exception):  # the batch axis is fixed at 2
            _run_onnx(report.path, torch.randn(3, 3, 32, 48))


@pytest.mark.parametrize("kwargs, match", [
    (dict(path="model.txt"), "model.txt"),
    (dict(image_size=(0, 64)), r"\(0, 64\)"),
    (dict(image_size=(64,)), r"\(64,\)"),
    (dict(batch_size=0), "batch_size.*0"),
    (dict(opset=9), "opset.*9"),
    (dict(opset=99), "opset.*99"),
])
def test_bad_arguments(tmp_path, kwargs, match):
    args = dict(path="model.onnx", image_size=SIZE)
    args.update(kwargs)
    path = tmp_path / args.pop("path")
    with pytest.raises(ValueError, match=match):
        export_onnx(torch.nn.Identity(), path, **args)
    assert not path.exists()


def test_without_onnxruntime_warns(tmp_path, monkeypatch):
    pytest.importorskip("onnx")
    monkeypatch.setitem(sys.modules, "onnxruntime", None)
    model = build_model("resnet_small", 0, widths=(8, 8, 16, 16)).eval()
    with pytest.warns(UserWarning, match="not verified"):
        report = export_onnx(model, tmp_path / "m.onnx", (32, 32), batch_size=2)
    assert report.checked_with == "none" and report.max_abs_diff is None
    assert report.path.is_file()
    # check=False: nothing verified, nothing to warn about.
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        report = export_onnx(model, tmp_path / "m2.onnx", (32, 32), batch_size=2, check=False)
    assert report.checked_with == "none"


def test_without_onnx_is_a_clear_error(tmp_path, monkeypatch, capsys):
    monkeypatch.setitem(sys.modules, "onnx", None)
    with pytest.raises(RuntimeError, match="pip install onnx onnxruntime"):
        export_onnx(torch.nn.Identity(), tmp_path / "m.onnx", SIZE)
    assert main([str(tmp_path)]) == 2
    assert "pip install onnx" in capsys.readouterr().err


def test_cli_exports_a_run(tmp_path, capsys):
    pytest.importorskip("onnx")
    run = tmp_path / "run"
    cfg = TrainConfig()
    assert cfg.arch == "resnet_small"
    model = _model(seed=1)
    # Saved the way the trainer writes model.pt.
    save_atomic({"config": cfg.to_dict(), "num_classes": 10, "model": model.state_dict()},
                run / "model.pt")
    assert main([str(run), "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    path = Path(result["path"])
    assert path == run / "model.onnx" and path.is_file()
    assert result["input_shape"] == ["batch", 3, *cfg.image_size]
    assert result["embedding_dim"] == model.embedding_dim
    if result["checked_with"] == "onnxruntime":
        assert result["max_abs_diff"] <= 1e-4
        images = torch.randn(2, 3, *cfg.image_size)
        got = _run_onnx(path, images)
        assert abs(got - model.eval()(images).detach().numpy()).max() <= 1e-4

    # Human summary, another output path and size.
    out = tmp_path / "elsewhere" / "small.onnx"
    assert main([str(run), "--output", str(out), "--image-size", "32", "48", "--no-check"]) == 0
    text = capsys.readouterr().out
    assert str(out) in text and "(batch, 3, 32, 48)" in text and "MB" in text
    assert out.is_file()


def test_cli_user_errors(tmp_path, capsys):
    pytest.importorskip("onnx")
    missing = tmp_path / "no_such_run"
    assert main([str(missing)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and str(missing) in err and "Traceback" not in err
    empty = tmp_path / "empty"
    empty.mkdir()
    assert main([str(empty)]) == 2
    assert "model.pt" in capsys.readouterr().err


def test_cli_help():
    done = subprocess.run([sys.executable, "-m", "reid_fast", "export", "--help"],
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert "--opset" in done.stdout and "RUN" in done.stdout


def test_mismatch_raises_and_writes_nothing(tmp_path, monkeypatch):
    pytest.importorskip("onnx")
    pytest.importorskip("onnxruntime")
    from reid_fast.testtime import onnx_export

    real = onnx_export._run_onnxruntime
    monkeypatch.setattr(onnx_export, "_run_onnxruntime",
                        lambda *a: [out + 0.5 for out in real(*a)])
    model = build_model("resnet_small", 0, widths=(8, 8, 16, 16)).eval()
    with pytest.raises(RuntimeError, match=r"0\.5"):
        export_onnx(model, tmp_path / "m.onnx", (32, 32), batch_size=2)
    assert list(tmp_path.iterdir()) == []


def test_an_unwritable_onnx_output_names_the_path(tmp_path):
    """A folder (or a path under a file) where the .onnx goes: a ValueError naming it,
    nothing left behind."""
    folder = tmp_path / "model.onnx"
    folder.mkdir()
    a_file = tmp_path / "a_file"
    a_file.write_text("x")
    tiny = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(3 * 4 * 4, 2))
    for path, why in ((folder, "it is a folder"),
                      (a_file / "model.onnx", "a part of its folder is a file")):
        with pytest.raises(ValueError, match=f"cannot write {path}: {why}"):
            export_onnx(tiny, path, (4, 4), check=False)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a_file", "model.onnx"]


def test_an_unwritable_mat_output_names_the_path(tmp_path):
    import numpy as np

    from reid_fast.testtime.feature_file import FeatureSet, SplitFeatures, save_mat

    split = SplitFeatures(np.ones((2, 3), np.float32), ["a", "b"], [1, 2], [0, 0], [-1, -1])
    a_file = tmp_path / "a_file"
    a_file.write_text("x")
    with pytest.raises(ValueError, match=f"cannot write {a_file / 'f.mat'}: a part of its "
                                         "folder is a file"):
        save_mat(FeatureSet(split, split), a_file / "f.mat")
