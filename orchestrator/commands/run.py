"""``dvpp-fleet run SPEC``: plan, run every device, write and print the outputs."""

from __future__ import annotations

import argparse
import sys

from orchestrator import fleet, rundir
from orchestrator.commands.planning import make_plan
from orchestrator.report import fmt, prom
from orchestrator.report.publish import publish


def main(args: argparse.Namespace) -> int:
    plan, inventory = make_plan(args)
    run_dir = args.out or rundir.new_run_dir()
    rundir.prepare_run_dir(run_dir)
    for warning in plan.warnings:
        print(f"dvpp-fleet: warning: {warning}", file=sys.stderr)
    if plan.runtime == "sim":
        print(fmt.SIMULATED, file=sys.stderr)
    print(f"dvpp-fleet: {len(plan.jobs)} device(s), run directory {run_dir}", file=sys.stderr)
    hooks = [lambda verdicts, data: prom.write(args.prom, verdicts, data)] if args.prom else []
    verdicts, facts = fleet.run_fleet(plan, inventory, run_dir, live=not args.no_progress, status_hooks=hooks)
    return publish(verdicts, facts, run_dir, args, write=True)
