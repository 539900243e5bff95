"""What the native module was compiled with, and whether CUDA can be used now (and if not,
why)."""

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


def cuda_status() -> dict[str, Any]:
    """Whether reid_fast can run on a CUDA device now, and why not.

    Returns a dict with keys ``usable`` (bool), ``compiled`` (bool: the CUDA kernels were
    built), ``devices`` (int: devices the CUDA runtime sees), ``error`` (the runtime's
    error string when it could not be queried: no device, no driver, or a driver older
    than the statically linked runtime, with both versions; else None) and ``reason`` (one
    line: ``"usable: N device(s)"``, or why not: ``"not compiled: ..."``,
    ``"no device: ..."`` or ``"CUDA error: ..."``).
    """
    compiled = bool(_C.build_info()["cuda"])
    devices, error, absent = _C.cuda_devices() if compiled else (0, None, True)
    if not compiled:
        reason = ("not compiled: reid_fast was built without CUDA (nvcc was not on PATH when "
                  "it was installed; reinstall with nvcc on PATH)")
    elif devices > 0:
        reason = f"usable: {devices} device(s)"
    elif error is None or absent:
        reason = f"no device: {error or 'the CUDA runtime sees no CUDA device'}"
    else:
        reason = f"CUDA error: {error}"
    return {"usable": compiled and devices > 0, "compiled": compiled, "devices": int(devices),
            "error": error, "reason": reason}


def cuda_available() -> bool:
    """True when the CUDA kernels were compiled and a CUDA device can be used now
    (:func:`cuda_status` says why not)."""
    return bool(cuda_status()["usable"])
