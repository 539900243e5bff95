"""``reid-fast pipeline --recipe basic|aicity2020|voc`` end to end on the synthetic test
set written in the AICity layout: no step reads the test labels (the same images with
shuffled ground truth give the same submission), the ablation rows of the aicity2020
recipe, the attribute models' accuracy, and bad option combinations."""

from __future__ import annotations

import json
import re
import shutil
import xml.etree.ElementTree as ET

import numpy as np
import pytest

from reid_fast.cli import pipeline
from reid_fast.data.formats import load_aicity
from reid_fast.runs.datasets import synthetic_vehicles
from reid_fast.testtime.feature_file import load_distances
from reid_fast.testtime.run_model import load_run

AICITY_STEPS = ["baseline", "+ test-time augmentation", "+ gallery track fusion",
                "+ query clusters", "+ predicted-camera penalty", "+ camera clusters",
                "+ direction", "+ ntop", "+ re-ranking"]


def shuffle_labels(path, rng) -> None:
    """Permute every label attribute (vehicleID, cameraID, orientation, ...) among the
    ``<Item>`` elements of a gb2312 label file; imageName stays where it is."""
    text = path.read_bytes().decode("gb2312")
    root = ET.fromstring(text)
    items = list(root.iter("Item"))
    for key in sorted(set(items[0].attrib) - {"imageName"}):
        values = [item.attrib[key] for item in items]
        for item, index in zip(items, rng.permutation(len(items))):
            item.set(key, values[index])
    body = ET.tostring(root, encoding="unicode")
    path.write_bytes(f'<?xml version="1.0" encoding="gb2312"?>\n{body}\n'.encode("gb2312"))


@pytest.fixture(scope="module")
def roots(run, tmp_path_factory):
    """``A``: the run's synthetic test set in the AICity layout; ``B``: a copy whose
    query_label.xml and test_label.xml hold the same labels shuffled among the images."""
    base = tmp_path_factory.mktemp("aicity_roots")
    a, b = base / "A", base / "B"
    synthetic_vehicles(load_run(run).config).write(a, layout="aicity")
    shutil.copytree(a, b)
    rng = np.random.default_rng(7)
    for name in ("query_label.xml", "test_label.xml"):
        shuffle_labels(b / name, rng)
    return {"A": a, "B": b}


def test_the_shuffled_root_has_the_same_images_and_other_labels(roots):
    a, b = load_aicity(roots["A"]), load_aicity(roots["B"])
    for split in ("query", "gallery"):
        ra, rb = getattr(a, split), getattr(b, split)
        assert [r.name for r in ra] == [r.name for r in rb]
        assert [r.trackid for r in ra] == [r.trackid for r in rb]
        for field in ("pid", "camid"):
            va, vb = [getattr(r, field) for r in ra], [getattr(r, field) for r in rb]
            assert sorted(va) == sorted(vb)
            assert sum(x != y for x, y in zip(va, vb)) > len(va) // 2, (split, field)
        orientations = [r.attrs["orientation"] for r in ra], [r.attrs["orientation"] for r in rb]
        assert sorted(orientations[0]) == sorted(orientations[1])
        assert orientations[0] != orientations[1]


@pytest.fixture(scope="module")
def piped(run, camera_run, orientation_run, roots, tmp_path_factory):
    """``piped(recipe, root, *extra)``: the output folder of ``pipeline`` on root "A" or
    "B" with that recipe's models (each distinct call runs once)."""
    base = tmp_path_factory.mktemp("recipes")
    models = {"basic": [],
              "aicity2020": ["--camera-model", str(camera_run),
                             "--orientation-model", str(orientation_run)],
              "voc": ["--camera-model", str(camera_run), "--orientation-model", str(orientation_run)]}
    done = {}

    def call(recipe, root, *extra):
        key = (recipe, root, extra)
        if key not in done:
            out = base / f"{len(done)}_{recipe}_{root}"
            argv = [str(run), "--data", str(roots[root]), *models[recipe], "--recipe", recipe,
                    "--output", str(out), "--no-progress", "--pictures", "0", *extra]
            assert pipeline.main(argv) == 0, argv
            done[key] = out
        return done[key]

    return call


def metrics(summary: dict) -> list[dict]:
    return [{k: v for k, v in row.items() if k not in ("step", "seconds")}
            for row in summary["ablation"]]


@pytest.mark.parametrize("recipe", ["basic", "aicity2020", "voc"])
def test_shuffled_ground_truth_gives_the_same_submission(piped, recipe):
    a, b = piped(recipe, "A"), piped(recipe, "B")
    assert (a / "track2.txt").read_bytes() == (b / "track2.txt").read_bytes()
    np.testing.assert_array_equal(load_distances(a / "distances.npz").distances,
                                  load_distances(b / "distances.npz").distances)
    sa = json.loads((a / "ablation.json").read_text())
    sb = json.loads((b / "ablation.json").read_text())
    # Same steps, with the same label-free counts in their names (clusters, sure cameras)...
    assert [r["step"] for r in sa["ablation"]] == [r["step"] for r in sb["ablation"]]
    # ...but the evaluation did see the shuffled labels, so this test can fail.
    assert metrics(sa) != metrics(sb)
    assert sa["ablation"][0]["mAP"] != sb["ablation"][0]["mAP"]
    if recipe != "basic":
        for task in ("camera_model", "orientation_model"):
            assert sa[task]["accuracy"]["correct"] != sb[task]["accuracy"]["correct"], task
    if recipe == "aicity2020":
        # The predicted cameras are used: some images are sure at the default threshold.
        step = next(r["step"] for r in sa["ablation"] if r["step"].startswith("+ predicted-camera"))
        sure = re.search(r"(\d+)/\d+ queries, (\d+)/\d+ gallery sure", step)
        assert sure is not None and int(sure.group(1)) + int(sure.group(2)) > 0, step


def step_prefixes(out) -> list[str]:
    steps = [row["step"] for row in json.loads((out / "ablation.json").read_text())["ablation"]]
    prefixes = []
    for step in steps:
        matching = [p for p in AICITY_STEPS if step.startswith(p)]
        assert len(matching) == 1, step
        prefixes.append(matching[0])
    return prefixes


def test_aicity2020_ablation_rows(piped):
    assert step_prefixes(piped("aicity2020", "A")) == AICITY_STEPS
    no_ntop = [s for s in AICITY_STEPS if s != "+ ntop"]
    assert step_prefixes(piped("aicity2020", "A", "--aicity-ntop", "0")) == no_ntop
    table = (piped("aicity2020", "A") / "ablation.txt").read_text()
    assert "+ ntop" in table
    assert "+ ntop" not in (piped("aicity2020", "A", "--aicity-ntop", "0") / "ablation.txt").read_text()


def test_aicity2020_without_orientation_model(run, camera_run, roots, tmp_path):
    out = tmp_path / "no_orientation"
    assert pipeline.main([str(run), "--data", str(roots["A"]), "--camera-model", str(camera_run),
                          "--recipe", "aicity2020", "--output", str(out), "--no-progress",
                          "--pictures", "0"]) == 0
    assert step_prefixes(out) == [s for s in AICITY_STEPS if s != "+ direction"]
    summary = json.loads((out / "ablation.json").read_text())
    assert "orientation_model" not in summary and "camera_model" in summary


def test_attribute_model_accuracy_in_ablation_json(piped, roots, camera_run, orientation_run):
    summary = json.loads((piped("aicity2020", "A") / "ablation.json").read_text())
    data = load_aicity(roots["A"])
    images = data.query + data.gallery
    camera_classes = load_run(camera_run).classes
    orientation = load_run(orientation_run)
    width = 360 / orientation.config.orientation_bins
    expected_count = {
        "camera_model": sum(r.camid in camera_classes for r in images),
        "orientation_model": sum(int((r.attrs["orientation"] % 360) // width) in orientation.classes
                                 for r in images),
    }
    assert expected_count["camera_model"] == len(images)
    for task, run_dir, classes in (("camera_model", camera_run, camera_classes),
                                   ("orientation_model", orientation.run_dir, orientation.classes)):
        entry = summary[task]
        assert entry["runs"] == [str(run_dir)]
        accuracy = entry["accuracy"]
        assert 0.0 <= accuracy["top1"] <= 1.0
        assert accuracy["count"] == expected_count[task]
        assert accuracy["top1"] == pytest.approx(accuracy["correct"] / accuracy["count"], abs=1e-12)
        assert accuracy["num_classes"] == len(classes)
    assert summary["recipe_name"] == "aicity2020"


def one_error_line(capsys) -> str:
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error: "), err
    return err[0]


def test_bad_options(run, camera_run, roots, tmp_path, capsys):
    common = ["--data", str(roots["A"]), "--no-progress", "--pictures", "0"]
    capsys.readouterr()
    assert pipeline.main([str(run), *common, "--output", str(tmp_path / "a"), "--recipe", "basic",
                          "--camera-model", str(camera_run)]) == 2
    assert "--camera-model" in one_error_line(capsys)
    assert pipeline.main([str(run), *common, "--output", str(tmp_path / "b"), "--recipe", "voc"]) == 2
    line = one_error_line(capsys)
    assert "--recipe voc" in line and "--camera-model" in line
    assert not (tmp_path / "b" / "track2.txt").exists()
    # An identity run is no camera model: refused, naming the run and its task.
    assert pipeline.main([str(run), *common, "--output", str(tmp_path / "c"),
                          "--recipe", "aicity2020", "--camera-model", str(run)]) == 2
    line = one_error_line(capsys)
    assert str(run) in line and "'identity' task" in line
    assert not (tmp_path / "c" / "track2.txt").exists()


def test_wrong_attribute_runs_are_refused_before_any_extraction(run, camera_run, orientation_run,
                                                                roots, tmp_path, capsys):
    capsys.readouterr()
    assert pipeline.main([str(run), "--data", str(roots["A"]), "--no-progress", "--pictures", "0",
                          "--output", str(tmp_path / "a"), "--recipe", "aicity2020",
                          "--camera-model", str(run)]) == 2
    assert "--camera-model" in one_error_line(capsys)
    # Swapped models: each option names the task it needs.
    assert pipeline.main([str(run), "--data", str(roots["A"]), "--no-progress", "--pictures", "0",
                          "--output", str(tmp_path / "b"), "--recipe", "voc",
                          "--camera-model", str(orientation_run),
                          "--orientation-model", str(camera_run)]) == 2
    line = one_error_line(capsys)
    assert line.startswith("error: --camera-model: ") and "'orientation' task" in line
    assert not any((tmp_path / "b").glob("*.npz"))
