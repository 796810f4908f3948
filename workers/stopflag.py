"""A stop request that a signal handler may set.

``threading.Event.set`` takes a lock, and ``print`` takes the stream's lock: a signal handler that
calls either can interrupt the very thread that holds that lock and deadlock on it (or raise
``RuntimeError: reentrant call``). ``StopFlag.set`` only stores two attributes, so it is safe in a
handler; the code that polls the flag (between copies, every supervising tick) does the talking.
"""

from __future__ import annotations

import signal
import time
from typing import Optional, Protocol

STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)
"""The signals that ask dvpp-fleet (controller or worker) to stop: Ctrl-C, and schedulers' SIGTERM."""
POLL = 0.05
"""Seconds between looks at the flag while ``wait`` sleeps."""


class Stop(Protocol):
    """What a worker loop or a launcher needs of a stop request (``StopFlag`` or ``threading.Event``)."""

    def is_set(self) -> bool: ...

    def set(self) -> None: ...

    def wait(self, timeout: Optional[float] = None) -> bool: ...


class StopFlag:
    """Set once or many times (``count``; ``signum``: the last signal that set it, if any)."""

    def __init__(self) -> None:
        self.count = 0
        self.signum: Optional[int] = None

    def set(self, signum: Optional[int] = None) -> None:
        """Safe inside a signal handler: no lock, no I/O, no allocation beyond an int."""
        self.count += 1
        if signum is not None:
            self.signum = signum

    def is_set(self) -> bool:
        return self.count > 0

    def wait(self, timeout: Optional[float] = None) -> bool:
        """Sleep until set or ``timeout`` seconds passed; return whether it is set."""
        deadline = None if timeout is None else time.monotonic() + timeout
        while not self.is_set():
            left = POLL if deadline is None else min(POLL, deadline - time.monotonic())
            if left <= 0:
                break
            time.sleep(left)
        return self.is_set()
