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
