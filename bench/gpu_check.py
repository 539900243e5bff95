#!/usr/bin/env python3
"""The GPU check kit: everything a session with a lent GPU needs, in one command.

    python bench/gpu_check.py OUTDIR                      # on the GPU machine, from the repo root
    python bench/gpu_check.py OUTDIR --only tests,bench   # rerun chosen stages on a warm machine
    python bench/gpu_check.py OUTDIR --dry-run            # the same stages on the CPU, tiny sizes

Stages, in order of value, each with its own time budget (seconds, below; the whole under
8 minutes on an H100/H200). A failed stage is recorded and the next one still runs, except
that no GPU stage runs once the cuda stage has found CUDA unusable.

  env        GPU, driver, nvcc, torch and its CUDA, CuPy, compute-sanitizer, Python; written
             to OUTDIR first.
  build      ``pip install --no-build-isolation --no-deps -e .`` for this GPU's architecture
             only (CMAKE_CUDA_ARCHITECTURES = its compute capability, e.g. 90), on every core.
             Skipped when the build is current: same native sources, architecture and Python
             as the last build of the kit (build/gpu_check_stamp.json).
  cuda       The hard check: torch sees a CUDA device, reid_fast.cuda_status() says usable, and
             one knn on the GPU agrees with the CPU. Otherwise the CUDA error is recorded and
             the stages below are skipped.
  tests      ``pytest -m cuda`` twice: the CUDA op tests first (60% of the budget), then the
             tests that compare CUDA with the CPU (augmentation, losses, the chain, ...), so
             that the op results survive if the second run is cut short; one JUnit XML, a
             per-test timeout where pytest-timeout is installed.
  sanitizer  compute-sanitizer memcheck, racecheck, synccheck and initcheck, concurrently, over
             bench/gpu_sanitize_cases.py (every kernel on odd sizes, checked against the CPU);
             a sanitizer that refuses the device is recorded as such.
  bench      The benchmarks, each against its baseline in the same run where it has one, in
             groups with budgets of their own (see BENCH_GROUPS), merged into one JSON in the
             format of bench/results.

With ``--only``, the env stage always runs, and the build and cuda stages run before any GPU
stage (the build is skipped when current). ``--dry-run`` runs the same stages on the CPU at
tiny sizes (``--reid-tiny``), the sanitizer replaced by a plain run of its cases on the CPU,
the build stage on the installed build (it rebuilds only where that does not import), with
budgets DRY_RUN_BUDGET_SCALE times longer: CI runs it so that the kit cannot rot.

OUTDIR receives at most 8 files, flat (bench/README.md says how to read them):
  gpu_check.json  the environment and every stage's status, time, budget and findings
  summary.md      the same for people: stages, the benchmark table, targets, failures
  build.log       pip / CMake / nvcc output
  tests.xml       JUnit XML of the tests stage
  tests.log       pytest's output
  sanitizer.log   the four tools' reports (the dry run: the cases' output)
  bench.json      every benchmark (format of bench/results; ``results_name`` is the file name
                  to commit it under)
  bench.log       the benchmark groups' pytest output
Exit status 0 when every stage that ran passed.
"""

from __future__ import annotations

import argparse
import datetime
import hashlib
import importlib.metadata
import json
import os
import platform
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import xml.etree.ElementTree as ElementTree
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Callable

import reid_bench  # bench/ is on sys.path: this script lives there

REPO = Path(__file__).resolve().parent.parent
STAGES = ("env", "build", "cuda", "tests", "sanitizer", "bench")
BUDGETS = {"env": 15, "build": 110, "cuda": 25, "tests": 90, "sanitizer": 75, "bench": 160}
# The dry run's budgets are this many times longer: a busy 2-core CI machine is far slower
# than the GPU machine the budgets are set for, and the dry run checks the plumbing, not time.
DRY_RUN_BUDGET_SCALE = 4
NEEDS_BUILD = {"cuda", "tests", "sanitizer", "bench"}
NEEDS_CUDA = {"tests", "sanitizer", "bench"}
STAMP = REPO / "build" / "gpu_check_stamp.json"
NATIVE_SOURCES = ("CMakeLists.txt", "pyproject.toml", "cmake", "csrc")

# The CUDA op tests run first; then every other test file (those comparing CUDA with the CPU).
OP_TEST_FILES = ("ops/test_pairwise_distance.py", "ops/test_knn.py", "ops/test_topk_rows.py",
                 "ops/test_rerank.py", "ops/test_rerank_errors.py", "ops/test_jaccard.py",
                 "eval/test_metrics.py", "post/test_post.py", "ops/test_argument_errors.py",
                 "ops/test_native_call.py", "native/test_build_info.py")
PER_TEST_TIMEOUT = 60

SANITIZER_TOOLS = ("memcheck", "racecheck", "synccheck", "initcheck")
SANITIZER_REFUSED = ("Device not supported", "not supported on this device", "Unable to find injection")


@dataclass(frozen=True)
class BenchGroup:
    name: str
    targets: tuple[str, ...]
    budget: int                 # seconds
    gpu_marker: bool = True     # select its CUDA side with -m cuda (dry run: -m "not cuda")
    options: tuple[str, ...] = ()


BENCH_GROUPS = (
    BenchGroup("distance", ("bench/test_distance.py",), 35),
    BenchGroup("rerank-aicity", ("bench/test_rerank.py::test_rerank_aicity_ours",), 20),
    BenchGroup("rerank-msmt17", ("bench/test_rerank.py::test_rerank_msmt17_ours",), 40, options=("--reid-rounds", "1")),
    BenchGroup("evaluation", ("bench/test_evaluation.py",), 30),
    BenchGroup("training", ("bench/test_training.py::test_train_step_resnet50",), 15, gpu_marker=False),
    BenchGroup("pipeline", ("bench/test_pipeline.py",), 20, gpu_marker=False),
)
assert sum(g.budget for g in BENCH_GROUPS) <= BUDGETS["bench"]
assert sum(BUDGETS.values()) <= 480, "the whole kit must fit 8 minutes"

# Targets of the GPU issue, checked against the benchmark figures (real runs only).
TARGETS = (
    ("re-ranking from features, AICity size", "rerank", "aicity", "max_s", 0.020),
    ("re-ranking from features, MSMT17 size", "rerank", "msmt17", "max_s", 1.0),
    ("knn vs torch mm + topk, AICity size", "knn", "aicity", "min_speedup", 1.5),
    ("evaluation, MSMT17 size", "evaluate", "msmt17", "max_s", 0.100),
)


@dataclass
class Stage:
    name: str
    status: str = "not run"    # passed, failed, skipped, timeout
    seconds: float = 0.0
    budget: float = 0.0
    detail: str = ""
    data: dict[str, Any] = field(default_factory=dict)


class Kit:
    """The run: its options, the results so far, and the files in OUTDIR (rewritten after
    every stage, so that a run cut short still leaves its findings)."""

    def __init__(self, out: Path, dry_run: bool) -> None:
        self.out = out
        self.dry_run = dry_run
        self.budget_scale = DRY_RUN_BUDGET_SCALE if dry_run else 1
        self.started = datetime.datetime.now(datetime.timezone.utc)
        self.env: dict[str, Any] = {}
        self.stages: dict[str, Stage] = {}
        self.cuda_problem: str | None = None
        self.benchmarks: dict[str, Any] = {}

    def child_env(self) -> dict[str, str]:
        env = dict(os.environ, PYTHONUNBUFFERED="1")
        env.pop("PYTEST_ADDOPTS", None)
        return env

    def start(self, command: list[str], stream: Any, env: dict[str, str] | None = None,
              header: str = "") -> subprocess.Popen:
        """Starts ``command`` in the repository root, in a process group of its own, its
        output (after ``header`` and the command line) going to the open file ``stream``."""
        stream.write(f"{header}$ {' '.join(command)}\n")
        stream.flush()
        return subprocess.Popen(command, cwd=REPO, stdout=stream, stderr=subprocess.STDOUT,
                                env=env or self.child_env(), start_new_session=True)

    @staticmethod
    def finish(process: subprocess.Popen, timeout: float) -> int | None:
        """The exit status, or None when the process ran out of ``timeout`` seconds (its whole
        process group is killed then)."""
        try:
            return process.wait(timeout=max(1.0, timeout))
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
            return None

    def run(self, command: list[str], log: Path, timeout: float, env: dict[str, str] | None = None,
            header: str = "") -> int | None:
        """Runs ``command`` (see :meth:`start`), its output appended to ``log``; :meth:`finish`'s
        result."""
        with open(log, "a") as stream:
            code = self.finish(self.start(command, stream, env, header), timeout)
            if code is None:
                stream.write(f"\n[gpu_check] killed after {timeout:.0f} s\n")
            return code

    def write(self) -> None:
        record = {
            "kit": "bench/gpu_check.py",
            "dry_run": self.dry_run,
            "started": self.started.isoformat(timespec="seconds"),
            "env": self.env,
            "stages": {name: asdict(stage) for name, stage in self.stages.items()},
        }
        (self.out / "gpu_check.json").write_text(json.dumps(record, indent=2, default=str) + "\n")
        (self.out / "summary.md").write_text(summary_markdown(self))


# --------------------------------------------------------------------------------------
# Stages
# --------------------------------------------------------------------------------------


def _command_output(command: list[str], timeout: float = 20) -> str | None:
    try:
        done = subprocess.run(command, capture_output=True, text=True, timeout=timeout, check=False)
    except (OSError, subprocess.SubprocessError):
        return None
    return done.stdout.strip() if done.returncode == 0 else None


def _version(distribution: str) -> str | None:
    try:
        return importlib.metadata.version(distribution)
    except importlib.metadata.PackageNotFoundError:
        return None


def stage_env(kit: Kit, stage: Stage) -> None:
    env: dict[str, Any] = {
        "python": platform.python_version(),
        "python_executable": sys.executable,
        "platform": platform.platform(),
        "cpu_count": os.cpu_count(),
    }
    commit = reid_bench.commit_info()
    env.update(commit=commit["id"], commit_dirty=commit["dirty"])
    smi = _command_output(["nvidia-smi", "--query-gpu=name,driver_version,memory.total,compute_cap",
                           "--format=csv,noheader"])
    if smi:
        name, driver, memory, capability = [p.strip() for p in smi.splitlines()[0].split(",")]
        env.update(gpu_name=name, gpu_driver=driver, gpu_memory=memory, gpu_capability=capability,
                   gpu_count=len(smi.splitlines()))
    nvcc = _command_output(["nvcc", "--version"])
    release = re.search(r"release ([\d.]+), V([\d.]+)", nvcc or "")
    env["nvcc"] = release.group(2) if release else None
    sanitizer = _cuda_tool("compute-sanitizer")
    version = _command_output([sanitizer, "--version"]) if sanitizer else None
    env["compute_sanitizer"] = version.splitlines()[-1] if version else None
    try:
        import torch

        env.update(torch=torch.__version__, torch_cuda=torch.version.cuda,
                   torch_sees_cuda=torch.cuda.is_available())
        if torch.cuda.is_available():
            props = torch.cuda.get_device_properties(0)
            env.setdefault("gpu_name", props.name)
            env.setdefault("gpu_capability", f"{props.major}.{props.minor}")
            env["gpu_multiprocessors"] = props.multi_processor_count
    except ImportError as error:
        env["torch"] = f"not importable: {error}"
    env.update({name: _version(dist) for name, dist in (
        ("numpy", "numpy"), ("cupy", "cupy-cuda13x"), ("cupy_12", "cupy-cuda12x"), ("pytest", "pytest"),
        ("pytest_benchmark", "pytest-benchmark"), ("pytest_timeout", "pytest-timeout"),
        ("scikit_build_core", "scikit-build-core"), ("pybind11", "pybind11"), ("ninja", "ninja"))})
    kit.env = env
    gpu = f"{env['gpu_name']} (sm_{env['gpu_capability'].replace('.', '')}), driver {env['gpu_driver']}" \
        if env.get("gpu_driver") else env.get("gpu_name") or "no GPU"
    stage.status = "passed"
    stage.detail = (f"{gpu}; nvcc {env['nvcc']}; torch {env.get('torch')} (CUDA {env.get('torch_cuda')}); "
                    f"CuPy {env.get('cupy') or env.get('cupy_12')}; Python {env['python']}; "
                    f"{env['cpu_count']} cores")


def _cuda_tool(name: str) -> str | None:
    """A CUDA toolkit program: on PATH, else under $CUDA_HOME/bin or /usr/local/cuda/bin."""
    if shutil.which(name):
        return shutil.which(name)
    for root in (os.environ.get("CUDA_HOME"), "/usr/local/cuda"):
        if root and (Path(root) / "bin" / name).is_file():
            return str(Path(root) / "bin" / name)
    return None


def _source_hash() -> str:
    digest = hashlib.sha256()
    for entry in NATIVE_SOURCES:
        path = REPO / entry
        files = sorted(p for p in path.rglob("*") if p.is_file()) if path.is_dir() else [path]
        for file in files:
            digest.update(str(file.relative_to(REPO)).encode() + b"\0" + file.read_bytes() + b"\0")
    return digest.hexdigest()


def _probe(kit: Kit, code: str, timeout: float) -> dict[str, Any]:
    """Runs ``code`` in a fresh Python (which imports the freshly built reid_fast) and returns
    the JSON it prints last, or {"error": ...}."""
    try:
        done = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True,
                              timeout=timeout, env=kit.child_env(), check=False)
    except subprocess.TimeoutExpired:
        return {"error": f"timed out after {timeout:.0f} s"}
    lines = done.stdout.strip().splitlines()
    if done.returncode != 0 or not lines:
        return {"error": (done.stderr.strip().splitlines() or ["no output"])[-1]}
    return json.loads(lines[-1])


BUILD_INFO_PROBE = "import json, reid_fast; print(json.dumps(reid_fast.build_info()))"


def stage_build(kit: Kit, stage: Stage) -> None:
    capability = kit.env.get("gpu_capability")
    arch = capability.replace(".", "") if capability and not kit.dry_run else None
    stamp = {"sources": _source_hash(), "arch": arch, "python": sys.executable}
    current = STAMP.is_file() and json.loads(STAMP.read_text()) == stamp
    if current or kit.dry_run:
        info = _probe(kit, BUILD_INFO_PROBE, 60)
        if "error" not in info:
            why = (f"{STAMP} matches {json.dumps(stamp)}" if current else
                   "dry run: the installed build is used (a rebuild for every architecture "
                   "takes longer on a 2-core CPU machine than the whole kit on the GPU)")
            (kit.out / "build.log").write_text(f"current, not rebuilt: {why}\n")
            stage.status, stage.data = "passed", {"build_info": info, "rebuilt": False}
            stage.detail = (f"current: no rebuild{' (dry run)' if not current else ''} "
                            f"(CUDA {info['cuda_version']}, {info['cuda_architectures']})")
            return
    env = kit.child_env()
    cores = str(os.cpu_count() or 1)
    env["CMAKE_BUILD_PARALLEL_LEVEL"] = cores
    if arch:
        env["CMAKE_ARGS"] = f"{env.get('CMAKE_ARGS', '')} -DCMAKE_CUDA_ARCHITECTURES={arch}".strip()
    log = kit.out / "build.log"
    command = [sys.executable, "-m", "pip", "install", "--no-build-isolation", "--no-deps", "-v", "-e", "."]
    code = kit.run(command, log, stage.budget, env=env,
                   header=f"CMAKE_ARGS={env.get('CMAKE_ARGS', '')} CMAKE_BUILD_PARALLEL_LEVEL={cores}\n")
    if code is None:
        stage.status, stage.detail = "timeout", f"the build ran out of its {stage.budget:.0f} s (build.log)"
        return
    if code != 0:
        stage.status, stage.detail = "failed", f"pip exited with {code}: {_last_error(log)} (build.log)"
        return
    info = _probe(kit, BUILD_INFO_PROBE, 60)
    stage.data = {"build_info": info, "rebuilt": True, "cmake_args": env.get("CMAKE_ARGS", "")}
    if "error" in info:
        stage.status, stage.detail = "failed", f"the built package does not import: {info['error']}"
        return
    if not kit.dry_run and (not info["cuda"] or (arch and arch not in (info["cuda_architectures"] or ""))):
        stage.status = "failed"
        stage.detail = (f"built without the CUDA kernels for sm_{arch} (cuda={info['cuda']}, "
                        f"architectures {info['cuda_architectures']}): is nvcc on PATH? (build.log)")
        return
    STAMP.parent.mkdir(parents=True, exist_ok=True)
    STAMP.write_text(json.dumps(stamp) + "\n")
    stage.status = "passed"
    stage.detail = (f"built: CUDA {info['cuda_version']}, architectures {info['cuda_architectures']}, "
                    f"CPU kernels {info['cpu_kernels']}")


def _last_error(log: Path) -> str:
    lines = [line.strip() for line in log.read_text(errors="replace").splitlines() if line.strip()]
    errors = [line for line in lines if "error" in line.lower()]
    return (errors or lines or ["no output"])[-1][:300]


CUDA_PROBE = """
import json, sys
import numpy as np, torch, reid_fast
device = sys.argv[1]
out = {"torch_sees_cuda": torch.cuda.is_available(), "status": reid_fast.cuda_status()}
if device == "cpu" or (out["torch_sees_cuda"] and out["status"]["usable"]):
    rng = np.random.default_rng(0)
    x = torch.from_numpy(rng.standard_normal((100, 64), np.float32))
    y = torch.from_numpy(rng.standard_normal((1000, 64), np.float32))
    values, _ = reid_fast.knn(x.to(device), y.to(device), 10)
    expected, _ = reid_fast.knn(x, y, 10)
    out["knn_max_abs_error"] = float((values.cpu() - expected).abs().max())
print(json.dumps(out))
"""


def stage_cuda(kit: Kit, stage: Stage) -> None:
    device = "cpu" if kit.dry_run else "cuda"
    probe = _probe(kit, f"import sys; sys.argv[1:] = [{device!r}]\n{CUDA_PROBE}", stage.budget)
    stage.data = probe
    if "error" in probe:
        stage.status, stage.detail = "failed", f"the check itself failed: {probe['error']}"
    elif not probe["torch_sees_cuda"] and not kit.dry_run:
        stage.status, stage.detail = "failed", f"torch sees no CUDA device (reid_fast: {probe['status']['reason']})"
    elif not probe["status"]["usable"] and not kit.dry_run:
        stage.status, stage.detail = "failed", f"reid_fast cannot use CUDA: {probe['status']['reason']}"
    elif probe.get("knn_max_abs_error", 1.0) > 1e-3:
        stage.status = "failed"
        stage.detail = f"knn on {device} differs from the CPU by {probe.get('knn_max_abs_error')}"
    else:
        stage.status = "passed"
        stage.detail = (f"reid_fast.cuda_status(): {probe['status']['reason']}; knn on {device} agrees "
                        f"with the CPU (max error {probe['knn_max_abs_error']:.1e})")
        if kit.dry_run:
            stage.detail = "dry run, on the CPU: " + stage.detail
    if stage.status != "passed" and not kit.dry_run:
        kit.cuda_problem = stage.detail


def _test_parts() -> list[tuple[str, list[str], float]]:
    """The tests stage's two pytest runs: the CUDA op tests, then every other test file (the
    tests that compare CUDA with the CPU), with their shares of the stage's budget."""
    others = sorted(p.relative_to(REPO / "tests").as_posix()
                    for p in (REPO / "tests").rglob("test_*.py")
                    if p.relative_to(REPO / "tests").as_posix() not in OP_TEST_FILES)
    return [("ops", [f"tests/{name}" for name in OP_TEST_FILES], 0.6),
            ("cuda vs cpu", [f"tests/{name}" for name in others], 1.0)]


def parse_junit(path: Path) -> dict[str, Any]:
    """Counts and the failing / skipped tests of a JUnit XML file."""
    root = ElementTree.parse(path).getroot()
    suites = [root] if root.tag == "testsuite" else list(root.iter("testsuite"))
    counts = {key: sum(int(s.get(key, 0)) for s in suites) for key in ("tests", "failures", "errors", "skipped")}
    failed, skip_reasons = [], {}
    for case in root.iter("testcase"):
        name = f"{case.get('classname', '')}::{case.get('name', '')}"
        for kind in ("failure", "error"):
            for element in case.findall(kind):
                message = (element.get("message") or element.text or "").strip().splitlines()
                failed.append({"test": name, "kind": kind, "message": (message or [""])[0][:300]})
        for element in case.findall("skipped"):
            reason = (element.get("message") or "").strip()[:200]
            skip_reasons[reason] = skip_reasons.get(reason, 0) + 1
    counts["passed"] = counts["tests"] - counts["failures"] - counts["errors"] - counts["skipped"]
    return {"counts": counts, "failed": failed, "skip_reasons": skip_reasons}


def stage_tests(kit: Kit, stage: Stage) -> None:
    junit = kit.out / "tests.xml"
    deadline = time.monotonic() + stage.budget
    merged = ElementTree.Element("testsuites")
    problems, codes = [], []
    with tempfile.TemporaryDirectory() as tmp:
        for number, (part, files, share) in enumerate(_test_parts()):
            xml = Path(tmp) / f"part{number}.xml"
            command = [sys.executable, "-m", "pytest", *files, "-m", "cuda", "-q", "-rfE",
                       "-p", "no:cacheprovider", f"--junitxml={xml}", "-o", "junit_family=xunit2"]
            if kit.env.get("pytest_timeout"):
                command.append(f"--timeout={PER_TEST_TIMEOUT}")
            budget = share * (deadline - time.monotonic())
            code = kit.run(command, kit.out / "tests.log", budget, header=f"\n######## {part}\n")
            codes.append(code)
            if code is None:
                problems.append(f"the {part} tests ran out of their {budget:.0f} s")
            elif not xml.is_file():
                problems.append(f"pytest exited with {code} on the {part} tests and wrote no JUnit XML")
            if xml.is_file():
                root = ElementTree.parse(xml).getroot()
                merged.extend([root] if root.tag == "testsuite" else list(root))
        ElementTree.ElementTree(merged).write(junit, encoding="utf-8", xml_declaration=True)
    result = parse_junit(junit)
    stage.data = result
    c = result["counts"]
    stage.detail = f"{c['passed']} passed, {c['failures'] + c['errors']} failed, {c['skipped']} skipped"
    if c["failures"] or c["errors"] or any(code not in (None, 0, 5) for code in codes):
        stage.status = "failed"
        stage.detail += "".join(f"; {p}" for p in problems)
        stage.detail += "; first: " + "; ".join(f["test"] for f in result["failed"][:3])
    elif problems:
        stage.status = "timeout"
        stage.detail += "; " + "; ".join(problems) + " (tests.log)"
    elif not kit.dry_run and c["passed"] == 0:
        stage.status = "failed"
        stage.detail += ": no CUDA test ran on a GPU machine"
    else:
        stage.status = "passed"
        if kit.dry_run:
            stage.detail = "dry run, no GPU: " + stage.detail


def parse_sanitizer_log(text: str) -> dict[str, Any]:
    """Error count, the errors in reid_fast's own kernels, and the first reports."""
    summary = re.findall(r"ERROR SUMMARY: (\d+) error", text)
    blocks: list[list[str]] = []
    for line in text.splitlines():
        if not line.startswith("========="):
            continue
        body = line[len("========="):]
        if body.startswith(" ") and body.strip() and not body.startswith("  ") and \
                not body.strip().startswith(("ERROR SUMMARY", "COMPUTE-SANITIZER")):
            blocks.append([body.strip()])
        elif blocks and body.strip():
            blocks[-1].append(body.strip())
    ours = [b for b in blocks if any("reid_fast" in line for line in b)]
    return {
        "errors": int(summary[-1]) if summary else None,
        "reid_fast_errors": len(ours),
        "first_reports": [" | ".join(b[:3])[:400] for b in (ours or blocks)[:5]],
        "refused": any(marker in text for marker in SANITIZER_REFUSED),
    }


def stage_sanitizer(kit: Kit, stage: Stage) -> None:
    log = kit.out / "sanitizer.log"
    cases = [sys.executable, "bench/gpu_sanitize_cases.py"]
    if kit.dry_run:
        code = kit.run([*cases, "--device", "cpu"], log, stage.budget, header="# dry run: no sanitizer\n")
        stage.status = "passed" if code == 0 else ("timeout" if code is None else "failed")
        stage.detail = "dry run: sanitizer skipped; the cases ran on the CPU" + \
            ("" if code == 0 else f" and exited with {code} (sanitizer.log)")
        return
    sanitizer = _cuda_tool("compute-sanitizer")
    if sanitizer is None:
        stage.status, stage.detail = "skipped", "compute-sanitizer is not installed"
        return
    deadline = time.monotonic() + stage.budget
    with tempfile.TemporaryDirectory() as tmp:
        runs = {}
        for tool in SANITIZER_TOOLS:  # the four at once: the GPU and 16 cores have room
            tool_log = open(Path(tmp) / f"{tool}.log", "w")
            command = [sanitizer, "--tool", tool, "--error-exitcode", "99", "--print-limit", "20", *cases]
            runs[tool] = (kit.start(command, tool_log), tool_log)
        results = {}
        for tool, (process, tool_log) in runs.items():
            code = kit.finish(process, deadline - time.monotonic())
            tool_log.close()
            text = (Path(tmp) / f"{tool}.log").read_text(errors="replace")
            with open(log, "a") as combined:
                combined.write(f"\n######## {tool} (exit {code})\n{text}")
            results[tool] = {"exit": code, **parse_sanitizer_log(text)}
    stage.data = results
    parts, failed, timed_out = [], False, False
    for tool, r in results.items():
        if r["refused"]:
            parts.append(f"{tool}: refused the device")
        elif r["exit"] is None:
            parts.append(f"{tool}: out of time")
            timed_out = True
        elif r["exit"] == 0 and r["errors"] == 0:
            parts.append(f"{tool}: 0 errors")
        else:
            failed = True
            what = f"{r['errors']} errors ({r['reid_fast_errors']} in reid_fast kernels)" \
                if r["errors"] else f"the cases failed (exit {r['exit']})"
            parts.append(f"{tool}: {what}")
    stage.detail = "; ".join(parts) + " (sanitizer.log)"
    if all(r["refused"] for r in results.values()):
        stage.status = "skipped"
    else:
        stage.status = "failed" if failed else ("timeout" if timed_out else "passed")


def _merge_bench_results(kit: Kit, files: list[Path], groups: dict[str, Any]) -> dict[str, Any]:
    merged: dict[str, Any] = {}
    for path in files:
        data = json.loads(path.read_text())
        if not merged:
            merged = {k: v for k, v in data.items() if k not in ("benchmarks", "ratios", "pytest_exitstatus")}
            merged.update(benchmarks=[], ratios=[])
        merged["benchmarks"] += data["benchmarks"]
        merged["ratios"] += data["ratios"]
    merged["kit"] = {"dry_run": kit.dry_run, "groups": groups}
    devices = sorted({b["device"] for b in merged.get("benchmarks", [])})
    merged["results_name"] = reid_bench.results_file_name(
        merged.get("machine", {}), devices, merged.get("commit", {}).get("short", "nocommit"), kit.started)
    return merged


def stage_bench(kit: Kit, stage: Stage) -> None:
    log = kit.out / "bench.log"
    deadline = time.monotonic() + stage.budget
    groups: dict[str, Any] = {}
    files: list[Path] = []
    with tempfile.TemporaryDirectory() as tmp:
        for group in BENCH_GROUPS:
            budget = min(group.budget * kit.budget_scale, deadline - time.monotonic())
            if budget < 1:
                groups[group.name] = {"status": "skipped", "detail": "no time left in the stage"}
                continue
            results = Path(tmp) / group.name
            command = [sys.executable, "-m", "pytest", *group.targets, "-q", "-p", "no:cacheprovider",
                       "--reid-results-dir", str(results), *group.options]
            if group.gpu_marker:
                command += ["-m", "not cuda" if kit.dry_run else "cuda"]
            if kit.dry_run:
                command += ["--reid-tiny", "--reid-rounds", "1", "--reid-no-memory"]
            start = time.monotonic()
            code = kit.run(command, log, budget, header=f"\n######## {group.name}\n")
            written = sorted(results.glob("*.json"))
            files += written
            status = "timeout" if code is None else ("passed" if code == 0 and written else "failed")
            groups[group.name] = {"status": status, "exit": code, "seconds": round(time.monotonic() - start, 1),
                                  "budget": group.budget * kit.budget_scale}
        if files:
            kit.benchmarks = _merge_bench_results(kit, files, groups)
            (kit.out / "bench.json").write_text(json.dumps(kit.benchmarks, indent=2, default=str) + "\n")
    stage.data = {"groups": groups}
    bad = [f"{name} {g['status']}" for name, g in groups.items() if g["status"] != "passed"]
    count = len(kit.benchmarks.get("benchmarks", []))
    stage.detail = f"{len(groups) - len(bad)}/{len(groups)} groups, {count} benchmarks" + \
        (f"; {', '.join(bad)} (bench.log)" if bad else "") + (" (dry run: tiny sizes on the CPU)" if kit.dry_run else "")
    stage.status = "passed" if not bad else ("timeout" if all("timeout" in b for b in bad) else "failed")


STAGE_FUNCTIONS: dict[str, Callable[[Kit, Stage], None]] = {
    "env": stage_env, "build": stage_build, "cuda": stage_cuda, "tests": stage_tests,
    "sanitizer": stage_sanitizer, "bench": stage_bench,
}


# --------------------------------------------------------------------------------------
# Summary
# --------------------------------------------------------------------------------------


def _ms(seconds: float | None) -> str:
    if seconds is None:
        return "n/a"
    return f"{seconds * 1e3:.3g} ms" if seconds < 1 else f"{seconds:.3g} s"


def _mib(value: Any) -> str:
    return "n/a" if value is None else f"{value / 2**20:.0f} MiB"


def benchmark_rows(bench: dict[str, Any]) -> tuple[list[str], list[str]]:
    """Markdown rows: ours against the baseline, and the figures without a baseline."""
    paired, single = [], []
    entries = bench.get("benchmarks", [])
    for r in bench.get("ratios", []):
        side = r.get("side", "ours")
        ours = next(e for e in entries if (e["op"], e["size"], e["device"], e["dtype"], e["side"]) ==
                    (r["op"], r["size"], r["device"], r["dtype"], side))
        base = next(e for e in entries if (e["op"], e["size"], e["device"], e["dtype"], e["side"]) ==
                    (r["op"], r["size"], r["device"], r["dtype"], "baseline"))
        op = r["op"] if side == "ours" else f"{r['op']} ({side})"
        paired.append(f"| {op} | {r['size']} | {r['device']} | {r['dtype']} | {_ms(ours['median_s'])} | "
                      f"{r['baseline']} | {_ms(base['median_s'])} | {r['speedup_median']:.2f}x | "
                      f"{_mib(r['ours_peak_memory_bytes'])} / {_mib(r['baseline_peak_memory_bytes'])} |")
    keys = {(r["op"], r["size"], r["device"], r["dtype"]) for r in bench.get("ratios", [])}
    for e in entries:
        if (e["op"], e["size"], e["device"], e["dtype"]) in keys or e["side"] != "ours":
            continue
        extra = []
        if e.get("images_per_s"):
            extra.append(f"{e['images_per_s']:.0f} images/s")
        if e.get("gpu_utilisation_percent") is not None:
            extra.append(f"GPU {e['gpu_utilisation_percent']:.0f}% busy")
        for key in ("mAP", "final_mAP"):
            if e.get(key) is not None:
                extra.append(f"mAP {100 * e[key]:.1f}")
        if e.get("peak_memory_bytes"):
            extra.append(f"peak {_mib(e['peak_memory_bytes'])}")
        single.append(f"| {e['op']} | {e['size']} | {e['device']} | {e['dtype']} | {_ms(e['median_s'])} | "
                      f"{', '.join(extra)} |")
    return paired, single


def target_rows(bench: dict[str, Any]) -> list[str]:
    """Markdown rows: each target of the GPU issue against the figure measured for it."""
    rows = []
    entries = [e for e in bench.get("benchmarks", []) if e["device"] == "cuda" and e["side"] == "ours"]
    ratios = [r for r in bench.get("ratios", []) if r["device"] == "cuda"]
    for label, op, size, kind, goal in TARGETS:
        measured = 0
        if kind == "max_s":
            for e in (e for e in entries if e["op"] == op and e["size"] == size):
                verdict = "met" if e["median_s"] < goal else f"missed: {e['median_s'] / goal:.1f}x the target"
                rows.append(f"| {label} ({e['dtype']}) | < {_ms(goal)} | {_ms(e['median_s'])} | {verdict} |")
                measured += 1
        else:
            for r in (r for r in ratios if r["op"] == op and r["size"] == size):
                verdict = "met" if r["speedup_median"] >= goal else "missed"
                side = r.get("side", "ours")
                which = r["dtype"] if side == "ours" else f"{r['dtype']}, {side}"
                rows.append(f"| {label} ({which}) | >= {goal}x | {r['speedup_median']:.2f}x | {verdict} |")
                measured += 1
        if not measured:
            rows.append(f"| {label} | {'< ' + _ms(goal) if kind == 'max_s' else f'>= {goal}x'} | not measured | - |")
    return rows


def summary_markdown(kit: Kit) -> str:
    env = kit.env
    commit = (env.get("commit") or "unknown")[:12] + (" (dirty)" if env.get("commit_dirty") else "")
    title = "GPU check (dry run, CPU)" if kit.dry_run else f"GPU check: {env.get('gpu_name', 'no GPU')}"
    lines = [f"# {title}", "",
             f"Commit {commit}, started {kit.started.isoformat(timespec='seconds')}, "
             f"{sum(s.seconds for s in kit.stages.values()):.0f} s in all.", "",
             "| stage | status | time | budget | detail |", "| --- | --- | --- | --- | --- |"]
    for name in STAGES:
        stage = kit.stages.get(name)
        if stage is None:
            continue
        lines.append(f"| {name} | {stage.status} | {stage.seconds:.1f} s | {stage.budget:.0f} s | "
                     f"{stage.detail.replace('|', '/')} |")
    if kit.benchmarks:
        paired, single = benchmark_rows(kit.benchmarks)
        lines += ["", "## Benchmarks (median of the timed rounds)", "",
                  "| op | size | device | dtype | ours | baseline | baseline time | speedup | peak memory ours / baseline |",
                  "| --- | --- | --- | --- | --- | --- | --- | --- | --- |", *paired]
        if single:
            lines += ["", "| op | size | device | dtype | ours | figures |", "| --- | --- | --- | --- | --- | --- |",
                      *single]
        if not kit.dry_run:
            lines += ["", "## Targets", "", "| target | goal | measured | verdict |", "| --- | --- | --- | --- |",
                      *target_rows(kit.benchmarks)]
        lines += ["", f"Commit bench.json as bench/results/{kit.benchmarks['results_name']}"]
    failures = [f for s in kit.stages.values() for f in s.data.get("failed", [])]         if "tests" in kit.stages else []
    if failures:
        lines += ["", "## Failed tests", ""] + [f"- {f['test']}: {f['message']}" for f in failures[:30]]
    reports = [(tool, r["first_reports"]) for tool, r in kit.stages["sanitizer"].data.items()
               if isinstance(r, dict) and r.get("first_reports")] if "sanitizer" in kit.stages else []
    if reports:
        lines += ["", "## Sanitizer reports (first of each tool)", ""]
        lines += [f"- {tool}: {report}" for tool, items in reports for report in items[:3]]
    return "\n".join(lines) + "\n"


# --------------------------------------------------------------------------------------
# Main
# --------------------------------------------------------------------------------------


def stages_to_run(only: str | None) -> list[str]:
    """The stages of ``--only`` (all by default), with env always, and build and cuda before
    any stage that needs them."""
    if not only:
        return list(STAGES)
    chosen = {name.strip() for name in only.split(",") if name.strip()}
    unknown = chosen - set(STAGES)
    if unknown:
        raise ValueError(f"--only: unknown stage(s) {', '.join(sorted(unknown))}; "
                         f"the stages are {', '.join(STAGES)}")
    chosen.add("env")
    if chosen & NEEDS_BUILD:
        chosen.add("build")
    if chosen & NEEDS_CUDA:
        chosen.add("cuda")
    return [name for name in STAGES if name in chosen]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("outdir", type=Path, help="where the (at most 8) result files go")
    parser.add_argument("--only", help="comma-separated stages to run: " + ", ".join(STAGES))
    parser.add_argument("--dry-run", action="store_true",
                        help="the same stages on the CPU at tiny sizes, no sanitizer (what CI runs)")
    args = parser.parse_args(argv)
    try:
        names = stages_to_run(args.only)
    except ValueError as error:
        parser.error(str(error))
    args.outdir.mkdir(parents=True, exist_ok=True)
    kit = Kit(args.outdir.resolve(), args.dry_run)
    for name in names:
        stage = Stage(name, budget=BUDGETS[name] * kit.budget_scale)
        kit.stages[name] = stage
        if name in NEEDS_CUDA and kit.cuda_problem:
            stage.status, stage.detail = "skipped", f"CUDA is not usable: {kit.cuda_problem}"
        else:
            print(f"[gpu_check] {name}: running (budget {stage.budget:.0f} s)", flush=True)
            start = time.monotonic()
            try:
                STAGE_FUNCTIONS[name](kit, stage)
            except Exception as error:  # a broken stage is recorded; the next one still runs
                stage.status, stage.detail = "failed", f"the stage raised {type(error).__name__}: {error}"
            stage.seconds = round(time.monotonic() - start, 1)
        print(f"[gpu_check] {name}: {stage.status} in {stage.seconds:.1f} s: {stage.detail}", flush=True)
        kit.write()
    print((kit.out / "summary.md").read_text(), flush=True)
    ok = all(s.status == "passed" or (s.status == "skipped" and name == "sanitizer")
             for name, s in kit.stages.items())
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
