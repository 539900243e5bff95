"""Shared pytest configuration: CUDA / CuPy skipping and common fixtures.

Marks:
- ``cuda``: needs reid_fast built with CUDA and a usable device (reid_fast.cuda_available()
  and torch.cuda.is_available()); skipped cleanly otherwise.
- ``cupy``: needs an importable CuPy; skipped otherwise.

Helpers (array construction, conversion to NumPy, tolerances, the tie-aware kNN check)
live in tests/reid_testing.py.
"""

from __future__ import annotations

import zlib

import numpy as np
import pytest

import reid_testing


def pytest_configure(config: pytest.Config) -> None:
    # "cuda" is also declared in pyproject.toml; declaring it here too is harmless and
    # keeps --strict-markers working when the tests run with another rootdir.
    config.addinivalue_line("markers", "cuda: needs a usable CUDA device (skipped otherwise)")
    config.addinivalue_line("markers", "cupy: needs CuPy (skipped when it cannot be imported)")


def _cuda_skip_reason() -> str | None:
    import reid_fast

    if not reid_fast.build_info()["cuda"]:
        return "reid_fast was built without CUDA"
    if not reid_fast.cuda_available():
        return "no usable CUDA device"
    torch = reid_testing.torch
    if torch is None or not torch.cuda.is_available():
        return "torch cannot use CUDA"
    return None


def pytest_runtest_setup(item: pytest.Item) -> None:
    if item.get_closest_marker("cuda") is not None:
        reason = _cuda_skip_reason()
        if reason is not None:
            pytest.skip(reason)
    if item.get_closest_marker("cupy") is not None and reid_testing.cupy_module() is None:
        pytest.skip("CuPy is not importable")


@pytest.fixture
def cuda() -> str:
    """The CUDA device string; skips the test when CUDA cannot be used."""
    reason = _cuda_skip_reason()
    if reason is not None:
        pytest.skip(reason)
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
