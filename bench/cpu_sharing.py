"""How reid_fast's CPU work fares when the machine is shared: the OpenMP wait policy and
thread count, alone and beside other busy processes (README, "Threads and CPU kernels").

Each measurement runs a workload in a fresh process (the OpenMP runtime reads its settings
when it loads), with the environment of one setting, while 0, 1 or 2 busy processes (a
pure-Python loop each, like a compiler or a second job) compete for the cores:

- ``train``: ``python -m reid_fast.train`` on the built-in synthetic data for a fixed
  number of steps, then its evaluation (torch's kernels, the data pipeline, extraction and
  reid_fast's evaluation): the wall time of the whole command.
- ``rerank``: ``reid_fast.rerank`` on clustered features (reid_fast's OpenMP kernels), the
  median of a few calls.

Settings: ``gomp-default`` (libgomp's own: spin 300,000 iterations at each barrier before
sleeping; what reid_fast ran with before it chose a default), ``passive`` (reid_fast's
default, reid_fast/_openmp.py), ``active`` (spin until work comes), and ``passive-1``
(one thread). Rounds alternate the settings so that a drift of the machine touches all.

    python bench/cpu_sharing.py                  # writes bench/results/<machine>-cpu-sharing-...json
    python bench/cpu_sharing.py --steps 10 --rounds 1 --competitors 0 1   # quicker

Quote its figures only from a run on an otherwise quiet machine.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import reid_bench

SETTINGS: dict[str, dict[str, str]] = {
    "gomp-default": {"GOMP_SPINCOUNT": "300000"},
    "passive": {"OMP_WAIT_POLICY": "passive"},
    "active": {"OMP_WAIT_POLICY": "active"},
    "passive-1": {"OMP_WAIT_POLICY": "passive", "OMP_NUM_THREADS": "1"},
}
"""Environment of each setting. libgomp's default spin count (300,000 when OMP_WAIT_POLICY
is unset) is set explicitly, which also stops reid_fast from choosing its own policy."""

_BUSY = "while True: pass"

_RERANK_CHILD = """
import json, statistics, sys, time
import reid_fast, torch
q, g, d, calls = (int(a) for a in sys.argv[1:5])
generator = torch.Generator().manual_seed(0)
centres = torch.randn(g // 4, d, generator=generator)
ids = torch.randint(0, centres.shape[0], (q + g,), generator=generator)
features = torch.nn.functional.normalize(centres[ids] + 0.5 * torch.randn(q + g, d, generator=generator), dim=1)
reid_fast.rerank(features[:q], features[q:], 20, 6, 0.3)  # warm-up
times = []
for _ in range(calls):
    start = time.perf_counter()
    reid_fast.rerank(features[:q], features[q:], 20, 6, 0.3)
    times.append(time.perf_counter() - start)
print(json.dumps({"seconds": statistics.median(times), "threads": torch.get_num_threads()}))
"""


def _environment(setting: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items()
           if k not in ("OMP_WAIT_POLICY", "GOMP_SPINCOUNT", "OMP_NUM_THREADS")}
    env.update(SETTINGS[setting])
    env["PYTHONPATH"] = os.pathsep.join([str(reid_bench.REPO_ROOT), env.get("PYTHONPATH", "")])
    return env


def _train_command(steps: int, output: Path) -> list[str]:
    return [sys.executable, "-m", "reid_fast.train", "--max-steps", str(steps), "--output",
            str(output), "--name", "sharing", "--overwrite", "--no-progress",
            "--no-eval-untrained", "--no-rerank"]


def _run_workload(workload: str, setting: str, args: argparse.Namespace, output: Path) -> float:
    env = _environment(setting)
    if workload == "train":
        start = time.perf_counter()
        done = subprocess.run(_train_command(args.steps, output), env=env, cwd=output,
                              capture_output=True, text=True, check=False)
        seconds = time.perf_counter() - start
        if done.returncode != 0:
            raise RuntimeError(f"train ({setting}) failed:\n{done.stdout}\n{done.stderr}")
        return seconds
    done = subprocess.run([sys.executable, "-c", _RERANK_CHILD, *map(str, args.rerank_size),
                           str(args.calls)], env=env, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"rerank ({setting}) failed:\n{done.stdout}\n{done.stderr}")
    return float(json.loads(done.stdout.strip().splitlines()[-1])["seconds"])


def _measure(workload: str, setting: str, competitors: int, args: argparse.Namespace,
             output: Path) -> float:
    busy = [subprocess.Popen([sys.executable, "-c", _BUSY]) for _ in range(competitors)]
    try:
        return _run_workload(workload, setting, args, output)
    finally:
        for process in busy:
            process.kill()
            process.wait()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--workloads", nargs="+", default=["rerank", "train"],
                        choices=["rerank", "train"])
    parser.add_argument("--settings", nargs="+", default=list(SETTINGS), choices=list(SETTINGS))
    parser.add_argument("--competitors", nargs="+", type=int, default=[0, 1, 2],
                        help="numbers of busy processes beside the workload")
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--steps", type=int, default=40, help="training steps of `train`")
    parser.add_argument("--rerank-size", nargs=3, type=int, default=[1000, 8000, 256],
                        metavar=("Q", "G", "D"))
    parser.add_argument("--calls", type=int, default=3, help="timed rerank calls per process")
    parser.add_argument("--out", type=Path, default=Path(__file__).resolve().parent / "results")
    args = parser.parse_args(argv)

    rows: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory() as tmp:
        output = Path(tmp)
        if "train" in args.workloads:  # builds the synthetic data's cache outside the timing
            _run_workload("train", "passive", argparse.Namespace(**{**vars(args), "steps": 1}),
                          output)
        for workload in args.workloads:
            for competitors in args.competitors:
                times: dict[str, list[float]] = {s: [] for s in args.settings}
                for round_ in range(args.rounds):
                    order = args.settings if round_ % 2 == 0 else args.settings[::-1]
                    for setting in order:
                        seconds = _measure(workload, setting, competitors, args, output)
                        times[setting].append(seconds)
                        print(f"{workload:6s} beside {competitors} busy  {setting:12s} "
                              f"{seconds:8.2f} s", flush=True)
                for setting in args.settings:
                    rows.append({"workload": workload, "competitors": competitors,
                                 "setting": setting, "environment": SETTINGS[setting],
                                 "seconds": times[setting],
                                 "median_seconds": statistics.median(times[setting])})

    alone = {(r["workload"], r["setting"]): r["median_seconds"] for r in rows
             if r["competitors"] == 0}
    for row in rows:
        base = alone.get((row["workload"], row["setting"]))
        row["slowdown_vs_alone"] = None if base is None else row["median_seconds"] / base
    when = datetime.datetime.now(datetime.timezone.utc)
    machine = reid_bench.machine_info()
    commit = reid_bench.commit_info()
    result = {
        "schema": "reid_fast-cpu-sharing-1",
        "date": when.isoformat(),
        "machine": machine,
        "commit": commit,
        "options": {"steps": args.steps, "rerank_size": args.rerank_size, "calls": args.calls,
                    "rounds": args.rounds},
        "results": rows,
    }
    args.out.mkdir(parents=True, exist_ok=True)
    name = reid_bench.results_file_name(machine, ["cpu-sharing"], commit["short"], when)
    path = args.out / name
    path.write_text(json.dumps(result, indent=2) + "\n")
    print(f"\n{'workload':8s} {'busy':>4s} " + " ".join(f"{s:>13s}" for s in args.settings))
    for workload in args.workloads:
        for competitors in args.competitors:
            cells = [next(r["median_seconds"] for r in rows if r["workload"] == workload
                          and r["competitors"] == competitors and r["setting"] == s)
                     for s in args.settings]
            print(f"{workload:8s} {competitors:4d} " + " ".join(f"{c:12.2f}s" for c in cells))
    print(f"\nwrote {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
