"""``dvpp-fleet run SPEC``: plan, run every device, write and print the outputs, then (``--keep``,
``keep:``) remove the oldest run directories beside this one (``retention.py``)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any, Dict, Optional, Sequence

from orchestrator import fleet, interrupts, retention, rundir
from orchestrator.commands.planning import make_plan
from orchestrator.errors import EXIT_INTERRUPTED, WriteErrors
from orchestrator.launch import budget
from orchestrator.report import fmt, outputs, prom
from orchestrator.report.publish import publish
from orchestrator.results.records import Verdict


def main(args: argparse.Namespace) -> int:
    outputs.check_stdout(args)
    plan, inventory = make_plan(args)  # a signal until here interrupts at once: nothing was started
    run_dir = args.out or rundir.new_run_dir()
    outputs.check_outputs(args, run_dir)
    budget.check_disk(run_dir, plan)  # the journal is the controller's, whichever launcher runs the workers
    if plan.launcher == "local":
        plan, _ = budget.fit_descriptors(plan)
    rundir.prepare_run_dir(run_dir)
    stop = interrupts.current.defer()  # from here a signal stops the run cleanly and the outputs follow
    for warning in plan.warnings:
        print(f"dvpp-fleet: warning: {warning}", file=sys.stderr)
    if not args.quiet:
        if plan.runtime == "sim":
            print(fmt.SIMULATED, file=sys.stderr)
        print(f"dvpp-fleet: {len(plan.jobs)} device(s), run directory {run_dir}", file=sys.stderr)
    errors = WriteErrors()

    def prom_hook(verdicts: Sequence[Verdict], data: Dict[str, Any]) -> None:
        errors.attempt(str(args.prom), lambda: prom.write(args.prom, verdicts, data))

    verdicts, facts = fleet.run_fleet(
        plan,
        inventory,
        run_dir,
        live=not (args.no_progress or args.quiet),
        status_hooks=[prom_hook] if args.prom else [],
        stop=stop,
        errors=errors,
    )
    code = publish(verdicts, facts, run_dir, args, write=rundir.RESULTS, errors=errors)
    if interrupts.current.requested and code != EXIT_INTERRUPTED and not errors:
        print(
            f"dvpp-fleet: {interrupts.current.name} while writing the outputs: written in full first", file=sys.stderr
        )
        return EXIT_INTERRUPTED
    if code != EXIT_INTERRUPTED:  # a stopped run removes nothing: the next one will
        _retain(run_dir, args.keep or plan.resolved.get("keep"), args.quiet)
    return code


def _retain(run_dir: Path, keep: Optional[int], quiet: bool) -> None:
    """Remove the oldest run directories beside ``run_dir`` beyond ``keep``; say it on stderr (a
    failure is a warning, never an exit code)."""
    if not keep:
        return
    done, failed = retention.summary_lines(retention.prune(run_dir, keep), keep)
    for line in ([] if quiet else done) + [f"warning: {line}" for line in failed]:
        print(f"dvpp-fleet: {line}", file=sys.stderr)
