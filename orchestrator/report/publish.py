"""Every output of a judged run, written in one place: ``summary.json``, ``status.json`` and
``report.txt`` in the run directory (on ``run``), the files asked for with ``--junit``/``--prom``/
``--html`` (``outputs.py``), and what stdout shows (the table, or ``summary.json`` as JSON)."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence, Tuple

from orchestrator import rundir
from orchestrator.report import outputs
from orchestrator.report.summary import summary, write_atomic, write_summary
from orchestrator.report.table import report_text
from orchestrator.results.records import Verdict
from orchestrator.results.verdict import exit_code

Journal = Tuple[Dict[str, Any], List[Dict[str, Any]]]


def publish(
    verdicts: Sequence[Verdict],
    facts: Dict[str, Any],
    run_dir: Path,
    args: argparse.Namespace,
    write: bool,
    journal: Optional[Journal] = None,
) -> int:
    """Write and print the outputs of a run; return its exit code. ``write``: also the run
    directory's own files (a run that just ended; ``report`` re-renders without touching them)."""
    code = exit_code(list(verdicts), bool(facts.get("interrupted")))
    data = summary(verdicts, facts, code)
    text = report_text(verdicts, facts)
    if write:
        write_summary(run_dir / rundir.SUMMARY, data)
        write_summary(run_dir / rundir.STATUS, data)  # the live status file ends as the summary
        write_atomic(run_dir / rundir.REPORT_TEXT, text + "\n")
    outputs.announce(outputs.write_outputs(args, verdicts, data, run_dir, journal))
    print(json.dumps(data, indent=2, default=str) if args.format == "json" else text)
    if args.format == "table" and write:
        print(f"\nresults: {run_dir / rundir.SUMMARY}, journal: {run_dir / rundir.JOURNAL}", file=sys.stderr)
    return code
