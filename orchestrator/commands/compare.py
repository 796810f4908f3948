"""``dvpp-fleet compare OLD_RUN NEW_RUN``: what changed per device (exit 1 on a regression)."""

from __future__ import annotations

import argparse

from orchestrator import rundir
from orchestrator.errors import SpecError
from orchestrator.report.compare import compare


def main(args: argparse.Namespace) -> int:
    for run_dir in (args.old_run, args.new_run):
        if not (run_dir / rundir.SUMMARY).is_file() and not (run_dir / rundir.JOURNAL).is_file():
            raise SpecError([f"compare: {run_dir} is not a run directory (no {rundir.SUMMARY} or {rundir.JOURNAL})"])
    text, code = compare(args.old_run, args.new_run, args.tolerance)
    print(text)
    return code
