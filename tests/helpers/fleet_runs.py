"""Recorded runs for the output tests: real worker events, written to a real journal, folded and
judged by the controller's own code (``results.replay``: collector, verdicts, outlier check).

``mixed_run`` is one fleet holding every status, a bandwidth outlier and a leak, on two hosts.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence, Tuple

from orchestrator.report.summary import summary
from orchestrator.results.journal import Journal
from orchestrator.results.records import Verdict
from orchestrator.results.replay import replay
from orchestrator.results.status import Status
from orchestrator.results.verdict import exit_code
from workers import events as ev

GIB = 1 << 30
TOTAL = 64 * GIB
BLOCK = 8 << 20
CHIP = "Ascend910B1"
Key = Tuple[str, int]


def mem(free: int, total: int = TOTAL) -> Dict[str, Any]:
    return {"hbm": {"free": free, "total": total}, "ddr": {"free": 0, "total": 0}}


def stats(median: float) -> Dict[str, Any]:
    return {
        "count": 32,
        "min": round(median * 0.8, 3),
        "max": round(median * 1.05, 3),
        "median": median,
        "mean": median,
    }


def started(device: int) -> ev.Started:
    return ev.Started(
        physical_id=device,
        logical_id=device,
        chip=CHIP,
        backend="sim",
        simulated=True,
        pid=100 + device,
        params={"memory_size": BLOCK},
        memory=mem(TOTAL),
    )


def copies(
    device: int,
    h2d: float = 24.0,
    d2h: float = 25.0,
    cycles: int = 4,
    leak: int = 0,
    outcome: str = "completed",
    faults: Sequence[ev.Fault] = (),
) -> List[ev.Event]:
    """A whole worker run: cycles of 8 copies, progress mid-cycle, an end event per cycle."""
    out: List[ev.Event] = [started(device)]
    for c in range(1, cycles + 1):
        held = TOTAL - leak * (c - 1) - 4 * BLOCK
        out.append(
            ev.Progress(
                cycle=c,
                copies=8 * c - 4,
                bytes=2 * (8 * c - 4) * BLOCK,
                h2d_gbps=h2d * (1 + 0.02 * c),
                d2h_gbps=d2h * (1 - 0.02 * c),
                memory=mem(held),
                elapsed=c - 0.5,
            )
        )
        out += [f for f in faults if f.cycle == c]
        out.append(
            ev.CycleEnd(
                cycle=c,
                cycles=1,
                copies=8 * c,
                bytes=16 * c * BLOCK,
                h2d=stats(h2d),
                d2h=stats(d2h),
                memory=mem(TOTAL - leak * c),
                leak=leak * c,
                lowest_free={"hbm": held},
                elapsed=float(c),
                link=link(c, 16 * c * BLOCK),
            )
        )
    end = TOTAL - leak * cycles
    out.append(
        ev.Finished(
            outcome=outcome,
            cycles=cycles,
            copies=8 * cycles,
            bytes=16 * cycles * BLOCK,
            h2d=stats(h2d),
            d2h=stats(d2h),
            verify_errors=sum(f.fault == "data_mismatch" for f in faults),
            leak=leak * cycles,
            lowest_free={"hbm": end - 4 * BLOCK},
            memory=mem(end),
            elapsed=float(cycles),
            link=link(cycles, 16 * cycles * BLOCK),
        )
    )
    return out


def link(seconds: float, verified: int) -> ev.LinkUse:
    """A run's link use after ``seconds`` of cycles: busy 72% of them, ``verified`` bytes checked."""
    return ev.LinkUse(busy=0.72 * seconds, wall=float(seconds), verified=verified)


def ended(outcome: str = "completed", elapsed: float = 1.0, **totals: Any) -> ev.Finished:
    """A ``Finished`` event of a run that moved nothing, unless ``totals`` say otherwise."""
    nothing: Dict[str, Any] = {"cycles": 0, "copies": 0, "bytes": 0, "h2d": None, "d2h": None, "verify_errors": 0}
    return ev.Finished(
        outcome=outcome, elapsed=elapsed, **{**nothing, "leak": 0, "lowest_free": {}, "memory": {}, **totals}
    )


def mismatch(cycle: int = 2, copy: int = 11) -> ev.Fault:
    return ev.Fault(
        fault="data_mismatch",
        message="3 byte(s) differ after D2H",
        cycle=cycle,
        copy=copy,
        detail={
            "first_bad_offset": 4096,
            "bad_bytes": 3,
            "direction": "d2h",
            "samples": [{"offset": 4096, "expected": 255, "actual": 254}],
        },
    )


def mixed_devices() -> Dict[Key, List[ev.Event]]:
    """Every status once (and PASS several times), an H2D outlier on node-a:2, a leak on node-a:5."""
    opened = ev.Fault(
        fault="open_failed",
        message="acl.rt.set_device failed 3 time(s)",
        api="acl.rt.set_device",
        code=507033,
        name="ACL_ERROR_RT_DEV_SETUP_ERROR",
    )
    return {
        ("node-a", 0): copies(0),
        ("node-a", 1): copies(1, 23.5, 24.8),
        ("node-a", 2): copies(2, h2d=9.0),
        ("node-a", 3): copies(3, faults=[mismatch()]),
        ("node-a", 4): copies(4)[:3]
        + [ev.Crashed(message="worker died from signal SIGSEGV in cycle 1, copy 4", exitcode=-11, signal="SIGSEGV")],
        ("node-a", 5): copies(5, 24.2, 25.1, leak=2 << 20),
        ("node-b", 0): copies(0, 24.4, 24.9),
        ("node-b", 1): copies(1)[:2] + [ev.Hung(message="no progress for 30s: stuck in acl.rt.memcpy", timeout=30.0)],
        ("node-b", 2): [opened, ended("error", elapsed=3.0)],
        ("node-b", 3): [],
        ("node-b", 4): copies(4, cycles=2, outcome="stopped"),
        ("node-b", 5): copies(5)[:3],
    }


MIXED_STATUSES = {
    "node-a:0": "PASS",
    "node-a:1": "PASS",
    "node-a:2": "PASS",
    "node-a:3": "FAIL",
    "node-a:4": "CRASHED",
    "node-a:5": "FAIL",
    "node-b:0": "PASS",
    "node-b:1": "HUNG",
    "node-b:2": "UNAVAILABLE",
    "node-b:3": "SKIPPED",
    "node-b:4": "ABORTED",
    "node-b:5": "INCOMPLETE",
}


@dataclass
class Run:
    """A recorded and judged run, as every output receives it."""

    verdicts: List[Verdict]
    data: Dict[str, Any]
    code: int
    run_dir: Path
    header: Dict[str, Any]
    records: List[Dict[str, Any]]

    def by_name(self) -> Dict[str, Verdict]:
        return {v.name: v for v in self.verdicts}


def record_run(
    tmp_path: Path,
    devices: Dict[Key, List[ev.Event]],
    thresholds: Optional[Dict[str, Any]] = None,
    simulated: bool = True,
    t0: float = 1_800_000_000.0,
    interrupted: bool = False,
) -> Run:
    """Write a journal holding ``devices``' events (interleaved, one per 0.25 s), then rebuild it;
    ``interrupted``: the run ended because it was stopped."""
    limits = {"min_h2d_gbps": None, "min_d2h_gbps": None, "max_leak": 0, **(thresholds or {})}
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    with Journal(run_dir) as journal:
        journal.write(
            {
                "kind": "header",
                "schema_version": ev.SCHEMA_VERSION,
                "run_id": "run-1",
                "started": "2027-01-15T08:00:00+00:00",
                "backend": "sim" if simulated else "acl",
                "simulated": simulated,
                "launcher": "local",
                "environment": {},
                "warnings": [],
                "jobs": [
                    {
                        "host": h,
                        "device": d,
                        "params": {},
                        "thresholds": limits,
                        "timeouts": {"init": 60.0, "copy": 30.0},
                    }
                    for h, d in devices
                ],
            }
        )
        for i, (key, event) in enumerate(_interleave(devices)):
            if isinstance(event, ev.Started) and not simulated:
                event = dataclasses.replace(event, simulated=False, backend="acl")
            journal.write({"t": t0 + 0.25 * i, "host": key[0], "device": key[1], **event.to_dict()})
        journal.write({"kind": "run_end", "finished": "2027-01-15T08:01:30+00:00", "interrupted": interrupted})
    run = replay(run_dir)
    code = exit_code(run.verdicts, bool(run.facts.get("interrupted")))
    return Run(run.verdicts, summary(run.verdicts, run.facts, code), code, run_dir, run.header, run.records)


def _interleave(devices: Dict[Key, List[ev.Event]]) -> List[Tuple[Key, ev.Event]]:
    longest = max((len(e) for e in devices.values()), default=0)
    return [(key, events[i]) for i in range(longest) for key, events in devices.items() if i < len(events)]


def mixed_run(tmp_path: Path, **thresholds: Any) -> Run:
    return record_run(tmp_path, mixed_devices(), thresholds)


def recorded_faults(run: Run) -> Dict[str, int]:
    """Per device, the faults the journal itself holds (fault, crashed and hung records), counted
    straight from the records, independently of the collector."""
    counts = {v.name: 0 for v in run.verdicts}
    for rec in run.records:
        if rec.get("kind") in ("fault", "crashed", "hung"):
            counts[f"{rec['host']}:{rec['device']}"] += 1
    return counts


def assert_consistent(run: Run) -> None:
    """The rules every output must agree with: no PASS with a recorded fault, exit 0 only when all PASS."""
    faults = recorded_faults(run)
    for v in run.verdicts:
        assert not (v.status is Status.PASS and (faults[v.name] or v.causes)), v.name
    assert (run.code == 0) == all(v.status is Status.PASS for v in run.verdicts)
