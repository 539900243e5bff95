"""pytest-benchmark configuration for reid_fast's performance suite.

Each benchmark records (besides pytest-benchmark's own statistics) its op, side (ours or
baseline), sizes, dtype, device and peak memory. At the end of a run that timed anything,
a JSON file is written to bench/results/ (or --reid-results-dir):

    <machine>-<device>-<short commit>-<UTC date and time>.json

with the machine (CPU model, cores, RAM, GPU, CUDA versions), the commit (and whether the
tree was dirty), reid_fast.build_info(), the torch version, every benchmark's mean /
median / min seconds and peak memory, and the ours-vs-baseline ratios per size.

Marks: ``large`` (the all-vs-all sizes; deselect with -m "not large"), ``cuda`` (skipped
where torch sees no GPU, failed with the reason where it sees one that reid_fast cannot
use), ``msmt`` (MSMT17-size re-ranking, also ``large``).
"""

from __future__ import annotations

import datetime
import json
import sys
from pathlib import Path
from typing import Any

import pytest

import reid_bench

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))
import reid_testing  # noqa: E402  (tests/reid_testing.py: the CUDA gate both suites share)

RESULTS_KEY = pytest.StashKey[list]()


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("reid_fast benchmarks")
    group.addoption(
        "--reid-results-dir",
        default=str(Path(__file__).resolve().parent / "results"),
        help="where the run's JSON summary is written (default: bench/results)",
    )
    group.addoption(
        "--reid-no-results",
        action="store_true",
        help="do not write the JSON summary",
    )
    group.addoption(
        "--reid-rounds",
        type=int,
        default=None,
        help="timed rounds per benchmark (default: 5 on CPU, 2 for large CPU sizes, 20 on CUDA)",
    )
    group.addoption(
        "--reid-tiny",
        action="store_true",
        help="tiny problem sizes (seconds on a CPU): checks that the suite runs, measures nothing",
    )
    group.addoption(
        "--reid-no-memory",
        action="store_true",
        help="skip the peak-memory measurement (it costs one extra call per benchmark)",
    )


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "large: all-vs-all sizes, slow on CPU (deselect with -m 'not large')")
    config.addinivalue_line(
        "markers", "cuda: needs reid_fast with CUDA and a usable device (skipped otherwise)"
    )
    config.addinivalue_line(
        "markers", "msmt: MSMT17-size re-ranking (N = 93,820), many minutes on a CPU (deselect with -m 'not msmt')"
    )
    config.stash[RESULTS_KEY] = []
    if config.getoption("--reid-tiny"):
        reid_bench.use_tiny_sizes()


def pytest_runtest_setup(item: pytest.Item) -> None:
    if item.get_closest_marker("cuda") is not None:
        # The tests' gate: skipped where torch sees no GPU, failed (with the reason) where it
        # sees one that reid_fast cannot use.
        reid_testing.require_cuda()


@pytest.fixture(scope="session")
def bench_inputs() -> Any:
    """make_inputs with a cache, so that ours and the baseline time the very same arrays."""
    cache: dict[tuple[str, str, str], Any] = {}

    def get(size: reid_bench.Size, device: str, dtype: str) -> Any:
        key = (size.name, device, dtype)
        if key not in cache:
            cache.clear()  # one problem alive at a time (the all-vs-all ones are large)
            cache[key] = reid_bench.make_inputs(size, device, dtype)
        return cache[key]

    return get


@pytest.fixture
def record(request: pytest.FixtureRequest) -> Any:
    """Call record(benchmark, **fields) after benchmark.pedantic(...) to add the
    benchmark's statistics and fields to the run's JSON summary."""

    def add(benchmark: Any, **fields: Any) -> None:
        stats = getattr(benchmark, "stats", None)
        if not stats:  # --benchmark-disable / --benchmark-skip: nothing was timed
            return
        s = stats.stats
        entry = {
            "name": request.node.name,
            "fullname": request.node.nodeid,
            "group": benchmark.group,
            **fields,
            "mean_s": s.mean,
            "median_s": s.median,
            "min_s": s.min,
            "max_s": s.max,
            "stddev_s": s.stddev if s.rounds > 1 else 0.0,
            "rounds": s.rounds,
        }
        request.config.stash[RESULTS_KEY].append(entry)

    return add


def _ratios(entries: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """baseline / ours for each (op, size, device, dtype) and each of our sides ("ours",
    and the path-forcing "ours-simt" / "ours-framework" where measured): > 1 means ours is
    faster or smaller."""
    by_key: dict[tuple, dict[str, dict[str, Any]]] = {}
    for entry in entries:
        key = (entry["op"], entry["size"], entry["device"], entry["dtype"])
        by_key.setdefault(key, {})[entry["side"]] = entry
    ratios = []
    for (op, size, device, dtype), sides in sorted(by_key.items()):
        if "baseline" not in sides:
            continue
        base = sides["baseline"]
        for side in sorted(s for s in sides if s.startswith("ours")):
            ours = sides[side]
            row: dict[str, Any] = {
                "op": op,
                "size": size,
                "device": device,
                "dtype": dtype,
                "side": side,
                "ours": ours["impl"],
                "baseline": base["impl"],
            }
            for stat in ("mean_s", "median_s", "min_s"):
                row[f"speedup_{stat[:-2]}"] = base[stat] / ours[stat] if ours[stat] else None
            ours_mem, base_mem = ours.get("peak_memory_bytes"), base.get("peak_memory_bytes")
            row["ours_peak_memory_bytes"] = ours_mem
            row["baseline_peak_memory_bytes"] = base_mem
            row["memory_ratio"] = (base_mem / ours_mem if ours_mem and base_mem is not None
                                   else None)
            ratios.append(row)
    return ratios


@pytest.hookimpl(tryfirst=True)  # before pytest-benchmark's own saving, which may fail
def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    config = session.config
    entries = config.stash.get(RESULTS_KEY, [])
    if not entries or config.getoption("--reid-no-results"):
        return
    import numpy
    import torch

    import reid_fast

    machine = reid_bench.machine_info()
    commit = reid_bench.commit_info()
    devices = sorted({entry["device"] for entry in entries})
    now = datetime.datetime.now(datetime.timezone.utc)
    name = reid_bench.results_file_name(machine, devices, commit["short"], now)
    summary = {
        "schema": 1,
        "date": now.isoformat(timespec="seconds"),
        "machine": machine,
        "commit": commit,
        "build_info": reid_fast.build_info(),
        "reid_fast_version": reid_fast.__version__,
        "torch_version": torch.__version__,
        "numpy_version": numpy.__version__,
        "pytest_exitstatus": int(exitstatus),
        "tiny_sizes": bool(config.getoption("--reid-tiny")),
        "benchmarks": entries,
        "ratios": _ratios(entries),
    }
    directory = Path(config.getoption("--reid-results-dir"))
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / name
    path.write_text(json.dumps(summary, indent=2, default=str) + "\n")
    reporter = config.pluginmanager.get_plugin("terminalreporter")
    if reporter is not None:
        reporter.write_sep("-", "reid_fast benchmark summary")
        for row in summary["ratios"]:
            mem = row["memory_ratio"]
            reporter.write_line(
                f"{row['op']:<18} {row['side']:<15} {row['size']:<18} {row['device']:<4} "
                f"{row['dtype']:<8} "
                f"speedup (baseline/ours, median) {row['speedup_median']:.2f}x   "
                f"peak memory ours {_mib(row['ours_peak_memory_bytes'])} vs baseline "
                f"{_mib(row['baseline_peak_memory_bytes'])}" + (f" (baseline/ours {mem:.1f}x)" if mem else "")
            )
        reporter.write_line(f"results written to {path}")


def _mib(value: Any) -> str:
    return "n/a" if value is None else f"{value / 2**20:.1f} MiB"
