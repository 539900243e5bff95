"""Device names as users write them (``auto``, ``cpu``, ``cuda``, ``cuda:N``) -> torch
devices: the one rule every command, the trainer and the inference API follow."""

from __future__ import annotations

import warnings

import torch

from . import _build

_TORCH_SEES_NO_CUDA = "torch sees no CUDA device"


def _cuda_problem() -> str | None:
    """None when CUDA can be used here: torch sees a CUDA device and reid_fast can use CUDA
    (:func:`reid_fast.cuda_status`); else why not, one line."""
    if not torch.cuda.is_available():
        return _TORCH_SEES_NO_CUDA
    status = _build.cuda_status()
    if not status["usable"]:
        return f"reid_fast cannot use the CUDA device torch sees ({status['reason']})"
    return None


def resolve_device(name: str | torch.device = "auto", local_rank: int = 0) -> torch.device:
    """``auto`` -> ``cuda:<local_rank>`` when CUDA can be used (:func:`_cuda_problem`), else
    ``cpu`` (with a RuntimeWarning saying why where torch sees a CUDA device that reid_fast
    cannot use); a CUDA device without an index gets ``local_rank``. ValueError for a CUDA
    device where CUDA cannot be used, or a name torch does not know."""
    if isinstance(name, str) and name == "auto":
        return _auto_device(local_rank)
    if not isinstance(name, (str, torch.device)):
        raise TypeError(f"device must be a str or torch.device, got {type(name).__name__} {name!r}")
    try:
        device = torch.device(name)
    except RuntimeError as error:
        raise ValueError(f"device {name!r} is not a device name ({error})") from None
    if device.type == "cuda":
        problem = _cuda_problem()
        if problem is not None:
            raise ValueError(f"device {str(name)!r} requested but {problem}")
        if device.index is None:
            device = torch.device(f"cuda:{local_rank}")
    return device


def _auto_device(local_rank: int) -> torch.device:
    problem = _cuda_problem()
    if problem is None:
        return torch.device(f"cuda:{local_rank}")
    if problem != _TORCH_SEES_NO_CUDA:
        warnings.warn(f"device 'auto': {problem}; using the CPU", RuntimeWarning, stacklevel=3)
    return torch.device("cpu")
