"""Local launcher: one OS process per device on this machine, supervised from one loop.

    controller                                  worker process (one per device)
    ----------                                  -------------------------------
    start this run's forkserver (``PRELOAD``)
    fork request (or spawn) ---------------->   workers.entry.local: run_device(...) -> conn.send(event dict)
    wait(pipes + process sentinels) <-------    events, as they happen (at most ``slots`` at once)
      event         -> sink(host, device, event)
      sentinel      -> no Finished seen? synthesise Crashed (exit code / signal, where it was)
      no progress   -> dump its stack (faulthandler signal), kill, synthesise Hung
      stop set      -> SIGTERM every worker, wait GRACE, kill the rest (one past its deadline: stack, Hung)
    stop the forkserver

No worker is a fork of the controller, so the real runtime never sees a forked copy of a process
that touched it. Each run starts its own ``forkserver``: a fresh interpreter that has imported numpy
and the worker's code but never ``acl`` (``PRELOAD``; a worker that finds a runtime imported when it
starts opens nothing: ``workers/entry/local.py``), that forks every worker of the run (milliseconds,
where a spawned interpreter imports numpy again) and is stopped when the run ends; its stderr is the
run's ``logs/forkserver.log``. A worker takes the controller's working directory and environment as
they are when it is asked for. Workers are spawned instead with ``DVPP_FLEET_START_METHOD=spawn``,
where the platform has no forkserver, where it cannot start or dies as it starts, and, for the
rest of the run, once it died: the log says why (``_Starter``).

A dead server does not end the workers it forked, but multiprocessing then reports each with exit
code 255. A worker whose exit status was lost that way (``_ForkedPopen``) is watched through its
pipe from then on (EOF: it ended; without its Finished it is CRASHED, its exit status unknown) and
signalled by pid only while it holds its pipe, so a reused pid is never signalled. A fork request
cut short for want of a descriptor kills the server: before each, the controller checks that
``budget.FDS_TO_START`` are free, else waits for a worker to end as for any start that finds the
host out of descriptors.

Each worker starts with SIGINT and SIGTERM blocked (a terminal's Ctrl-C reaches the whole process
group) until its entry installs a handler that only sets a flag (``workers/entry/local.py``): a
spawned one inherits the mask the controller holds while it starts it, a forked one the server's,
which is started with them blocked, and outside that window (starting the server may start the
resource tracker, which unblocks them in the calling thread). A worker that cannot be started (the
host is out of processes, memory or descriptors) is a host problem (``host_error``), never a device
fault; the controller holds three descriptors per running worker (its pipe, its process sentinel and
its start-data pipe) and reads position files only when it needs them.
"""

from __future__ import annotations

import contextlib
import copyreg
import dataclasses
import errno
import functools
import multiprocessing as mp
import os
import resource
import select
import signal
import sys
import time
from dataclasses import dataclass
from multiprocessing import forkserver, popen_forkserver, resource_tracker
from multiprocessing.connection import Connection, Pipe, wait
from multiprocessing.context import ForkServerProcess
from multiprocessing.process import BaseProcess
from pathlib import Path
from typing import Any, Callable, List, Optional, Sequence, Tuple

from orchestrator import rundir
from orchestrator.launch import budget, hangs
from orchestrator.launch.contract import Sink
from orchestrator.launch.tracking import GRACE, STACK_WAIT, TICK, Stopping, Tracked
from orchestrator.spec.plan import DeviceJob
from workers import events as ev
from workers.entry.local import worker_entry
from workers.entry.position import Position, read_position
from workers.entry.server import SERVER_LOG_ENV
from workers.hostfault import host_fault, host_problem, host_reason
from workers.job import WorkerJob
from workers.stopflag import STOP_SIGNALS, Stop

START_METHOD_ENV = "DVPP_FLEET_START_METHOD"
"""``forkserver`` (the default where the platform has one) or ``spawn``: how local workers start."""
START_METHODS = ("forkserver", "spawn")
PRELOAD = ("workers.entry.server", "workers.entry.local", "workers.main")
"""What a run's forkserver imports before it forks a worker: where its stderr goes, then numpy and
the worker's code, never ``acl`` (``workers.backend`` imports the runtime inside the worker, when it
opens its device)."""
SHADOWED = ("workers", "numpy")
"""Packages the preload imports that a folder of the same name in the current directory would
shadow: a forkserver is ``python -c``, whose ``sys.path`` starts with the current directory."""
SERVER_END_WAIT = 1.0
"""Seconds to wait for a dead server's exit status, to say how it died."""
ORPHAN_TICK = 0.02
"""Seconds between looks at a worker whose server died, while waiting for it to end."""


@dataclass
class _Worker(Tracked):
    proc: Any = None
    conn: Optional[Connection] = None
    log: Path = Path()
    closed: bool = False  # its pipe reached EOF
    retired: bool = False  # process handle closed
    position: str = ""  # the file where the worker writes where it is and its totals
    pid: int = 0
    starter: Optional[_Starter] = None
    orphan: bool = False  # forked from a server that died: no exit status will come; see ``adopt``
    birth: Optional[int] = None  # an orphan's start time, as /proc says (None: unknown)

    def refresh(self) -> None:
        """Take the exact position and totals from the worker's position file (events are rate-limited)."""
        self.place(read_position(self.position) if self.position else None)

    def holds_pipe(self) -> bool:
        """Whether the worker still holds the write end of its pipe (never blocks, reads nothing):
        while it does, it is alive and its pid is its own."""
        conn = self.conn
        if self.closed or conn is None or conn.closed:
            return False
        watch = select.poll()
        watch.register(conn.fileno(), select.POLLIN)
        return not any(mask & (select.POLLHUP | select.POLLERR | select.POLLNVAL) for _, mask in watch.poll(0))

    def adopt(self) -> None:
        """Its exit status was lost with the server it was forked from: from now on its process is
        known by its pipe, and by its pid with the start time read while it held that pipe."""
        self.orphan = True
        try:
            stat = _proc_stat(self.pid)
        except OSError:  # /proc cannot say now (e.g. no descriptor left): its pipe will
            stat = None
        self.birth = stat[1] if stat is not None and self.holds_pipe() else None
        self.proc.close()  # its sentinel is at EOF for good: two descriptors back
        if self.starter is not None:
            self.starter.lost()

    def _status_lost(self) -> bool:
        """Adopt it if its exit status was lost (multiprocessing may have found that out first)."""
        if not self.orphan and getattr(self.proc, "status_lost", False):
            self.adopt()
        return self.orphan

    def alive(self) -> bool:
        """Whether its process is there: an orphan's by its pid and start time, else by its pipe."""
        if not self.orphan:
            if self.proc.is_alive():
                return True
            if not self._status_lost():
                return False
        if self.birth is None:
            return self.holds_pipe()
        try:
            return _running(self.pid, self.birth)
        except OSError:  # /proc cannot say now (e.g. no descriptor left): not a reason to call it dead
            return self.holds_pipe()

    def send(self, signum: int) -> None:
        """Signal its process while it is there; an orphan's only while it holds its pipe (and is
        still the process that started at ``birth``, where /proc tells)."""
        if self.retired or not self.alive() or (self.orphan and not self.holds_pipe()):
            return
        with contextlib.suppress(ProcessLookupError):
            os.kill(self.pid, signum)

    def join(self, timeout: float) -> None:
        """Wait up to ``timeout`` seconds for its process to end."""
        deadline = time.monotonic() + timeout
        if not self.orphan:
            self.proc.join(timeout=timeout)
            if not self._status_lost():
                return
        while self.alive() and time.monotonic() < deadline:
            time.sleep(ORPHAN_TICK)

    def kill(self) -> None:
        self.send(signal.SIGKILL)
        self.join(timeout=5)

    def close_handle(self) -> None:
        """Close its process handle, once the process has ended."""
        if not self.orphan:
            self.proc.join(timeout=0)
            self.proc.close()

    def release(self) -> None:
        """Close what the controller holds for an ended worker (pipe, process handle), so a long
        serial run never runs out of file descriptors."""
        assert self.conn is not None
        self.conn.close()
        if not self.alive():
            self.close_handle()
            self.retired = True


class LocalLauncher:
    """Runs every job as a process of this controller's (forked from its forkserver, or spawned),
    at most ``slots`` at once."""

    def run(self, jobs: Sequence[DeviceJob], run_dir: Path, sink: Sink, stop: Stop, slots: int = 0) -> None:
        # The first spawn starts multiprocessing's resource tracker, which unblocks SIGINT and SIGTERM
        # in this thread as it does: start it now, outside the window where they must stay blocked,
        # and before the forkserver, which must start with them blocked.
        resource_tracker.ensure_running()
        (run_dir / rundir.LOGS).mkdir(parents=True, exist_ok=True)
        starter = _Starter(rundir.forkserver_log_path(run_dir))
        pending = list(jobs)
        workers: List[_Worker] = []

        def spawn_more() -> None:
            while pending and not stop.is_set() and sum(not w.ended for w in workers) < (slots or len(jobs)):
                job = pending.pop(0)
                try:
                    workers.append(starter.start(functools.partial(self._spawn, job=job, run_dir=run_dir)))
                except (OSError, MemoryError) as exc:  # no process, memory or descriptor left: the host's problem
                    if host_reason(exc) is not None and any(not w.retired for w in workers):
                        pending.insert(0, job)  # one that ends frees what this one needs: try again then
                        return
                    sink(job.host, job.device, host_fault(exc, "starting the worker"))
                    continue
                sink(job.host, job.device, ev.Launched(pid=workers[-1].pid))

        try:
            if pending and not stop.is_set():
                starter.open()
            gave_up = self._supervise(workers, sink, stop, spawn_more, lambda: bool(pending) and not stop.is_set())
        except BaseException:
            gave_up = True
            raise
        finally:
            # finalize may take seconds on real hardware; a stop that gave up has spent its grace,
            # and a second stop request means: do not wait for workers that released their devices
            hurry = gave_up or getattr(stop, "count", 1) > 1
            deadline = time.monotonic() + (0.0 if hurry else GRACE)
            try:
                for w in workers:
                    if not w.retired:
                        w.join(timeout=max(0.0, deadline - time.monotonic()))
                        w.kill()
                        if w.conn is not None:
                            w.conn.close()
                        if not w.alive():  # one stuck in the driver even after SIGKILL keeps its handle
                            w.close_handle()
                        w.retired = True
            finally:
                starter.close()  # never left for the next run of this process to find

    def _spawn(self, make: Callable[..., Any], job: DeviceJob, run_dir: Path, starter: _Starter) -> _Worker:
        """Start the worker of ``job`` as a process of class ``make`` (``starter`` chose it)."""
        position = str(rundir.position_path(run_dir, job.host, job.device))
        Position.create(position).close()
        log = rundir.log_path(run_dir, job.host, job.device)
        reader, writer = Pipe(duplex=False)
        try:
            place = (os.getcwd(), dict(os.environ))  # the controller's now: a forkserver has its own, older
            proc = make(
                target=worker_entry,
                name=f"dvpp-worker-{job.worker.name}",
                args=(_worker(job, run_dir), str(log), writer, os.getpid(), position, place),
                daemon=False,
            )
            if make is _ForkedProcess:  # it takes the server's mask; a fork request stays interruptible
                proc.start()
            else:
                blocked = signal.pthread_sigmask(signal.SIG_BLOCK, STOP_SIGNALS)  # inherited: see the module docstring
                try:
                    proc.start()
                finally:
                    signal.pthread_sigmask(signal.SIG_SETMASK, blocked)
        except BaseException:
            reader.close()
            raise
        finally:
            writer.close()  # the child holds the only writer: EOF on our side means it is gone
        now = time.monotonic()
        return _Worker(
            job=job,
            since=now,
            last_event=now,
            proc=proc,
            conn=reader,
            log=log,
            position=position,
            pid=proc.pid,
            starter=starter,
        )

    def _supervise(
        self,
        workers: List[_Worker],
        sink: Sink,
        stop: Stop,
        spawn_more: Callable[[], None],
        waiting: Callable[[], bool],
    ) -> bool:
        """Until every worker has ended and none is ``waiting`` to start (e.g. for a descriptor an
        ended worker still holds): deliver events, notice deaths and hangs, keep the slots full.
        Returns whether it gave up waiting on a stop (the survivors are then killed at once)."""
        stopping = Stopping()
        spawn_more()
        while any(not w.ended for w in workers) or waiting():
            live = [w for w in workers if not w.ended]
            ready = wait(
                [w.conn for w in live if not w.closed and w.conn is not None]
                + [w.proc.sentinel for w in live if not w.orphan],
                timeout=TICK,
            )
            for w in live:
                if w.conn in ready:
                    self._drain(w, sink)
                if not w.ended and not w.orphan and w.proc.sentinel in ready:
                    self._reap(w, sink, stopping=stopping.active or stop.is_set())
                if not w.ended and w.orphan and (w.closed or not w.alive()):
                    self._drain(w, sink)
                    if not w.ended:
                        self._orphan_ended(w, sink)
            if stop.is_set() and stopping.begin(time.monotonic()):
                for w in workers:
                    if not w.ended:
                        w.send(signal.SIGTERM)
            if stopping.expired(time.monotonic()):
                self._hung_at_stop([w for w in workers if not w.ended], sink, stopping.grace)
                return True
            self._retire(workers)
            if not stopping.active:
                self._check_hangs([w for w in workers if not w.ended], sink)
                spawn_more()
        return False

    @staticmethod
    def _retire(workers: List[_Worker]) -> None:
        for w in workers:
            if w.ended and not w.retired and not w.alive():
                w.release()

    def _drain(self, w: _Worker, sink: Sink) -> None:
        """Read every event the worker has sent so far (never blocks). Only the pipe's own errors
        mean it closed; whatever the sink raises is not taken for a dead worker."""
        assert w.conn is not None
        while True:
            try:
                if w.closed or not w.conn.poll():
                    return
                event = ev.from_dict(w.conn.recv())
            except (EOFError, OSError):
                w.closed = True  # the sentinel tells whether the process ended well
                return
            w.saw(event)
            sink(w.job.host, w.job.device, event)

    def _reap(self, w: _Worker, sink: Sink, stopping: bool) -> None:
        """The process ended: read what is left; without a Finished event it crashed. Or the server
        it was forked from died and took its exit status along: it may live on (an orphan)."""
        w.proc.join(timeout=1)
        if getattr(w.proc, "status_lost", False):
            w.adopt()
            self._drain(w, sink)
            if not w.ended and w.closed:
                self._orphan_ended(w, sink)
            return
        self._drain(w, sink)
        if w.ended:
            return
        w.ended = True
        code = w.proc.exitcode
        w.refresh()
        if stopping and code in (-signal.SIGTERM, -signal.SIGKILL, -signal.SIGINT):
            return  # asked to stop and ended by that signal: the verdict says ABORTED
        name = signal.Signals(-code).name if code is not None and code < 0 else None
        how = f"from signal {name}" if name else f"with exit code {code}"
        if code is not None and code > 0:  # a death by signal is never the host's
            _host_signs(w, sink)  # e.g. a MemoryError before the worker could say so itself
        sink(w.job.host, w.job.device, w.crashed(f"worker for {w.name} died {how} {w.during()}", code, name))

    @staticmethod
    def _orphan_ended(w: _Worker, sink: Sink) -> None:
        """A worker whose server died closed its pipe without its Finished: it ended, how is unknown."""
        w.ended = True
        w.refresh()
        _host_signs(w, sink)
        message = (
            f"worker for {w.name} ended {w.during()} without its end event; its exit status is unknown: "
            "the forkserver it was started from had died"
        )
        sink(w.job.host, w.job.device, w.crashed(message))

    def _hung_at_stop(self, live: List[_Worker], sink: Sink, grace: float) -> None:
        """Workers still there ``grace`` seconds after the stop request. One past its own deadline is
        stuck: HUNG, with its stack and where. One within it (opening a device may take a minute) is
        killed as the stop asked: ABORTED, never called hung."""
        now = time.monotonic()
        overdue = [w for w in live if w.alive() and now > w.deadline]
        stack_of = _stacks(overdue)
        for w in live:
            w.refresh()
            w.kill()
            self._drain(w, sink)  # what it said before it died: it may have ended after all
            if not w.ended:
                w.ended = True
                if id(w) in stack_of:
                    sink(w.job.host, w.job.device, w.hung(stack_of[id(w)], grace))

    def _check_hangs(self, live: List[_Worker], sink: Sink) -> None:
        """Overdue workers: ask all of them for their stacks at once, wait once, then kill each."""
        now = time.monotonic()
        overdue = [w for w in live if now > w.deadline]
        stack_of = _stacks(overdue)
        for w in overdue:
            w.refresh()  # the position before the kill (the events drained after it are older)
            w.kill()
            self._drain(w, sink)
            if not w.ended:
                w.ended = True
                if not w.started:  # e.g. stuck starting, out of memory
                    _host_signs(w, sink)
                sink(w.job.host, w.job.device, w.hung(stack_of.get(id(w))))


def _stacks(overdue: List[_Worker]) -> dict[int, Optional[str]]:
    """The stack of each worker (by ``id``), asked for all at once; an orphan is asked only while it
    holds its pipe (its pid might be another process's after that)."""
    asked = [w for w in overdue if not w.orphan or w.holds_pipe()]
    stacks = hangs.dump_stacks([(w.pid, w.log) for w in asked], STACK_WAIT)
    return {id(w): stack for w, stack in zip(asked, stacks)}


class _ForkedPopen(popen_forkserver.Popen):
    """multiprocessing's, recording when the server closed a worker's status pipe without its exit
    status (the server died; the worker may well be alive), which multiprocessing calls exit code 255."""

    status_lost = False

    def poll(self, flag: int = os.WNOHANG) -> Optional[int]:
        if self.returncode is None:
            if not wait([self.sentinel], 0 if flag == os.WNOHANG else None):
                return None
            try:
                self.returncode = forkserver.read_signed(self.sentinel)
            except (OSError, EOFError):
                self.status_lost = True
                self.returncode = 255
        return self.returncode


class _ForkedProcess(ForkServerProcess):
    """A process forked from the forkserver with ``_ForkedPopen``; the child gets it as
    multiprocessing's own class, so a worker imports nothing of the controller."""

    _start_method = "forkserver"

    @staticmethod
    def _Popen(process_obj: BaseProcess) -> _ForkedPopen:
        return _ForkedPopen(process_obj)

    def __reduce_ex__(self, protocol: Any) -> Tuple[Any, ...]:
        return (copyreg._reconstructor, (ForkServerProcess, object, None), self.__dict__)  # type: ignore[attr-defined]

    @property
    def status_lost(self) -> bool:
        return bool(getattr(getattr(self, "_popen", None), "status_lost", False))


class _Starter:
    """How this run's workers start: forked from the run's own forkserver (``open``, ``close``), or
    spawned (see the module docstring); ``log`` holds the server's stderr and why workers were spawned."""

    def __init__(self, log: Path) -> None:
        self.log = log
        self.server: Optional[int] = None  # the pid of the forkserver this run started
        self.forking = False  # workers are forked from it (until it dies)
        self.spawn = mp.get_context("spawn")

    def open(self) -> None:
        """Start this run's forkserver, unless spawn is asked for or one cannot be had (then the log says why)."""
        if start_method() != "forkserver":
            return
        server: Any = getattr(forkserver, "_forkserver", None)
        if server is None or not callable(getattr(server, "_stop", None)):
            self._say("workers are spawned: this Python's multiprocessing cannot stop a forkserver at the end of a run")
            return
        if getattr(server, "_forkserver_pid", None) is not None:
            self._say("workers are spawned: a forkserver this run did not start is running in this process")
            return
        shadow = _shadowing()
        if shadow is not None:
            self._say(f"workers are spawned: {shadow}")
            return
        try:
            self.server = _start_server(server, self.log)
        except (OSError, ValueError) as exc:
            self._say(f"workers are spawned: the forkserver could not start ({exc})")
            return
        self.forking = True
        self._restart = server.ensure_running
        server.ensure_running = self._no_restart  # multiprocessing would start another server quietly

    def _no_restart(self) -> None:
        """The server's ``ensure_running`` while this run holds it: a server that died is not
        replaced behind the run's back (a fork request then fails, and the run spawns)."""
        how = _ended(self.server) if self.server is not None else "ended"
        if how is not None:
            raise OSError(errno.ESRCH, f"the forkserver {how}")
        self._restart()

    def start(self, launch: Callable[..., _Worker]) -> _Worker:
        """``launch(make=process class, starter=self)``: from the forkserver while it serves, else spawned."""
        if self.forking and self.server is not None:
            how = _ended(self.server)
            if how is not None:
                self.lost(how)
            else:
                _need_descriptors(budget.FDS_TO_START)
                try:
                    return launch(make=_ForkedProcess, starter=self)
                except (OSError, EOFError) as exc:
                    if host_reason(exc) is not None:
                        raise  # no process, memory or descriptor left: the caller waits or says so
                    self.lost(failed=f"{type(exc).__name__}: {exc}")
        return launch(make=self.spawn.Process, starter=self)

    def lost(self, how: Optional[str] = None, failed: Optional[str] = None) -> None:
        """The server died (``how``: how it ended, else found out here) or ``failed`` a fork request:
        spawn from now on, and say why in the log, once."""
        if not self.forking or self.server is None:
            return
        self.forking = False
        if how is None:
            deadline = time.monotonic() + SERVER_END_WAIT
            while (how := _ended(self.server)) is None and time.monotonic() < deadline:
                time.sleep(ORPHAN_TICK)
        if how is None:
            how = f"failed a fork request ({failed})" if failed else "lost the exit status of a worker"
        elif failed:
            how += f", failing a fork request ({failed})"
        self._say(
            f"the forkserver (pid {self.server}) {how}: the workers it started that still run are watched "
            "through their pipes, and the next ones are spawned"
        )

    def close(self) -> None:
        """Stop this run's forkserver and drop its log if it says nothing. The server is killed
        (SIGKILL: it holds nothing of the run's) and reaped by multiprocessing's ``_stop``: left to
        end by itself, it waits for every process that holds its pipe, which a worker stuck in the
        driver, or a process a worker's runtime started, may hold for ever."""
        if self.server is not None:
            server: Any = forkserver._forkserver  # its private parts: typed as Any
            with contextlib.suppress(AttributeError):
                del server.ensure_running  # the class's own again
            pids = {self.server, getattr(server, "_forkserver_pid", None) or self.server}
            for pid in pids:
                if _ended(pid) is None:  # our child, not yet reaped: the pid is still its own
                    with contextlib.suppress(OSError):
                        os.kill(pid, signal.SIGKILL)
            try:
                server._stop()  # closes its pipe and reaps it
            except OSError:  # reaped already: forget it, as ``_stop`` would have
                with contextlib.suppress(OSError, TypeError):
                    os.close(server._forkserver_alive_fd)
                server._forkserver_alive_fd = server._forkserver_pid = server._forkserver_address = None
            self.server, self.forking = None, False
        _drop_if_empty(self.log)

    def _say(self, line: str) -> None:
        with contextlib.suppress(OSError), open(self.log, "a", encoding="utf-8") as fh:
            fh.write(line + "\n")


def start_method() -> str:
    """The start method asked for (``START_METHOD_ENV``; an unknown one is the default), where the
    platform has it; never raises."""
    asked = os.environ.get(START_METHOD_ENV, "").strip().lower()
    wanted = asked if asked in START_METHODS else START_METHODS[0]
    return wanted if wanted in mp.get_all_start_methods() else "spawn"


def _start_server(server: Any, log: Path) -> int:
    """Start the forkserver with ``PRELOAD``, SIGINT and SIGTERM blocked (every worker it forks
    inherits its mask: see the module docstring), its stderr into ``log`` (the preload's first
    module redirects it) and this controller's ``sys.path`` (a ``python -c`` server would otherwise
    find the worker's code only where the current directory is); its pid. The resource tracker must
    run already: starting it would unblock them."""
    forkserver.set_forkserver_preload(list(PRELOAD))
    given = [p for p in os.environ.get("PYTHONPATH", "").split(os.pathsep) if p]
    paths = given + [os.path.abspath(p) for p in sys.path if p and os.path.abspath(p) not in given]
    added = {SERVER_LOG_ENV: str(log), "PYTHONPATH": os.pathsep.join(paths)}
    saved = {key: os.environ.get(key) for key in added}
    blocked = signal.pthread_sigmask(signal.SIG_BLOCK, STOP_SIGNALS)
    try:
        os.environ.update(added)  # for the server's start only: it is a child of this environment
        server.ensure_running()
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
        signal.pthread_sigmask(signal.SIG_SETMASK, blocked)
    return int(server._forkserver_pid)


def _shadowing() -> Optional[str]:
    """Why a forkserver would import another package than this controller's, or None: a folder or
    module of a ``SHADOWED`` name in the current directory, which a ``python -c`` process puts first
    on its path."""
    for name in SHADOWED:
        ours = sys.modules.get(name)
        here = getattr(ours, "__file__", None)
        for candidate in (os.path.join(os.getcwd(), name), os.path.join(os.getcwd(), name + ".py")):
            if os.path.exists(candidate) and (here is None or not os.path.abspath(here).startswith(candidate)):
                return f"the current directory holds {candidate}, which a forkserver would import as {name!r}"
    return None


def _ended(pid: int) -> Optional[str]:
    """How the child process ``pid`` ended (``died from signal SIGKILL``, ``exited with code 1``),
    None while it runs; it is left for its owner to reap."""
    try:
        info = os.waitid(os.P_PID, pid, os.WEXITED | os.WNOHANG | os.WNOWAIT)
    except ChildProcessError:
        return "ended"
    except OSError:
        return None
    if info is None:
        return None
    if info.si_code == os.CLD_EXITED:
        return f"exited with code {info.si_status}"
    try:
        return f"died from signal {signal.Signals(info.si_status).name}"
    except ValueError:
        return f"died from signal {info.si_status}"


def _need_descriptors(count: int) -> None:
    """EMFILE unless ``count`` descriptors are free under the soft limit (``ulimit -n``)."""
    soft, _ = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft != resource.RLIM_INFINITY and soft - budget.open_descriptors() < count:
        raise OSError(errno.EMFILE, f"fewer than {count} descriptors free under ulimit -n {soft} to start a worker")


def _proc_stat(pid: int) -> Optional[Tuple[str, int]]:
    """The state letter and start time (clock ticks since boot) of process ``pid``, from /proc; None
    when it is gone. Raises ``OSError`` when /proc cannot say (no descriptor or memory left)."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as fh:
            fields = fh.read().rsplit(b")", 1)[1].split()
        return fields[0].decode(), int(fields[19])
    except (FileNotFoundError, ProcessLookupError, IndexError, ValueError):
        return None


def _running(pid: int, birth: Optional[int]) -> bool:
    """Process ``pid`` is still the one that started at ``birth``, and not a zombie."""
    stat = _proc_stat(pid) if birth is not None else None
    return stat is not None and stat[1] == birth and stat[0] not in ("Z", "X", "x")


def _drop_if_empty(log: Path) -> None:
    """The forkserver's log stays only when it says something (a server that started and ended well
    says nothing)."""
    with contextlib.suppress(OSError):
        if log.stat().st_size == 0:
            log.unlink()


def _worker(job: DeviceJob, run_dir: Path) -> WorkerJob:
    """The job's worker part; a simulated shared link is shared by this run's workers of one host only."""
    if not job.sim or not job.sim.get("link_gbps"):
        return job.worker
    return dataclasses.replace(job.worker, sim=dict(job.sim, link_state=str(rundir.link_state_path(run_dir, job.host))))


def _host_signs(w: _Worker, sink: Sink) -> None:
    """A ``host_error`` fault for a worker that could not report, when its log shows the host ran out."""
    host = host_problem(_tail(w.log))
    if host is not None:
        sink(w.job.host, w.job.device, ev.Fault(fault="host_error", message=f"{host} (seen in its log)"))


def _tail(log: Path, size: int = 4096) -> str:
    try:
        with open(log, "rb") as fh:
            fh.seek(max(0, log.stat().st_size - size))
            return fh.read().decode("utf-8", "replace")
    except OSError:
        return ""
