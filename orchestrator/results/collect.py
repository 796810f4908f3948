"""Fold the event stream into one result per device (streaming: nothing grows per copy).

One dispatch point: ``Collector.fold`` looks up ``on_<kind>`` and raises on an unknown kind.
The collector records facts only (events as they came); ``verdict.py`` turns them into a status.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Dict, Iterable, List, Optional, Tuple, Union

from workers import events as ev

MAX_FAULTS_KEPT = 20
"""Faults kept per device (the first ones); later ones are only counted in ``faults_total``."""

Key = Tuple[str, int]


@dataclass
class DeviceResult:
    """Everything known about one device's run. ``ended_by`` is the event kind that ended it
    (``finished``, ``crashed``, ``hung``) or None while it runs / when the record stops early."""

    host: str
    device: int
    params: Dict[str, Any] = field(default_factory=dict)
    chip: Optional[str] = None
    node: Optional[str] = None  # the cluster node it ran on (Ray launcher); None for a local run
    logical_id: Optional[int] = None
    run_mode: Optional[str] = None  # ep (copies cross the host link), rc (the application runs on the device)
    simulated: Optional[bool] = None
    attempts: int = 0
    launched: bool = False  # its worker was started (a Launched or any later event)
    started: bool = False
    ended_by: Optional[str] = None
    outcome: Optional[str] = None
    cycle: int = 0
    cycles: int = 0
    copies: int = 0
    bytes: int = 0
    h2d: Optional[ev.Stats] = None
    d2h: Optional[ev.Stats] = None
    verify_errors: int = 0
    mismatches_recorded: int = 0  # data_mismatch faults received (the worker sends the first MAX_MISMATCH_FAULTS)
    faults: List[ev.Fault] = field(default_factory=list)
    faults_total: int = 0
    capacity: Optional[ev.Capacity] = None
    baseline: ev.Memory = field(default_factory=dict)
    memory: ev.Memory = field(default_factory=dict)
    lowest_free: Dict[str, int] = field(default_factory=dict)
    leak: int = 0
    leak_trend: Optional[List[int]] = None  # losses of the last cycles, when each grew (Finished.leak_trend)
    elapsed: float = 0.0
    last_gbps: Tuple[Optional[float], Optional[float]] = (None, None)
    end: Optional[Union[ev.Crashed, ev.Hung]] = None  # the event that ended it, when the launcher made one
    log: Optional[Dict[str, Any]] = None  # {"path": relative to the run directory, "tail": [lines]}
    curve: Optional[List[Dict[str, Any]]] = None  # per block size measured (Finished.curve)
    link: Optional[ev.LinkUse] = None  # how busy the link was, from the last cycle report or the end

    @property
    def duty(self) -> Optional[float]:
        """The share of its cycles' wall time the link was busy with timed transfers (the duty
        cycle), or None when not known (no cycle ran, an older worker)."""
        link = self.link
        return None if not link or link["wall"] <= 0 else min(1.0, link["busy"] / link["wall"])

    @property
    def verified_gbps(self) -> Optional[float]:
        """Bytes of verified round trips (both directions) per second of its cycles, decimal GB/s;
        None when nothing was verified (``verify: false``) or not known."""
        link = self.link
        return None if not link or link["wall"] <= 0 or not link["verified"] else link["verified"] / link["wall"] / 1e9

    @property
    def rc(self) -> bool:
        """The application ran on the device itself (RC mode): there is no host link to measure."""
        return self.run_mode == "rc"

    def pools(self) -> List[str]:
        """The memory kinds the device has, HBM first (the runtime reports total 0 for a missing one)."""
        return [k for k in ("hbm", "ddr") if k in self.baseline and self.baseline[k]["total"]]


class Collector:
    """Per-device results for a fixed set of jobs, updated one event at a time."""

    def __init__(self, jobs: Iterable[Tuple[str, int, Dict[str, Any]]]) -> None:
        self.results: Dict[Key, DeviceResult] = {
            (host, device): DeviceResult(host=host, device=device, params=params) for host, device, params in jobs
        }

    def fold(self, host: str, device: int, event: ev.Event) -> DeviceResult:
        """Apply one event to its device's result; an unknown kind is a bug and raises."""
        result = self.results[(host, device)]
        handler = getattr(self, f"on_{event.kind}", None)
        if handler is None:
            raise ValueError(f"unknown event kind {event.kind!r} from {host}:{device}")
        handler(result, event)
        return result

    def on_launched(self, r: DeviceResult, e: ev.Launched) -> None:
        """Synthesised by the launcher: the worker process was started."""
        r.launched = True

    def on_started(self, r: DeviceResult, e: ev.Started) -> None:
        """Sent when the device is open: identity and the baseline memory sample."""
        r.launched = True
        r.started, r.chip, r.logical_id, r.simulated = True, e.chip or r.chip, e.logical_id, e.simulated
        r.attempts, r.baseline, r.memory, r.node = e.attempts, e.memory, e.memory, e.node
        r.params, r.run_mode = e.params or r.params, e.run_mode
        _lower(r.lowest_free, e.memory)

    def on_progress(self, r: DeviceResult, e: ev.Progress) -> None:
        """Sent periodically while copies run: running totals and the latest memory sample."""
        r.cycle, r.copies, r.bytes, r.elapsed = e.cycle, e.copies, e.bytes, e.elapsed
        r.last_gbps, r.memory = (e.h2d_gbps, e.d2h_gbps), e.memory
        _lower(r.lowest_free, e.memory)

    def on_cycle_end(self, r: DeviceResult, e: ev.CycleEnd) -> None:
        """Sent after a cycle released its memory: cumulative stats and the leak so far."""
        r.cycle, r.cycles, r.copies, r.bytes, r.elapsed = e.cycle, e.cycle, e.copies, e.bytes, e.elapsed
        r.h2d, r.d2h, r.memory, r.leak = e.h2d, e.d2h, e.memory, max(r.leak, e.leak)
        r.link = e.link or r.link
        _lower(r.lowest_free, e.lowest_free)

    def on_capacity(self, r: DeviceResult, e: ev.Capacity) -> None:
        """Sent when an allocation found the device full."""
        r.capacity = e

    def on_fault(self, r: DeviceResult, e: ev.Fault) -> None:
        """Sent for every misbehaviour the worker saw."""
        r.faults_total += 1
        if e.fault == "data_mismatch":
            r.verify_errors += 1
            r.mismatches_recorded += 1
        if len(r.faults) < MAX_FAULTS_KEPT:
            r.faults.append(e)

    def on_finished(self, r: DeviceResult, e: ev.Finished) -> None:
        """The worker's end event, with exact totals."""
        r.ended_by, r.outcome = "finished", e.outcome
        r.cycles, r.copies, r.bytes, r.elapsed = e.cycles, e.copies, e.bytes, e.elapsed
        r.h2d, r.d2h, r.verify_errors = e.h2d, e.d2h, max(r.verify_errors, e.verify_errors)
        r.leak, r.memory, r.curve = max(r.leak, e.leak), e.memory or r.memory, e.curve
        r.leak_trend, r.link = e.leak_trend, e.link or r.link
        _lower(r.lowest_free, e.lowest_free)

    def on_crashed(self, r: DeviceResult, e: ev.Crashed) -> None:
        """Synthesised by the launcher: the worker process died (with its exact totals, when known)."""
        r.ended_by, r.end = "crashed", e
        _exact_totals(r, e)

    def on_hung(self, r: DeviceResult, e: ev.Hung) -> None:
        """Synthesised by the launcher: no progress in time; the worker was killed (totals as for a crash)."""
        r.ended_by, r.end = "hung", e
        _exact_totals(r, e)


def _exact_totals(r: DeviceResult, e: Union[ev.Crashed, ev.Hung]) -> None:
    """The totals up to a worker's end that its launcher read from the position file, over the last
    (rate-limited) progress figures; the bandwidth statistics stay those of its last cycle report."""
    if e.cycle is not None:
        r.cycle = e.cycle
    if e.copies is not None and e.cycles is not None and e.bytes is not None:
        raise_totals(r, e.cycles, e.copies, e.bytes)


def raise_totals(r: DeviceResult, cycles: int, copies: int, moved: int) -> None:
    """Exact totals from a worker's position file over the rate-limited figures, never lowering them."""
    r.cycles, r.copies, r.bytes = max(r.cycles, cycles), max(r.copies, copies), max(r.bytes, moved)


_END_NOUN = {"crashed": "crash", "hung": "hang"}


def partial_figures(r: DeviceResult) -> Optional[str]:
    """What a device that died or hung measured only in part, in words, or None: its bandwidth
    statistics come from its last cycle report, while its cycles, copies and bytes are exact."""
    if r.end is None or r.end.copies is None:
        return None
    timed = max((s["count"] for s in (r.h2d, r.d2h) if s), default=0)
    return (
        f"cycles, copies and bytes are exact up to the {_END_NOUN[r.end.kind]} (the worker's position file); "
        f"the bandwidth statistics are those of its last cycle report ({timed} timed of the {r.copies} copies)"
    )


def _lower(lowest: Dict[str, int], sample: Dict[str, Any]) -> None:
    """Keep the lowest free figure per memory kind; accepts samples or plain {kind: free} maps."""
    for kind, value in (sample or {}).items():
        free = value.get("free") if isinstance(value, dict) else value
        if isinstance(free, int) and (kind not in lowest or free < lowest[kind]):
            lowest[kind] = free
