"""The OpenMP wait policy reid_fast starts with (README, "Threads and CPU kernels").

torch and reid_fast's CPU kernels share one OpenMP runtime (GNU libgomp). By default its
idle threads spin for a while at every barrier before they sleep; on a machine shared with
another CPU-heavy process the spinning threads take the cores the working ones need. With
the passive policy idle threads sleep at once. Measured on 2 cores (bench/cpu_sharing.py,
bench/results/amd-epyc-2c-cpu-sharing-83af1884-*.json), 20 training steps with their
evaluation took 9.5 s with libgomp's default and 9.6 s passive alone, but 17.6 s and 12.0 s
beside one busy process; re-ranking (q 1,000, g 8,000) was within 0.03 s either way.

The runtime reads its settings once, when it is loaded, so this must run before torch or
reid_fast._C is imported: ``import reid_fast`` (and every command, which imports it first)
does. A user's own ``OMP_WAIT_POLICY`` or ``GOMP_SPINCOUNT`` is left alone
(``OMP_WAIT_POLICY=active`` restores spinning on a machine that is yours alone).
"""

from __future__ import annotations

import os
import sys

WAIT_POLICY = "passive"
"""The wait policy set when the user set neither OMP_WAIT_POLICY nor GOMP_SPINCOUNT."""

_RUNTIME_MODULES = ("torch", "reid_fast._C")


def default_wait_policy() -> str | None:
    """Sets ``OMP_WAIT_POLICY`` to :data:`WAIT_POLICY` for this process (and the processes it
    starts) unless the user set the policy or the spin count, or the OpenMP runtime is
    already loaded (torch imported first: then it would change nothing here and only
    mislead the children). Returns the value set, or None."""
    if "OMP_WAIT_POLICY" in os.environ or "GOMP_SPINCOUNT" in os.environ:
        return None
    if any(name in sys.modules for name in _RUNTIME_MODULES):
        return None
    os.environ["OMP_WAIT_POLICY"] = WAIT_POLICY
    return WAIT_POLICY
