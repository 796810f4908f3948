"""Which devices this machine has: one JSON object on stdout, for the controller.

    python -m workers.discover --backend auto|acl|sim [--sim-config JSON]

Output: ``{"backend": "acl"|"sim", "simulated": bool, "device_count": n, "devices": [{"id":
physical id, "logical_id": i, "chip": str|None, "memory": {"ddr": {...}, "hbm": {...}}}],
"error": null|str}``. A device that cannot be opened is listed with ``memory: null`` and its own
``error`` (the run then tries it and reports it UNAVAILABLE); a runtime error that stops discovery
itself is reported in the top-level ``error`` (exit 0, with the devices found so far); only a
missing backend exits 3 (the controller's environment-error code).
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any, Dict, Optional, Sequence

from workers.backend import BackendMissing, load_acl
from workers.job import BACKENDS, EXIT_BACKEND_MISSING
from workers.runtime import AclError, Runtime, init, physical_id


def _probe(rt: Runtime, logical: int) -> Dict[str, Any]:
    rt.call("acl.rt.set_device", logical)
    context = 0
    try:
        context = rt.call("acl.rt.create_context", logical)
        memory = rt.mem_info()
    finally:
        if context:
            rt.quietly("acl.rt.destroy_context", context)
        rt.quietly("acl.rt.reset_device", logical)
    return {
        "id": physical_id(logical, rt.visible_count()),
        "logical_id": logical,
        "chip": rt.soc_name(),
        "memory": memory,
    }


def _devices(rt: Runtime, report: Dict[str, Any]) -> None:
    report["device_count"] = count = int(rt.call("acl.rt.get_device_count"))
    for logical in range(count):
        try:
            report["devices"].append(_probe(rt, logical))
        except AclError as exc:  # one device that will not open must not hide the others
            report["devices"].append(
                {
                    "id": physical_id(logical, rt.visible_count()),
                    "logical_id": logical,
                    "chip": None,
                    "memory": None,
                    "error": str(exc),
                }
            )


def discover(backend: str, sim_config: Optional[Dict[str, Any]] = None) -> Dict[str, Any]:
    """The discovery report (see the module docstring); raises ``BackendMissing``."""
    rt = Runtime(*load_acl(backend, sim_config))
    report: Dict[str, Any] = {
        "backend": rt.backend,
        "simulated": rt.simulated,
        "device_count": 0,
        "devices": [],
        "error": None,
    }
    try:
        init(rt)
    except AclError as exc:
        report["error"] = str(exc)
        return report
    try:
        _devices(rt, report)
    except AclError as exc:
        report["error"] = str(exc)
    finally:
        rt.quietly("acl.finalize")
    return report


def main(argv: Optional[Sequence[str]] = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m workers.discover", description=__doc__.split("\n")[0])
    parser.add_argument("--backend", choices=BACKENDS, default="auto")
    parser.add_argument("--sim-config", type=json.loads, default=None, help="simulator config (JSON)")
    args = parser.parse_args(argv)
    try:
        report = discover(args.backend, args.sim_config)
        code = 0
    except (BackendMissing, ValueError) as exc:
        report = {
            "backend": args.backend,
            "simulated": args.backend == "sim",
            "device_count": 0,
            "devices": [],
            "error": str(exc),
        }
        code = EXIT_BACKEND_MISSING if isinstance(exc, BackendMissing) else 0
    print(json.dumps(report))
    return code


if __name__ == "__main__":
    sys.exit(main())
