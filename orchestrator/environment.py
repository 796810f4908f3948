"""Facts about the machine a run happens on: for the journal header and ``summary.json``, and
the host memory the plan checks the workers' buffers against.

What a vendor support case asks for: host, OS, Python and package versions, and where the real
runtime is installed, the CANN and driver versions and ``npu-smi``'s health per device; where
``import acl`` would load the runtime from, and ``ASCEND_RT_VISIBLE_DEVICES`` as workers will read
it. Absent files and tools are recorded as absent (``None``); nothing here ever raises, and
nothing here imports ``acl`` (``importlib.util.find_spec`` only finds it).
"""

from __future__ import annotations

import glob
import importlib.util
import os
import platform
import re
import shutil
import socket
import subprocess
from importlib import metadata
from pathlib import Path
from typing import Any, Dict, List, Optional

from workers.visibility import DEVICE_NODES, VISIBLE_ENV, visible_devices

PACKAGES = ("dvpp-fleet", "numpy", "PyYAML", "tabulate", "pydantic", "ray")
ASCEND_HOME = Path(os.environ.get("ASCEND_HOME_PATH", "/usr/local/Ascend"))
CANN_VERSION_FILES = (
    "ascend-toolkit/latest/version.cfg",
    "ascend-toolkit/latest/compiler/version.info",
    "nnrt/latest/version.info",
)
DRIVER_VERSION_FILE = "driver/version.info"
NPU_SMI_TIMEOUT = 20.0
_HEALTH = re.compile(r"^\|\s*(?P<npu>\d+)\s+\S+.*?\|\s*(?P<health>OK|Warning|Alarm|Critical|UNKNOWN)\s*\|", re.M)


def environment() -> Dict[str, Any]:
    """Everything this module knows; every key is present, unknown values are ``None``."""
    return {
        "hostname": socket.gethostname(),
        "os": platform.platform(),
        "python": platform.python_version(),
        "packages": package_versions(),
        "cann_version": cann_version(),
        "driver_version": driver_version(),
        "npu_smi": npu_smi_health(),
        "acl": acl_origin(),
        "visibility": visibility(),
    }


def acl_origin() -> Dict[str, Any]:
    """``{"origin": file, "simulator": bool}``: where ``import acl`` would load the runtime from
    (``origin`` None when no ``acl`` is importable), and whether that is dvpp-fleet's simulator
    (its folder on ``PYTHONPATH``, as ``scripts/acl-sim-run`` puts it). Nothing is imported."""
    try:
        spec = importlib.util.find_spec("acl")
    except (ImportError, ValueError):  # a broken or half-imported module: nothing to find
        spec = None
    origin = spec.origin if spec is not None else None
    if origin is None:
        return {"origin": None, "simulator": False}
    return {"origin": origin, "simulator": _simulator_dir() in Path(origin).resolve().parents}


def _simulator_dir() -> Optional[Path]:
    """The simulator's folder, found without importing it (its package imports the simulator)."""
    try:
        spec = importlib.util.find_spec("workers.simulator")
    except (ImportError, ValueError):
        return None
    return Path(spec.origin).resolve().parent if spec is not None and spec.origin else None


def visibility() -> Dict[str, Any]:
    """``ASCEND_RT_VISIBLE_DEVICES`` as workers started from here inherit it: ``value`` (None when
    unset) and the physical ``ids`` it lets through as the runtime parses it (None: all)."""
    value = os.environ.get(VISIBLE_ENV)
    return {"variable": VISIBLE_ENV, "value": value, "ids": visible_devices(value)}


def device_nodes() -> List[str]:
    """The NPU device files of this machine (``/dev/davinci0`` ...), in physical id order."""
    try:
        found = glob.glob(DEVICE_NODES)
    except OSError:
        return []
    return sorted(found, key=lambda p: int(re.sub(r"\D", "", os.path.basename(p)) or 0))


def package_versions() -> Dict[str, Optional[str]]:
    """Installed distribution versions, read from metadata (nothing is imported)."""
    out: Dict[str, Optional[str]] = {}
    for name in PACKAGES:
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            out[name] = None
    return out


def _version_in(path: Path) -> Optional[str]:
    try:
        text = path.read_text(errors="replace")
    except OSError:
        return None
    match = re.search(
        r"(?:^|\n)\s*(?:Version|version|runtime_running_version|package_version)\s*=\s*\[?([^\]\n]+)", text
    )
    return match.group(1).strip() if match else None


def cann_version() -> Optional[str]:
    for rel in CANN_VERSION_FILES:
        found = _version_in(ASCEND_HOME / rel)
        if found:
            return found
    return None


def driver_version() -> Optional[str]:
    return _version_in(ASCEND_HOME / DRIVER_VERSION_FILE)


def npu_smi_health() -> Optional[Dict[str, Any]]:
    """``{"available": bool, "health": {npu id: word}, "header": first lines}``; None if absent."""
    tool = shutil.which("npu-smi")
    if tool is None:
        return None
    try:
        proc = subprocess.run([tool, "info"], capture_output=True, text=True, errors="replace", timeout=NPU_SMI_TIMEOUT)
    except (OSError, subprocess.TimeoutExpired) as exc:
        return {"available": False, "error": str(exc), "health": {}, "header": []}
    health = {int(m["npu"]): m["health"] for m in _HEALTH.finditer(proc.stdout)}
    header: List[str] = proc.stdout.splitlines()[:3]
    return {"available": proc.returncode == 0, "health": health, "header": header}


MEMINFO = Path("/proc/meminfo")


def host_memory_available(meminfo: Path = MEMINFO) -> Optional[int]:
    """``MemAvailable`` of ``meminfo`` in bytes; ``None`` where it cannot be read."""
    try:
        with open(meminfo, encoding="ascii") as fh:
            for line in fh:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        return None
    return None
