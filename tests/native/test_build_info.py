"""reid_fast.build_info(), cuda_status() and cuda_available(), and the CUDA gate of the
tests (reid_testing.cuda_gate): a CUDA test fails, with the reason, where torch sees a GPU
that reid_fast cannot use."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

import reid_fast
import reid_testing
from reid_fast import _build

KEYS = {
    "cuda",
    "cuda_version",
    "cuda_architectures",
    "openmp",
    "openmp_threads",
    "cpu_kernels",
    "compiler",
    "build_type",
}


def test_keys():
    info = reid_fast.build_info()
    assert isinstance(info, dict)
    assert KEYS <= set(info), f"missing: {sorted(KEYS - set(info))}"


def test_types():
    info = reid_fast.build_info()
    assert isinstance(info["cuda"], bool)
    assert isinstance(info["openmp"], bool)
    assert isinstance(info["openmp_threads"], int) and not isinstance(info["openmp_threads"], bool)
    assert info["openmp_threads"] >= 1
    assert info["cpu_kernels"] in ("avx512", "avx2", "generic")
    assert isinstance(info["compiler"], str) and info["compiler"]
    assert isinstance(info["build_type"], str) and info["build_type"]
    if info["cuda"]:
        assert isinstance(info["cuda_version"], str) and info["cuda_version"]
        assert isinstance(info["cuda_architectures"], str) and info["cuda_architectures"]
    else:
        assert info["cuda_version"] is None
        assert info["cuda_architectures"] is None
    if not info["openmp"]:
        assert info["openmp_threads"] == 1


def test_returns_a_fresh_dict():
    """Mutating the returned dict does not change what the next call reports."""
    info = reid_fast.build_info()
    info["cuda"] = "changed"
    assert isinstance(reid_fast.build_info()["cuda"], bool)


def test_cuda_available_is_bool():
    available = reid_fast.cuda_available()
    assert isinstance(available, bool)
    if not reid_fast.build_info()["cuda"]:
        assert available is False


def test_cuda_status_matches_the_build():
    status = reid_fast.cuda_status()
    assert set(status) == {"usable", "compiled", "devices", "error", "reason"}
    assert status["compiled"] is reid_fast.build_info()["cuda"]
    assert status["usable"] is reid_fast.cuda_available()
    assert status["usable"] == (status["devices"] > 0)
    assert isinstance(status["reason"], str) and status["reason"]


class FakeNative:
    """A stand-in for reid_fast._C: a build with or without CUDA whose runtime reports
    ``devices`` and ``error``."""

    def __init__(self, compiled: bool, devices: int = 0, error: str | None = None,
                 absent: bool = False) -> None:
        self.compiled, self.devices, self.error, self.absent = compiled, devices, error, absent

    def build_info(self) -> dict:
        return {"cuda": self.compiled}

    def cuda_devices(self) -> tuple:
        assert self.compiled, "a build without CUDA has no runtime to ask"
        return self.devices, self.error, self.absent


DRIVER_ERROR = "CUDA driver version is insufficient for CUDA runtime version"


@pytest.mark.parametrize("native, usable, reason", [
    (FakeNative(False), False, "not compiled: reid_fast was built without CUDA"),
    (FakeNative(True, 0, "no CUDA-capable device is detected", absent=True), False, "no device:"),
    (FakeNative(True, 0, "no CUDA driver is installed", absent=True), False, "no device: no CUDA driver"),
    (FakeNative(True, 0, DRIVER_ERROR), False, f"CUDA error: {DRIVER_ERROR}"),
    (FakeNative(True, 2), True, "usable: 2 device(s)"),
])
def test_cuda_status_says_why(monkeypatch, native, usable, reason):
    monkeypatch.setattr(_build, "_C", native)
    status = reid_fast.cuda_status()
    assert status["usable"] is usable
    assert status["reason"].startswith(reason)
    assert reid_fast.cuda_available() is usable


@pytest.mark.parametrize("usable, torch_sees, action", [
    (True, True, "run"),
    (False, True, "fail"),   # a GPU machine with a broken build: never a silent skip
    (False, False, "skip"),
    (True, False, "skip"),   # a CPU-only torch: nothing to make CUDA tensors with
])
def test_cuda_gate(usable, torch_sees, action):
    status = {"usable": usable, "reason": "usable: 1 device(s)" if usable else f"CUDA error: {DRIVER_ERROR}"}
    got, reason = reid_testing.cuda_gate(status, torch_sees)
    assert got == action
    if action == "fail":
        assert DRIVER_ERROR in reason


def test_cuda_tests_fail_where_torch_sees_a_gpu_that_reid_fast_cannot_use(tmp_path):
    """The real conftest in a pytest run where torch is made to see a GPU and reid_fast to
    report a driver error: a test marked cuda and a test using the cuda fixture both fail
    with the reason (as setup errors: pytest's non-zero status, never a skip); a CPU test
    still passes."""
    tests = Path(__file__).resolve().parent.parent
    (tmp_path / "conftest.py").write_text((tests / "conftest.py").read_text())
    (tmp_path / "simulate_broken_cuda.py").write_text(textwrap.dedent(f"""
        import torch
        import reid_fast

        def pytest_configure(config):
            torch.cuda.is_available = lambda: True
            reid_fast.cuda_status = lambda: {{"usable": False, "compiled": True, "devices": 0,
                                             "error": {DRIVER_ERROR!r},
                                             "reason": "CUDA error: " + {DRIVER_ERROR!r}}}
    """))
    (tmp_path / "test_gpu.py").write_text(textwrap.dedent("""
        import pytest

        @pytest.mark.cuda
        def test_marked():
            pass

        def test_fixture(cuda):
            pass

        def test_cpu():
            pass
    """))
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(tests), str(tmp_path)])}
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "simulate_broken_cuda", "-p", "no:cacheprovider",
         "--rootdir", str(tmp_path), str(tmp_path / "test_gpu.py")],
        capture_output=True, text=True, env=env, cwd=tmp_path, timeout=300)
    assert done.returncode == 1 and "1 passed, 2 errors" in done.stdout, done.stdout + done.stderr
    assert done.stdout.count(f"torch sees a CUDA device, but reid_fast cannot use it: CUDA error: {DRIVER_ERROR}") >= 2


def test_version():
    assert isinstance(reid_fast.__version__, str)


def test_public_names():
    for name in ("METRICS", "build_info", "cuda_available", "cuda_status", "knn", "pairwise_distance"):
        assert name in reid_fast.__all__
        assert hasattr(reid_fast, name)
