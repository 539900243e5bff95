"""reid_fast/_openmp.py: ``import reid_fast`` makes idle OpenMP threads sleep (the passive
wait policy) unless the user chose a policy or spin count, or the runtime is already loaded.
Each case runs in a fresh interpreter: the policy is only set before the runtime loads."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

import reid_fast

PACKAGE_PARENT = str(Path(reid_fast.__file__).resolve().parent.parent)


def _policy_after(code: str, **env_updates: str) -> str:
    env = {k: v for k, v in os.environ.items() if k not in ("OMP_WAIT_POLICY", "GOMP_SPINCOUNT")}
    env.update(env_updates)
    env["PYTHONPATH"] = PACKAGE_PARENT
    done = subprocess.run([sys.executable, "-c", code + "\nimport os\n"
                           "print(os.environ.get('OMP_WAIT_POLICY', '<unset>'))"],
                          env=env, capture_output=True, text=True, timeout=120, check=True)
    return done.stdout.strip().splitlines()[-1]


def test_passive_by_default():
    assert _policy_after("import reid_fast") == "passive"


def test_the_commands_get_it_too():
    """``python -m reid_fast.train`` imports the package first, so the policy is set before
    torch loads the runtime."""
    assert _policy_after("import reid_fast.cli.train") == "passive"


@pytest.mark.parametrize("variable, value, expected", [
    ("OMP_WAIT_POLICY", "active", "active"),
    ("GOMP_SPINCOUNT", "10000", "<unset>"),
])
def test_the_users_choice_is_kept(variable, value, expected):
    assert _policy_after("import reid_fast", **{variable: value}) == expected


def test_not_set_once_the_runtime_is_loaded():
    """After ``import torch`` the runtime has read its settings: setting the variable then
    would claim a policy the process does not have."""
    assert _policy_after("import torch\nimport reid_fast") == "<unset>"
