"""reid_fast.build_info() and reid_fast.cuda_available()."""

from __future__ import annotations

import reid_fast

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


def test_version():
    assert isinstance(reid_fast.__version__, str)


def test_public_names():
    for name in ("METRICS", "build_info", "cuda_available", "knn", "pairwise_distance"):
        assert name in reid_fast.__all__
        assert hasattr(reid_fast, name)
