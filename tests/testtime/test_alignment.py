"""Query and gallery rows stay aligned with the dataset's name lists (issue 17): an
unreadable test image is an error naming it, or, with --placeholder-unreadable, a zero
placeholder row ranked last; the pipeline's synthetic AICity copy is keyed by the runs'
synthetic configuration; --weights must give one weight per run."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest

from reid_fast.cli import extract, pipeline
from reid_fast.data.formats import load_aicity
from reid_fast.data.synthetic import SyntheticConfig, SyntheticVehicles
from reid_fast.eval import read_aicity_submission
from reid_fast.eval.submission import ranked_gallery
from reid_fast.runs.checkpoint import load_checkpoint, save_atomic
from reid_fast.testtime.feature_file import load_distances, load_features

FAST = ["--no-progress", "--pictures", "0", "--scales", "1"]


def _run_with_test_ids(run, folder, test_ids):
    """A copy of the tiny run whose configuration names another synthetic test set."""
    folder.mkdir()
    saved = load_checkpoint(run / "model.pt")  # checked, without its checksum
    for section in saved["config"].values():
        if "synthetic_test_ids" in section:
            section["synthetic_test_ids"] = test_ids
    save_atomic(saved, folder / "model.pt")  # a new checksum for the edited content
    return folder


@pytest.fixture(scope="module")
def truncated_root(tmp_path_factory):
    """A small AICity root whose third gallery image (in name_test.txt) is truncated."""
    root = tmp_path_factory.mktemp("aicity") / "root"
    SyntheticVehicles(SyntheticConfig(num_train_ids=2, num_test_ids=6)).write(root)
    names = (root / "name_test.txt").read_text().split()
    bad = root / "image_test" / names[2]
    bad.write_bytes(bad.read_bytes()[:8])
    return root, names, bad


def test_an_unreadable_test_image_is_an_error_naming_it(run, truncated_root, tmp_path, capsys):
    root, _, bad = truncated_root
    capsys.readouterr()
    assert extract.main([str(run), "--data", str(root), "--output", str(tmp_path / "f.npz"),
                         "--no-progress"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: cannot read image ") and str(bad) in err
    assert "--placeholder-unreadable" in err and err.count("\n") == 1   # one line, no warning
    assert pipeline.main([str(run), "--data", str(root), "--output", str(tmp_path / "p")]
                         + FAST) == 2
    assert str(bad) in capsys.readouterr().err


def test_extract_placeholder_row_keeps_the_name_list(run, truncated_root, tmp_path, capsys):
    root, names, bad = truncated_root
    assert extract.main([str(run), "--data", str(root), "--output", str(tmp_path / "f.npz"),
                         "--no-progress", "--placeholder-unreadable"]) == 0
    assert f"1 unreadable images have a zero placeholder row: gallery {bad.name}" in \
        capsys.readouterr().out
    features = load_features(tmp_path / "f.npz")
    assert features.gallery.names == names
    assert features.meta["placeholders"] == {"query": [], "gallery": [bad.name]}
    rows = np.asarray(features.gallery.features)
    assert not rows[2].any() and np.linalg.norm(rows[[0, 1, 3]], axis=1) == pytest.approx(1)


def test_pipeline_placeholder_submission_is_numbered_by_the_name_lists(run, truncated_root,
                                                                       tmp_path):
    root, names, bad = truncated_root
    out = tmp_path / "p"
    assert pipeline.main([str(run), "--data", str(root), "--output", str(out),
                          "--placeholder-unreadable", "--json"] + FAST) == 0
    queries = (root / "name_query.txt").read_text().split()
    final = load_distances(out / "distances.npz")
    assert final.query_names == queries and final.gallery_names == names
    top = min(100, len(names))
    ranked = read_aicity_submission(out / "track2.txt", len(queries), len(names), top=top)
    np.testing.assert_array_equal(ranked, ranked_gallery(final.distances, top))
    # The placeholder (0-based row 2 of name_test.txt) ranks after every real image.
    assert len(names) <= 100 and (ranked[:, -1] == 2).all()
    summary = json.loads((out / "ablation.json").read_text())
    assert summary["placeholders"] == {"query": [], "gallery": [bad.name]}
    last = summary["ablation"][-1]
    assert last["step"] == "+ 1 unreadable gallery images ranked last"
    assert summary["final"]["mAP"] == pytest.approx(last["mAP"])


def test_pipeline_synthetic_copy_follows_the_runs_configuration(run, tmp_path, capsys):
    out = tmp_path / "out"
    for test_ids in (6, 8):
        copy = _run_with_test_ids(run, tmp_path / f"run{test_ids}", test_ids)
        assert pipeline.main([str(copy), "--output", str(out)] + FAST) == 0
        expected = SyntheticVehicles(SyntheticConfig(num_train_ids=60, num_test_ids=test_ids))
        source = json.loads((out / "data_aicity" / "SOURCE.json").read_text())
        assert source["cache_key"] == expected.cache_key
        assert source["synthetic"]["num_test_ids"] == test_ids
        data = load_aicity(out / "data_aicity")
        assert len(data.query) == len(expected.dataset.query)
        assert len((out / "track2.txt").read_text().splitlines()) == len(data.query)
    assert "replacing one written from another synthetic configuration" in capsys.readouterr().out
    assert sorted(p.name for p in out.iterdir() if p.name.startswith(".data_aicity")) == []
    # The same configuration again reuses the folder as it is.
    stamp = (out / "data_aicity" / "SOURCE.json").stat().st_mtime_ns
    assert pipeline.main([str(tmp_path / "run8"), "--output", str(out)] + FAST) == 0
    assert (out / "data_aicity" / "SOURCE.json").stat().st_mtime_ns == stamp
    shutil.rmtree(out)


def test_pipeline_weights_need_one_per_run(run, tmp_path, capsys):
    assert pipeline.main([str(run), "--output", str(tmp_path), "--weights", "1", "2"]
                         + FAST) == 2
    assert capsys.readouterr().err == ("error: --weights gives 2 fusion weights for 1 runs: "
                                       "give one per run\n")
    assert not (tmp_path / "data_aicity").exists()
