"""reid_fast.devices.resolve_device: the one rule for device names."""

from __future__ import annotations

import warnings

import pytest
import torch

from reid_fast import _build
from reid_fast.devices import resolve_device

DRIVER_ERROR = "CUDA driver version is insufficient for CUDA runtime version"


def _cuda(monkeypatch, torch_sees: bool, reid_fast_usable: bool) -> None:
    """Make torch see (or not) a CUDA device and reid_fast's cuda_status() say usable or a
    driver error."""
    monkeypatch.setattr(torch.cuda, "is_available", lambda: torch_sees)
    reason = "usable: 1 device(s)" if reid_fast_usable else f"CUDA error: {DRIVER_ERROR}"
    monkeypatch.setattr(_build, "cuda_status", lambda: {
        "usable": reid_fast_usable, "compiled": True, "devices": int(reid_fast_usable),
        "error": None if reid_fast_usable else DRIVER_ERROR, "reason": reason})


def test_cpu_and_auto(monkeypatch):
    assert resolve_device("cpu") == torch.device("cpu")
    assert resolve_device(torch.device("cpu")) == torch.device("cpu")
    _cuda(monkeypatch, torch_sees=False, reid_fast_usable=False)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no GPU at all: the CPU, silently
        assert resolve_device("auto") == torch.device("cpu")
    with pytest.raises(ValueError, match="device 'cuda:1' requested but torch sees no CUDA device"):
        resolve_device("cuda:1")
    _cuda(monkeypatch, torch_sees=True, reid_fast_usable=True)
    assert resolve_device("auto", local_rank=3) == torch.device("cuda:3")
    assert resolve_device("cuda", local_rank=2) == torch.device("cuda:2")
    assert resolve_device("cuda:1", local_rank=2) == torch.device("cuda:1")


def test_auto_is_the_cpu_where_reid_fast_cannot_use_the_gpu_torch_sees(monkeypatch):
    _cuda(monkeypatch, torch_sees=True, reid_fast_usable=False)
    with pytest.warns(RuntimeWarning) as record:
        assert resolve_device("auto", local_rank=1) == torch.device("cpu")
    assert len(record) == 1
    message = str(record[0].message)
    assert message == ("device 'auto': reid_fast cannot use the CUDA device torch sees "
                       f"(CUDA error: {DRIVER_ERROR}); using the CPU")
    assert record[0].filename == __file__  # points at the caller of resolve_device


@pytest.mark.parametrize("name", ["cuda", "cuda:0", torch.device("cuda:1")], ids=str)
def test_cuda_where_reid_fast_cannot_use_it(monkeypatch, name):
    _cuda(monkeypatch, torch_sees=True, reid_fast_usable=False)
    with pytest.raises(ValueError, match=rf"device '{name}' requested but reid_fast cannot use "
                       rf"the CUDA device torch sees \(CUDA error: {DRIVER_ERROR}\)"):
        resolve_device(name)


def test_bad_names():
    with pytest.raises(ValueError, match="device 'gpu' is not a device name"):
        resolve_device("gpu")
    with pytest.raises(TypeError, match="device must be a str or torch.device, got int 0"):
        resolve_device(0)
