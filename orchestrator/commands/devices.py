"""``dvpp-fleet devices``: the devices this machine can see, with chip and memory; a table, or
(``--format json``) one JSON object (``inventory_json``)."""

from __future__ import annotations

import argparse
import json
import socket
from typing import Any, Dict, Optional

from tabulate import tabulate

from orchestrator.report.fmt import amount
from orchestrator.spec.inventory import discover

MEMORY_KINDS = ("hbm", "ddr", "hbm_huge", "ddr_huge")
"""The memory kinds of a device in the JSON, always all four: ``total`` and ``free`` in bytes (0 for a
kind the chip lacks, None for one the runtime does not report: huge pages on an older release)."""


def main(args: argparse.Namespace) -> int:
    inv = discover(args.backend)
    if getattr(args, "format", "table") == "json":
        print(json.dumps(inventory_json(inv, socket.gethostname()), indent=2))
        return 0
    rows = [
        [d["id"], d.get("logical_id"), d.get("chip") or "-"]
        + [amount(((d.get("memory") or {}).get(k) or {}).get("total")) for k in ("hbm", "ddr")]
        for d in inv.get("devices", [])
    ]
    print(tabulate(rows, headers=["device", "logical", "chip", "HBM total", "DDR total"]))
    print(f"\n{len(rows)} device(s), backend {inv.get('backend')}" + (" (SIMULATED)" if inv.get("simulated") else ""))
    return 0


def inventory_json(inv: Dict[str, Any], host: str) -> Dict[str, Any]:
    """``host``, ``backend``, ``simulated``, ``device_count`` and ``devices``: per device ``host``,
    ``id`` (physical), ``logical_id``, ``chip`` (None when it would not open), ``memory`` (each of
    ``MEMORY_KINDS``: ``total`` and ``free`` in bytes; None when it would not open) and ``error``
    (why it would not open, else None). Every key is always there."""
    return {
        "host": host,
        "backend": inv.get("backend"),
        "simulated": bool(inv.get("simulated")),
        "device_count": inv.get("device_count", len(inv.get("devices", []))),
        "devices": [
            {
                "host": host,
                "id": d["id"],
                "logical_id": d.get("logical_id"),
                "chip": d.get("chip"),
                "memory": _memory(d.get("memory")),
                "error": d.get("error"),
            }
            for d in inv.get("devices", [])
        ],
    }


def _memory(memory: Optional[Dict[str, Any]]) -> Optional[Dict[str, Dict[str, Optional[int]]]]:
    if not isinstance(memory, dict):
        return None
    pools: Dict[str, Dict[str, Any]] = {k: memory[k] for k in MEMORY_KINDS if isinstance(memory.get(k), dict)}
    return {k: {"total": pools.get(k, {}).get("total"), "free": pools.get(k, {}).get("free")} for k in MEMORY_KINDS}
