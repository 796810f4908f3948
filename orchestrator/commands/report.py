"""``dvpp-fleet report RUN_DIR``: re-render a run from its journal (or one device with ``--device``,
as text or, with ``--format json``, as one JSON object).

What the journal held that could not be used is said on stderr (how many lines, the first few with
why); the rest is reported as usual. The run directory's own results (``rundir.RESULTS``) are
written for a run whose controller died (its journal ends without the run's end and nobody holds
it: the run is final as INCOMPLETE, and its live ``status.json`` stops saying RUNNING), and for a
finished run only where one is missing or unreadable; a ``summary.json`` the controller finished
is never replaced (a journal whose writes failed ends early, but that summary is whole). A run in
progress, or one whose file system cannot say (no file locks), is shown as it stands and nothing in
its directory is touched; a directory this user cannot write is reported, not written.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path
from typing import Any, Dict, List

from orchestrator import rundir
from orchestrator.errors import SpecError
from orchestrator.report import drilldown, outputs
from orchestrator.report.compare import read_summary
from orchestrator.report.publish import publish
from orchestrator.report.summary import is_final
from orchestrator.results.journal import summarize
from orchestrator.results.replay import Replay, replay
from orchestrator.results.status import RunState


def main(args: argparse.Namespace) -> int:
    outputs.check_stdout(args)
    if args.device and args.quiet:
        raise SpecError(["--quiet: one line is the verdict of a whole run, not a drill-down; leave out --device"])
    outputs.check_outputs(args, args.run_dir)  # only a run's own report.html may be named
    run = replay(args.run_dir)
    for line in summarize(args.run_dir / rundir.JOURNAL, run.skipped):
        print(f"dvpp-fleet: {line}", file=sys.stderr)
    if args.device:
        return _drilldown(args, run)
    for line in state_lines(args.run_dir, run):
        print(f"dvpp-fleet: {line}", file=sys.stderr)
    write = results_to_write(args.run_dir, run)
    if RunState(run.facts["state"]) is RunState.RUNNING and _own_page(args):
        raise SpecError([f"--html: {args.html} is the report.html of a run in progress; its controller writes it"])
    return publish(run.verdicts, run.facts, args.run_dir, args, write=write, journal=(run.header, run.records))


def _drilldown(args: argparse.Namespace, run: Replay) -> int:
    key = drilldown.parse_device(args.device, [(v.result.host, v.result.device) for v in run.verdicts])
    verdict = next(v for v in run.verdicts if (v.result.host, v.result.device) == key)
    if args.format == "json":
        print(json.dumps(drilldown.as_json(verdict, run.records, run.facts), indent=2, default=str))
    else:
        print(drilldown.render(verdict, run.records, _first_time(run.records)))
    return 0


def state_lines(run_dir: Path, run: Replay) -> List[str]:
    """What stderr says about a run that has not simply finished."""
    state = RunState(run.facts["state"])
    if state is RunState.FINISHED:
        return []
    if state is RunState.RUNNING and run.writer is None:
        return [
            f"{run_dir}: its journal has no end, and whether a controller still writes it cannot be told "
            "(the file system does not lock files): shown as in progress, nothing in it written"
        ]
    if state is RunState.INCOMPLETE and _controller_summary(run_dir):
        return [
            f"{run_dir}: its journal ends without the run's end, but its summary.json is the controller's "
            "final record (a journal write failed: see its write_errors); that summary stands"
        ]
    lines = [f"{run_dir}: {state.meaning}"]
    if not os.access(run_dir, os.W_OK) and results_to_write(run_dir, run, writable=True):
        lines.append(f"{run_dir} cannot be written by this user: its results are shown, not written")
    return lines


def results_to_write(run_dir: Path, run: Replay, writable: bool = False) -> List[str]:
    """The run directory's own results that ``report`` writes for ``run`` (``writable``: as if the
    directory could be written)."""
    state = RunState(run.facts["state"])
    if state is RunState.RUNNING or not (writable or os.access(run_dir, os.W_OK)):
        return []
    if state is RunState.INCOMPLETE and not _controller_summary(run_dir):
        return list(rundir.RESULTS)
    return [name for name in rundir.RESULTS if not _usable(run_dir / name)]


def _controller_summary(run_dir: Path) -> bool:
    """``summary.json`` is final and says the run finished: the controller wrote it at the end."""
    data, why = read_summary(run_dir / rundir.SUMMARY)
    return why is None and is_final(data) and data.get("state") == RunState.FINISHED.value


def _usable(path: Path) -> bool:
    """A result file that is there and whole: the JSON ones parse and are final (not a live status)."""
    if path.suffix == ".json":
        data, why = read_summary(path)
        return why is None and is_final(data)
    try:
        return bool(path.read_text(encoding="utf-8").strip())
    except (OSError, UnicodeDecodeError):
        return False


def _own_page(args: argparse.Namespace) -> bool:
    html = getattr(args, "html", None)
    return html is not None and os.path.abspath(html) == os.path.abspath(args.run_dir / rundir.REPORT_HTML)


def _first_time(records: List[Dict[str, Any]]) -> float:
    return next((r["t"] for r in records if isinstance(r.get("t"), (int, float))), 0.0)
