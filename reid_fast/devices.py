"""Device names as users write them (``auto``, ``cpu``, ``cuda``, ``cuda:N``) -> torch
devices: the one rule every command, the trainer and the inference API follow."""

from __future__ import annotations

import torch


def resolve_device(name: str | torch.device = "auto", local_rank: int = 0) -> torch.device:
    """``auto`` -> ``cuda:<local_rank>`` when torch sees a CUDA device, else ``cpu``; a
    CUDA device without an index gets ``local_rank``. ValueError for a CUDA device torch
    does not see, or a name torch does not know."""
    if isinstance(name, str) and name == "auto":
        return torch.device(f"cuda:{local_rank}" if torch.cuda.is_available() else "cpu")
    if not isinstance(name, (str, torch.device)):
        raise TypeError(f"device must be a str or torch.device, got {type(name).__name__} {name!r}")
    try:
        device = torch.device(name)
    except RuntimeError as error:
        raise ValueError(f"device {name!r} is not a device name ({error})") from None
    if device.type == "cuda":
        if not torch.cuda.is_available():
            raise ValueError(f"device {str(name)!r} requested but torch sees no CUDA device")
        if device.index is None:
            device = torch.device(f"cuda:{local_rank}")
    return device
