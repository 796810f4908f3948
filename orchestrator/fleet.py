"""Run a fleet: the controller's one-way data flow.

    FleetPlan (spec/: every default resolved, one DeviceJob per device)
      -> launcher.run(jobs)          one worker per device (launch/local.py, launch/ray/)
      <- sink(host, device, event)   every event, as it arrives:
           -> journal.write          events.jsonl, flushed per line (results/journal.py)
           -> collector.fold         per-device results (results/collect.py)
           -> progress.update        the live view (report/progress.py)
           -> status.refresh         status.json and --prom, every status_interval (report/live.py;
                                     also on a timer, so a silent stretch still refreshes them)
      -> judge_all                   status + causes per device (results/verdict.py)
      -> report                      table, failure summary, summary.json, ... (report/, commands/run.py)
      -> exit code

``results/replay.py`` runs the same fold and judgement from a journal alone, for ``dvpp-fleet report``.
"""

from __future__ import annotations

import contextlib
import functools
import sys
import threading
import time
from contextlib import contextmanager
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable, ContextManager, Dict, Iterator, List, Optional, Sequence, Tuple

from orchestrator.environment import environment
from orchestrator.errors import WriteErrors
from orchestrator.launch.registry import get_launcher
from orchestrator.launch.tracking import GRACE
from orchestrator.report.live import Hook, LiveStatus
from orchestrator.report.progress import REDRAW, ProgressView
from orchestrator.results.journal import Journal
from orchestrator.results.records import Verdict
from orchestrator.results.replay import attach_logs, collector_for, run_facts
from orchestrator.results.status import RunState
from orchestrator.results.validate import RUN_END
from orchestrator.results.verdict import judge_all, not_visible
from orchestrator.spec.plan import FleetPlan
from workers import events as ev
from workers.stopflag import StopFlag


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
    plan: FleetPlan,
    inventory: Dict[str, Any],
    run_dir: Path,
    live: bool = True,
    status_hooks: Sequence[Hook] = (),
    stop: Optional[StopFlag] = None,
    errors: Optional[WriteErrors] = None,
) -> Tuple[List[Verdict], Dict[str, Any]]:
    """Run every job; return the verdicts and the run-level facts (``summary.json`` top level).
    ``status_hooks`` are called with the state so far every ``plan.status_interval`` seconds.
    ``stop``: set (by a signal, see ``interrupts.py``) to stop the run cleanly. ``errors``: where
    files that could not be written are noted; a journal that cannot be written stops the run
    cleanly (every worker releases its device) and the verdicts known so far stand."""
    stop = stop if stop is not None else StopFlag()
    errors = errors if errors is not None else WriteErrors()
    head = header(plan, inventory, run_dir.name)
    collector, limits, fleet = collector_for(head)
    view = ProgressView(len(plan.jobs), enabled=live)
    status = LiveStatus(
        run_dir,
        plan.status_interval,
        functools.partial(judge_all, collector, limits, fleet, live=True),
        run_facts(head, False, None, RunState.RUNNING),
        status_hooks,
        errors,
    )
    journal = Journal(run_dir)
    lost = threading.Event()  # the journal failed: the run stops, but nobody interrupted it

    def check_journal() -> None:
        if journal.error is not None and not lost.is_set():
            lost.set()
            print(f"dvpp-fleet: {journal.path}: {journal.error}: stopping the run", file=sys.stderr)
            stop.set()

    with journal, _acknowledged(stop):
        journal.write(head)
        check_journal()  # not even the header: nothing is launched
        status.refresh(force=True)

        folding = threading.Lock()  # the sink and the status ticker never judge half a fold

        def sink(host: str, device: int, event: ev.Event) -> None:
            with folding:
                journal.write({"t": round(time.time(), 3), "host": host, "device": device, **event.to_dict()})
                try:
                    view.update(collector.fold(host, device, event), event)
                except OSError:  # stderr itself cannot be written: the run goes on without its live view
                    view.enabled = False
                status.refresh()
            check_journal()

        for host, device in plan.missing:
            sink(host, device, not_visible(host, device, plan.visible.get(host, 0)))
        launcher = get_launcher(plan.launcher, plan.ray or {})
        with _ticking(status, view, folding, plan.status_interval):
            try:
                launcher.run(plan.jobs, run_dir, sink, stop, slots=plan.slots)
            finally:  # the terminal gets its cursor back whatever happened
                with contextlib.suppress(OSError):
                    view.close()
        interrupted = stop.is_set() and (stop.signum is not None or not lost.is_set())
        journal.write({"kind": RUN_END, "finished": now(), "interrupted": interrupted})
    if journal.error is not None:
        errors.note(str(journal.path), journal.error)
    attach_logs(collector, run_dir)
    facts = run_facts(head, interrupted, now(), RunState.FINISHED)
    facts["write_errors"] = errors.lines()
    return judge_all(collector, limits, fleet, interrupted), facts


@contextmanager
def _every(period: float, work: Callable[[], None], name: str) -> Iterator[None]:
    """Run ``work`` every ``period`` seconds in a thread of its own while the block runs."""
    done = threading.Event()

    def loop() -> None:
        while not done.wait(period):
            work()

    thread = threading.Thread(target=loop, name=name, daemon=True)
    thread.start()
    try:
        yield
    finally:
        done.set()
        thread.join()


def _ticking(status: LiveStatus, view: ProgressView, folding: threading.Lock, interval: float) -> ContextManager[None]:
    """Refresh the live status (and ``--prom``) every ``interval``, and the live view's fleet line
    on its own pace, even while no event arrives, so a silent stretch (a long ``interval`` between
    copies, a device still opening, a wait for a busy one) never reads as a controller that died."""

    def tick() -> None:
        with folding:
            status.refresh()
            try:
                view.tick()
            except OSError:  # stderr itself cannot be written: the run goes on without its live view
                view.enabled = False

    return _every(max(min(interval / 2, REDRAW), 0.05), tick, "dvpp-fleet-status")


def _acknowledged(stop: StopFlag) -> ContextManager[None]:
    """Say on stderr, outside the signal handler, that each stop request was heard."""
    seen = [0]

    def watch() -> None:
        if stop.count > seen[0]:
            seen[0] = stop.count
            print(_STOPPING if seen[0] == 1 else _HURRY, file=sys.stderr, flush=True)

    return _every(0.1, watch, "dvpp-fleet-stop")


_STOPPING = (
    f"dvpp-fleet: stopping: each worker ends its current copy and releases its device (up to {GRACE:g}s); "
    "the report follows"
)
_HURRY = "dvpp-fleet: still stopping: no longer waiting for workers that released their devices"
