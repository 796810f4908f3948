"""Run a fleet: the controller's one-way data flow.

    FleetPlan (spec.py + plan.py: every default resolved, one DeviceJob per device)
      -> launcher.run(jobs)          one worker per device (launch_local.py / launch_ray.py)
      <- sink(host, device, event)   every event, as it arrives:
           -> journal.write          events.jsonl, flushed per line (nothing received is lost)
           -> collector.fold         per-device results (collect.py)
           -> progress.update        the live view
      -> verdict.judge               status + causes per device (verdict.py)
      -> report                      table, failure summary, summary.json, report.txt
      -> exit code

``rebuild`` runs the same fold and judgement from a journal alone, for ``dvpp-fleet report``.
"""
from __future__ import annotations

import functools
import signal
import sys
import threading
import time
import uuid
from contextlib import contextmanager
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Dict, Iterator, List, NamedTuple, Sequence, Tuple

from orchestrator import report
from orchestrator.collect import Collector
from orchestrator.environment import environment
from orchestrator.errors import EnvironmentProblem, SpecError
from orchestrator.journal import JOURNAL, Journal, read_journal
from orchestrator.launchers import get_launcher
from orchestrator.live import Hook, LiveStatus
from orchestrator.normal import flag_outliers
from orchestrator.plan import FleetPlan, Thresholds
from orchestrator.progress import ProgressView
from orchestrator.verdict import judge
from workers import events as ev


def new_run_dir(base: Path = Path("runs")) -> Path:
    stamp = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%SZ")
    return base / f"{stamp}-{uuid.uuid4().hex[:6]}"


def prepare_run_dir(run_dir: Path) -> None:
    """Create the run directory; refuse one that already holds a journal or cannot be written."""
    if (run_dir / JOURNAL).exists():
        raise SpecError([f"--out: {run_dir} already holds a run ({JOURNAL}); choose a new directory"])
    try:
        run_dir.mkdir(parents=True, exist_ok=True)
        probe = run_dir / ".write-test"
        probe.write_text("")
        probe.unlink()
    except OSError as exc:
        raise SpecError([f"--out: cannot write to {run_dir} ({exc.strerror or exc})"]) from None


def header(plan: FleetPlan, inventory: Dict[str, Any], run_id: str) -> Dict[str, Any]:
    """The journal's first line: enough to re-render the report from the journal alone."""
    return {
        "kind": "header", "schema_version": ev.SCHEMA_VERSION, "run_id": run_id, "started": _now(),
        "backend": plan.runtime, "simulated": plan.runtime == "sim",
        "launcher": plan.launcher, "concurrency": plan.concurrency, "environment": environment(), "resolved": plan.resolved,
        "warnings": list(plan.warnings), "inventory": inventory,
        "jobs": [{"host": j.host, "device": j.device, "params": j.params.to_dict(),
                  "thresholds": vars(j.thresholds), "timeouts": vars(j.timeouts)} for j in plan.jobs]
        + [{"host": host, "device": device, "params": {}, "thresholds": vars(plan.jobs[0].thresholds) if plan.jobs
            else {}, "timeouts": {}, "missing": True} for host, device in plan.missing],
    }


def collector_for(head: Dict[str, Any]) -> "tuple[Collector, Dict[Tuple[str, int], Thresholds]]":
    """The empty per-device results and the thresholds of every job a journal header lists."""
    jobs = head["jobs"]
    collector = Collector((j["host"], j["device"], j["params"]) for j in jobs)
    return collector, {(j["host"], j["device"]): Thresholds(**j["thresholds"]) for j in jobs}


def _not_visible(host: str, device: int, plan: FleetPlan) -> ev.Fault:
    seen = plan.visible.get(host, 0)
    return ev.Fault(fault="not_visible", message=f"device {device} was expected on {host} but is not visible "
                    f"({seen} device(s) are); a dead NPU or a driver problem", detail={"visible": seen})


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def run_fleet(plan: FleetPlan, inventory: Dict[str, Any], run_dir: Path, live: bool = True,
              status_hooks: Sequence[Hook] = ()) -> Tuple[List[report.Verdict], Dict[str, Any]]:
    """Run every job; return the verdicts and the run-level facts (``summary.json`` top level).
    ``status_hooks`` are called with the state so far every ``plan.status_interval`` seconds."""
    head = header(plan, inventory, run_dir.name)
    collector, thresholds = collector_for(head)
    view = ProgressView(len(plan.jobs), enabled=live)
    stop = threading.Event()
    status = LiveStatus(run_dir, plan.status_interval, functools.partial(judge_all, collector, thresholds, False),
                        run_facts(head, False, None), status_hooks)
    with Journal(run_dir) as journal, _stop_on_signals(stop):
        journal.write(head)
        status.refresh(force=True)

        def sink(host: str, device: int, event: ev.Event) -> None:
            journal.write({"t": round(time.time(), 3), "host": host, "device": device, **event.to_dict()})
            view.update(collector.fold(host, device, event), event)
            status.refresh()

        for host, device in plan.missing:
            sink(host, device, _not_visible(host, device, plan))
        launcher = get_launcher(plan.launcher, plan.ray or {})
        launcher.run(plan.jobs, plan.runtime, run_dir, sink, stop, slots=plan.slots)
        interrupted = stop.is_set()
        journal.write({"kind": "run_end", "finished": _now(), "interrupted": interrupted})
    view.close()
    attach_logs(collector, run_dir)
    verdicts = judge_all(collector, thresholds, interrupted)
    return verdicts, run_facts(head, interrupted, _now())


LOG_TAIL_LINES = 20


def attach_logs(collector: Collector, run_dir: Path) -> None:
    """Give every result its worker log's path and last lines (the log may be absent: Ray, old runs)."""
    for result in collector.results.values():
        rel = Path("logs") / f"{result.host}-{result.device}.log"
        try:
            lines = (run_dir / rel).read_text(errors="replace").splitlines()
        except OSError:
            continue
        result.log = {"path": str(rel), "tail": lines[-LOG_TAIL_LINES:]}


def judge_all(collector: Collector, thresholds: Dict[Tuple[str, int], Thresholds], interrupted: bool) -> List[report.Verdict]:
    """Judge every device, then compare each with its fleet (the spec's thresholds are fleet-wide)."""
    out = []
    for key, result in collector.results.items():
        status, causes = judge(result, thresholds[key], interrupted)
        out.append(report.Verdict(result=result, status=status, causes=tuple(causes)))
    limits = next(iter(thresholds.values()), None)
    return flag_outliers(out, limits.max_below_fleet, limits.outlier == "fail") if limits else out


def run_facts(head: Dict[str, Any], interrupted: bool, finished: Any) -> Dict[str, Any]:
    return {"run_id": head.get("run_id"), "backend": head.get("backend"), "simulated": head.get("simulated"),
            "launcher": head.get("launcher"), "concurrency": head.get("concurrency", "all"),
            "started": head.get("started"), "finished": finished,
            "interrupted": interrupted, "environment": head.get("environment"), "warnings": head.get("warnings", [])}


class Replay(NamedTuple):
    """A run folded again from its directory alone."""

    verdicts: List[report.Verdict]
    facts: Dict[str, Any]
    skipped: int  # unreadable journal lines (a torn last write)
    header: Dict[str, Any]
    records: List[Dict[str, Any]]


def rebuild(run_dir: Path) -> Tuple[List[report.Verdict], Dict[str, Any], int]:
    """Fold a journal again: the verdicts, run facts and how many torn lines were skipped."""
    return replay(run_dir)[:3]


def replay(run_dir: Path) -> Replay:
    """Fold a run's journal again, keeping the header and records for drill-downs and plots."""
    path = run_dir / JOURNAL
    if not path.is_file():
        raise EnvironmentProblem(f"{run_dir} holds no {JOURNAL}; is it a run directory?")
    head, records, skipped = read_journal(path)
    if not head.get("jobs"):
        raise EnvironmentProblem(f"{path} has no header line; it is not a dvpp-fleet journal")
    collector, thresholds = collector_for(head)
    end = next((r for r in records if r.get("kind") == "run_end"), None)
    for rec in records:
        if rec.get("kind") in ev.EVENT_TYPES and (rec.get("host"), rec.get("device")) in collector.results:
            collector.fold(rec["host"], rec["device"], ev.from_dict(rec))
    attach_logs(collector, run_dir)
    interrupted = bool(end and end.get("interrupted"))
    verdicts = judge_all(collector, thresholds, interrupted)
    return Replay(verdicts, run_facts(head, interrupted, end.get("finished") if end else None), skipped, head, records)


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
