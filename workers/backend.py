"""Which ``acl`` module a worker uses: the real one from CANN, or the simulator.

The real module is found on ``sys.path`` after CANN's ``set_env.sh``; the simulator is
``workers/simulator``. Finding out never raises: "no real ``acl`` here" is a normal answer, and
only asking for ``acl`` when it is missing is an error (``BackendMissing``).
"""

from __future__ import annotations

import importlib
import importlib.util
from pathlib import Path
from types import ModuleType
from typing import Any, Dict, Optional, Tuple

from workers.job import BACKENDS


class BackendMissing(Exception):
    """``backend="acl"`` was asked for and the real ``acl`` module cannot be imported."""


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


def load_acl(backend: str, sim_config: Optional[Dict[str, Any]] = None) -> Tuple[ModuleType, str]:
    """The ``acl`` module to use and its backend name (``"acl"`` or ``"sim"``).

    ``backend``: ``acl`` (the real module; ``BackendMissing`` when absent), ``sim`` (the simulator
    configured with ``sim_config``), ``auto`` (the real module when present, else the simulator).
    """
    if backend == "auto":
        backend = "acl" if acl_available() else "sim"
    if backend == "sim":
        from workers import simulator

        return simulator.load(sim_config), "sim"
    if backend != "acl":
        raise ValueError(f"unknown backend {backend!r}; known: {', '.join(BACKENDS)}")
    if not acl_available():
        raise BackendMissing("the real acl module is not importable (source CANN's set_env.sh)")
    try:
        return importlib.import_module("acl"), "acl"
    except ImportError as exc:
        raise BackendMissing(f"the acl module failed to import: {exc}") from exc
