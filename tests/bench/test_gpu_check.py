"""bench/gpu_check.py, the GPU check kit: its dry run end to end on this CPU (what CI runs so
that the kit cannot rot), --only without a rebuild, the hard stop when CUDA is not usable,
and its parsers and summary on hand-made inputs (JUnit XML, compute-sanitizer logs,
benchmark figures against the targets)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent.parent
sys.path.insert(0, str(REPO / "bench"))
import gpu_check  # noqa: E402

KIT_TIMEOUT = 900


def run_kit(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(REPO / "bench" / "gpu_check.py"), *args], cwd=REPO,
                          capture_output=True, text=True, timeout=KIT_TIMEOUT)


@pytest.fixture(scope="module")
def dry_run(tmp_path_factory) -> tuple[subprocess.CompletedProcess, Path]:
    out = tmp_path_factory.mktemp("kit")
    return run_kit(str(out), "--dry-run"), out


def test_dry_run_runs_every_stage(dry_run):
    done, out = dry_run
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-4000:]
    files = sorted(p.name for p in out.iterdir())
    assert all((out / f).is_file() for f in files) and len(files) <= 8, files  # flat, at most 8
    assert set(files) == {"gpu_check.json", "summary.md", "build.log", "tests.xml", "tests.log",
                          "sanitizer.log", "bench.json", "bench.log"}
    record = json.loads((out / "gpu_check.json").read_text())
    assert record["dry_run"] is True
    assert list(record["stages"]) == list(gpu_check.STAGES)
    assert {name: s["status"] for name, s in record["stages"].items()} == dict.fromkeys(gpu_check.STAGES, "passed")
    assert record["env"]["python"] and "torch" in record["env"]
    # The dry run uses the installed build: a rebuild of every CUDA architecture on 2 cores
    # takes longer than CI can give it.
    assert record["stages"]["build"]["detail"].startswith("current: no rebuild (dry run)")
    summary = (out / "summary.md").read_text()
    for name in gpu_check.STAGES:
        assert f"| {name} | passed |" in summary


def test_dry_run_benchmarks_every_group(dry_run):
    _, out = dry_run
    bench = json.loads((out / "bench.json").read_text())
    assert {g["status"] for g in bench["kit"]["groups"].values()} == {"passed"}
    assert list(bench["kit"]["groups"]) == [g.name for g in gpu_check.BENCH_GROUPS]
    ops = {b["op"] for b in bench["benchmarks"]}
    assert ops >= {"knn", "pairwise_distance", "rerank", "evaluate", "post_chain", "train_step_resnet50",
                   "pipeline"}
    assert bench["tiny_sizes"] is True
    assert {b["device"] for b in bench["benchmarks"]} == {"cpu"}
    # Each baseline ran beside ours on the same inputs: one ratio per (op, size) pair.
    assert {(r["op"], r["size"]) for r in bench["ratios"]} >= {("knn", "aicity-tiny"), ("evaluate", "msmt17-tiny")}
    assert bench["results_name"].endswith(".json") and "-cpu-" in bench["results_name"]


def test_dry_run_tests_stage_selects_the_cuda_tests(dry_run):
    _, out = dry_run
    junit = gpu_check.parse_junit(out / "tests.xml")
    # No GPU here: every selected test is a CUDA test, skipped because torch sees no device.
    assert junit["counts"]["tests"] > 100 and junit["counts"]["skipped"] == junit["counts"]["tests"]
    assert all("no CUDA device to test on" in reason for reason in junit["skip_reasons"])


def test_only_reruns_chosen_stages_without_rebuilding(dry_run, tmp_path):
    done = run_kit(str(tmp_path), "--dry-run", "--only", "sanitizer")
    assert done.returncode == 0, done.stdout[-4000:]
    record = json.loads((tmp_path / "gpu_check.json").read_text())
    assert list(record["stages"]) == ["env", "build", "cuda", "sanitizer"]
    assert record["stages"]["build"]["detail"].startswith("current: no rebuild")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["build.log", "gpu_check.json", "sanitizer.log",
                                                          "summary.md"]


def test_without_a_usable_gpu_the_kit_stops_at_the_cuda_check(dry_run, tmp_path):
    """A real run (no --dry-run) on this CPU machine: the cuda stage fails with the reason
    and the GPU stages after it are skipped, not run."""
    done = run_kit(str(tmp_path), "--only", "tests")
    assert done.returncode == 1
    stages = json.loads((tmp_path / "gpu_check.json").read_text())["stages"]
    assert stages["cuda"]["status"] == "failed"
    assert "torch sees no CUDA device" in stages["cuda"]["detail"]
    assert stages["tests"]["status"] == "skipped"
    assert stages["tests"]["detail"].startswith("CUDA is not usable: torch sees no CUDA device")
    assert not (tmp_path / "tests.xml").exists()


def test_unknown_stage_is_a_usage_error(tmp_path):
    done = run_kit(str(tmp_path), "--only", "tests,nonsense")
    assert done.returncode == 2
    assert "unknown stage(s) nonsense" in done.stderr


@pytest.mark.parametrize("only, stages", [
    (None, list(gpu_check.STAGES)),
    ("env", ["env"]),
    ("build", ["env", "build"]),
    ("bench", ["env", "build", "cuda", "bench"]),
    ("sanitizer,tests", ["env", "build", "cuda", "tests", "sanitizer"]),
])
def test_stages_to_run(only, stages):
    assert gpu_check.stages_to_run(only) == stages


def test_budgets_fit_eight_minutes():
    assert sum(gpu_check.BUDGETS.values()) <= 8 * 60
    assert sum(g.budget for g in gpu_check.BENCH_GROUPS) <= gpu_check.BUDGETS["bench"]


JUNIT = """<?xml version="1.0" encoding="utf-8"?>
<testsuites><testsuite name="pytest" errors="1" failures="1" skipped="2" tests="6" time="1.0">
<testcase classname="tests.test_knn" name="test_a[cuda]" time="0.1"/>
<testcase classname="tests.test_knn" name="test_b[cuda]" time="0.1"/>
<testcase classname="tests.test_knn" name="test_c[cuda]" time="0.1">
  <failure message="AssertionError: values differ&#10;second line">trace</failure></testcase>
<testcase classname="tests.test_post" name="test_d" time="0.1"><error message="fixture broke">trace</error></testcase>
<testcase classname="tests.test_knn" name="test_e" time="0"><skipped message="needs two CUDA devices"/></testcase>
<testcase classname="tests.test_knn" name="test_f" time="0"><skipped message="needs two CUDA devices"/></testcase>
</testsuite></testsuites>
"""


def test_parse_junit(tmp_path):
    path = tmp_path / "t.xml"
    path.write_text(JUNIT)
    result = gpu_check.parse_junit(path)
    assert result["counts"] == {"tests": 6, "failures": 1, "errors": 1, "skipped": 2, "passed": 2}
    assert result["failed"] == [
        {"test": "tests.test_knn::test_c[cuda]", "kind": "failure", "message": "AssertionError: values differ"},
        {"test": "tests.test_post::test_d", "kind": "error", "message": "fixture broke"},
    ]
    assert result["skip_reasons"] == {"needs two CUDA devices": 2}


MEMCHECK_LOG = """========= COMPUTE-SANITIZER
========= Invalid __global__ write of size 4 bytes
=========     at void reid_fast::cuda::detail::pairwise_kernel<reid_fast::Float32Load>(const void *)+0x2d0 in pairwise_distance_cuda.cu:60
=========     by thread (16,0,0) in block (1,0,0)
=========     Address 0x7f00 is out of bounds
=========
========= Invalid __global__ read of size 4 bytes
=========     at void at::native::reduce_kernel<512, 1>(float *)+0x100
=========     by thread (0,0,0) in block (0,0,0)
=========
========= ERROR SUMMARY: 2 errors
"""


def test_parse_sanitizer_log():
    result = gpu_check.parse_sanitizer_log(MEMCHECK_LOG)
    assert result["errors"] == 2 and result["reid_fast_errors"] == 1 and not result["refused"]
    assert result["first_reports"][0].startswith("Invalid __global__ write of size 4 bytes | at void reid_fast::")
    clean = gpu_check.parse_sanitizer_log("========= COMPUTE-SANITIZER\n========= ERROR SUMMARY: 0 errors\n")
    assert clean == {"errors": 0, "reid_fast_errors": 0, "first_reports": [], "refused": False}
    refused = gpu_check.parse_sanitizer_log("========= Error: Device not supported\n")
    assert refused["refused"] and refused["errors"] is None


def entry(op, size, side, dtype, median, **extra):
    return {"op": op, "size": size, "side": side, "device": "cuda", "dtype": dtype, "median_s": median,
            "impl": f"{op} {side}", **extra}


def test_summary_reports_benchmarks_and_targets(tmp_path):
    kit = gpu_check.Kit(tmp_path, dry_run=False)
    kit.env = {"gpu_name": "NVIDIA H200", "commit": "0123456789abcdef", "commit_dirty": False}
    kit.stages["bench"] = gpu_check.Stage("bench", "passed", 12.0, 160, "6/6 groups")
    kit.benchmarks = {
        "results_name": "nvidia-h200-cuda-01234567-20261201T000000Z.json",
        "benchmarks": [
            entry("knn", "aicity", "ours", "float32", 0.002), entry("knn", "aicity", "baseline", "float32", 0.001),
            entry("rerank", "aicity", "ours", "float32", 0.015),
            entry("rerank", "msmt17", "ours", "float32", 2.5, peak_memory_bytes=5 * 2**30),
            entry("train_step_resnet50", "256x256-b64", "ours", "bf16", 0.05, images_per_s=1280.0,
                  gpu_utilisation_percent=97.0),
        ],
        "ratios": [{"op": "knn", "size": "aicity", "device": "cuda", "dtype": "float32", "ours": "knn ours",
                    "baseline": "torch addmm + topk", "speedup_median": 0.5, "ours_peak_memory_bytes": 2**20,
                    "baseline_peak_memory_bytes": 2**27}],
    }
    text = gpu_check.summary_markdown(kit)
    assert "# GPU check: NVIDIA H200" in text
    assert "| bench | passed | 12.0 s | 160 s | 6/6 groups |" in text
    assert "| knn | aicity | cuda | float32 | 2 ms | torch addmm + topk | 1 ms | 0.50x | 1 MiB / 128 MiB |" in text
    assert "| train_step_resnet50 | 256x256-b64 | cuda | bf16 | 50 ms | 1280 images/s, GPU 97% busy |" in text
    assert "| re-ranking from features, AICity size (float32) | < 20 ms | 15 ms | met |" in text
    assert "| re-ranking from features, MSMT17 size (float32) | < 1 s | 2.5 s | missed: 2.5x the target |" in text
    assert "| knn vs torch mm + topk, AICity size (float32) | >= 1.5x | 0.50x | missed |" in text
    assert "| evaluation, MSMT17 size | < 100 ms | not measured | - |" in text
    assert "bench/results/nvidia-h200-cuda-01234567-20261201T000000Z.json" in text


STAND_IN_SANITIZER = """#!/bin/sh
# Stands in for compute-sanitizer: --tool TOOL --error-exitcode 99 --print-limit 20 COMMAND...
tool=$2
shift 6
"$@" --device cpu || exit $?
case $tool in
  racecheck)
    echo "========= Error: Race reported between Write access at reid_fast::cuda::detail::jaccard_kernel+0x10"
    echo "=========     and Read access at reid_fast::cuda::detail::jaccard_kernel+0x20"
    echo "========= ERROR SUMMARY: 1 error"
    exit 99;;
  initcheck)
    echo "========= Error: Device not supported"
    exit 1;;
esac
echo "========= ERROR SUMMARY: 0 errors"
"""


def test_sanitizer_stage_runs_the_four_tools_and_reads_their_reports(tmp_path, monkeypatch):
    """The real (not dry-run) sanitizer stage with a stand-in compute-sanitizer that runs the
    cases on the CPU and reports: nothing (memcheck, synccheck), a race in a reid_fast kernel
    (racecheck), or that it refuses the device (initcheck)."""
    tool = tmp_path / "bin" / "compute-sanitizer"
    tool.parent.mkdir()
    tool.write_text(STAND_IN_SANITIZER)
    tool.chmod(0o755)
    monkeypatch.setenv("PATH", f"{tool.parent}{os.pathsep}{os.environ['PATH']}")
    out = tmp_path / "out"
    out.mkdir()
    kit = gpu_check.Kit(out, dry_run=False)
    stage = gpu_check.Stage("sanitizer", budget=300)
    gpu_check.stage_sanitizer(kit, stage)
    assert stage.status == "failed"
    assert stage.detail == ("memcheck: 0 errors; racecheck: 1 errors (1 in reid_fast kernels); synccheck: "
                            "0 errors; initcheck: refused the device (sanitizer.log)")
    assert stage.data["racecheck"]["first_reports"][0].startswith("Error: Race reported between Write access")
    log = (out / "sanitizer.log").read_text()
    assert all(f"######## {name}" in log for name in gpu_check.SANITIZER_TOOLS)
    assert log.count("all agree with the CPU") == 4  # each tool ran the cases to the end
