"""What runs first inside a local worker process, around ``workers.main.run_device``.

It checks that the process holds no runtime yet (``runtime_modules``: a worker may be a fork of the
launcher's forkserver, which must never have imported ``acl``), takes the controller's working
directory and environment (the server's are older), routes the process's stdout/stderr (vendor
runtime output included) into the device's log file, arms ``faulthandler`` so the controller can
ask for the stack of a hung worker (``STACK_SIGNAL``), turns SIGINT/SIGTERM into a clean stop, and
watches the controller: if it dies, the worker stops, releases its device, and exits within
``ORPHAN_GRACE`` seconds even if the device call never returns.

The controller is watched through the worker's event pipe, not through the parent process (a
forked worker's parent is the server, which outlives the controller while workers run): when the
controller's process ends, killed or not, reaped or not, its read end closes and Linux reports
POLLERR on the write end this process holds.

The stop handler only sets a ``StopFlag`` (no print, no lock: see ``workers/stopflag.py``); what it
received is written to the log once the run has stopped. The launcher starts the process with SIGINT
and SIGTERM blocked (a terminal's Ctrl-C reaches the whole process group, possibly before this module runs):
``_on_stop_signals`` installs the handler, then unblocks it, so an early Ctrl-C becomes a clean
stop rather than a ``KeyboardInterrupt`` traceback.
"""

from __future__ import annotations

import contextlib
import faulthandler
import os
import select
import signal
import sys
import threading
import time
from multiprocessing import forkserver
from multiprocessing.connection import Connection
from typing import IO, Any, Dict, List, Optional, Tuple

from workers.entry.position import Position, round_trips
from workers.events import Fault
from workers.job import LOG_BANNER, WorkerJob
from workers.stopflag import STOP_SIGNALS, StopFlag

STACK_SIGNAL = signal.SIGUSR1
ORPHAN_POLL = 0.5
ORPHAN_GRACE = 5.0
ORPHAN_EXIT_CODE = 3
INHERITED_RUNTIME_EXIT_CODE = 4
"""Exit code of a worker that found a runtime already imported when it started: it opens nothing."""
RUNTIME_PACKAGES = ("acl", "workers.simulator.acl")
"""The runtime a worker opens itself, never inherits: CANN's ``acl`` or the simulator's package."""
GONE_BY_PIPE = "controller is gone (its pipe closed): stopping and releasing the device"

_log: Optional[IO[str]] = None  # kept open for faulthandler for the life of the process
_said_gone = threading.Lock()  # taken once, by whoever says first that the controller is gone


def worker_entry(
    job: WorkerJob,
    log_path: str,
    conn: Connection,
    parent_pid: int,
    position: Optional[str] = None,
    place: Optional[Tuple[str, Dict[str, str]]] = None,
) -> None:
    """Process target of the local launcher: ``parent_pid`` is the controller's pid, ``position``
    the path of the ``Position`` file (or None), ``place`` the controller's working directory and
    environment when it asked for this worker (a forkserver started earlier has its own)."""
    inherited = runtime_modules()  # before anything here imports more
    if place is not None:
        _take_place(*place)
    _redirect_output(log_path)
    stop = StopFlag()
    _on_stop_signals(stop)
    done = threading.Event()
    threading.Thread(target=_watch_controller, args=(conn, parent_pid, stop, done), daemon=True).start()
    how = "forked from the launcher's forkserver" if forkserver.get_inherited_fds() is not None else "spawned"
    print(f"{LOG_BANNER} {os.getpid()}: {job.host}:{job.device} backend {job.backend} ({how})", flush=True)
    if inherited:
        _refuse(conn, inherited, done)
    from workers.main import run_device  # after the redirect: imports may print

    def emit(event: Any) -> None:
        try:
            conn.send(event.to_dict())
        except (BrokenPipeError, EOFError, OSError):
            if not stop.is_set():  # nobody is listening any more: finish quickly
                _say_gone(GONE_BY_PIPE)
            stop.set()

    watch = Position(position, round_trips(job.params)) if position is not None else None
    run_device(job.params, emit, backend=job.backend, sim_config=job.sim, stop=stop, watch=watch)
    if stop.signum is not None:
        print(f"received {signal.Signals(stop.signum).name}: stopped after the current copy", flush=True)
    done.set()  # before the pipe closes: its end is no news of the controller
    conn.close()


def runtime_modules() -> List[str]:
    """The modules of a runtime (``RUNTIME_PACKAGES``) this process has imported, sorted."""
    return sorted(m for m in list(sys.modules) if any(m == p or m.startswith(p + ".") for p in RUNTIME_PACKAGES))


def _refuse(conn: Connection, inherited: List[str], done: threading.Event) -> None:
    """A process that holds a runtime it did not open must not touch the device: say so and exit."""
    message = (
        f"the worker process already held the runtime ({', '.join(inherited)}) when it started, "
        "from the process it was started from: it opened nothing"
    )
    print(message, flush=True)
    with contextlib.suppress(OSError, EOFError):
        conn.send(Fault(fault="worker_error", message=message).to_dict())
    done.set()
    conn.close()
    sys.exit(INHERITED_RUNTIME_EXIT_CODE)


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


def _take_place(cwd: str, environ: Dict[str, str]) -> None:
    if os.environ != environ:
        os.environ.clear()
        os.environ.update(environ)
    with contextlib.suppress(OSError):  # a folder gone since: the paths the worker is given are absolute
        os.chdir(cwd)


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


def _say_gone(line: str) -> None:
    """Say once, whoever notices first, that the controller is gone."""
    if _said_gone.acquire(blocking=False):
        print(line, flush=True)


def _watch_controller(conn: Connection, controller: int, stop: StopFlag, done: threading.Event) -> None:
    """Stop when the controller is gone: the read end of this worker's pipe has closed (POLLERR on
    the write end: the controller's process ended, even as a zombie nobody reaped) or, for a worker
    the controller started itself, this process's parent changed. ``done``: the worker closes its
    pipe itself; then nothing it sees means anything."""
    watch = select.poll()
    watch.register(conn.fileno(), select.POLLERR | select.POLLHUP)
    direct = os.getppid() == controller  # spawned; a forked worker's parent is the server
    while True:
        closed = watch.poll(int(ORPHAN_POLL * 1000))
        if done.is_set():
            return
        if closed:
            _say_gone(GONE_BY_PIPE)
            break
        if direct and os.getppid() != controller:
            _say_gone("controller is gone: stopping and releasing the device")
            break
    stop.set()
    time.sleep(ORPHAN_GRACE)
    if not done.is_set():
        os._exit(ORPHAN_EXIT_CODE)  # the device call did not return in time; the OS frees the rest
