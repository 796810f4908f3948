"""Specs and inventories for tests: a small simulated fleet, and what device discovery answers."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Dict, List, Optional

import yaml

GiB = 2**30
HOST = "npu-server-01"
"""The host name the planning tests give this machine."""

SMALL_DEFAULTS = {
    "memory_size": "64KiB",
    "release_cycle": 4,
    "number_of_cycles": 2,
    "memory_reuse": True,
    "patterns": ["constant", "walking_ones", "random", "address"],
}


def spec(devices: int = 4, faults: Optional[List[Dict[str, Any]]] = None, **top: Any) -> Dict[str, Any]:
    """A small simulated fleet spec on this machine; keyword arguments replace top-level keys."""
    data: Dict[str, Any] = {
        "version": 1,
        "backend": "sim",
        "defaults": dict(SMALL_DEFAULTS),
        "hosts": [{"name": "localhost", "devices": "all"}],
        "sim": {"chip": "Ascend910B", "device_count": devices, "memory": {"hbm": "1GiB"}, "faults": faults or []},
    }
    data.update(top)
    return data


def write_spec(tmp_path: Path, data: Dict[str, Any], name: str = "fleet.yaml") -> Path:
    path = tmp_path / name
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


def inventory(count: int = 8, hbm: int = 64 * GiB, ddr: int = 0, backend: str = "sim") -> Dict[str, Any]:
    """What ``python -m workers.discover`` prints for ``count`` devices."""
    devices = [
        {
            "id": i,
            "logical_id": i,
            "chip": "Ascend910B",
            "memory": {"ddr": {"free": ddr, "total": ddr}, "hbm": {"free": hbm, "total": hbm}},
        }
        for i in range(count)
    ]
    return {"backend": backend, "simulated": backend == "sim", "device_count": count, "devices": devices, "error": None}
