"""The live view of a running fleet, on stderr.

On a terminal: a fleet view drawn by ``rich`` that fits the terminal, redrawn in place at most every
``REDRAW`` seconds (at once when a device records its first fault or ends), so it never wraps nor
scrolls whatever the fleet's size or the terminal's:

- one row per device (copies, current GB/s, bytes moved, cycle, state) above the fleet line, when
  every device's row fits the terminal's height; a row is cut to the width with an ellipsis, and at
  narrow widths the figures go least important first (the cycle, then the bytes, then the rate;
  never the device, its copies or its state);
- otherwise a summary: the devices per state (the fleet line's words), then only the devices that
  are not healthy, failed ones first, as many as fit (``... and N more``), then the fleet line.

A device that failed says ``FAIL`` (``CRASHED``, ...) with its first cause on its row from the moment
it is recorded. The view's last drawing stays on screen when the view is closed. A terminal that
cannot move its cursor (``TERM=dumb``) gets the lines below instead.

Elsewhere (cron, CI logs), one line per fact worth a log line:

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
import threading
import time
from collections import Counter
from typing import IO, Dict, List, Optional, Sequence, Tuple

from rich.cells import cell_len
from rich.console import Console, Group
from rich.live import Live
from rich.text import Text

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

MARGIN = 1
"""Terminal lines the view leaves free below itself: the line the cursor rests on once it is closed,
so the closed view never pushes its own first line off the top."""
STATE_MIN = 24
"""The fewest columns a row keeps for its state (``FAIL [data_mismatch] 2 b...``) before a figure is dropped."""
SEP = "  "
FIGURES = ("cycle", "copies", "moved", "rate")
"""A row's figures, left to right."""
LABELS = {"cycle": "cycle ", "copies": "copies "}
"""The words before a figure that would be a bare number (the amount and the rate say their units)."""
KEPT = ("rate", "moved", "cycle")
"""The figures a narrow terminal drops, last first (the copies always stay)."""


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


def _counts(results: List[DeviceResult], unseen: int = 0) -> Tuple[str, int]:
    """``4 running, 1 done, 2 FAIL``: the devices per state (a clean end is ``done``); and how many failed.
    ``unseen``: devices not heard of yet, counted as ``waiting``."""
    states = Counter("done" if s.startswith("done") else s for s in map(_state, results))
    states["waiting"] += unseen
    order = list(NOT_FAILED) + [s.value for s in Status]
    text = ", ".join(f"{states[s]} {s}" for s in order if states[s])
    return text, sum(states[s.value] for s in FAILED)


def _healthy(state: str) -> bool:
    """Waiting, opening, running or done: nothing wrong so far."""
    return state.split(" ", 1)[0] in NOT_FAILED


def _failed(state: str) -> bool:
    """A state the fleet line counts as failed so far: listed first, in red."""
    return state in {s.value for s in FAILED}


def _style(state: str) -> str:
    """How a state is coloured (where the terminal has colours): failed red, other trouble yellow, done green."""
    if _failed(state):
        return "bold red"
    return "green" if state.startswith("done") else "" if _healthy(state) else "yellow"


def _cause(r: DeviceResult) -> str:
    """The first cause of a device that is not healthy, on one short line without the wrong bytes' samples
    (as its plain ``FAULT`` line says it); empty when there is none."""
    _, causes = judge(r, UNKNOWN_LIMITS)
    return short(describe(dataclasses.replace(causes[0], detail={})), FAULT_WIDTH) if causes else ""


def _figures(r: DeviceResult) -> Dict[str, str]:
    """A row's figures, without their labels; the rate is empty until both directions were timed."""
    h2d, d2h = r.last_gbps
    return {
        "cycle": str(r.cycle),
        "copies": str(r.copies),
        "moved": amount(r.bytes),
        "rate": f"H2D {h2d:5.2f} D2H {d2h:5.2f} GB/s" if h2d and d2h else "",
    }


def _rows(results: Sequence[DeviceResult], width: int) -> List[Text]:
    """One row per device, aligned, each cut to ``width``: the device, the figures that leave its state
    ``STATE_MIN`` columns (the least important dropped first), then its state with its first cause when
    it is not healthy."""
    values = [_figures(r) for r in results]
    widths = {f: max((cell_len(v[f]) for v in values), default=0) for f in FIGURES}
    cells = {f: len(LABELS.get(f, "")) + widths[f] for f in FIGURES}
    names = [f"{r.host}:{r.device}" for r in results]
    name_width = max(map(cell_len, names), default=0)
    used = name_width + len(SEP) + cells["copies"] + len(SEP)
    shown = {"copies"}
    for figure in KEPT:
        if not widths[figure]:  # no device has it yet (no rate before both directions were timed)
            continue
        if used + cells[figure] + len(SEP) + STATE_MIN > width:
            break
        used += cells[figure] + len(SEP)
        shown.add(figure)
    rows = []
    for r, name, value in zip(results, names, values):
        state = _state(r)
        said = state if _healthy(state) else " ".join(p for p in (state, _cause(r)) if p)
        figures = [_cell(LABELS.get(f, ""), value[f], widths[f]) for f in FIGURES if f in shown]
        left = SEP.join([name + " " * (name_width - cell_len(name))] + figures) + SEP
        rows.append(Text.assemble(left, (said, _style(state)), no_wrap=True, overflow="ellipsis"))
    return rows


def _cell(label: str, value: str, width: int) -> str:
    """``copies    42``: the label, then the value right-aligned in ``width``; blank when there is no value."""
    return label + " " * (width - cell_len(value)) + value if value else " " * (len(label) + width)


def _unhealthy_first(results: Sequence[DeviceResult]) -> List[DeviceResult]:
    """The devices that are not healthy, failed ones first (``FAIL``, ``CRASHED``, ...), then the others
    (``BUSY``, ``ABORTED``, ...), each kind in device order."""
    states = [(r, _state(r)) for r in results]
    return [r for r, s in states if _failed(s)] + [r for r, s in states if not _healthy(s) and not _failed(s)]


def _line(text: str, style: str = "") -> Text:
    """One line of the view that never wraps: cut to the terminal's width, with an ellipsis."""
    return Text(text, style=style, no_wrap=True, overflow="ellipsis")


class ProgressView:
    """Receives every folded result; draws at its own pace. ``size``: the terminal's columns and lines,
    for tests; by default the terminal's own, read at every drawing (a resized terminal is followed)."""

    def __init__(
        self,
        total: int,
        enabled: bool = True,
        stream: Optional[IO[str]] = None,
        *,
        size: Optional[Tuple[int, int]] = None,
    ) -> None:
        self.stream = stream or sys.stderr
        self.enabled = enabled
        self.total = total
        self.results: Dict[Tuple[str, int], DeviceResult] = {}
        self.ended = 0
        self.started_at = time.monotonic()
        self.drawn_at = self.started_at  # the first plain fleet line comes PLAIN_EVERY after the start
        # Built for every view, they write nothing until the terminal view first draws.
        width, height = size or (None, None)
        self.console = Console(file=self.stream, width=width, height=height, force_terminal=True, highlight=False)
        self.tty = enabled and self.stream.isatty() and not self.console.is_dumb_terminal
        self.drawing = threading.Lock()  # the status timer's tick and the run's end never draw at once
        self.closed = False
        self.live = Live(
            console=self.console,
            get_renderable=self._view,
            auto_refresh=False,  # drawn by update() and tick(), at most every REDRAW seconds
            transient=False,  # the last drawing stays above the final table
            redirect_stdout=False,
            redirect_stderr=False,
        )

    def update(self, result: DeviceResult, event: ev.Event) -> None:
        self.results[(result.host, result.device)] = result
        ended = isinstance(event, (ev.Finished, ev.Crashed, ev.Hung))
        self.ended += ended
        if not self.enabled:
            return
        first_fault = isinstance(event, ev.Fault) and result.faults_total == 1
        if self.tty:  # a first fault and an end are drawn at once, the rest at most every REDRAW seconds
            if ended or first_fault or time.monotonic() - self.drawn_at >= REDRAW:
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
        """Draw the view a last time and leave it on screen, the cursor below it; nothing once the
        stream failed (the run turned the view off) or when nothing was drawn. A redraw asked for
        after (a late tick of the status timer) draws nothing: the view is never started again."""
        with self.drawing:
            self.closed = True
            if self.live.is_started and self.enabled:
                self.live.stop()

    def _redraw(self) -> None:
        with self.drawing:
            if self.closed:
                return
            if not self.live.is_started:
                self.live.start()
            self.live.refresh()
            self.drawn_at = time.monotonic()

    def _view(self) -> Group:
        """What the terminal shows: a row per device when every device's row fits its height, else the summary."""
        width, height = self.console.size
        results = [r for _, r in sorted(self.results.items())]
        lines = height - MARGIN
        if max(self.total, len(results)) + 1 <= lines:
            return Group(*_rows(results, width), _line(self._fleet_text()))
        return Group(*self._summary(results, width, max(lines - 2, 0)), _line(self._fleet_head()))

    def _summary(self, results: List[DeviceResult], width: int, room: int) -> List[Text]:
        """``16 device(s): 12 running, 1 done, 2 FAIL, 1 CRASHED`` (every device counted, those not heard
        of yet as waiting), then the devices that are not healthy in at most ``room`` lines, the last one
        ``... and N more`` when they do not all fit."""
        counts, _ = _counts(results, unseen=max(self.total - len(results), 0))
        head = _line(f"{max(self.total, len(results))} device(s): {counts}")
        unhealthy = _unhealthy_first(results)
        if len(unhealthy) <= room:
            return [head, *_rows(unhealthy, width)]
        shown = unhealthy[: max(room - 1, 0)]
        more = [_line(f"... and {len(unhealthy) - len(shown)} more", "yellow")] if room else []
        return [head, *_rows(shown, width), *more]

    def _fleet_head(self) -> str:
        """``[ 30.0s] 2/8 device(s) ended, 1 failed so far, 4.7 GiB moved``."""
        results = list(self.results.values())
        moved = sum(r.bytes for r in results)
        elapsed = time.monotonic() - self.started_at
        head = f"[{seconds(elapsed):>7}] {self.ended}/{self.total} device(s) ended, {_counts(results)[1]} failed so far"
        return f"{head}, {amount(moved)} moved"

    def _fleet_text(self) -> str:
        """``[ 30.0s] 2/8 device(s) ended, 1 failed so far, 4.7 GiB moved: 6 running, 1 done, 1 FAIL``."""
        counts, _ = _counts(list(self.results.values()))
        return self._fleet_head() + (f": {counts}" if counts else "")

    def _fleet_line(self) -> None:
        self._print(self._fleet_text())
        self.drawn_at = time.monotonic()

    def _print(self, text: str) -> None:
        self.stream.write(text + "\n")
        self.stream.flush()
