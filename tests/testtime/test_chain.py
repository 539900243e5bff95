"""The test-time chain end to end on the synthetic dataset written in the AICity layout,
each step's command, and bad input. One small run (tests/testtime/conftest.py) is trained
once for the whole test-time suite."""

from __future__ import annotations

import base64
import json
import re
from io import BytesIO

import numpy as np
import pytest
import torch
from PIL import Image

from reid_fast.cli import (
    evaluate,
    extract,
    fuse,
    pipeline,
    postprocess,
    rerank,
    submit,
    visualize,
)
from reid_fast.data.formats import load_aicity
from reid_fast.eval import evaluate_ranking, read_aicity_submission
from reid_fast.testtime.feature_file import (
    DistanceMatrix,
    load_distances,
    load_features,
    save_distances,
)
from reid_fast.viz.ranked_list import sheet_size


@pytest.fixture(scope="module")
def chain(run, tmp_path_factory):
    out = tmp_path_factory.mktemp("chain")
    code = pipeline.main([str(run), "--output", str(out), "--no-progress", "--pictures", "5",
                          "--json"])
    assert code == 0
    return out


def test_chain_writes_a_valid_submission_and_each_step_is_measured(chain):
    summary = json.loads((chain / "ablation.json").read_text())
    data = load_aicity(chain / "data_aicity")
    for name in ("image_query", "image_test", "name_query.txt", "name_test.txt", "test_track.txt"):
        assert (chain / "data_aicity" / name).exists()
    ranked = read_aicity_submission(chain / "track2.txt", len(data.query), len(data.gallery))
    assert ranked.shape == (len(data.query), 100)
    # The submission is the final distances' top 100, numbered in name_test.txt order.
    final = load_distances(chain / "distances.npz")
    assert final.query_names == [r.name for r in data.query]
    np.testing.assert_array_equal(ranked[:, 0], np.argmin(final.distances, axis=1))
    steps = {row["step"].split(" (")[0]: row for row in summary["ablation"]}
    order = [row["step"] for row in summary["ablation"]]
    assert order[0].startswith("baseline") and order[-1].startswith("+ re-ranking")
    # Re-ranking and track averaging each improve mAP over the step before them.
    for step in ("+ gallery track averaging", "+ re-ranking"):
        at = next(i for i, s in enumerate(order) if s.startswith(step))
        assert summary["ablation"][at]["mAP"] > summary["ablation"][at - 1]["mAP"], step
    # The reported final metrics are those of the saved distances.
    again = evaluate_ranking(final.distances, data_ids(data.query), data_ids(data.gallery),
                             [r.camid for r in data.query], [r.camid for r in data.gallery],
                             same_camera_junk=data.same_camera_junk)
    assert again.mAP == pytest.approx(steps["+ re-ranking"]["mAP"], abs=1e-12)
    assert (chain / "ablation.txt").read_text().count("\n") == len(order) + 2


def data_ids(records):
    return [r.pid for r in records]


def test_chain_pictures(chain):
    png = Image.open(chain / "ranked_lists.png")
    width, height = sheet_size(10, has_title=True)
    assert png.size[0] == width
    assert png.size[1] == 4 * height + 3 * 8          # four sheets stacked, 8 px gaps
    html = (chain / "ranked_lists.html").read_text()
    sources = re.findall(r'<img[^>]+src="data:image/png;base64,([^"]+)"', html)
    assert len(sources) == 5
    assert Image.open(BytesIO(base64.b64decode(sources[0]))).size == (width, height)
    heat = Image.open(chain / "heatmaps.png")
    assert heat.size[1] == 2 * 48 + 3 * 4


def test_each_step_command(run, chain, tmp_path, capsys):
    root = chain / "data_aicity"
    f1, f2 = tmp_path / "f1.npz", tmp_path / "f2.npz"
    common = ["--data", str(root), "--no-progress"]
    assert extract.main([str(run), *common, "--output", str(f1), "--mat", str(tmp_path / "f.mat")]) == 0
    assert extract.main([str(run), *common, "--output", str(f2), "--scales", "1", "1.25",
                         "--half"]) == 0
    one, two = load_features(f1), load_features(f2)
    assert two.query.features.dtype == np.float16
    assert two.meta["scales"] == [1.0, 1.25]
    np.testing.assert_allclose(np.linalg.norm(one.query.features, axis=1), 1.0, atol=1e-5)
    from scipy.io import loadmat
    mat = loadmat(tmp_path / "f.mat")
    np.testing.assert_allclose(mat["gallery_f"], one.gallery.features)
    np.testing.assert_array_equal(mat["query_label"].ravel(), one.query.ids)
    np.testing.assert_array_equal(mat["gallery_cam"].ravel(), one.gallery.cams)

    fused = tmp_path / "fused.npz"
    assert fuse.main([str(f1), str(f2), "--weights", "1", "0.5", "--output", str(fused)]) == 0
    fq = load_features(fused).query.features
    expected = np.concatenate([one.query.features, 0.5 * two.query.features.astype(np.float32)
                               / np.linalg.norm(two.query.features.astype(np.float32), axis=1,
                                                keepdims=True)], axis=1)
    expected /= np.linalg.norm(expected, axis=1, keepdims=True)
    np.testing.assert_allclose(fq, expected, atol=1e-5)

    post = tmp_path / "post.npz"
    assert postprocess.main([str(fused), "--output", str(post), "--dba-k", "3"]) == 0
    dist = tmp_path / "d.npz"
    assert rerank.main([str(post), "--output", str(dist)]) == 0
    capsys.readouterr()
    assert evaluate.main([str(post), "--distances", str(dist), "--json",
                          "--per-query", str(tmp_path / "pq.csv")]) == 0
    reported = json.loads(capsys.readouterr().out)
    matrix = load_distances(dist)
    features = load_features(post)
    direct = evaluate_ranking(matrix.distances, features.query.ids, features.gallery.ids,
                              features.query.cams, features.gallery.cams,
                              same_camera_junk=features.same_camera_junk)
    assert reported["mAP"] == direct.mAP and reported["mAP@100"] == direct.mAP_top
    rows = (tmp_path / "pq.csv").read_text().splitlines()
    assert len(rows) == len(features.query.names) + 1
    assert submit.main([str(dist), "--output", str(tmp_path / "track2.txt"), "--data", str(root)]) == 0
    read_aicity_submission(tmp_path / "track2.txt", len(features.query.names),
                           len(features.gallery.names))
    assert visualize.main(["ranked", str(post), "--distances", str(dist), "--queries", "0", "3",
                           "--png", str(tmp_path / "r.png"), "--html", str(tmp_path / "r.html")]) == 0
    assert Image.open(tmp_path / "r.png").size == (sheet_size(10, has_title=True)[0],
                                                   2 * sheet_size(10, has_title=True)[1] + 8)
    images = features.query.paths[:3]
    assert visualize.main(["heatmap", str(run), *images, "--output", str(tmp_path / "h.png")]) == 0
    assert Image.open(tmp_path / "h.png").size == (3 * 48 + 4 * 4, 2 * 48 + 3 * 4)


def test_bad_input_gives_clear_errors(run, chain, tmp_path, capsys):
    features = load_features(chain / "features_model1.npz")
    q, g = len(features.query.names), len(features.gallery.names)
    # Mismatched names between feature files.
    other = tmp_path / "other.npz"
    from reid_fast.testtime.feature_file import save_features
    features.query.names[2] = "not_an_image.jpg"
    save_features(features, other)
    capsys.readouterr()
    assert fuse.main([str(chain / "features_model1.npz"), str(other), "--output",
                      str(tmp_path / "x.npz")]) == 2
    assert "row 2 is 'not_an_image.jpg'" in capsys.readouterr().err
    # A distance matrix of the wrong shape.
    with pytest.raises(ValueError, match=r"distances must be \(queries, gallery\)"):
        DistanceMatrix(np.zeros((q, g - 1), np.float32), features.query.names, features.gallery.names)
    with pytest.raises(ValueError, match="1-D sequence of length"):
        evaluate_ranking(np.zeros((q, g - 1), np.float32), features.query.ids, features.gallery.ids)
    # Non-finite scores.
    bad = np.zeros((q, g), np.float32)
    bad[3, 7] = np.nan
    save_distances(DistanceMatrix(bad, load_features(chain / "features_model1.npz").query.names,
                                  features.gallery.names), tmp_path / "nan.npz")
    assert evaluate.main([str(chain / "features_model1.npz"), "--distances",
                          str(tmp_path / "nan.npz")]) == 2
    assert "query 3, gallery 7" in capsys.readouterr().err
    # Submission rows that do not match name_query.txt.
    save_distances(DistanceMatrix(np.zeros((q, g), np.float32), features.query.names,
                                  features.gallery.names), tmp_path / "named.npz")
    assert submit.main([str(tmp_path / "named.npz"), "--data", str(chain / "data_aicity"),
                        "--output", str(tmp_path / "t.txt")]) == 2
    assert "name_query.txt" in capsys.readouterr().err
    # Missing run folder and missing features file.
    assert extract.main([str(tmp_path / "missing")]) == 2
    assert "no trained model" in capsys.readouterr().err
    assert rerank.main([str(tmp_path / "missing.npz"), "--output", str(tmp_path / "o.npz")]) == 2
    assert "features file not found" in capsys.readouterr().err


def test_tracks_file_entries(chain, tmp_path):
    import shutil
    root = tmp_path / "aicity"
    shutil.copytree(chain / "data_aicity", root)
    lines = (root / "test_track.txt").read_text().splitlines()
    # An image missing from test_track.txt is in no track (-1) and track averaging leaves it.
    first_line = lines[0].split()
    lines[0] = " ".join(first_line[1:])
    (root / "test_track.txt").write_text("\n".join(lines) + "\n")
    data = load_aicity(root)
    by_name = {r.name: r.trackid for r in data.gallery}
    assert by_name[first_line[0]] == -1
    # A track that names an image the split does not have is an error naming file and line.
    (root / "test_track.txt").write_text("\n".join(lines + ["999999.jpg"]) + "\n")
    with pytest.raises(ValueError, match=rf"test_track.txt, line {len(lines) + 1}: '999999.jpg'"):
        load_aicity(root)


@pytest.mark.cuda
def test_chain_on_cuda(run, chain, tmp_path):
    assert pipeline.main([str(run), "--output", str(tmp_path), "--data", str(chain / "data_aicity"),
                          "--device", "cuda", "--no-progress", "--pictures", "0"]) == 0
    cpu = json.loads((chain / "ablation.json").read_text())["final"]["mAP"]
    gpu = json.loads((tmp_path / "ablation.json").read_text())["final"]["mAP"]
    assert gpu == pytest.approx(cpu, abs=0.02)
    assert torch.cuda.is_available()
