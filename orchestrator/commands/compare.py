"""``dvpp-fleet compare OLD_RUN NEW_RUN``: what changed per device (exit 1 on a regression).

What could not be used on the way (a ``summary.json`` rebuilt from the journal, journal lines
skipped) is said on stderr."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from orchestrator import rundir
from orchestrator.errors import SpecError
from orchestrator.report.compare import compare_summaries, load_run


def main(args: argparse.Namespace) -> int:
    for run_dir in (args.old_run, args.new_run):
        if not _holds_a_run(run_dir):
            why = (
                rundir.not_a_run(run_dir)
                if rundir.is_level_dir(run_dir)
                else (f"{run_dir} is not a run directory (no {rundir.SUMMARY} or {rundir.JOURNAL})")
            )
            raise SpecError([f"compare: {why}"])
    old, new = load_run(args.old_run), load_run(args.new_run)
    for note in old.notes + new.notes:
        print(f"dvpp-fleet: {note}", file=sys.stderr)
    text, code = compare_summaries(old.summary, new.summary, args.tolerance, args.force)
    print(text)
    return code


def _holds_a_run(run_dir: Path) -> bool:
    try:
        return (run_dir / rundir.SUMMARY).is_file() or (run_dir / rundir.JOURNAL).is_file()
    except OSError:  # a directory this user may not search: reading it says why
        return True
