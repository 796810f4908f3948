"""Run a fleet: the controller's one-way data flow.

    FleetPlan (spec/: every default resolved, one DeviceJob per device)
      -> launcher.run(jobs)          one worker per device (launch/local.py, launch/ray/)
      <- sink(host, device, event)   every event, as it arrives:
           -> journal.write          events.jsonl, flushed per line (results/journal.py)
           -> collector.fold         per-device results (results/collect.py)
           -> progress.update        the live view (report/progress.py)
           -> status.refresh         status.json and --prom, every status_interval (report/live.py)
      -> judge_all                   status + causes per device (results/verdict.py)
      -> report                      table, failure summary, summary.json, ... (report/, commands/run.py)
      -> exit code

``results/replay.py`` runs the same fold and judgement from a journal alone, for ``dvpp-fleet report``.
"""

from __future__ import annotations

import functools
import signal
import sys
import threading
import time
from contextlib import contextmanager
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Dict, Iterator, List, Sequence, Tuple

from orchestrator.environment import environment
from orchestrator.launch.registry import get_launcher
from orchestrator.report.live import Hook, LiveStatus
from orchestrator.report.progress import ProgressView
from orchestrator.results.journal import Journal
from orchestrator.results.records import Verdict
from orchestrator.results.replay import attach_logs, collector_for, run_facts
from orchestrator.results.verdict import judge_all, not_visible
from orchestrator.spec.plan import FleetPlan
from workers import events as ev


def header(plan: FleetPlan, inventory: Dict[str, Any], run_id: str) -> Dict[str, Any]:
    """The journal's first line: enough to re-render the report from the journal alone."""
    missing = [
        {
            "host": host,
            "device": device,
            "params": {},
            "thresholds": plan.thresholds.model_dump(),
            "timeouts": {},
            "missing": True,
        }
        for host, device in plan.missing
    ]
    return {
        "kind": "header",
        "schema_version": ev.SCHEMA_VERSION,
        "run_id": run_id,
        "started": now(),
        "backend": plan.runtime,
        "simulated": plan.runtime == "sim",
        "launcher": plan.launcher,
        "concurrency": plan.concurrency,
        "environment": environment(),
        "resolved": plan.resolved,
        "warnings": list(plan.warnings),
        "inventory": inventory,
        "jobs": [j.to_dict() for j in plan.jobs] + missing,
    }


def now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def run_fleet(
    plan: FleetPlan, inventory: Dict[str, Any], run_dir: Path, live: bool = True, status_hooks: Sequence[Hook] = ()
) -> Tuple[List[Verdict], Dict[str, Any]]:
    """Run every job; return the verdicts and the run-level facts (``summary.json`` top level).
    ``status_hooks`` are called with the state so far every ``plan.status_interval`` seconds."""
    head = header(plan, inventory, run_dir.name)
    collector, limits, fleet = collector_for(head)
    view = ProgressView(len(plan.jobs), enabled=live)
    stop = threading.Event()
    status = LiveStatus(
        run_dir,
        plan.status_interval,
        functools.partial(judge_all, collector, limits, fleet, live=True),
        run_facts(head, False, None),
        status_hooks,
    )
    with Journal(run_dir) as journal, _stop_on_signals(stop):
        journal.write(head)
        status.refresh(force=True)

        def sink(host: str, device: int, event: ev.Event) -> None:
            journal.write({"t": round(time.time(), 3), "host": host, "device": device, **event.to_dict()})
            view.update(collector.fold(host, device, event), event)
            status.refresh()

        for host, device in plan.missing:
            sink(host, device, not_visible(host, device, plan.visible.get(host, 0)))
        launcher = get_launcher(plan.launcher, plan.ray or {})
        launcher.run(plan.jobs, run_dir, sink, stop, slots=plan.slots)
        interrupted = stop.is_set()
        journal.write({"kind": "run_end", "finished": now(), "interrupted": interrupted})
    view.close()
    attach_logs(collector, run_dir)
    return judge_all(collector, limits, fleet, interrupted), run_facts(head, interrupted, now())


@contextmanager
def _stop_on_signals(stop: threading.Event) -> Iterator[None]:
    """SIGINT (Ctrl-C) and SIGTERM (schedulers, services) both mean: stop cleanly, keep results."""

    def handler(signum: int, frame: object) -> None:
        if stop.is_set():
            print("dvpp-fleet: stopping; waiting for workers to release their devices", file=sys.stderr)
        stop.set()

    previous = {s: signal.signal(s, handler) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for s, h in previous.items():
            signal.signal(s, h)
