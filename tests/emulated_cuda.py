"""Runs reid_fast's real CUDA kernels on the CPU, through an emulator of the CUDA execution
model (tests/cuda_emulator/), so that CI exercises them on every change without a GPU.

How: every csrc/cuda/*.cu and *.cuh is copied with two mechanical rewrites: a launch
``kernel<<<grid, block, shared, stream>>>(args)`` becomes ``::reid_emu::launch(&kernel,
"kernel", grid, block, shared, stream)(args)``, and a ``__shared__ T name[dims];``
declaration becomes the block's instance of an emulator-owned variable. The copies are
compiled for the host by g++ with AddressSanitizer and UndefinedBehaviorSanitizer, together
with the emulator (reid_emu.h / reid_emu.cpp and a <cuda_runtime.h> of its own) and a driver
(emu_driver.cpp) that calls the ops of ``reid_fast::cuda`` (csrc/include/reid_fast/ops.h)
the way the bindings do, launch configurations, workspace carving and column splits
included. A test writes a case folder (inputs and parameters), runs the driver and reads
the outputs back (:func:`run_cases`).

Each CUDA thread is a fiber; the threads of a block run one at a time, each until it
reaches a barrier, a warp intrinsic or its end; blocks run one after another.

What it catches:
- wrong results, compared with the CPU implementation and with NumPy references, bit for
  bit where the arithmetic order is the same;
- any global or shared memory access outside its allocation (AddressSanitizer: every
  input, output and workspace buffer, and every ``__shared__`` variable of every block, is
  an allocation of its own), and undefined behaviour such as signed overflow;
- a ``__syncthreads`` that not every thread of the block reaches (or reaches at another
  call site), a warp intrinsic that not every lane of its mask reaches, a lane calling
  with a mask that leaves itself out, a shuffle from a lane outside the mask, deadlocks;
- elements of an output that the op never writes (outputs start as NaN / -1), and reads of
  shared memory that nobody wrote (it starts as NaN / -1 in every block);
- launch configurations the hardware rejects, static shared memory over 48 KiB, a kernel
  launched while another device than the arrays' is current (a missing device guard), a
  CUDA error left unchecked;
- with ``REID_EMU_SCHEDULE`` (``forward``, ``reverse``, ``random:SEED``), results that
  depend on the order in which threads run.

What it cannot catch:
- the memory ordering of real hardware: one fiber runs at a time and every write is seen at
  once by every thread, so a missing ``__threadfence`` or memory fence, or a missing
  barrier that no schedule turns into a different result, goes unnoticed;
- races between blocks of one launch (blocks never overlap here);
- floating-point contraction: nvcc fuses multiply-adds into FMA, the emulation rounds every
  product and sum, so a GPU's results differ in the last bits (the CUDA tests on a GPU use
  tolerances for that); device math functions (expf, sqrtf) are the host's;
- hardware resources: registers, occupancy, dynamic shared memory limits above 48 KiB;
- an access that stays inside another region of the same allocation (between regions
  carved from one workspace, or between rows of one shared array);
- performance.
"""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import subprocess
import tempfile
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np

REPO = Path(__file__).resolve().parent.parent
EMULATOR_DIR = REPO / "tests" / "cuda_emulator"
CUDA_DIR = REPO / "csrc" / "cuda"
CACHE_DIR = Path(os.environ.get("REID_FAST_EMULATOR_CACHE", REPO / "build" / "cuda_emulator"))

COMPILER = os.environ.get("CXX", "g++")
FLAGS = [
    "-std=c++17", "-O1", "-g", "-fno-omit-frame-pointer",
    "-fsanitize=address,undefined", "-fno-sanitize-recover=undefined",
    "-ffp-contract=off",  # no FMA contraction: products and sums round as written
    "-DREID_FAST_WITH_CUDA=1", "-Wall", "-Wno-unused-function",
]
SANITIZER_ENV = {
    "ASAN_OPTIONS": "detect_leaks=0:halt_on_error=1:detect_stack_use_after_return=0",
    "UBSAN_OPTIONS": "print_stacktrace=1:halt_on_error=1",
}

# kernel<<<config>>>( -> ::reid_emu::launch(&kernel, "kernel", config)(
_LAUNCH = re.compile(r"(?P<kernel>[A-Za-z_][\w:]*(?:<[^<>;]*>)?)\s*<<<(?P<config>.*?)>>>\s*\(", re.S)
# __shared__ T name[a][b]; -> auto& name = ::reid_emu::shared_variable<T[a][b]>("file:name");
_SHARED = re.compile(r"__shared__\s+(?P<type>[^;\[]+?)\s+(?P<name>\w+)\s*(?P<dims>(?:\[[^\]]+\])*)\s*;")


class EmulatorFailure(Exception):
    """The driver failed: the emulator or a sanitizer found a defect, or the op raised.
    ``stderr`` holds the report."""

    def __init__(self, returncode: int, stderr: str) -> None:
        self.returncode = returncode
        self.stderr = stderr
        super().__init__(f"emu_driver exited with status {returncode}:\n{stderr[-6000:]}")


def transform(text: str, label: str) -> str:
    """The CUDA source ``text`` rewritten for the emulator (line numbers kept; ``label`` is
    the file name __FILE__ reports)."""

    def launch(match: re.Match) -> str:
        kernel = match["kernel"]
        name = kernel.split("<", 1)[0].split("::")[-1]
        newlines = match.group(0).count("\n") - match["config"].count("\n")
        return f'::reid_emu::launch(&{kernel}, "{name}", {match["config"]})(' + "\n" * newlines

    def shared(match: re.Match) -> str:
        return (f'auto& {match["name"]} = ::reid_emu::shared_variable<{match["type"]}{match["dims"]}>'
                f'("{label}:{match["name"]}");')

    launches = text.count("<<<")
    text, replaced = _LAUNCH.subn(launch, text)
    if replaced != launches:
        raise ValueError(f"{label}: rewrote {replaced} of {launches} kernel launches")
    text, _ = _SHARED.subn(shared, text)
    if "__shared__" in text:
        raise ValueError(f"{label}: a __shared__ declaration the transform does not understand")
    return f'#line 1 "{label}"\n' + text


def _digest(*parts: str | bytes) -> str:
    h = hashlib.sha256()
    for part in parts:
        h.update(part.encode() if isinstance(part, str) else part)
        h.update(b"\0")
    return h.hexdigest()[:20]


@lru_cache(maxsize=1)
def _compiler_version() -> str:
    try:
        done = subprocess.run([COMPILER, "--version"], capture_output=True, text=True, check=True)
    except (OSError, subprocess.CalledProcessError) as error:
        raise RuntimeError(f"the CUDA emulator needs a C++ compiler ({COMPILER}): {error}") from error
    return done.stdout


def _compile(source: Path, obj: Path, includes: list[Path]) -> None:
    tmp = obj.with_suffix(f".{os.getpid()}.tmp")
    command = [COMPILER, *FLAGS, *(f"-I{p}" for p in includes), "-x", "c++", "-c", str(source),
               "-o", str(tmp)]
    done = subprocess.run(command, capture_output=True, text=True)
    if done.returncode != 0:
        raise RuntimeError(f"compiling {source} for the emulator failed:\n{done.stderr[-8000:]}")
    tmp.replace(obj)


def build_driver(overrides: dict[str, str] | None = None) -> Path:
    """The emulator's driver, compiled (and cached under ``CACHE_DIR``) from csrc/cuda, with
    the files named in ``overrides`` (``{"knn_cuda.cu": text}``) replaced by the given text:
    how a test plants a defect in a copy of a kernel."""
    overrides = dict(overrides or {})
    originals = {p.name: p.read_text() for p in sorted(CUDA_DIR.iterdir()) if p.suffix in (".cu", ".cuh")}
    unknown = set(overrides) - set(originals)
    if unknown:
        raise ValueError(f"no such CUDA source to override: {sorted(unknown)}")
    originals.update(overrides)
    cuda = {name: transform(text, f"csrc/cuda/{name}") for name, text in originals.items()}
    selftest = transform((EMULATOR_DIR / "selftest_kernels.cu").read_text(),
                         "tests/cuda_emulator/selftest_kernels.cu")
    headers = [p.read_text() for pattern in ("csrc/common/*.h", "csrc/include/reid_fast/*.h",
                                             "tests/cuda_emulator/*.h")
               for p in sorted(REPO.glob(pattern))]
    header_key = _digest(_compiler_version(), *FLAGS, *headers,
                         *(cuda[n] for n in sorted(cuda) if n.endswith(".cuh")))

    tree = CACHE_DIR / "src" / _digest(header_key, *cuda.values(), selftest)
    if not tree.is_dir():
        CACHE_DIR.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(dir=CACHE_DIR))
        (staging / "cuda").mkdir()
        for name, text in cuda.items():
            (staging / "cuda" / name).write_text(text)
        (staging / "selftest_kernels.cu").write_text(selftest)
        tree.parent.mkdir(parents=True, exist_ok=True)
        try:
            staging.rename(tree)
        except OSError:  # another process wrote the same tree first
            shutil.rmtree(staging, ignore_errors=True)
    includes = [tree, EMULATOR_DIR, REPO / "csrc" / "include", REPO / "csrc"]

    units = [tree / "cuda" / n for n in sorted(cuda) if n.endswith(".cu")]
    units += [tree / "selftest_kernels.cu", EMULATOR_DIR / "reid_emu.cpp", EMULATOR_DIR / "emu_driver.cpp"]
    objects_dir = CACHE_DIR / "obj"
    objects_dir.mkdir(parents=True, exist_ok=True)
    objects = [objects_dir / f"{u.stem}-{_digest(header_key, u.read_text())}.o" for u in units]
    missing = [(u, o) for u, o in zip(units, objects) if not o.exists()]
    with ThreadPoolExecutor(max_workers=max(1, os.cpu_count() or 1)) as pool:
        for future in [pool.submit(_compile, u, o, includes) for u, o in missing]:
            future.result()

    driver = CACHE_DIR / "bin" / _digest(*(o.name for o in objects)) / "emu_driver"
    if not driver.exists():
        driver.parent.mkdir(parents=True, exist_ok=True)
        tmp = driver.with_suffix(f".{os.getpid()}.tmp")
        done = subprocess.run([COMPILER, *FLAGS, *map(str, objects), "-o", str(tmp)],
                              capture_output=True, text=True)
        if done.returncode != 0:
            raise RuntimeError(f"linking the emulator's driver failed:\n{done.stderr[-8000:]}")
        tmp.replace(driver)
    return driver


@dataclass
class Case:
    """One op on the emulated machine. ``arrays`` are NumPy arrays (float32, float16, int64,
    ...); a bfloat16 input is given as ``("bfloat16", uint16_bits)``. ``device`` is the
    device the arrays live on, of ``devices``; ``driver`` the CUDA version the emulated
    driver supports (13000; 0 = no driver installed); ``multiprocessors`` per device steers
    the launchers' grid sizes and column splits."""

    op: str
    arrays: dict[str, Any] = field(default_factory=dict)
    params: dict[str, int | float] = field(default_factory=dict)
    device: int = 0
    devices: int = 1
    driver: int = 13000
    multiprocessors: int = 132


@dataclass
class Result:
    outputs: dict[str, np.ndarray]
    launches: dict[str, int]

    def __getitem__(self, name: str) -> np.ndarray:
        return self.outputs[name]


def _write_case(case: Case, folder: Path) -> None:
    lines = [f"op {case.op}", f"device {case.device}", f"devices {case.devices}",
             f"driver {case.driver}", f"multiprocessors {case.multiprocessors}"]
    lines += [f"param {name} {value!r}" for name, value in case.params.items()]
    for name, value in case.arrays.items():
        if isinstance(value, tuple):
            dtype, value = value
            if dtype != "bfloat16" or value.dtype != np.uint16:
                raise TypeError(f"{name}: a tuple input must be ('bfloat16', uint16 bits)")
        else:
            dtype = str(value.dtype)
        value = np.ascontiguousarray(value)
        value.tofile(folder / f"{name}.bin")
        lines.append(f"array {name} {dtype} {value.ndim} " + " ".join(map(str, value.shape)))
    (folder / "case.txt").write_text("\n".join(lines) + "\n")


def _read_result(folder: Path) -> Result:
    outputs = {}
    for line in (folder / "outputs.txt").read_text().splitlines():
        name, dtype, ndim, *shape = line.split()
        data = np.fromfile(folder / f"{name}.out.bin", dtype=np.dtype(dtype))
        outputs[name] = data.reshape([int(s) for s in shape[: int(ndim)]])
    launches = {}
    for line in (folder / "launches.txt").read_text().splitlines():
        name, count = line.split()
        launches[name] = int(count)
    return Result(outputs, launches)


def run_cases(cases: list[Case], driver: Path | None = None, schedule: str = "forward",
              timeout: float = 900) -> list[Result]:
    """Runs the cases in one driver process (``driver`` defaults to :func:`build_driver`'s)
    under the thread ``schedule``; raises :class:`EmulatorFailure` with the report when the
    emulator or a sanitizer finds a defect."""
    driver = driver or build_driver()
    with tempfile.TemporaryDirectory(prefix="reid_emu_") as tmp:
        folders = []
        for i, case in enumerate(cases):
            folder = Path(tmp) / f"case{i}"
            folder.mkdir()
            _write_case(case, folder)
            folders.append(folder)
        env = {**os.environ, **SANITIZER_ENV, "REID_EMU_SCHEDULE": schedule}
        done = subprocess.run([str(driver), *map(str, folders)], capture_output=True, text=True,
                              env=env, timeout=timeout)
        if done.returncode != 0:
            raise EmulatorFailure(done.returncode, done.stderr)
        return [_read_result(folder) for folder in folders]


def run_case(case: Case, driver: Path | None = None, schedule: str = "forward") -> Result:
    return run_cases([case], driver, schedule)[0]


def kernel_names() -> set[str]:
    """The names of every ``__global__`` kernel in csrc/cuda."""
    names = set()
    for path in CUDA_DIR.glob("*.cu"):
        text = path.read_text()
        names.update(re.findall(r"__global__\s+void\s+(?:__launch_bounds__\([^)]*\)\s+)?(\w+)\s*\(", text))
    return names
