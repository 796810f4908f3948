"""The live view of a running fleet, on stderr.

On a terminal: one line per device (copies, bytes, current GB/s, state), redrawn in place at most
every ``REDRAW`` seconds. Elsewhere (cron, CI logs): a line when a device ends and a fleet line
every ``PLAIN_EVERY`` seconds, so logs stay short but never silent on a long run.
"""

from __future__ import annotations

import sys
import time
from typing import IO, Dict, Optional, Tuple

from orchestrator.results.collect import DeviceResult
from workers import events as ev
from workers.figures import amount, seconds

REDRAW = 0.5
PLAIN_EVERY = 30.0


def _state(r: DeviceResult) -> str:
    if r.ended_by == "finished":
        return f"done ({r.outcome})"
    if r.ended_by:
        return r.ended_by
    return "running" if r.started else "opening"


def _line(r: DeviceResult) -> str:
    h2d, d2h = r.last_gbps
    rate = f"H2D {h2d:6.2f} D2H {d2h:6.2f} GB/s" if h2d and d2h else " " * 27
    return f"{r.host}:{r.device:<3} cycle {r.cycle:>4} copies {r.copies:>8} {amount(r.bytes):>10}  {rate}  {_state(r)}"


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
        elif ended:
            took = seconds(result.elapsed)
            self._print(f"{result.host}:{result.device} {_state(result)} after {result.copies} copies, {took}")
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
        moved = sum(r.bytes for r in self.results.values())
        elapsed = time.monotonic() - self.started_at
        return f"[{seconds(elapsed):>7}] {self.ended}/{self.total} device(s) done, {amount(moved)} moved"

    def _fleet_line(self) -> None:
        self._print(self._fleet_text())
        self.drawn_at = time.monotonic()

    def _print(self, text: str) -> None:
        self.stream.write(text + "\n")
        self.stream.flush()
