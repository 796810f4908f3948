"""``dvpp-fleet validate SPEC``: check a spec against this machine and print the plan; run nothing."""

from __future__ import annotations

import argparse

from tabulate import tabulate

from orchestrator.commands.planning import make_plan
from orchestrator.spec.units import format_size


def main(args: argparse.Namespace) -> int:
    plan, _ = make_plan(args)
    rows = [
        [
            j.host,
            j.device,
            format_size(j.params.memory_size),
            j.params.release_cycle,
            j.params.number_of_cycles,
            j.params.memory_reuse,
            j.params.memory_kind,
            ",".join(j.params.patterns),
            j.params.duration or "-",
            ",".join(f["kind"] for f in (j.sim or {}).get("faults", []) if f["device"] == j.device),
        ]
        for j in plan.jobs
    ]
    print(
        tabulate(
            rows,
            headers=[
                "host",
                "dev",
                "size",
                "release\ncycle",
                "cycles",
                "reuse",
                "memory",
                "patterns",
                "duration",
                "faults",
            ],
        )
    )
    print(
        f"\nbackend {plan.runtime}{' (SIMULATED)' if plan.runtime == 'sim' else ''}, "
        f"launcher {plan.launcher}, {len(plan.jobs)} device(s): the spec is valid"
    )
    for warning in plan.warnings:
        print(f"warning: {warning}")
    return 0
