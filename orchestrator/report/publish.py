"""Every output of a judged run, written in one place: the run directory's own results
(``rundir.RESULTS``: ``summary.json``, ``status.json``, ``report.txt``, ``report.html``), the files
asked for with ``--junit``/``--prom``/``--html`` (``outputs.py``), and what stdout shows (the table,
``summary.json`` as JSON, or with ``--quiet`` one line, ``oneline.py``)."""

from __future__ import annotations

import argparse
import functools
import json
import os
import sys
from pathlib import Path
from typing import Any, Collection, Dict, List, Optional, Sequence, Tuple

from orchestrator import rundir
from orchestrator.errors import WriteErrors
from orchestrator.report import outputs
from orchestrator.report.oneline import one_line
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
    write: Collection[str] = (),
    journal: Optional[Journal] = None,
    errors: Optional[WriteErrors] = None,
    to_stdout: bool = True,
) -> int:
    """Write and print the outputs of a run; return its exit code. ``write``: which of the run
    directory's own results (``rundir.RESULTS``) to write as well (all of them when a run ends).
    Each file is written on its own: one that cannot be written (``errors``) is said on stderr and
    makes the exit code ``EXIT_ENVIRONMENT``; the others and stdout are still written. ``to_stdout``:
    False leaves stdout alone (the run's verdict is said by its caller)."""
    errors = errors if errors is not None else WriteErrors()
    code = exit_code(list(verdicts), bool(facts.get("interrupted")), write_failed=bool(errors))
    data = summary(verdicts, facts, code)
    text = report_text(verdicts, facts, wide=bool(getattr(args, "wide", False)))  # report.txt as printed
    for name in (rundir.SUMMARY, rundir.STATUS):  # the live status file ends as the summary
        if name in write:
            errors.attempt(str(run_dir / name), functools.partial(write_summary, run_dir / name, data))
    if rundir.REPORT_TEXT in write:
        errors.attempt(
            str(run_dir / rundir.REPORT_TEXT), lambda: write_atomic(run_dir / rundir.REPORT_TEXT, text + "\n")
        )
    own_html = rundir.REPORT_HTML in write
    quiet = bool(getattr(args, "quiet", False))
    outputs.announce(outputs.write_outputs(args, verdicts, data, run_dir, journal, errors, own_html), quiet)
    if to_stdout:  # a level's step leaves stdout to the level's own end (``run.py``)
        errors.attempt("stdout", lambda: say(_stdout(args, verdicts, facts, data, text, errors)))
    if args.format == "table" and rundir.SUMMARY in write and not quiet:
        print(f"\nresults: {run_dir / rundir.SUMMARY}, journal: {run_dir / rundir.JOURNAL}", file=sys.stderr)
    for line in errors.lines():
        print(f"dvpp-fleet: environment error: {line}; the verdicts above stand", file=sys.stderr)
    return exit_code(list(verdicts), bool(facts.get("interrupted")), write_failed=bool(errors))


def _stdout(
    args: argparse.Namespace,
    verdicts: Sequence[Verdict],
    facts: Dict[str, Any],
    data: Dict[str, Any],
    text: str,
    errors: WriteErrors,
) -> str:
    """What stdout shows: one line (``--quiet``; with the files not written, which make the exit
    code 3 however the devices did), the summary (``--format json``) or the table."""
    if getattr(args, "quiet", False):
        unwritten = f"; {len(errors.failed)} file(s) not written" if errors else ""
        return one_line(verdicts, facts) + unwritten
    return json.dumps(data, indent=2, default=str) if args.format == "json" else text


def say(text: str) -> None:
    """stdout; a reader that went away (``| head``) is not an error of the run, a full disk is
    (``OSError``, noted by the caller). Either way the interpreter's final flush is kept quiet."""
    try:
        print(text, flush=True)
    except OSError as exc:
        sys.stdout = open(os.devnull, "w")  # noqa: SIM115
        if not isinstance(exc, BrokenPipeError):
            raise
