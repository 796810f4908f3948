"""SIGINT (Ctrl-C) and SIGTERM (schedulers, services) for the whole command, in every phase.

Before a run has anything to lose (parsing, discovery, planning) a signal interrupts at once:
``KeyboardInterrupt``, which ``errors.error_handler`` turns into exit 130 and one line. Once the
run directory is being filled, ``defer()`` switches the handler to only setting ``stop`` (a
``StopFlag``: no I/O, no lock, see ``workers/stopflag.py``): the launcher stops every worker after
its current copy and waits for them to release their devices; the outputs are then written in
full, with further signals only counted, and the command exits 130. A second signal asks for a
faster stop: the launcher stops waiting for workers that already released their devices.
"""

from __future__ import annotations

import contextlib
import signal
from typing import Any, Iterator

from workers.stopflag import STOP_SIGNALS, StopFlag


class Interrupts:
    """The command's stop request; ``deferred``: signals only set ``stop`` (see the module docstring)."""

    def __init__(self) -> None:
        self.stop = StopFlag()
        self.deferred = False

    def handler(self, signum: int, frame: object) -> None:
        self.stop.set(signum)
        if not self.deferred:
            self.deferred = True  # one interruption is enough: more presses must not break its unwinding
            raise KeyboardInterrupt

    def defer(self) -> StopFlag:
        """From now on a signal only sets the returned flag."""
        self.deferred = True
        return self.stop

    @property
    def requested(self) -> bool:
        return self.stop.is_set()

    @property
    def name(self) -> str:
        """The signal that asked to stop, as a word (``SIGINT``)."""
        return signal.Signals(self.stop.signum).name if self.stop.signum is not None else "a stop request"


current = Interrupts()
"""The running command's: ``cli.main`` installs its handler; ``commands/run.py`` defers it."""


@contextlib.contextmanager
def installed(restore: bool = True) -> Iterator[Interrupts]:
    """Handle SIGINT and SIGTERM with a fresh ``current`` for the length of one command. Without
    ``restore`` (the program's last command) a signal after it is only counted: the outputs are
    written, and a late press must not turn exit 0 into a traceback or a death by signal."""
    global current
    current = Interrupts()
    previous: Any = {s: signal.signal(s, current.handler) for s in STOP_SIGNALS}
    try:
        yield current
    finally:
        current.deferred = True
        if restore:
            for s, h in previous.items():
                signal.signal(s, h)
