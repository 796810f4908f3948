"""The launcher contract: what every launcher does with the jobs it is given.

A launcher starts one worker per job, streams every event to ``sink`` as it arrives (synthesising
``Crashed``/``Hung`` for workers that die or stop making progress), and returns when every worker
has ended. When ``stop`` is set it asks every worker to stop, waits a short grace period, then kills
what is left. It never decides a status and never raises for a device's failure.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Callable, Protocol, Sequence

from workers.events import Event
from workers.stopflag import Stop

if TYPE_CHECKING:  # the plan imports the registry of launcher names, which imports this module
    from orchestrator.spec.plan import DeviceJob

Sink = Callable[[str, int, Event], None]
"""Called as ``sink(host, device, event)`` for every event, in arrival order, from one thread."""


class Launcher(Protocol):
    def run(self, jobs: Sequence[DeviceJob], run_dir: Path, sink: Sink, stop: Stop, slots: int = 0) -> None:
        """Run ``jobs`` (each names its runtime: ``job.worker.backend``); worker logs go under
        ``run_dir``. At most ``slots`` workers run at the same time (0: all at once); the others
        wait their turn."""
