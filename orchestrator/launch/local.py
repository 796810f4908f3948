"""Local launcher: one OS process per device on this machine, supervised from one loop.

    controller                                  worker process (spawned, one per device)
    ----------                                  ----------------------------------------
    spawn(workers.entry.local) ------------>    run_device(...) -> conn.send(event dict)
    wait(pipes + process sentinels) <-------    events, as they happen (at most ``slots`` at once)
      event         -> sink(host, device, event)
      sentinel      -> no Finished seen? synthesise Crashed (exit code / signal, where it was)
      no progress   -> dump its stack (faulthandler signal), kill, synthesise Hung
      stop set      -> SIGTERM every worker, wait GRACE, kill the rest (one past its deadline: stack, Hung)

The ``spawn`` start method keeps the real runtime from ever seeing a forked copy of the controller.
Each worker starts with SIGINT and SIGTERM blocked (a terminal's Ctrl-C reaches the whole process
group) until its entry installs a handler that only sets a flag (``workers/entry/local.py``). A
worker that cannot be started (the host is out of processes, memory or descriptors) is a host
problem (``host_error``), never a device fault; the controller holds three descriptors per running
worker (its pipe, its process sentinel and its start-data pipe) and reads position files only when it needs them.
"""

from __future__ import annotations

import dataclasses
import multiprocessing as mp
import os
import signal
import time
from dataclasses import dataclass
from multiprocessing import resource_tracker
from multiprocessing.connection import Connection, wait
from pathlib import Path
from typing import Any, Callable, List, Optional, Sequence

from orchestrator import rundir
from orchestrator.launch import hangs
from orchestrator.launch.contract import Sink
from orchestrator.launch.tracking import GRACE, STACK_WAIT, TICK, Stopping, Tracked
from orchestrator.spec.plan import DeviceJob
from workers import events as ev
from workers.entry.local import worker_entry
from workers.entry.position import Position, read_position
from workers.hostfault import host_fault, host_problem, host_reason
from workers.job import WorkerJob
from workers.stopflag import STOP_SIGNALS, Stop


@dataclass
class _Worker(Tracked):
    proc: Any = None
    conn: Optional[Connection] = None
    log: Path = Path()
    closed: bool = False  # its pipe reached EOF
    retired: bool = False  # process handle closed
    position: str = ""  # the file where the worker writes where it is and its totals

    def refresh(self) -> None:
        """Take the exact position and totals from the worker's position file (events are rate-limited)."""
        self.place(read_position(self.position) if self.position else None)

    def release(self) -> None:
        """Close what the controller holds for an ended worker (pipe, process handle), so a long
        serial run never runs out of file descriptors."""
        assert self.conn is not None
        self.conn.close()
        if not self.proc.is_alive():
            self.proc.join(timeout=0)
            self.proc.close()
            self.retired = True


class LocalLauncher:
    """Runs every job as a child process of this controller, at most ``slots`` at once."""

    def run(self, jobs: Sequence[DeviceJob], run_dir: Path, sink: Sink, stop: Stop, slots: int = 0) -> None:
        ctx = mp.get_context("spawn")
        # The first spawn starts multiprocessing's resource tracker, which unblocks SIGINT and SIGTERM
        # in this thread as it does: start it now, outside the window where they must stay blocked.
        resource_tracker.ensure_running()
        (run_dir / rundir.LOGS).mkdir(parents=True, exist_ok=True)
        pending = list(jobs)
        workers: List[_Worker] = []

        def spawn_more() -> None:
            while pending and not stop.is_set() and sum(not w.ended for w in workers) < (slots or len(jobs)):
                job = pending.pop(0)
                try:
                    workers.append(self._spawn(ctx, job, run_dir))
                except (OSError, MemoryError) as exc:  # no process, memory or descriptor left: the host's problem
                    if host_reason(exc) is not None and any(not w.retired for w in workers):
                        pending.insert(0, job)  # one that ends frees what this one needs: try again then
                        return
                    sink(job.host, job.device, host_fault(exc, "starting the worker"))
                    continue
                sink(job.host, job.device, ev.Launched(pid=workers[-1].proc.pid))

        try:
            gave_up = self._supervise(workers, sink, stop, spawn_more, lambda: bool(pending) and not stop.is_set())
        except BaseException:
            gave_up = True
            raise
        finally:
            # finalize may take seconds on real hardware; a stop that gave up has spent its grace,
            # and a second stop request means: do not wait for workers that released their devices
            hurry = gave_up or getattr(stop, "count", 1) > 1
            deadline = time.monotonic() + (0.0 if hurry else GRACE)
            for w in workers:
                if not w.retired:
                    w.proc.join(timeout=max(0.0, deadline - time.monotonic()))
                    _kill(w)
                    if w.conn is not None:
                        w.conn.close()
                    if not w.proc.is_alive():  # one stuck in the driver even after SIGKILL keeps its handle
                        w.proc.close()
                    w.retired = True

    def _spawn(self, ctx: Any, job: DeviceJob, run_dir: Path) -> _Worker:
        position = str(rundir.position_path(run_dir, job.host, job.device))
        Position.create(position).close()
        log = rundir.log_path(run_dir, job.host, job.device)
        reader, writer = ctx.Pipe(duplex=False)
        try:
            proc = ctx.Process(
                target=worker_entry,
                name=f"dvpp-worker-{job.worker.name}",
                args=(_worker(job, run_dir), str(log), writer, os.getpid(), position),
                daemon=False,
            )
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
        return _Worker(job=job, since=now, last_event=now, proc=proc, conn=reader, log=log, position=position)

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
                [w.conn for w in live if not w.closed and w.conn is not None] + [w.proc.sentinel for w in live],
                timeout=TICK,
            )
            for w in live:
                if w.conn in ready:
                    self._drain(w, sink)
                if not w.ended and w.proc.sentinel in ready:
                    self._reap(w, sink, stopping=stopping.active or stop.is_set())
            if stop.is_set() and stopping.begin(time.monotonic()):
                for w in workers:
                    if not w.ended:
                        _signal(w, signal.SIGTERM)
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
            if w.ended and not w.retired and not w.proc.is_alive():
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
        """The process ended: read what is left; without a Finished event it crashed."""
        w.proc.join(timeout=1)
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

    def _hung_at_stop(self, live: List[_Worker], sink: Sink, grace: float) -> None:
        """Workers still there ``grace`` seconds after the stop request. One past its own deadline is
        stuck: HUNG, with its stack and where. One within it (opening a device may take a minute) is
        killed as the stop asked: ABORTED, never called hung."""
        now = time.monotonic()
        overdue = [w for w in live if w.proc.is_alive() and now > w.deadline]
        stacks = hangs.dump_stacks([(w.proc.pid, w.log) for w in overdue], STACK_WAIT)
        stack_of = {id(w): stack for w, stack in zip(overdue, stacks)}
        for w in live:
            w.refresh()
            _kill(w)
            self._drain(w, sink)  # what it said before it died: it may have ended after all
            if not w.ended:
                w.ended = True
                if id(w) in stack_of:
                    sink(w.job.host, w.job.device, w.hung(stack_of[id(w)], grace))

    def _check_hangs(self, live: List[_Worker], sink: Sink) -> None:
        """Overdue workers: ask all of them for their stacks at once, wait once, then kill each."""
        now = time.monotonic()
        overdue = [w for w in live if now > w.deadline]
        stacks = hangs.dump_stacks([(w.proc.pid, w.log) for w in overdue], STACK_WAIT)
        for w, stack in zip(overdue, stacks):
            w.refresh()  # the position before the kill (the events drained after it are older)
            _kill(w)
            self._drain(w, sink)
            if not w.ended:
                w.ended = True
                if not w.started:  # e.g. stuck starting, out of memory
                    _host_signs(w, sink)
                sink(w.job.host, w.job.device, w.hung(stack))


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


def _signal(w: _Worker, signum: int) -> None:
    if not w.retired and w.proc.is_alive():
        try:
            os.kill(w.proc.pid, signum)
        except ProcessLookupError:
            pass


def _kill(w: _Worker) -> None:
    if w.proc.is_alive():
        w.proc.kill()
    w.proc.join(timeout=5)
