"""What runs first inside a local worker process, around ``workers.main.run_device``.

It routes the process's stdout/stderr (vendor runtime output included) into the device's log file,
arms ``faulthandler`` so the controller can ask for the stack of a hung worker (``STACK_SIGNAL``),
turns SIGINT/SIGTERM into a clean stop, and watches the controller: if it dies, the worker stops,
releases its device, and exits within ``ORPHAN_GRACE`` seconds even if the device call never returns.

The stop handler only sets a ``StopFlag`` (no print, no lock: see ``workers/stopflag.py``); what it
received is written to the log once the run has stopped. The launcher starts the process with SIGINT
and SIGTERM blocked (a terminal's Ctrl-C reaches the whole process group, possibly before this module runs):
``_on_stop_signals`` installs the handler, then unblocks it, so an early Ctrl-C becomes a clean
stop rather than a ``KeyboardInterrupt`` traceback.
"""

from __future__ import annotations

import faulthandler
import os
import signal
import sys
import threading
import time
from multiprocessing.connection import Connection
from typing import IO, Any, Optional

from workers.entry.position import Position, round_trips
from workers.job import LOG_BANNER, WorkerJob
from workers.stopflag import STOP_SIGNALS, StopFlag

STACK_SIGNAL = signal.SIGUSR1
ORPHAN_POLL = 0.5
ORPHAN_GRACE = 5.0
ORPHAN_EXIT_CODE = 3

_log: Optional[IO[str]] = None  # kept open for faulthandler for the life of the process


def worker_entry(
    job: WorkerJob, log_path: str, conn: Connection, parent_pid: int, position: Optional[str] = None
) -> None:
    """Process target of the local launcher; ``position`` is the path of the ``Position`` file, or None."""
    _redirect_output(log_path)
    stop = StopFlag()
    _on_stop_signals(stop)
    threading.Thread(target=_watch_parent, args=(parent_pid, stop), daemon=True).start()
    from workers.main import run_device  # after the redirect: imports may print

    def emit(event: Any) -> None:
        try:
            conn.send(event.to_dict())
        except (BrokenPipeError, EOFError, OSError):
            if not stop.is_set():  # nobody is listening any more: finish quickly
                print("controller is gone (its pipe closed): stopping and releasing the device", flush=True)
            stop.set()

    print(f"{LOG_BANNER} {os.getpid()}: {job.host}:{job.device} backend {job.backend}", flush=True)
    watch = Position(position, round_trips(job.params)) if position is not None else None
    run_device(job.params, emit, backend=job.backend, sim_config=job.sim, stop=stop, watch=watch)
    if stop.signum is not None:
        print(f"received {signal.Signals(stop.signum).name}: stopped after the current copy", flush=True)
    conn.close()


class _Tolerant:
    """The log as ``sys.stdout``: a write that fails (a full disk) is dropped, never the worker."""

    def __init__(self, log: IO[str]) -> None:
        self.log = log

    def write(self, text: str) -> int:
        try:
            return self.log.write(text)
        except (OSError, ValueError):
            return len(text)

    def flush(self) -> None:
        try:
            self.log.flush()
        except (OSError, ValueError):
            pass

    def __getattr__(self, name: str) -> Any:
        return getattr(self.log, name)


def _redirect_output(log_path: str) -> None:
    global _log
    try:
        _log = open(log_path, "a", buffering=1, encoding="utf-8", errors="replace")
    except OSError:  # no log (a full disk, a lost folder) is no reason to leave the device untested
        _log = open(os.devnull, "a", encoding="utf-8")
    for fd in (1, 2):
        os.dup2(_log.fileno(), fd)
    sys.stdout = sys.stderr = _Tolerant(_log)
    faulthandler.enable(file=_log, all_threads=True)
    faulthandler.register(STACK_SIGNAL, file=_log, all_threads=True, chain=False)


def _on_stop_signals(stop: StopFlag) -> None:
    def handler(signum: int, frame: object) -> None:
        stop.set(signum)  # nothing else: see the module docstring

    for signum in STOP_SIGNALS:
        signal.signal(signum, handler)
    signal.pthread_sigmask(signal.SIG_UNBLOCK, STOP_SIGNALS)


def _watch_parent(parent_pid: int, stop: StopFlag) -> None:
    while os.getppid() == parent_pid:
        time.sleep(ORPHAN_POLL)
    print("controller is gone: stopping and releasing the device", flush=True)
    stop.set()
    time.sleep(ORPHAN_GRACE)
    os._exit(ORPHAN_EXIT_CODE)  # the device call did not return in time; the OS frees the rest
