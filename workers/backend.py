"""Which ``acl`` module a worker uses: the real one from CANN, or the simulator.

The real module is found on ``sys.path`` after CANN's ``set_env.sh``; the simulator is
``workers/simulator``. ``auto`` means the real module when it is importable, and the simulator
only where the machine shows no sign of Ascend hardware (``ascend_signs``): an NPU server whose
shell did not source ``set_env.sh`` (the usual state of a cron job) must not pass its devices on
the simulator. Looking never raises; only a backend that cannot be had is an error
(``BackendMissing``).
"""

from __future__ import annotations

import glob
import importlib
import importlib.util
import os
import shutil
from pathlib import Path
from types import ModuleType
from typing import Any, Dict, List, Optional, Tuple

from workers.job import BACKENDS
from workers.visibility import DEVICE_NODES

NPU_SMI = "npu-smi"
DRIVER_DIR = "/usr/local/Ascend/driver"
"""Where the Ascend driver installs itself."""
SET_ENV = "/usr/local/Ascend/ascend-toolkit/set_env.sh"
"""The script that puts CANN (and its ``acl`` module) on the paths, in a default install."""


class BackendMissing(Exception):
    """The backend asked for cannot be had here: ``acl`` without the real module, or ``auto`` on a
    machine with Ascend hardware but no importable ``acl``. The message says what to do."""


def _simulator_path() -> Optional[Path]:
    try:
        from workers import simulator
    except ImportError:
        return None
    return Path(simulator.SIM_PATH).resolve()


def acl_available() -> bool:
    """True when a real ``acl`` module can be found (without importing it); the simulator, when its
    folder is on ``sys.path``, does not count."""
    spec = importlib.util.find_spec("acl")
    if spec is None or spec.origin is None:
        return False
    sim = _simulator_path()
    return sim is None or sim not in Path(spec.origin).resolve().parents


def ascend_signs() -> List[str]:
    """What shows Ascend hardware on this machine, in words (empty: none): device nodes, an
    ``npu-smi`` on ``PATH``, an installed driver."""
    signs = []
    try:
        nodes = sorted(glob.glob(DEVICE_NODES))
        if nodes:
            signs.append(f"{len(nodes)} NPU device node(s) ({', '.join(nodes[:3])}{', ...' if len(nodes) > 3 else ''})")
        tool = shutil.which(NPU_SMI)
        if tool:
            signs.append(f"{NPU_SMI} at {tool}")
        if os.path.isdir(DRIVER_DIR):
            signs.append(f"the Ascend driver in {DRIVER_DIR}")
    except OSError:  # an unreadable /dev or PATH entry is no sign either way
        pass
    return signs


def resolve_backend(backend: str) -> str:
    """``acl`` or ``sim`` for ``backend`` (``acl``, ``sim`` or ``auto``); ``BackendMissing`` when
    the real runtime is asked for, or Ascend hardware is here, and ``acl`` cannot be imported."""
    if backend not in BACKENDS:
        raise ValueError(f"unknown backend {backend!r}; known: {', '.join(BACKENDS)}")
    if backend == "sim" or acl_available():
        return "acl" if backend != "sim" else "sim"
    if backend == "acl":
        raise BackendMissing(f"backend acl: the real acl module (Huawei CANN) is not importable here; {_HOW}")
    signs = ascend_signs()
    if signs:
        raise BackendMissing(
            f"backend auto: this machine has Ascend hardware ({'; '.join(signs)}) but no importable "
            f"acl module, so it would run on the simulator and test nothing; {_HOW}, or use "
            "--backend sim (backend: sim) to run the simulator anyway"
        )
    return "sim"


_HOW = f"source CANN's set_env.sh first (e.g. `source {SET_ENV}`) so that `import acl` finds the real runtime"


def load_acl(backend: str, sim_config: Optional[Dict[str, Any]] = None) -> Tuple[ModuleType, str]:
    """The ``acl`` module to use and its backend name (``"acl"`` or ``"sim"``), as ``resolve_backend``
    chooses; the simulator is configured with ``sim_config``."""
    if resolve_backend(backend) == "sim":
        from workers import simulator

        return simulator.load(sim_config), "sim"
    try:
        return importlib.import_module("acl"), "acl"
    except ImportError as exc:
        raise BackendMissing(f"the acl module failed to import: {exc}; {_HOW}") from exc
