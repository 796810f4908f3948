"""Local launcher: one OS process per device on this machine, supervised from one loop.

    controller                                  worker process (spawned, one per device)
    ----------                                  ----------------------------------------
    spawn(workers.entry.local) ------------>    run_device(...) -> conn.send(event dict)
    wait(pipes + process sentinels) <-------    events, as they happen (at most ``slots`` at once)
      event         -> sink(host, device, event)
      sentinel      -> no Finished seen? synthesise Crashed (exit code / signal, where it was)
      no progress   -> dump its stack (faulthandler signal), kill, synthesise Hung
      stop set      -> SIGTERM every worker, wait GRACE, kill the rest

The ``spawn`` start method keeps the real runtime from ever seeing a forked copy of the controller.
"""

from __future__ import annotations

import dataclasses
import multiprocessing as mp
import os
import signal
import threading
import time
from dataclasses import dataclass
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
from workers.entry.position import Position
from workers.job import WorkerJob


@dataclass
class _Worker(Tracked):
    proc: Any = None
    conn: Optional[Connection] = None
    log: Path = Path()
    closed: bool = False  # its pipe reached EOF
    retired: bool = False  # process handle closed
    position: Optional[Position] = None  # (cycle, last completed copy), written by the worker

    def refresh(self) -> None:
        """Take the exact position from the worker's position file (progress events are rate-limited)."""
        if self.position is not None:
            self.cycle, self.copies = self.position.cycle, self.position.copies

    def release(self) -> None:
        """Close what the controller holds for an ended worker (pipe, position map, process handle),
        so a long serial run never runs out of file descriptors."""
        assert self.conn is not None
        self.conn.close()
        if self.position is not None:
            self.position.close()
            self.position = None
        if not self.proc.is_alive():
            self.proc.join(timeout=0)
            self.proc.close()
            self.retired = True


class LocalLauncher:
    """Runs every job as a child process of this controller, at most ``slots`` at once."""

    def run(self, jobs: Sequence[DeviceJob], run_dir: Path, sink: Sink, stop: threading.Event, slots: int = 0) -> None:
        ctx = mp.get_context("spawn")
        (run_dir / rundir.LOGS).mkdir(parents=True, exist_ok=True)
        pending = list(jobs)
        workers: List[_Worker] = []

        def spawn_more() -> None:
            while pending and not stop.is_set() and sum(not w.ended for w in workers) < (slots or len(jobs)):
                workers.append(self._spawn(ctx, pending.pop(0), run_dir))

        try:
            gave_up = self._supervise(workers, sink, stop, spawn_more)
        except BaseException:
            gave_up = True
            raise
        finally:
            # finalize may take seconds on real hardware; a stop that gave up has spent its grace
            deadline = time.monotonic() + (0.0 if gave_up else GRACE)
            for w in workers:
                if not w.retired:
                    w.proc.join(timeout=max(0.0, deadline - time.monotonic()))
                    _kill(w)
                    w.proc.close()

    def _spawn(self, ctx: Any, job: DeviceJob, run_dir: Path) -> _Worker:
        reader, writer = ctx.Pipe(duplex=False)
        position = Position.create(str(rundir.position_path(run_dir, job.host, job.device)))
        log = rundir.log_path(run_dir, job.host, job.device)
        proc = ctx.Process(
            target=worker_entry,
            name=f"dvpp-worker-{job.worker.name}",
            args=(_worker(job, run_dir), str(log), writer, os.getpid(), position.path),
            daemon=False,
        )
        proc.start()
        writer.close()  # the child holds the only writer: EOF on our side means it is gone
        now = time.monotonic()
        return _Worker(job=job, since=now, last_event=now, proc=proc, conn=reader, log=log, position=position)

    def _supervise(
        self, workers: List[_Worker], sink: Sink, stop: threading.Event, spawn_more: Callable[[], None]
    ) -> bool:
        """Until every worker has ended: deliver events, notice deaths and hangs, keep the slots full.
        Returns whether it gave up waiting on a stop (the survivors are then killed at once)."""
        stopping = Stopping()
        spawn_more()
        while any(not w.ended for w in workers):
            live = [w for w in workers if not w.ended]
            ready = wait(
                [w.conn for w in live if not w.closed and w.conn is not None] + [w.proc.sentinel for w in live],
                timeout=TICK,
            )
            for w in live:
                if w.conn in ready:
                    self._drain(w, sink)
                if not w.ended and w.proc.sentinel in ready:
                    self._reap(w, sink, stopping=stopping.active)
            if stop.is_set() and stopping.begin(time.monotonic()):
                for w in workers:
                    _signal(w, signal.SIGTERM)
            if stopping.expired(time.monotonic()):
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
        """Read every event the worker has sent so far (never blocks)."""
        assert w.conn is not None
        try:
            while w.conn.poll():
                event = ev.from_dict(w.conn.recv())
                w.saw(event)
                sink(w.job.host, w.job.device, event)
        except (EOFError, OSError):
            w.closed = True  # the sentinel tells whether the process ended well

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
        sink(
            w.job.host,
            w.job.device,
            ev.Crashed(message=f"worker for {w.name} died {how} {w.during()}", exitcode=code, signal=name),
        )

    def _check_hangs(self, live: List[_Worker], sink: Sink) -> None:
        """Overdue workers: ask all of them for their stacks at once, wait once, then kill each."""
        now = time.monotonic()
        overdue = [w for w in live if now > w.deadline]
        stacks = hangs.dump_stacks([(w.proc.pid, w.log) for w in overdue], STACK_WAIT)
        for w, stack in zip(overdue, stacks):
            w.refresh()  # the position before the kill
            cycle, copies = w.cycle, w.copies
            _kill(w)
            self._drain(w, sink)
            if not w.ended:
                w.ended = True
                sink(w.job.host, w.job.device, hangs.hung_event(w.job, w.started, cycle, copies, stack))


def _worker(job: DeviceJob, run_dir: Path) -> WorkerJob:
    """The job's worker part; a simulated shared link is shared by this run's workers of one host only."""
    if not job.sim or not job.sim.get("link_gbps"):
        return job.worker
    return dataclasses.replace(job.worker, sim=dict(job.sim, link_state=str(rundir.link_state_path(run_dir, job.host))))


def _signal(w: _Worker, signum: int) -> None:
    if w.proc.is_alive():
        try:
            os.kill(w.proc.pid, signum)
        except ProcessLookupError:
            pass


def _kill(w: _Worker) -> None:
    if w.proc.is_alive():
        w.proc.kill()
    w.proc.join(timeout=5)
