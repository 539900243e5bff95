"""AICity track2.txt writer and reader: hand-made rankings and every malformed case."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from reid_fast.eval.submission import (
    ranked_gallery,
    read_aicity_submission,
    write_aicity_submission,
)


def test_ranked_gallery_by_hand():
    d = torch.tensor([[0.3, 0.1, 0.2, 0.1],     # ties at 0.1 -> lower index first
                      [0.0, 0.5, 0.4, 0.9]])
    np.testing.assert_array_equal(ranked_gallery(d, top=3), [[1, 3, 2], [0, 2, 1]])


def test_written_file_is_one_based_in_query_order(tmp_path):
    ranked = np.array([[2, 0, 1], [1, 2, 0]])
    path = write_aicity_submission(tmp_path / "track2.txt", ranked, num_gallery=3, top=3)
    assert path.read_text() == "3 1 2\n2 3 1\n"
    np.testing.assert_array_equal(read_aicity_submission(path, 2, 3, top=3), ranked)


def test_default_is_the_aicity_top_100(tmp_path):
    rng = np.random.default_rng(0)
    ranked = np.stack([rng.permutation(250)[:100] for _ in range(4)])
    path = write_aicity_submission(tmp_path / "track2.txt", ranked, num_gallery=250)
    lines = path.read_text().splitlines()
    assert len(lines) == 4 and all(len(line.split()) == 100 for line in lines)


@pytest.mark.parametrize("ranked, message", [
    (np.array([[0, 0, 1]]), "query 1 lists a gallery image twice"),
    (np.array([[0, 1, 3]]), "query 1 lists gallery index 4, outside 1..3"),
    (np.array([[0, 1]]), "expected 3 gallery indices per query"),
])
def test_bad_rankings_are_refused(tmp_path, ranked, message):
    with pytest.raises(ValueError, match=message):
        write_aicity_submission(tmp_path / "t.txt", ranked, num_gallery=3, top=3)
    assert not (tmp_path / "t.txt").exists()


def test_bad_files_are_refused(tmp_path):
    path = tmp_path / "track2.txt"
    path.write_text("1 2 3\n")
    with pytest.raises(ValueError, match="1 lines; expected one per query \\(2\\)"):
        read_aicity_submission(path, 2, 3, top=3)
    path.write_text("1 2\n")
    with pytest.raises(ValueError, match="track2.txt:1: 2 gallery indices; expected 3"):
        read_aicity_submission(path, 1, 3, top=3)
    path.write_text("1 2 x\n")
    with pytest.raises(ValueError, match="not all integers"):
        read_aicity_submission(path, 1, 3, top=3)
    with pytest.raises(TypeError, match="ranked must hold integers"):
        write_aicity_submission(path, np.zeros((1, 3)), num_gallery=3, top=3)
    with pytest.raises(ValueError, match="top must be in 1..num_gallery \\(3\\); got 100"):
        write_aicity_submission(path, np.zeros((1, 3), dtype=int), num_gallery=3)


def test_ranked_gallery_errors_name_distances_and_top():
    """Not the internal names of the op below (``matrix``, ``k``)."""
    with pytest.raises(ValueError, match=r"distances must be finite, got 1 NaN or Inf value\(s\), "
                                         r"the first at index \(1, 0\)"):
        ranked_gallery(np.array([[0.1, 0.2], [np.nan, 0.3]], dtype=np.float32), 1)
    with pytest.raises(TypeError, match="distances must be float32, got float64"):
        ranked_gallery(np.zeros((2, 3)), 1)
    with pytest.raises(ValueError, match="distances must be 2-D"):
        ranked_gallery(np.zeros(3, dtype=np.float32), 1)
    with pytest.raises(ValueError, match=r"top must be between 1 and the number of gallery "
                                         r"columns of distances \(3\), got 4"):
        ranked_gallery(np.zeros((2, 3), dtype=np.float32), 4)
