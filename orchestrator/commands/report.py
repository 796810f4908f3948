"""``dvpp-fleet report RUN_DIR``: re-render a run from its journal (or one device with ``--device``).

What the journal held that could not be used is said on stderr (how many lines, the first few with
why); the rest is reported as usual. The run directory's own results (``rundir.RESULTS``) are
written for a run whose controller died (its journal ends without the run's end and nobody holds
it: the run is final as INCOMPLETE, and its live ``status.json`` stops saying RUNNING), and for a
finished run only where one is missing or unreadable. A run in progress is shown as it stands and
nothing in its directory is touched.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any, Dict, List

from orchestrator import rundir
from orchestrator.report import drilldown, outputs
from orchestrator.report.publish import publish
from orchestrator.results.journal import summarize
from orchestrator.results.replay import replay
from orchestrator.results.status import RunState


def main(args: argparse.Namespace) -> int:
    outputs.check_outputs(args, args.run_dir)  # re-rendering never replaces what it reads
    run = replay(args.run_dir)
    for line in summarize(args.run_dir / rundir.JOURNAL, run.skipped):
        print(f"dvpp-fleet: {line}", file=sys.stderr)
    if args.device:
        key = drilldown.parse_device(args.device, [(v.result.host, v.result.device) for v in run.verdicts])
        verdict = next(v for v in run.verdicts if (v.result.host, v.result.device) == key)
        print(drilldown.render(verdict, run.records, _first_time(run.records)))
        return 0
    state = RunState(run.facts["state"])
    write = results_to_write(args.run_dir, state)
    if state is not RunState.FINISHED:
        print(f"dvpp-fleet: {args.run_dir}: {state.meaning}", file=sys.stderr)
    return publish(run.verdicts, run.facts, args.run_dir, args, write=write, journal=(run.header, run.records))


def results_to_write(run_dir: Path, state: RunState) -> List[str]:
    """The run directory's own results that ``report`` writes for a run in ``state``."""
    if state is RunState.RUNNING:
        return []
    if state is RunState.INCOMPLETE:
        return list(rundir.RESULTS)
    return [name for name in rundir.RESULTS if not _usable(run_dir / name)]


def _usable(path: Path) -> bool:
    """A result file that is there and whole: the JSON ones parse and are final (not a live status)."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError):
        return False
    if path.suffix != ".json":
        return bool(text.strip())
    try:
        data = json.loads(text)
    except ValueError:
        return False
    return isinstance(data, dict) and data.get("exit_code", -1) != -1


def _first_time(records: List[Dict[str, Any]]) -> float:
    return next((r["t"] for r in records if isinstance(r.get("t"), (int, float))), 0.0)
