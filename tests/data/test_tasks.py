"""Training tasks: orientation bins at their edges, and each task's labels and classes
worked out by hand."""

from __future__ import annotations

import numpy as np
import pytest

from reid_fast.data.records import ImageRecord, relabel
from reid_fast.data.tasks import TASKS, mirror_keeps_class, orientation_bin, task_labels


def _record(pid: int = 1, camid: int = 1, **attrs: int) -> ImageRecord:
    return ImageRecord(path=f"/x/{pid}_{camid}.jpg", pid=pid, camid=camid, attrs=attrs)


@pytest.mark.parametrize(
    "degrees, bins, expected",
    [
        (0, 36, 0), (9, 36, 0), (9.999, 36, 0), (10, 36, 1), (359, 36, 35), (360, 36, 0),
        (-1, 36, 35), (-10, 36, 35), (-10.5, 36, 34), (725, 36, 0), (-1e-20, 36, 0),
        (0, 8, 0), (44.9, 8, 0), (45, 8, 1), (315, 8, 7), (359.9, 8, 7),
        (119.9, 7, 2), (155, 7, 3), (359, 7, 6), (200, 1, 0),
    ],
)
def test_orientation_bin(degrees, bins, expected):
    # 7 bins of 51.43 degrees (bins need not divide 360): 119.9 -> 2.33, 155 -> 3.01.
    assert orientation_bin(degrees, bins) == expected


def test_orientation_bin_default_is_36_bins_of_10_degrees():
    assert [orientation_bin(d) for d in (0, 9, 10, 19, 20, 355)] == [0, 0, 1, 1, 2, 35]


@pytest.mark.parametrize(
    "call, error, match",
    [
        (lambda: orientation_bin("90"), TypeError, "degrees must be a real number"),
        (lambda: orientation_bin(float("nan")), ValueError, "degrees must be finite"),
        (lambda: orientation_bin(90, 0), ValueError, "bins must be between 1 and 360, got 0"),
        (lambda: orientation_bin(90, 2.0), TypeError, "bins must be an integer"),
        (lambda: task_labels([], "color"), ValueError, r"task must be one of 'identity', 'camera', 'orientation', got 'color'"),
        (lambda: task_labels([], "camera", classes=[1, 1]), ValueError, r"classes must be distinct, got \[1, 1\]"),
        (lambda: task_labels([], "camera", classes=[1, -1]), ValueError, r"classes\[1\] must be >= 0, got -1"),
        (lambda: task_labels([], "camera", classes="12"), TypeError, "classes must be a sequence of ints"),
        (lambda: task_labels([], "orientation", orientation_bins=361), ValueError, "orientation_bins must be between 1 and 360"),
    ],
)
def test_bad_arguments(call, error, match):
    with pytest.raises(error, match=match):
        call()


def test_identity_is_relabel():
    records = [_record(40), _record(-1), _record(7), _record(40), _record(12)]
    labels = task_labels(records, "identity")
    expected, mapping = relabel(records)
    assert labels.labels.dtype == np.int64 and labels.labels.shape == (5,)
    assert labels.labels.tolist() == expected == [2, -1, 0, 2, 1]
    assert labels.classes == list(mapping) == [7, 12, 40]
    assert labels.known.tolist() == [True, False, True, True, True]
    # A trained identity model's classes: test identities are unknown to it.
    given = task_labels(records, "identity", classes=[40, 7])
    assert given.labels.tolist() == [0, -1, 1, 0, -1] and given.classes == [40, 7]


def test_camera_classes_and_given_classes():
    records = [_record(camid=5), _record(camid=2), _record(camid=-1), _record(camid=41), _record(camid=2)]
    own = task_labels(records, "camera")
    assert own.classes == [2, 5, 41] and own.labels.tolist() == [1, 0, -1, 2, 0]
    # Evaluating a camera model trained on cameras 41, 2, 9: camera 5 is not among them.
    given = task_labels(records, "camera", classes=[41, 2, 9])
    assert given.labels.tolist() == [-1, 1, -1, 0, 1] and given.classes == [41, 2, 9]


def test_orientation_bins_of_the_records():
    records = [
        _record(orientation=0), _record(orientation=9), _record(orientation=10), _record(orientation=359),
        _record(orientation=360), _record(orientation=-5), _record(), _record(orientation=125, color=3),
    ]
    own = task_labels(records, "orientation")
    # bins 0, 0, 1, 35, 0, 35, none, 12 -> classes [0, 1, 12, 35]
    assert own.classes == [0, 1, 12, 35]
    assert own.labels.tolist() == [0, 0, 1, 3, 0, 3, -1, 2]
    coarse = task_labels(records, "orientation", orientation_bins=4)  # 90-degree bins
    assert coarse.classes == [0, 1, 3] and coarse.labels.tolist() == [0, 0, 0, 2, 0, 2, -1, 1]
    given = task_labels(records, "orientation", classes=[35, 1])
    assert given.labels.tolist() == [-1, -1, 1, 0, -1, 0, -1, -1]


def test_tasks_and_empty_records():
    assert TASKS == ("identity", "camera", "orientation")
    for task in TASKS:
        empty = task_labels([], task)
        assert empty.labels.dtype == np.int64 and empty.labels.shape == (0,) and empty.classes == []


def test_only_orientation_changes_under_a_mirror():
    assert mirror_keeps_class("identity") and mirror_keeps_class("camera")
    assert not mirror_keeps_class("orientation")
    with pytest.raises(ValueError, match="task must be one of"):
        mirror_keeps_class("colour")
