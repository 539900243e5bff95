"""What the native module was compiled with, and whether CUDA can be used now."""

from __future__ import annotations

from typing import Any

from ._native import _C


def build_info() -> dict[str, Any]:
    """Describe the compiled native module.

    Returns a dict with keys ``cuda`` (bool: CUDA kernels compiled), ``cuda_version``
    (str or None), ``cuda_architectures`` (str such as ``"80-real,90-real,90-virtual"``
    or None), ``openmp`` (bool), ``openmp_threads`` (int, threads the CPU kernels use),
    ``cpu_kernels`` (the instruction set the CPU GEMM dispatched to: ``"avx512"``,
    ``"avx2"`` or ``"generic"``), ``compiler`` and ``build_type``.
    """
    return dict(_C.build_info())


def cuda_available() -> bool:
    """True when the CUDA kernels were compiled and a CUDA device can be used now."""
    return bool(_C.build_info()["cuda"]) and _C.cuda_device_count() > 0
