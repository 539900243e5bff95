"""reid_fast.ops._arrays.native_call: every op runs on the device of its inputs, also when that
is not the current device. The array's device is made current before the stream is looked
up and the arrays are exported (DLPack's stream handshake is done on the current device), it
stays current while the op is enqueued, and the previous device is current again afterwards.

Checked with stand-ins for torch and CuPy that record the current device at each step (this
machine may have no GPU, or only one), and on real devices where there are two."""

from __future__ import annotations

import contextlib
from types import SimpleNamespace

import numpy as np
import pytest

import reid_fast
import reid_testing as rt
from reid_fast import reference
from reid_fast.ops import _arrays


class FakeRuntime:
    """A framework's CUDA runtime: one current device, and a log of what happened on which."""

    def __init__(self) -> None:
        self.current = 0
        self.log: list[tuple] = []

    @contextlib.contextmanager
    def on(self, index: int):
        previous, self.current = self.current, index
        try:
            yield
        finally:
            self.current = previous


class FakeArray:
    def __init__(self, runtime: FakeRuntime, index: int) -> None:
        self.runtime = runtime
        self.device = SimpleNamespace(type="cuda", index=index)

    def __dlpack__(self, stream=None):
        self.runtime.log.append(("export", self.runtime.current, stream))
        return "capsule"


def fake_torch(runtime: FakeRuntime):
    def current_stream(device):
        runtime.log.append(("stream", runtime.current))
        return SimpleNamespace(cuda_stream=1000 + device.index)

    return SimpleNamespace(cuda=SimpleNamespace(device=runtime.on, current_stream=current_stream))


def fake_cupy(runtime: FakeRuntime):
    def get_current_stream():
        runtime.log.append(("stream", runtime.current))
        return SimpleNamespace(ptr=1000 + runtime.current)

    return SimpleNamespace(cuda=SimpleNamespace(Device=runtime.on, get_current_stream=get_current_stream))


@pytest.mark.parametrize("framework, fake", [("torch", fake_torch), ("cupy", fake_cupy)])
def test_the_arrays_device_is_current_from_export_to_launch(monkeypatch, framework, fake):
    runtime = FakeRuntime()
    monkeypatch.setattr(_arrays, f"{framework}_module", lambda: fake(runtime))
    x = _arrays.Array("x", FakeArray(runtime, 1), framework, "cuda", 1)
    out = FakeArray(runtime, 1)
    with _arrays.native_call(x, x.value, None, out) as (stream, capsules):
        runtime.log.append(("launch", runtime.current))
    assert stream == 1001  # the stream of cuda:1, not of the current cuda:0
    assert capsules == ["capsule", None, "capsule"]
    assert runtime.log == [("stream", 1), ("export", 1, 1001), ("export", 1, 1001), ("launch", 1)]
    assert runtime.current == 0


def test_cpu_arrays_touch_no_device(monkeypatch):
    x = _arrays.wrap("x", np.zeros((2, 3), np.float32))
    monkeypatch.setattr(_arrays, "torch_module", lambda: pytest.fail("a CPU call must not touch CUDA"))
    with _arrays.native_call(x, x.value) as (stream, capsules):
        assert stream == 0 and len(capsules) == 1


@pytest.mark.cuda
def test_knn_on_the_second_device_while_the_first_is_current():
    torch = rt.torch
    if torch.cuda.device_count() < 2:
        pytest.skip("needs two CUDA devices")
    rng = np.random.default_rng(0)
    x, y = rng.standard_normal((33, 16), np.float32), rng.standard_normal((300, 16), np.float32)
    with torch.cuda.device(0):
        values, indices = reid_fast.knn(torch.from_numpy(x).to("cuda:1"), torch.from_numpy(y).to("cuda:1"), 5)
        assert torch.cuda.current_device() == 0
    assert values.device == torch.device("cuda:1")
    x64, y64 = x.astype(np.float64), y.astype(np.float64)
    distances = reference.pairwise_distance(x64, y64, "euclidean")
    rt.assert_valid_knn(values.cpu().numpy(), indices.cpu().numpy(), distances,
                        rt.distance_tolerance(x64, y64, "euclidean", distances), 5)
