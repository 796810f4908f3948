"""What both launchers keep about a worker, and the waits they share.

``Tracked`` is a worker as its launcher sees it: its job, whether it started and ended, the last
position it reported and when it last sent anything, hence when its silence becomes a hang.
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

GRACE = 10.0
"""Seconds a stopping worker gets to release its device before it is killed."""
TICK = 0.2
"""Seconds a supervising loop waits for anything to happen before it looks at the clock again."""
STACK_WAIT = 2.0
"""Seconds to wait for a hung worker's stack before it is killed without one."""


@dataclass
class Tracked:
    """One worker. ``since`` is when it was given its job (``time.monotonic``): the init timeout
    counts from there until ``Started``; ``last_event`` is when it last sent an event."""

    job: DeviceJob
    since: float
    last_event: float
    started: bool = False
    ended: bool = False
    cycle: int = 0
    copies: int = 0

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
        elif isinstance(event, (ev.Progress, ev.CycleEnd)):
            self.cycle, self.copies = event.cycle, event.copies
        elif isinstance(event, ev.Finished):
            self.ended = True

    def where(self) -> str:
        """Where it was: the copy after the last one it completed, or opening the device."""
        return hangs.where(self.started, self.cycle, self.copies)

    def during(self) -> str:
        """Where it was, as a sentence about its death goes on: ``during cycle 2, copy 7``."""
        return hangs.during(self.started, self.cycle, self.copies)


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
