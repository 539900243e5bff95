"""Large CPU outputs backed by transparent huge pages where Linux offers them.

A fresh 50 MB tensor costs about 12,800 page faults when first written (some 20 ms on
a small cloud CPU: more than the augmentation itself). Advising the kernel to back the
buffer with 2 MB pages (``madvise(MADV_HUGEPAGE)``, what PyTorch does for every large
allocation when started with ``THP_MEM_ALLOC_ENABLE=1``) cuts that to a few dozen faults.
Elsewhere (other OSes, CUDA tensors, small tensors) this is a plain ``torch.empty``.
"""

from __future__ import annotations

import ctypes
import sys
from functools import lru_cache
from typing import Any

import torch

_HUGE_PAGE = 1 << 21
_MADV_HUGEPAGE = 14  # from <sys/mman.h> on Linux


@lru_cache(maxsize=1)
def _madvise() -> Any:
    """libc's madvise, or None where huge pages cannot be requested."""
    if not sys.platform.startswith("linux"):
        return None
    try:
        with open("/sys/kernel/mm/transparent_hugepage/enabled") as setting:
            if "[never]" in setting.read():
                return None
        function = ctypes.CDLL(None).madvise  # the C library the interpreter runs on
    except (OSError, AttributeError):
        return None
    function.argtypes = (ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int)
    function.restype = ctypes.c_int
    return function


def empty(
    shape: tuple[int, ...],
    dtype: torch.dtype,
    device: torch.device,
    memory_format: torch.memory_format = torch.contiguous_format,
) -> torch.Tensor:
    """``torch.empty``; on a Linux CPU, buffers of several MB ask for huge pages."""
    out = torch.empty(shape, dtype=dtype, device=device, memory_format=memory_format)
    madvise = _madvise() if out.device.type == "cpu" else None
    if madvise is not None:
        address = out.data_ptr()
        start = -(-address // _HUGE_PAGE) * _HUGE_PAGE
        end = (address + out.untyped_storage().nbytes()) // _HUGE_PAGE * _HUGE_PAGE
        if end > start:
            madvise(start, end - start, _MADV_HUGEPAGE)  # a hint: failure changes nothing
    return out
