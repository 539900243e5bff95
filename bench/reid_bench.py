"""Shared pieces of the benchmark suite: problem sizes, the timed operations (ours and the
torch baselines), peak-memory measurement and a description of the machine.

CPU peak memory is measured by running the operation once in a fresh Python process
(``_fresh_process_peak``), so that memory the allocator kept from earlier calls cannot
hide a peak.
"""

from __future__ import annotations

import gc
import functools
import json
import os
import platform
import re
import subprocess
import sys
import threading
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Callable

REPO_ROOT = Path(__file__).resolve().parent.parent


# --------------------------------------------------------------------------------------
# Problem sizes
# --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Size:
    name: str
    n: int  # queries
    m: int  # gallery
    d: int  # feature dimension
    k: int  # neighbours
    large: bool = False


SIZES = {
    # AICity 2020 track 2 test split: 1,052 queries against 18,290 gallery images.
    "aicity": Size("aicity", n=1052, m=18290, d=512, k=100),
    # All-vs-all over query + gallery (re-ranking's neighbour lists): k = k1 + 1 = 21.
    "aicity-all-vs-all": Size("aicity-all-vs-all", n=19342, m=19342, d=512, k=21, large=True),
}


def make_inputs(size: Size, device: str, dtype: str, seed: int = 0) -> tuple[Any, Any]:
    """L2-normalised Gaussian features (like re-ID embeddings) as torch tensors:
    x (n, d) and y (m, d) of ``dtype`` on ``device``. x is the first n rows of y when n = m
    (all-vs-all), otherwise independent."""
    import torch

    generator = torch.Generator().manual_seed(seed)
    y = torch.randn(size.m, size.d, generator=generator)
    x = y[: size.n].clone() if size.n == size.m else torch.randn(size.n, size.d, generator=generator)
    x = torch.nn.functional.normalize(x, dim=1)
    y = torch.nn.functional.normalize(y, dim=1)
    return (
        x.to(device=device, dtype=getattr(torch, dtype)).contiguous(),
        y.to(device=device, dtype=getattr(torch, dtype)).contiguous(),
    )


# --------------------------------------------------------------------------------------
# The timed operations
# --------------------------------------------------------------------------------------

# op -> side -> (description, function(x, y, k))
# knn compares squared Euclidean distances on both sides (the baseline computes d^2 and
# takes the smallest); pairwise compares Euclidean distances (what torch.cdist returns).


def ours_knn(x: Any, y: Any, k: int, path: str | None = None) -> Any:
    import reid_fast

    return reid_fast.knn(x, y, k, "sqeuclidean", path=path)


def torch_mm_topk(x: Any, y: Any, k: int) -> Any:
    """The efficient torch way: d2 = |y|^2 - 2 x y^T (one addmm), + |x|^2, then topk."""
    import torch

    d2 = torch.addmm((y * y).sum(1), x, y.T, beta=1, alpha=-2)
    d2 += (x * x).sum(1, keepdim=True)
    return torch.topk(d2, k, dim=1, largest=False)


def ours_pairwise(x: Any, y: Any, k: int, path: str | None = None) -> Any:
    import reid_fast

    return reid_fast.pairwise_distance(x, y, "euclidean", path=path)


def torch_cdist(x: Any, y: Any, k: int) -> Any:
    import torch

    return torch.cdist(x, y)


PATH_SIDES = ("ours-simt", "ours-framework")
"""Sides that force one distance path (docs/design.md 3.1), benchmarked on CUDA beside
"ours" (the automatic choice), so that one GPU run compares the paths and tunes the rule."""

OPS: dict[str, dict[str, tuple[str, Callable[..., Any]]]] = {
    "knn": {
        "ours": ("reid_fast.knn(metric='sqeuclidean')", ours_knn),
        "ours-simt": ("reid_fast.knn(metric='sqeuclidean', path='simt')",
                      functools.partial(ours_knn, path="simt")),
        "ours-framework": ("reid_fast.knn(metric='sqeuclidean', path='framework')",
                           functools.partial(ours_knn, path="framework")),
        "baseline": ("torch addmm + topk", torch_mm_topk),
    },
    "pairwise_distance": {
        "ours": ("reid_fast.pairwise_distance(metric='euclidean')", ours_pairwise),
        "ours-simt": ("reid_fast.pairwise_distance(metric='euclidean', path='simt')",
                      functools.partial(ours_pairwise, path="simt")),
        "ours-framework": ("reid_fast.pairwise_distance(metric='euclidean', path='framework')",
                           functools.partial(ours_pairwise, path="framework")),
        "baseline": ("torch.cdist", torch_cdist),
    },
}


def synchronize(device: str) -> None:
    if device == "cuda":
        import torch

        torch.cuda.synchronize()


# --------------------------------------------------------------------------------------
# Peak memory
# --------------------------------------------------------------------------------------


def _proc_status_kb(field: str) -> int:
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    raise KeyError(field)


def _reset_hwm() -> bool:
    """Resets VmHWM to the current VmRSS (Linux >= 4.0); False where not permitted."""
    try:
        with open("/proc/self/clear_refs", "w") as clear_refs:
            clear_refs.write("5")
        return True
    except OSError:
        return False


def peak_rss_growth(fn: Callable[[], Any]) -> tuple[int, str]:
    """Bytes by which the resident set grew at its peak while ``fn()`` ran (its result is
    kept alive until the measurement ends, so outputs count), and the method used:
    "VmHWM" (kernel high-water mark reset through /proc/self/clear_refs) or "sampling"
    (a thread reading VmRSS every 0.5 ms; can miss short peaks)."""
    gc.collect()
    before = _proc_status_kb("VmRSS")
    if _reset_hwm():
        result = fn()
        peak = _proc_status_kb("VmHWM")
        del result
        return max(0, peak - before) * 1024, "VmHWM"

    samples = [before]
    done = threading.Event()

    def sample() -> None:
        while not done.is_set():
            samples.append(_proc_status_kb("VmRSS"))
            time.sleep(0.0005)

    thread = threading.Thread(target=sample, daemon=True)
    thread.start()
    result = fn()
    samples.append(_proc_status_kb("VmRSS"))
    done.set()
    thread.join()
    del result
    return max(0, max(samples) - before) * 1024, "sampling"


def cuda_peak_allocated(fn: Callable[[], Any]) -> tuple[int, str]:
    """Bytes of CUDA memory allocated through torch above what was allocated before,
    at the peak of ``fn()`` (outputs and workspace included)."""
    import torch

    torch.cuda.synchronize()
    gc.collect()
    before = torch.cuda.memory_allocated()
    torch.cuda.reset_peak_memory_stats()
    result = fn()
    torch.cuda.synchronize()
    peak = torch.cuda.max_memory_allocated()
    del result
    return max(0, peak - before), "torch.cuda.max_memory_allocated"


def measure_peak_memory(op: str, side: str, size: Size, device: str, dtype: str) -> dict[str, Any]:
    """Peak memory of one call. CPU: in a fresh Python process (see the module docstring).
    CUDA: in this process, through torch's allocator statistics."""
    if device == "cuda":
        x, y = make_inputs(size, device, dtype)
        fn = OPS[op][side][1]
        fn(x, y, size.k)  # warm-up: library handles, kernels loaded
        peak, method = cuda_peak_allocated(lambda: fn(x, y, size.k))
        return {"peak_memory_bytes": peak, "peak_memory_method": method}
    spec = {"op": op, "side": side, "size": asdict(size), "device": device, "dtype": dtype}
    return _fresh_process_peak("_child_peak_rss", spec, timeout=900)


def _fresh_process_peak(child: str, spec: dict[str, Any], timeout: int) -> dict[str, Any]:
    """Runs ``reid_bench.<child>(json spec)`` in a fresh Python process, which prints its
    result as JSON on its last line: peak_bytes, method and optionally seconds."""
    import reid_fast

    env = dict(os.environ)
    # The child must import the same reid_fast / torch as this process.
    package_parent = str(Path(reid_fast.__file__).resolve().parent.parent)
    bench_dir = str(Path(__file__).resolve().parent)
    env["PYTHONPATH"] = os.pathsep.join([package_parent, bench_dir] + [p for p in sys.path if p])
    code = f"import sys, reid_bench; reid_bench.{child}(sys.argv[1])"
    completed = subprocess.run(
        [sys.executable, "-c", code, json.dumps(spec)],
        capture_output=True,
        text=True,
        env=env,
        timeout=timeout,
        check=False,
    )
    if completed.returncode != 0:
        return {
            "peak_memory_bytes": None,
            "peak_memory_method": "failed",
            "peak_memory_error": completed.stderr[-2000:],
        }
    result = json.loads(completed.stdout.strip().splitlines()[-1])
    fields = {
        "peak_memory_bytes": result["peak_bytes"],
        "peak_memory_method": "fresh process, " + result["method"],
    }
    if "seconds" in result:
        fields["fresh_process_call_s"] = result["seconds"]
    return fields


def _child_peak_rss(spec_json: str) -> None:
    spec = json.loads(spec_json)
    size = Size(**spec["size"])
    fn = OPS[spec["op"]][spec["side"]][1]
    # Warm up on a tiny problem so that thread pools and library state (OpenMP, MKL) are
    # not charged to the measured call.
    tiny = Size("tiny", n=8, m=64, d=size.d, k=min(size.k, 64))
    tx, ty = make_inputs(tiny, spec["device"], spec["dtype"], seed=1)
    fn(tx, ty, tiny.k)
    x, y = make_inputs(size, spec["device"], spec["dtype"])
    peak, method = peak_rss_growth(lambda: fn(x, y, size.k))
    print(json.dumps({"peak_bytes": peak, "method": method}))


# --------------------------------------------------------------------------------------
# Machine and commit
# --------------------------------------------------------------------------------------


def _read(path: str) -> str:
    try:
        return Path(path).read_text()
    except OSError:
        return ""


def machine_info() -> dict[str, Any]:
    import torch

    import reid_fast

    cpuinfo = _read("/proc/cpuinfo")
    models = re.findall(r"^model name\s*:\s*(.+)$", cpuinfo, flags=re.MULTILINE)
    meminfo = _read("/proc/meminfo")
    mem_kb = re.search(r"^MemTotal:\s*(\d+) kB", meminfo, flags=re.MULTILINE)
    info: dict[str, Any] = {
        "cpu_model": models[0].strip() if models else platform.processor() or platform.machine(),
        "cpu_logical_cores": os.cpu_count(),
        "cpu_affinity_cores": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else None,
        "ram_bytes": int(mem_kb.group(1)) * 1024 if mem_kb else None,
        "platform": platform.platform(),
        "python": platform.python_version(),
        "torch_threads": torch.get_num_threads(),
        "gpu_name": None,
        "gpu_count": 0,
        "cuda_version_torch": torch.version.cuda,
        "cuda_version_build": reid_fast.build_info().get("cuda_version"),
    }
    if torch.cuda.is_available():
        info["gpu_name"] = torch.cuda.get_device_name(0)
        info["gpu_count"] = torch.cuda.device_count()
        props = torch.cuda.get_device_properties(0)
        info["gpu_memory_bytes"] = int(props.total_memory)
        info["gpu_capability"] = f"{props.major}.{props.minor}"
    try:
        driver = subprocess.run(
            ["nvidia-smi", "--query-gpu=driver_version", "--format=csv,noheader"],
            capture_output=True,
            text=True,
            timeout=20,
            check=False,
        )
        if driver.returncode == 0 and driver.stdout.strip():
            info["gpu_driver"] = driver.stdout.strip().splitlines()[0]
    except (OSError, subprocess.SubprocessError):
        pass
    return info


def commit_info() -> dict[str, Any]:
    def git(*args: str) -> str | None:
        try:
            done = subprocess.run(
                ["git", "-C", str(REPO_ROOT), *args], capture_output=True, text=True, timeout=20, check=False
            )
        except (OSError, subprocess.SubprocessError):
            return None
        return done.stdout.strip() if done.returncode == 0 else None

    sha = git("rev-parse", "HEAD")
    status = git("status", "--porcelain", "--untracked-files=no")
    return {
        "id": sha,
        "short": sha[:8] if sha else "nocommit",
        "dirty": None if status is None else bool(status),
        "branch": git("rev-parse", "--abbrev-ref", "HEAD"),
    }


def results_file_name(machine: dict[str, Any], devices: list[str], commit_short: str, when: Any) -> str:
    """``<machine>-<devices>-<short commit>-<UTC date>.json``: the GPU name for runs that
    include CUDA, otherwise the CPU model and logical core count."""
    if "cuda" in devices and machine.get("gpu_name"):
        machine_slug = slug(machine["gpu_name"])
    else:
        machine_slug = f"{slug(machine.get('cpu_model', 'unknown'))}-{machine.get('cpu_logical_cores')}c"
    return f"{machine_slug}-{'-'.join(devices)}-{commit_short}-{when.strftime('%Y%m%dT%H%M%SZ')}.json"


def slug(text: str) -> str:
    text = re.sub(r"\((r|tm)\)", "", text.lower())
    text = re.sub(r"@.*", "", text)
    text = re.sub(r"\b(cpu|processor)\b", "", text)
    return re.sub(r"[^a-z0-9]+", "-", text).strip("-") or "unknown"


# --------------------------------------------------------------------------------------
# Re-ranking (bench/test_rerank.py)
# --------------------------------------------------------------------------------------

RERANK_PARAMS: dict[str, Any] = {"k1": 20, "k2": 6, "lambda_": 0.3}
"""The defaults of reid_fast.rerank, used by every re-ranking benchmark (Size.k = k1)."""

RERANK_SIZES = {
    # AICity 2020 track 2 test split (333 identities, ~55 images each).
    "aicity": Size("aicity", n=1052, m=18290, d=512, k=20),
    # MSMT17 test split (3,060 identities, ~31 images each): N = 93,820.
    "msmt17": Size("msmt17", n=11659, m=82161, d=512, k=20, large=True),
}

PUBLIC_RERANK_BYTES_PER_N2 = 20
"""Memory of the public re-ranking implementations, about 20 bytes x N^2 (docs/design.md 3.2:
a float32 original distance, its float32 normalised copy, V and V' in float32/float16,
the argsort's int32 ranks)."""

REFERENCE_RERANK_BYTES_PER_N2 = 32
"""The literal float64 reference of this package (reid_fast.reference.rerank_from_matrix,
fed by :func:`reference_rerank`) holds four dense N x N float64 arrays at its peak: D, Dn,
V and V'."""

EVALUATION_SIZES: dict[str, dict[str, Any]] = {
    # AICity rule: no camera filtering; MSMT17: the Market rule with query cameras.
    "aicity": dict(label="aicity", q=1052, g=18290, ids=333, cams=40, same_camera_junk=False,
                   query_cams=False),
    "msmt17": dict(label="msmt17", q=11659, g=82161, ids=3060, cams=15, same_camera_junk=True,
                   query_cams=True),
}
"""Evaluation problems of bench/test_evaluation.py (distance matrices of q x g)."""

TRAINING: dict[str, Any] = {
    "image_size": (256, 256),
    "batch": 64,                # input pipeline batch
    "batches_per_round": 10,    # about one epoch of the training identities per round
    "train_ids": 60,
    "step_batch": {"cuda": 64, "cpu": 16},
}
"""The training benchmarks of bench/test_training.py."""

PIPELINE: dict[str, Any] = {"train_ids": 20, "test_ids": 100, "steps": 200}
"""bench/test_pipeline.py: a run trained for ``steps`` on ``train_ids`` synthetic identities,
then the whole chain on a synthetic test set of ``test_ids`` identities."""


def use_tiny_sizes() -> None:
    """Shrink every benchmark problem in place (names suffixed "-tiny") so that the whole
    suite runs in seconds on a CPU: ``--reid-tiny``, what ``bench/gpu_check.py --dry-run``
    runs in CI to keep the benchmarks from rotting. Must run before the benchmark modules
    are collected (the conftest calls it from pytest_configure)."""
    SIZES["aicity"] = Size("aicity-tiny", n=37, m=501, d=64, k=10)
    SIZES["aicity-all-vs-all"] = Size("aicity-all-vs-all-tiny", n=300, m=300, d=64, k=21, large=True)
    RERANK_SIZES["aicity"] = Size("aicity-tiny", n=20, m=300, d=32, k=20)
    RERANK_SIZES["msmt17"] = Size("msmt17-tiny", n=30, m=400, d=32, k=20, large=True)
    EVALUATION_SIZES["aicity"].update(label="aicity-tiny", q=50, g=400, ids=20, cams=5)
    EVALUATION_SIZES["msmt17"].update(label="msmt17-tiny", q=80, g=600, ids=30, cams=6)
    TRAINING.update(image_size=(64, 64), batch=8, batches_per_round=2, train_ids=8,
                    step_batch={"cuda": 8, "cpu": 4})
    PIPELINE.update(train_ids=16, test_ids=6, steps=3)  # the PK sampler needs 16 identities


CLUSTER_IMAGES_PER_IDENTITY = 50
CLUSTER_NOISE = 1.0


def make_clustered_inputs(size: Size, device: str, dtype: str, seed: int = 0) -> tuple[Any, Any]:
    """L2-normalised clustered features, the realistic re-ranking input: identities with
    unit-norm Gaussian centres, ``CLUSTER_IMAGES_PER_IDENTITY`` images each on average,
    each image its centre plus Gaussian noise of norm ~``CLUSTER_NOISE`` (cosine similarity
    ~0.5 within an identity, ~0 +- 0.05 across at d = 512). Queries and gallery are drawn
    from the same identities. Returns torch tensors x (n, d) and y (m, d) of ``dtype`` on
    ``device``."""
    import torch

    generator = torch.Generator().manual_seed(seed)
    total = size.n + size.m
    identities = max(1, total // CLUSTER_IMAGES_PER_IDENTITY)
    centres = torch.nn.functional.normalize(torch.randn(identities, size.d, generator=generator), dim=1)
    labels = torch.randint(identities, (total,), generator=generator)
    noise = torch.randn(total, size.d, generator=generator) * (CLUSTER_NOISE / size.d**0.5)
    features = torch.nn.functional.normalize(centres[labels] + noise, dim=1)
    x, y = features[: size.n], features[size.n :]
    return (
        x.to(device=device, dtype=getattr(torch, dtype)).contiguous(),
        y.to(device=device, dtype=getattr(torch, dtype)).contiguous(),
    )


def ours_rerank(x: Any, y: Any, k: int) -> Any:
    import reid_fast

    return reid_fast.rerank(x, y, **RERANK_PARAMS)


def squared_euclidean_gemm(features: Any) -> Any:
    """(N, N) float64 squared Euclidean distances of (N, d) float64 features through one
    GEMM, |x|^2 + |y|^2 - 2 <x, y> clipped at 0, in place (one N x N array): how the public
    toolkits compute the original distance (torch addmm or numpy matmul)."""
    import numpy as np

    # A copied transpose: NumPy sends `a @ a.T` to BLAS SYRK, which segfaults in OpenBLAS
    # at this size (numpy/numpy#19685: dgemm_oncopy on large a @ a.T; a @ copy(a.T) works).
    D = features @ np.ascontiguousarray(features.T)
    squares = np.einsum("ij,ij->i", features, features)
    D *= -2.0
    D += squares[:, None]
    D += squares[None, :]
    np.maximum(D, 0.0, out=D)
    return D


def reference_rerank(x: Any, y: Any, k: int) -> Any:
    """The literal NumPy reference from features, as the public toolkits run it: D by a
    float64 GEMM (:func:`squared_euclidean_gemm`), then
    reid_fast.reference.rerank_from_matrix (dense float64: D, Dn, V and V' are N x N).

    reid_fast.reference.rerank itself computes D as sums of squared differences, which is
    exact but takes N^2 d element operations in NumPy (~2e11 at AICity size, many minutes):
    it would time NumPy broadcasting rather than re-ranking."""
    import torch

    from reid_fast.reference import rerank_from_matrix

    features = torch.cat([x, y]).to("cpu", torch.float64).numpy()  # (N, d), the values the op sees
    D = squared_euclidean_gemm(features)
    return rerank_from_matrix(D, int(x.shape[0]), **RERANK_PARAMS)


RERANK_OPS: dict[str, tuple[str, Callable[..., Any]]] = {
    "ours": ("reid_fast.rerank(k1=20, k2=6, lambda_=0.3) from features", ours_rerank),
    "baseline": (
        "literal NumPy float64 reference: float64 GEMM distances + reid_fast.reference.rerank_from_matrix",
        reference_rerank,
    ),
}


def measure_rerank_peak_memory(side: str, size: Size, device: str, dtype: str) -> dict[str, Any]:
    """Peak memory of one re-ranking call (clustered inputs), like :func:`measure_peak_memory`:
    CPU in a fresh Python process (VmHWM reset), CUDA through torch's allocator statistics.
    The fresh process also reports how long its call took (``fresh_process_call_s``)."""
    fn = RERANK_OPS[side][1]
    if device == "cuda":
        x, y = make_clustered_inputs(size, device, dtype)
        fn(x, y, size.k)  # warm-up
        peak, method = cuda_peak_allocated(lambda: fn(x, y, size.k))
        return {"peak_memory_bytes": peak, "peak_memory_method": method}
    spec = {"side": side, "size": asdict(size), "device": device, "dtype": dtype}
    return _fresh_process_peak("_child_rerank_peak_rss", spec, timeout=3600)


def _child_rerank_peak_rss(spec_json: str) -> None:
    spec = json.loads(spec_json)
    size = Size(**spec["size"])
    fn = RERANK_OPS[spec["side"]][1]
    # Warm up (thread pools, library state) on a tiny problem: N = 72 > k1 + 1.
    tiny = Size("tiny", n=8, m=64, d=size.d, k=size.k)
    fn(*make_clustered_inputs(tiny, spec["device"], spec["dtype"], seed=1), tiny.k)
    x, y = make_clustered_inputs(size, spec["device"], spec["dtype"])
    elapsed: list[float] = []

    def call() -> Any:
        start = time.perf_counter()
        out = fn(x, y, size.k)
        elapsed.append(time.perf_counter() - start)
        return out

    peak, method = peak_rss_growth(call)
    print(json.dumps({"peak_bytes": peak, "method": method, "seconds": elapsed[0]}))



class GpuUtilisation:
    """Context manager sampling ``nvidia-smi`` utilisation.gpu every 100 ms while the
    block runs; ``mean`` is the average percentage (None without nvidia-smi / a GPU)."""

    def __init__(self) -> None:
        self.mean: float | None = None
        self._proc: subprocess.Popen | None = None

    def __enter__(self) -> "GpuUtilisation":
        import shutil

        if shutil.which("nvidia-smi"):
            self._proc = subprocess.Popen(
                ["nvidia-smi", "--query-gpu=utilization.gpu", "--format=csv,noheader,nounits",
                 "-lms", "100"], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
        return self

    def __exit__(self, *exc: Any) -> None:
        if self._proc is None:
            return
        self._proc.terminate()
        out, _ = self._proc.communicate(timeout=10)
        values = [float(v) for v in out.split() if v.strip().replace(".", "", 1).isdigit()]
        self.mean = sum(values) / len(values) if values else None
