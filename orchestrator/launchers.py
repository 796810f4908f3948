"""The launcher contract and the registry the spec validates ``launcher:`` against.

A launcher starts one worker per job, streams every event to ``sink`` as it arrives (synthesising
``Crashed``/``Hung`` for workers that die or stop making progress), and returns when every worker
has ended. When ``stop`` is set it asks every worker to stop, waits a short grace period, then kills
what is left. It never decides a status and never raises for a device's failure.
"""
from __future__ import annotations

import importlib
import threading
from pathlib import Path
from typing import Callable, Dict, Protocol, Sequence, cast


from orchestrator.plan import DeviceJob
from workers.events import Event

Sink = Callable[[str, int, Event], None]
"""Called as ``sink(host, device, event)`` for every event, in arrival order, from one thread."""


class Launcher(Protocol):
    def run(self, jobs: Sequence[DeviceJob], backend: str, run_dir: Path, sink: Sink,
            stop: threading.Event, slots: int = 0) -> None:
        """Run ``jobs`` on ``backend`` (``acl`` or ``sim``); worker logs go under ``run_dir``.
        At most ``slots`` workers run at the same time (0: all at once); the others wait their turn."""


LAUNCHERS: Dict[str, str] = {
    "local": "orchestrator.launch_local",
    "ray": "orchestrator.launch_ray",
}
"""Launcher name -> module exposing ``make_launcher(options: dict) -> Launcher``; imported only
when chosen, so Ray is never imported by a local run."""


def get_launcher(name: str, options: Dict[str, object]) -> Launcher:
    module = importlib.import_module(LAUNCHERS[name])
    return cast(Launcher, module.make_launcher(options))
