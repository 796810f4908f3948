"""``dvpp-fleet report RUN_DIR``: re-render a run from its journal (or one device with ``--device``).

What the journal held that could not be used is said on stderr (how many lines, the first few with
why); the rest is reported as usual."""

from __future__ import annotations

import argparse
import sys
from typing import Any, Dict, List

from orchestrator import rundir
from orchestrator.report import drilldown, outputs
from orchestrator.report.publish import publish
from orchestrator.results.journal import summarize
from orchestrator.results.replay import replay


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
    return publish(run.verdicts, run.facts, args.run_dir, args, write=False, journal=(run.header, run.records))


def _first_time(records: List[Dict[str, Any]]) -> float:
    return next((r["t"] for r in records if isinstance(r.get("t"), (int, float))), 0.0)
