"""Shared pytest configuration: CUDA / CuPy gating and common fixtures.

Marks:
- ``cuda``: needs reid_fast built with CUDA and a usable device (tests taking the ``cuda``
  fixture are marked too). Skipped where torch sees no
  CUDA device; where torch sees one but reid_fast cannot use it (built without CUDA, a driver
  older than its runtime, ...), the test fails with the reason (reid_testing.cuda_gate), so
  that a broken build cannot pass on a GPU machine as a row of clean skips.
- ``cupy``: needs an importable CuPy; skipped otherwise.
- ``emulated``: runs reid_fast's CUDA kernels on the CPU through the emulator
  (tests/emulated_cuda.py).

Helpers (array construction, conversion to NumPy, tolerances, the tie-aware kNN check)
live in tests/reid_testing.py.
"""

from __future__ import annotations

import zlib

import numpy as np
import pytest

import reid_testing


def pytest_configure(config: pytest.Config) -> None:
    # The marks are also declared in pyproject.toml; declaring them here too keeps
    # --strict-markers working when the tests run with another rootdir.
    config.addinivalue_line("markers", "cuda: needs a usable CUDA device (skipped where torch sees none)")
    config.addinivalue_line("markers", "cupy: needs CuPy (skipped when it cannot be imported)")
    config.addinivalue_line("markers", "emulated: runs the CUDA kernels on the CPU through tests/cuda_emulator")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    # A test that takes the cuda fixture needs CUDA as much as a marked one: mark it, so that
    # ``-m cuda`` (bench/gpu_check.py's tests stage) selects every test that needs a GPU.
    for item in items:
        if "cuda" in getattr(item, "fixturenames", ()):
            item.add_marker(pytest.mark.cuda)


def pytest_runtest_setup(item: pytest.Item) -> None:
    if item.get_closest_marker("cuda") is not None:
        reid_testing.require_cuda()
    if item.get_closest_marker("cupy") is not None and reid_testing.cupy_module() is None:
        pytest.skip("CuPy is not importable")


@pytest.fixture
def cuda() -> str:
    """The CUDA device string; skips or fails the test as reid_testing.cuda_gate says."""
    reid_testing.require_cuda()
    return "cuda"


@pytest.fixture(params=["cpu", pytest.param("cuda", marks=pytest.mark.cuda)])
def device(request: pytest.FixtureRequest) -> str:
    """'cpu', and 'cuda' (skipped where CUDA cannot be used)."""
    return request.param


@pytest.fixture
def rng(request: pytest.FixtureRequest) -> np.random.Generator:
    """A generator seeded from the test's id, so every test is reproducible on its own."""
    seed = zlib.crc32(request.node.nodeid.encode())  # stable, unlike the salted hash()
    return np.random.default_rng(seed)
