"""The CPU kernels split their work by thread count (row blocks, and gallery splits merged
at the end when there are few queries), and are compiled once per instruction set and
chosen at run time. Run the split-sensitive kNN checks in child processes with other
OpenMP thread counts than this machine's default, and with each instruction set's kernels
(REID_FAST_CPU_ISA)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

import reid_fast

TESTS_DIR = Path(__file__).resolve().parent.parent


def _run_child(code: str, env_updates: dict[str, str], tmp_path: Path) -> str:
    env = dict(os.environ)
    env.update(env_updates)
    # The child must import the same reid_fast as this process (and not a source folder
    # in its working directory, hence cwd=tmp_path).
    package_parent = str(Path(reid_fast.__file__).resolve().parent.parent)
    env["PYTHONPATH"] = os.pathsep.join([package_parent, str(TESTS_DIR)] + [p for p in sys.path if p])
    done = subprocess.run(
        [sys.executable, "-c", code], env=env, cwd=tmp_path, capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout


@pytest.mark.parametrize("threads", [1, 3, 16])
def test_knn_with_thread_count(threads, tmp_path):
    if not reid_fast.build_info()["openmp"]:
        pytest.skip("built without OpenMP: the thread count cannot change")
    # Importing torch resets the OpenMP thread count of the process (torch and reid_fast
    # share libgomp here), so set it through torch as well, after the imports.
    code = (
        "import reid_fast, reid_testing, torch\n"
        f"torch.set_num_threads({threads})\n"
        f"if reid_fast.build_info()['openmp_threads'] != {threads}:\n"
        "    print('cannot set:', reid_fast.build_info()['openmp_threads']); raise SystemExit(0)\n"
        "reid_testing.run_thread_checks()\n"
        "print('ok')\n"
    )
    out = _run_child(code, {"OMP_NUM_THREADS": str(threads)}, tmp_path)
    if "cannot set" in out:
        pytest.skip(f"could not set the OpenMP thread count to {threads}: {out.strip()}")
    assert out.strip().endswith("ok"), out


@pytest.mark.parametrize("isa", ["avx512", "avx2", "generic"])
def test_kernels_of_each_instruction_set(isa, tmp_path):
    code = (
        "import reid_fast, reid_testing\n"
        "try:\n"
        "    chosen = reid_fast.build_info()['cpu_kernels']\n"
        "except ValueError as error:\n"
        "    print('unsupported:', error); raise SystemExit(0)\n"
        f"assert chosen == {isa!r}, chosen\n"
        "reid_testing.run_thread_checks()\n"
        "reid_testing.run_dtype_checks()\n"
        "print('ok')\n"
    )
    out = _run_child(code, {"REID_FAST_CPU_ISA": isa}, tmp_path)
    if "unsupported" in out:
        pytest.skip(f"{isa} kernels are not available here: {out.strip()}")
    assert out.strip().endswith("ok"), out
