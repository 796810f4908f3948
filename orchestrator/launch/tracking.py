"""What both launchers keep about a worker, and the waits they share.

``Tracked`` is a worker as its launcher sees it: its job, whether it started and ended, the last
position it reported (or the exact one its position file holds, once read) and when it last sent
anything, hence when its silence becomes a hang, and what a ``Crashed`` or ``Hung`` says of it.
``Stopping`` is the stop sequence both follow: ask every worker to stop once, then give up on the
ones still there after ``GRACE`` seconds.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Optional

from orchestrator.launch import hangs
from orchestrator.spec.plan import DeviceJob
from workers import events as ev
from workers.entry.position import Where

GRACE = 10.0
"""Seconds a stopping worker gets to release its device before it is killed."""
TICK = 0.2
"""Seconds a supervising loop waits for anything to happen before it looks at the clock again."""
STACK_WAIT = 2.0
"""Seconds to wait for a hung worker's stack before it is killed without one."""


@dataclass
class Tracked:
    """One worker. ``since`` is when it was given its job (``time.monotonic``): the init timeout
    counts from there until ``Started``; ``last_event`` is when it last sent an event. ``cycle``,
    ``copies``, ``cycles`` (completed) and ``bytes`` are the last the events said, until ``place``
    takes the exact figures of its position file (``exact``)."""

    job: DeviceJob
    since: float
    last_event: float
    started: bool = False
    ended: bool = False
    cycle: int = 0
    copies: int = 0
    cycles: int = 0
    bytes: int = 0
    exact: bool = False

    @property
    def name(self) -> str:
        return f"{self.job.host}:{self.job.device}"

    @property
    def deadline(self) -> float:
        return hangs.deadline(self.job, self.started, self.since, self.last_event)

    def saw(self, event: ev.Event) -> None:
        """Note one event the worker sent, before it goes to the sink."""
        self.last_event = time.monotonic()
        if isinstance(event, ev.Started):
            self.started = True
        elif isinstance(event, (ev.Progress, ev.CycleEnd)) and not self.exact:  # older than the file
            self.cycle, self.copies, self.bytes = event.cycle, event.copies, event.bytes
            if isinstance(event, ev.CycleEnd):
                self.cycles = event.cycle
        elif isinstance(event, ev.Finished):
            self.ended = True

    def place(self, found: Optional[Where]) -> None:
        """Take what its position file holds (``None``: it could not be read; the events' figures stay)."""
        if found is not None:
            self.cycle, self.copies, self.cycles, self.bytes = found
            self.exact = True

    @property
    def in_cycle(self) -> int:
        """The cycle it is in: the one after the last it completed, unless that was the run's last."""
        total = self.job.params.number_of_cycles
        return max(self.cycle, self.cycles + 1 if total < 0 or self.cycles < total else self.cycles, 1)

    @property
    def next_copy(self) -> Optional[int]:
        """The copy it was on: the one after the last it completed; None once the run's last cycle
        was released (it was ending the run: there is no next copy)."""
        total = self.job.params.number_of_cycles
        return None if 0 <= total <= self.cycles else self.copies + 1

    def where(self) -> str:
        """Where it was: the copy it was on, after the run's last copy, or opening the device."""
        return hangs.where(self.started, self.in_cycle, self.next_copy)

    def during(self) -> str:
        """Where it was, as a sentence about its death goes on: ``during cycle 2, copy 7``."""
        return hangs.during(self.started, self.in_cycle, self.next_copy)

    def at_end(self) -> hangs.At:
        """The place and totals a ``Crashed`` or ``Hung`` carries: the cycle and copy in progress
        (None while opening the device), the exact totals once ``place`` read them (else None)."""
        exact = self.exact
        return {
            "cycle": self.in_cycle if self.started else None,
            "copy": self.next_copy if self.started else None,
            "cycles": self.cycles if exact else None,
            "copies": self.copies if exact else None,
            "bytes": self.bytes if exact else None,
        }

    def crashed(self, message: str, exitcode: Optional[int] = None, signal: Optional[str] = None) -> ev.Crashed:
        """The ``Crashed`` event of its death, ``message`` the sentence that names it."""
        return ev.Crashed(message=message, exitcode=exitcode, signal=signal, **self.at_end())

    def hung(self, stack: Optional[str], grace: Optional[float] = None) -> ev.Hung:
        """The ``Hung`` event of a kill after its deadline, or (``grace``) after a stop it ignored."""
        if grace is None:
            return hangs.hung_event(self.job, self.started, self.in_cycle, self.next_copy, stack, self.at_end())
        return hangs.stop_hung_event(self.job, self.started, self.in_cycle, self.next_copy, stack, grace, self.at_end())


class Stopping:
    """The stop sequence: ``begin`` is True the first time only; ``expired`` once ``GRACE`` is up."""

    def __init__(self) -> None:
        self.since: Optional[float] = None
        self.grace = GRACE

    @property
    def active(self) -> bool:
        return self.since is not None

    def begin(self, now: float) -> bool:
        if self.since is not None:
            return False
        self.since = now
        return True

    def expired(self, now: float) -> bool:
        return self.since is not None and now - self.since > self.grace
