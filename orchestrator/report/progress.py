"""The live view of a running fleet, on stderr.

On a terminal: one line per device (copies, bytes, current GB/s, state), redrawn in place at most
every ``REDRAW`` seconds. Elsewhere (cron, CI logs), one line per fact worth a log line:

- ``localhost:1 FAULT [data_mismatch] 2 bad bytes ... (cycle 1, copy 3)`` the moment a device records
  its first fault (later ones are counted, and the count said when the device ends);
- ``localhost:1 FAIL after 16 copies, 256.0 MiB moved, 0.1s; 2 fault(s) recorded`` when a device ends,
  with its status as the run will judge it from its record (a clean end says its outcome,
  ``done (completed)``: the thresholds and the fleet comparison are applied at the end of the run);
- a fleet line every ``PLAIN_EVERY`` seconds with the devices per state and how many failed so far,

so logs stay short but never silent on a long run, and a device that went bad shows hours before the end.
"""

from __future__ import annotations

import dataclasses
import sys
import time
from collections import Counter
from typing import IO, Dict, List, Optional, Tuple

from orchestrator.report.fmt import describe, short
from orchestrator.results.collect import DeviceResult
from orchestrator.results.status import Status
from orchestrator.results.verdict import judge
from orchestrator.spec.schema import Thresholds
from orchestrator.spec.units import MAX_SIZE
from workers import events as ev
from workers.figures import amount, seconds

REDRAW = 0.5
PLAIN_EVERY = 30.0
FAULT_WIDTH = 160
"""The most characters of a fault's description on its live line."""

UNKNOWN_LIMITS = Thresholds(max_leak=MAX_SIZE, max_below_fleet=None)
"""The view does not know the spec's thresholds: a device is judged on its record alone."""
NOT_FAILED = ("waiting", "opening", "running", "done")
"""The states of a device that has not failed (so far), in the order the fleet line counts them."""
FAILED = (Status.FAIL, Status.CRASHED, Status.HUNG, Status.UNAVAILABLE)
"""The statuses the fleet line counts as failed so far."""


def _status(r: DeviceResult) -> Status:
    """The status the run will give the device, as far as its record tells now; ``RUNNING`` while
    it has not ended and recorded no fault (``FAIL`` once it has, as the live status file says)."""
    status, causes = judge(r, UNKNOWN_LIMITS)
    if r.ended_by is None and status in (Status.INCOMPLETE, Status.SKIPPED):
        return Status.FAIL if causes else Status.RUNNING
    return status


def _state(r: DeviceResult) -> str:
    """``waiting``, ``opening``, ``running``, ``done (outcome)`` or the status word (``FAIL``, ``CRASHED``, ...)."""
    status = _status(r)
    if status is Status.RUNNING:
        return "running" if r.started else "opening" if r.launched else "waiting"
    if status is Status.PASS:
        return f"done ({r.outcome})"
    return str(status.value)


def _line(r: DeviceResult) -> str:
    h2d, d2h = r.last_gbps
    rate = f"H2D {h2d:6.2f} D2H {d2h:6.2f} GB/s" if h2d and d2h else " " * 27
    return f"{r.host}:{r.device:<3} cycle {r.cycle:>4} copies {r.copies:>8} {amount(r.bytes):>10}  {rate}  {_state(r)}"


def _fault_line(r: DeviceResult, fault: ev.Fault) -> str:
    """``host:dev FAULT [kind] message (where)``: one line, without the wrong bytes' samples."""
    return f"{r.host}:{r.device} FAULT {short(describe(dataclasses.replace(fault, detail={})), FAULT_WIDTH)}"


def _end_line(r: DeviceResult) -> str:
    """``host:dev STATE after N copies, X moved, T``, then the faults counted and how a crash or hang ended it."""
    notes = [f"{r.faults_total} fault(s) recorded"] if r.faults_total else []
    if r.verify_errors > r.mismatches_recorded:
        notes.append(f"{r.verify_errors} verify error(s)")
    if r.end is not None:
        notes.append(short(r.end.message, FAULT_WIDTH))
    figures = f"{r.copies} copies, {amount(r.bytes)} moved, {seconds(r.elapsed)}"
    return "; ".join([f"{r.host}:{r.device} {_state(r)} after {figures}"] + notes)


def _counts(results: List[DeviceResult]) -> Tuple[str, int]:
    """``4 running, 1 done, 2 FAIL``: the devices per state (a clean end is ``done``); and how many failed."""
    states = Counter("done" if s.startswith("done") else s for s in map(_state, results))
    order = list(NOT_FAILED) + [s.value for s in Status]
    text = ", ".join(f"{states[s]} {s}" for s in order if states[s])
    return text, sum(states[s.value] for s in FAILED)


class ProgressView:
    """Receives every folded result; draws at its own pace."""

    def __init__(self, total: int, enabled: bool = True, stream: Optional[IO[str]] = None) -> None:
        self.stream = stream or sys.stderr
        self.enabled = enabled
        self.tty = enabled and self.stream.isatty()
        self.total = total
        self.results: Dict[Tuple[str, int], DeviceResult] = {}
        self.ended = 0
        self.started_at = time.monotonic()
        self.drawn_at = self.started_at  # the first plain fleet line comes PLAIN_EVERY after the start
        self.lines_drawn = 0

    def update(self, result: DeviceResult, event: ev.Event) -> None:
        self.results[(result.host, result.device)] = result
        ended = isinstance(event, (ev.Finished, ev.Crashed, ev.Hung))
        self.ended += ended
        if not self.enabled:
            return
        if self.tty:
            if ended or time.monotonic() - self.drawn_at >= REDRAW:
                self._redraw()
            return
        if isinstance(event, ev.Fault) and result.faults_total == 1:
            self._print(_fault_line(result, event))
        if ended:
            self._print(_end_line(result))
        if time.monotonic() - self.drawn_at >= PLAIN_EVERY:
            self._fleet_line()

    def tick(self) -> None:
        """Called on a timer while no event may arrive: the fleet line (or the redraw) still comes
        on time, so a log never falls silent while every worker is between copies."""
        if not self.enabled or not self.results:
            return
        if self.tty:
            if time.monotonic() - self.drawn_at >= REDRAW:
                self._redraw()
        elif time.monotonic() - self.drawn_at >= PLAIN_EVERY:
            self._fleet_line()

    def close(self) -> None:
        if self.tty and self.lines_drawn:
            self._redraw()

    def _redraw(self) -> None:
        lines = [_line(r) for _, r in sorted(self.results.items())]
        lines.append(self._fleet_text())
        up = f"\x1b[{self.lines_drawn}F" if self.lines_drawn else ""
        self.stream.write(up + "".join(f"\x1b[2K{line}\n" for line in lines))
        self.stream.flush()
        self.lines_drawn, self.drawn_at = len(lines), time.monotonic()

    def _fleet_text(self) -> str:
        """``[ 30.0s] 2/8 device(s) ended, 1 failed so far, 4.7 GiB moved: 6 running, 1 done, 1 FAIL``."""
        results = list(self.results.values())
        moved = sum(r.bytes for r in results)
        elapsed = time.monotonic() - self.started_at
        counts, failed = _counts(results)
        head = f"[{seconds(elapsed):>7}] {self.ended}/{self.total} device(s) ended, {failed} failed so far"
        return f"{head}, {amount(moved)} moved" + (f": {counts}" if counts else "")

    def _fleet_line(self) -> None:
        self._print(self._fleet_text())
        self.drawn_at = time.monotonic()

    def _print(self, text: str) -> None:
        self.stream.write(text + "\n")
        self.stream.flush()
