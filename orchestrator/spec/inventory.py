"""Ask a short-lived worker-side process what devices this machine has.

The controller never imports ``acl`` itself: ``python -m workers.discover`` does, in its own
process, and answers with one JSON object (see ``workers/discover.py``). Used to resolve
``devices: all``, to check ids and sizes before launching, and by ``dvpp-fleet devices``.
"""

from __future__ import annotations

import json
import subprocess
import sys
from typing import Any, Dict, Optional

from orchestrator.errors import EnvironmentProblem
from workers.job import EXIT_BACKEND_MISSING

DISCOVER_TIMEOUT = 120.0

INSTALL_HINT = "the backend asked for is not available here (source CANN's set_env.sh, or use --backend sim)"
"""Said when discovery exits for a missing backend without saying why itself."""


def discover(backend: str, sim_config: Optional[Dict[str, Any]] = None) -> Dict[str, Any]:
    """The inventory of this machine for ``backend`` (acl, sim or auto)."""
    cmd = [sys.executable, "-m", "workers.discover", "--backend", backend]
    if sim_config is not None:
        cmd += ["--sim-config", json.dumps(sim_config)]
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=DISCOVER_TIMEOUT)
    except subprocess.TimeoutExpired:
        raise EnvironmentProblem(f"device discovery did not answer within {DISCOVER_TIMEOUT:g}s") from None
    try:
        inventory: Dict[str, Any] = json.loads(proc.stdout.strip().splitlines()[-1])
    except (ValueError, IndexError):
        if proc.returncode == EXIT_BACKEND_MISSING:
            raise EnvironmentProblem(INSTALL_HINT) from None
        tail = (proc.stderr or proc.stdout).strip()[-500:]
        raise EnvironmentProblem(f"device discovery failed (exit {proc.returncode}): {tail}") from None
    if proc.returncode == EXIT_BACKEND_MISSING:  # discovery's own words say what was found and what to do
        raise EnvironmentProblem(str(inventory.get("error") or INSTALL_HINT))
    if inventory.get("error"):
        raise EnvironmentProblem(f"device discovery on backend {inventory.get('backend')}: {inventory['error']}")
    return inventory
