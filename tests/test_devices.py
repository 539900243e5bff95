"""reid_fast.devices.resolve_device: the one rule for device names."""

from __future__ import annotations

import pytest
import torch

from reid_fast.devices import resolve_device


def test_cpu_and_auto(monkeypatch):
    assert resolve_device("cpu") == torch.device("cpu")
    assert resolve_device(torch.device("cpu")) == torch.device("cpu")
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert resolve_device("auto") == torch.device("cpu")
    with pytest.raises(ValueError, match="device 'cuda:1' requested but torch sees no CUDA device"):
        resolve_device("cuda:1")
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    assert resolve_device("auto", local_rank=3) == torch.device("cuda:3")
    assert resolve_device("cuda", local_rank=2) == torch.device("cuda:2")
    assert resolve_device("cuda:1", local_rank=2) == torch.device("cuda:1")


def test_bad_names():
    with pytest.raises(ValueError, match="device 'gpu' is not a device name"):
        resolve_device("gpu")
    with pytest.raises(TypeError, match="device must be a str or torch.device, got int 0"):
        resolve_device(0)
