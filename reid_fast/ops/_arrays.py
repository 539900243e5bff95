"""The bridge between array frameworks and the native core.

Every public op goes through here: it recognises torch tensors, NumPy arrays and CuPy
arrays, validates them with errors that name the argument and show the bad value, makes
them contiguous, allocates outputs and workspace with the input's framework on the
input's device, finds the framework's current CUDA stream, and hands DLPack capsules to
``reid_fast._C``.

Checks of an array's values (finiteness, value ranges, CSR structure) read a result back
to the host, a synchronisation on CUDA. An op that calls other ops on arrays it derived from
inputs it has already checked (re-ranking: knn of the checked features, the CSR rows it
built) makes those calls inside :func:`derived_inputs`, which skips them; shapes, dtypes and
devices are checked either way.
"""

from __future__ import annotations

import contextlib
import contextvars
import math
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np

from .._native import _C

FLOAT_DTYPES = ("float32", "float16", "bfloat16")


def torch_module() -> Any:
    """The torch module when it is imported (an array of that framework implies it is), else
    None; never imports it."""
    return sys.modules.get("torch")


def cupy_module() -> Any:
    """The cupy module when it is imported, else None; never imports it."""
    return sys.modules.get("cupy")


def framework_of(name: str, value: Any) -> str:
    """'torch', 'numpy' or 'cupy'; TypeError naming ``name`` for anything else."""
    torch = torch_module()
    if torch is not None and isinstance(value, torch.Tensor):
        return "torch"
    if isinstance(value, np.ndarray):
        return "numpy"
    cupy = cupy_module()
    if cupy is not None and isinstance(value, cupy.ndarray):
        return "cupy"
    raise TypeError(
        f"{name} must be a torch.Tensor, numpy.ndarray or cupy.ndarray, "
        f"got {type(value).__module__}.{type(value).__qualname__}"
    )


@dataclass
class Array:
    """An input or output array with what the bridge needs to know about it."""

    name: str
    value: Any
    framework: str
    device: str  # "cpu" or "cuda"
    device_index: int

    @property
    def shape(self) -> tuple[int, ...]:
        return tuple(int(s) for s in self.value.shape)

    @property
    def dtype(self) -> str:
        return dtype_name(self.value)

    @property
    def device_label(self) -> str:
        return "cpu" if self.device == "cpu" else f"cuda:{self.device_index}"


def dtype_name(value: Any) -> str:
    dtype = value.dtype
    name = str(dtype)
    return name[len("torch."):] if name.startswith("torch.") else name


def wrap(name: str, value: Any) -> Array:
    framework = framework_of(name, value)
    if framework == "torch":
        if value.layout != torch_module().strided:
            raise TypeError(f"{name} must be a dense (strided) torch.Tensor, got layout "
                            f"{value.layout}; convert it with .to_dense()")
        device = value.device
        if device.type not in ("cpu", "cuda"):
            raise ValueError(f"{name} must be on a CPU or CUDA device, got {device}")
        index = device.index if device.type == "cuda" else 0
        return Array(name, value, framework, device.type, int(index or 0))
    if framework == "numpy":
        return Array(name, value, framework, "cpu", 0)
    return Array(name, value, framework, "cuda", int(value.device.id))


def feature_matrix(name: str, value: Any) -> Array:
    """A 2-D float32/float16/bfloat16 matrix with at least one column, contiguous."""
    array = wrap(name, value)
    if len(array.shape) != 2:
        raise ValueError(f"{name} must be 2-D (rows, features), got shape {array.shape}")
    if array.dtype not in FLOAT_DTYPES:
        hint = ""
        if array.dtype == "float64":
            hint = " (convert it first, e.g. x.astype(numpy.float32) or x.float())"
        raise TypeError(f"{name} must be float32, float16 or bfloat16, got {array.dtype}{hint}")
    if array.shape[1] == 0:
        raise ValueError(f"{name} must have at least one feature column, got shape {array.shape}")
    array.value = contiguous(array)
    return array


def same_kind(x: Array, y: Array) -> None:
    """y must match x in framework, device, dtype and feature dimension."""
    if y.framework != x.framework:
        raise TypeError(f"{y.name} must be a {x.framework} array like {x.name}, got {y.framework}")
    if y.device_label != x.device_label:
        raise ValueError(
            f"{y.name} must be on the same device as {x.name} ({x.device_label}), "
            f"got {y.device_label}"
        )
    if y.dtype != x.dtype:
        raise TypeError(f"{y.name} must have the same dtype as {x.name} ({x.dtype}), got {y.dtype}")
    if y.shape[1] != x.shape[1]:
        raise ValueError(
            f"{y.name} must have as many columns as {x.name} ({x.shape[1]}), got shape {y.shape}"
        )


def contiguous(array: Array) -> Any:
    value = array.value
    if array.framework == "torch":
        return value.detach().contiguous()
    if array.framework == "numpy":
        if not value.flags.writeable:  # NumPy cannot export read-only arrays through DLPack
            return np.array(value, order="C", copy=True)
        return np.ascontiguousarray(value)
    return cupy_module().ascontiguousarray(value)


_DERIVED_INPUTS = contextvars.ContextVar("reid_fast_derived_inputs", default=False)


@contextlib.contextmanager
def derived_inputs() -> Iterator[None]:
    """Inside the block, the ops take their array arguments for arrays reid_fast derived from
    inputs it has already validated, and skip the checks of their values (see the module
    docstring). Only for the internal calls of an op; the flag is per thread and task."""
    token = _DERIVED_INPUTS.set(True)
    try:
        yield
    finally:
        _DERIVED_INPUTS.reset(token)


def check_values() -> bool:
    """Whether the ops check the values of their array arguments (outside derived_inputs)."""
    return not _DERIVED_INPUTS.get()


def array_module(like: Array) -> Any:
    """torch, numpy or cupy: the module of ``like``'s framework, for the functions the three
    share (where, stack, ...)."""
    if like.framework == "torch":
        return torch_module()
    return np if like.framework == "numpy" else cupy_module()


def value_range(array: Array) -> tuple[float, float]:
    """(min, max) of a non-empty array as Python floats, read back in one transfer; NaN if
    it holds a NaN."""
    value = array.value
    low, high = array_module(array).stack([value.min(), value.max()]).tolist()
    return float(low), float(high)


def to_host(array: Array) -> np.ndarray:
    """The array's values as a NumPy array on the host (a copy from a device; bfloat16
    widened to float32, which NumPy lacks)."""
    value = array.value
    if array.framework == "torch":
        value = value.detach().cpu()
        return (value.float() if array.dtype == "bfloat16" else value).numpy()
    if array.framework == "cupy":
        return value.get()
    return value


def require_finite(array: Array) -> None:
    """ValueError naming the array if it holds NaN or Inf (syncs the device once).

    A min/max reduction is the fast test (NaN propagates through both); the slower
    element-wise search for the first bad index only runs once something is wrong.
    """
    value = array.value
    if 0 in array.shape:
        return
    low, high = value_range(array)
    if low > -math.inf and high < math.inf:
        return
    if array.framework == "torch":
        bad = (~torch_module().isfinite(value)).nonzero()
    else:
        xp = np if array.framework == "numpy" else cupy_module()
        bad = xp.argwhere(~xp.isfinite(value))
    count, first = int(bad.shape[0]), tuple(int(i) for i in bad[0].tolist())
    raise ValueError(
        f"{array.name} must be finite, got {count} NaN or Inf value(s), the first at index {first}"
    )


def row_squared_norms(array: Array) -> Any:
    """The (rows,) float32 sums of squares of a 2-D feature array's rows, accumulated in
    float32 as the distance kernels do (Inf where that overflows), of its framework and
    device, without an (rows, d) temporary."""
    value = array.value
    if array.framework == "torch":
        torch = torch_module()
        return torch.linalg.vector_norm(value, dim=1, dtype=torch.float32).square()
    xp = array_module(array)
    with np.errstate(over="ignore"):
        return xp.einsum("ij,ij->i", value, value, dtype=xp.float32)


def require_distance_features(array: Array) -> None:
    """ValueError naming the feature matrix if it holds NaN or Inf, or a row whose squared
    norm exceeds ``_C.MAX_SQUARED_NORM`` (about 8.5e37, a norm of 9.2e18: beyond it float32
    distances would be 0, Inf or NaN). One host sync when all is well, like
    :func:`require_finite`; the CPU's fused kernels make the same check while they pack."""
    if 0 in array.shape:
        return
    norms = row_squared_norms(array)
    if float(norms.max()) <= _C.MAX_SQUARED_NORM:  # a NaN fails too
        return
    require_finite(array)
    row = int(norms.argmax())
    raise ValueError(
        f"{array.name} row {row} is too large for float32 distances: its squared norm "
        f"exceeds {_C.MAX_SQUARED_NORM:.6g} (a norm of about 9.2e18); rescale the features"
    )


def empty(like: Array, shape: tuple[int, ...], dtype: str) -> Any:
    """An uninitialised array of the same framework and device as ``like``."""
    if like.framework == "torch":
        torch = torch_module()
        return torch.empty(shape, dtype=getattr(torch, dtype), device=like.value.device)
    if like.framework == "numpy":
        return np.empty(shape, dtype=dtype)
    cupy = cupy_module()
    with cupy.cuda.Device(like.device_index):
        return cupy.empty(shape, dtype=dtype)


def current_stream(like: Array) -> int:
    """The framework's current CUDA stream on ``like``'s device as an integer (0 on CPU)."""
    if like.device == "cpu":
        return 0
    if like.framework == "torch":
        return int(torch_module().cuda.current_stream(like.value.device).cuda_stream)
    cupy = cupy_module()
    with cupy.cuda.Device(like.device_index):
        return int(cupy.cuda.get_current_stream().ptr)


def capsule(value: Any, stream: int, device: str) -> Any:
    """A DLPack capsule of ``value``, ordered on ``stream`` for CUDA arrays."""
    if device == "cpu":
        return value.__dlpack__()
    # DLPack's stream argument: 1 names the legacy default stream, which is what a 0
    # handle means to torch and CuPy.
    return value.__dlpack__(stream=stream if stream != 0 else 1)


def check_cuda_usable(like: Array, build_has_cuda: bool) -> None:
    if like.device == "cuda" and not build_has_cuda:
        raise RuntimeError(
            f"{like.name} is a CUDA array, but reid_fast was built without CUDA. Reinstall "
            "with nvcc on PATH (see the README, 'Building without CUDA'), or move the "
            "arrays to the CPU."
        )


def feature_pair(
    x: Any, y: Any, build_has_cuda: bool, names: tuple[str, str] = ("x", "y"),
    always_check_finite: bool = False,
) -> tuple[Array, Array]:
    """Validated, contiguous x (n, d) and y (m, d) of one framework, device and dtype.

    ``names`` are the argument names errors use; ``always_check_finite`` checks the values
    (NaN/Inf, rows too large: :func:`require_distance_features`) here even where the CPU
    kernels would (for callers that pass derived arrays on)."""
    xa = feature_matrix(names[0], x)
    ya = feature_matrix(names[1], y)
    same_kind(xa, ya)
    check_cuda_usable(xa, build_has_cuda)
    must_check = always_check_finite or xa.device == "cuda" or xa.shape[0] == 0 or ya.shape[0] == 0
    if must_check and check_values():
        # The CPU kernels check the values while they pack the inputs, for free, but do not
        # run when either side is empty; on CUDA the framework checks them here (one sync each).
        require_distance_features(xa)
        require_distance_features(ya)
    return xa, ya


def concat_rows(like: Array, parts: list[Any]) -> Any:
    """The row-wise concatenation of same-framework arrays."""
    if like.framework == "torch":
        return torch_module().cat(parts, dim=0)
    return array_module(like).concatenate(parts, axis=0)


def prefix_sums(like: Array, counts: Any) -> tuple[Any, int, int]:
    """indptr = [0, cumsum(counts)] (int64, same framework/device), its last entry and the
    largest count as ints (read back together: one device sync on CUDA; none for no rows)."""
    rows = int(counts.shape[0])
    indptr = empty(like, (rows + 1,), "int64")
    indptr[0] = 0
    if like.framework == "torch":
        torch_module().cumsum(counts, 0, out=indptr[1:])
    else:
        array_module(like).cumsum(counts, out=indptr[1:])
    if rows == 0:
        return indptr, 0, 0
    total, largest = array_module(like).stack([indptr[-1], counts.max()]).tolist()
    return indptr, int(total), int(largest)


@contextlib.contextmanager
def native_call(like: Array, *values: Any) -> Iterator[tuple[int, list[Any]]]:
    """Yields the stream to run on and DLPack capsules of ``values`` (None stays None), with
    ``like``'s CUDA device current for the framework while the stream is looked up, the
    capsules are made and the native op (called inside the block) is enqueued: an op on
    ``cuda:1`` while ``cuda:0`` is current exports and runs on ``cuda:1``, and the previous
    device is current again afterwards."""
    with device_scope(like):
        stream = current_stream(like)
        yield stream, [None if v is None else capsule(v, stream, like.device) for v in values]


def device_scope(like: Array) -> contextlib.AbstractContextManager:
    """The framework's "make this device current" context for a CUDA array."""
    if like.device == "cpu":
        return contextlib.nullcontext()
    if like.framework == "torch":
        return torch_module().cuda.device(like.device_index)
    return cupy_module().cuda.Device(like.device_index)


def workspace(like: Array, nbytes: int) -> Any:
    return empty(like, (int(nbytes),), "uint8")
