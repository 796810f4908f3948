"""``dvpp-fleet devices``: the devices this machine can see, with chip and memory."""

from __future__ import annotations

import argparse

from tabulate import tabulate

from orchestrator.report.fmt import amount
from orchestrator.spec.inventory import discover


def main(args: argparse.Namespace) -> int:
    inv = discover(args.backend)
    rows = [
        [d["id"], d.get("logical_id"), d.get("chip") or "-"]
        + [amount(((d.get("memory") or {}).get(k) or {}).get("total")) for k in ("hbm", "ddr")]
        for d in inv.get("devices", [])
    ]
    print(tabulate(rows, headers=["device", "logical", "chip", "HBM total", "DDR total"]))
    print(f"\n{len(rows)} device(s), backend {inv.get('backend')}" + (" (SIMULATED)" if inv.get("simulated") else ""))
    return 0
