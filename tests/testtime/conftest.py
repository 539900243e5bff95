"""The small trained run the test-time tests share (trained once per session)."""

from __future__ import annotations

import pytest

from reid_fast.cli import train

TINY = ["--synthetic-train-ids", "60", "--synthetic-test-ids", "30", "--epochs", "6",
        "--image-size", "48", "48", "--no-progress", "--no-eval-untrained"]


@pytest.fixture(scope="session")
def run(tmp_path_factory):
    """The folder of a finished tiny run on the built-in synthetic vehicles."""
    out = tmp_path_factory.mktemp("runs")
    cache = tmp_path_factory.mktemp("cache")
    assert train.main(TINY + ["--output", str(out), "--name", "tiny", "--cache-dir", str(cache)]) == 0
    return out / "tiny"


@pytest.fixture(scope="session")
def attribute_cache(tmp_path_factory):
    """The image cache the camera and orientation runs share (same images, same size)."""
    return tmp_path_factory.mktemp("attribute_cache")


def _attribute_run(task, tmp_path_factory, cache):
    out = tmp_path_factory.mktemp(f"{task}_runs")
    assert train.main(TINY + ["--task", task, "--output", str(out), "--name", task,
                              "--cache-dir", str(cache)]) == 0
    return out / task


@pytest.fixture(scope="session")
def camera_run(tmp_path_factory, attribute_cache):
    """A finished tiny camera run (``--task camera``) on the same synthetic vehicles."""
    return _attribute_run("camera", tmp_path_factory, attribute_cache)


@pytest.fixture(scope="session")
def orientation_run(tmp_path_factory, attribute_cache):
    """A finished tiny orientation run (``--task orientation``) on the same synthetic vehicles."""
    return _attribute_run("orientation", tmp_path_factory, attribute_cache)
