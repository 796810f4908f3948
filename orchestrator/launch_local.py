"""Local launcher: one OS process per device on this machine, supervised from one loop.

    controller                                  worker process (spawned, one per device)
    ----------                                  ----------------------------------------
    spawn(child.worker_entry) ------------->    run_device(...) -> conn.send(event dict)
    wait(pipes + process sentinels) <-------    events, as they happen (at most ``slots`` at once)
      event         -> sink(host, device, event)
      sentinel      -> no Finished seen? synthesise Crashed (exit code / signal, where it was)
      no progress   -> dump its stack (faulthandler signal), kill, synthesise Hung
      stop set      -> SIGTERM every worker, wait GRACE, kill the rest

The ``spawn`` start method keeps the real runtime from ever seeing a forked copy of the controller.
"""
from __future__ import annotations

import multiprocessing as mp
import os
import signal
import threading
import time
from dataclasses import dataclass
from multiprocessing.connection import Connection, wait
from pathlib import Path
from typing import Any, Callable, Dict, List, Optional, Sequence

from orchestrator import child, hangs
from orchestrator.launchers import Sink
from orchestrator.plan import DeviceJob
from workers import events as ev

GRACE = 10.0
"""Seconds a stopping worker gets to release its device before it is killed."""
TICK = 0.2


@dataclass
class _Worker:
    job: DeviceJob
    proc: Any
    conn: Connection
    log: Path
    spawned: float
    last_event: float
    started: bool = False
    ended: bool = False
    closed: bool = False
    retired: bool = False  # process handle closed
    position: Optional[child.Position] = None  # (cycle, last completed copy), written by the worker

    @property
    def cycle(self) -> int:
        return int(self.position.view[0]) if self.position else 0

    @property
    def copies(self) -> int:
        return int(self.position.view[1]) if self.position else 0

    def release(self) -> None:
        """Close what the controller holds for an ended worker (pipe, position map, process handle),
        so a long serial run never runs out of file descriptors."""
        self.conn.close()
        if self.position is not None:
            self.position.close()
            self.position = None
        if not self.proc.is_alive():
            self.proc.join(timeout=0)
            self.proc.close()
            self.retired = True

    @property
    def deadline(self) -> float:
        return hangs.deadline(self.job, self.started, self.spawned, self.last_event)


class LocalLauncher:
    """Runs every job at once as a child process of this controller."""

    def run(self, jobs: Sequence[DeviceJob], backend: str, run_dir: Path, sink: Sink,
            stop: threading.Event, slots: int = 0) -> None:
        ctx = mp.get_context("spawn")
        (run_dir / "logs").mkdir(parents=True, exist_ok=True)
        pending = list(jobs)
        workers: List[_Worker] = []

        def spawn_more() -> None:
            while pending and not stop.is_set() and sum(not w.ended for w in workers) < (slots or len(jobs)):
                workers.append(self._spawn(ctx, pending.pop(0), backend, run_dir))

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

    def _spawn(self, ctx: Any, job: DeviceJob, backend: str, run_dir: Path) -> _Worker:
        reader, writer = ctx.Pipe(duplex=False)
        position = child.Position.create(str(run_dir / "logs" / f".{job.host}-{job.device}.position"))
        log = run_dir / "logs" / f"{job.host}-{job.device}.log"
        payload = {"host": job.host, "device": job.device, "params": job.params.to_dict(), "sim": _sim(job, run_dir)}
        proc = ctx.Process(target=child.worker_entry, name=f"dvpp-worker-{job.host}-{job.device}",
                           args=(payload, backend, str(log), writer, os.getpid(), position.path), daemon=False)
        proc.start()
        writer.close()  # the child holds the only writer: EOF on our side means it is gone
        now = time.monotonic()
        return _Worker(job=job, proc=proc, conn=reader, log=log, spawned=now, last_event=now, position=position)

    def _supervise(self, workers: List[_Worker], sink: Sink, stop: threading.Event,
                   spawn_more: Callable[[], None]) -> bool:
        """Until every worker has ended: deliver events, notice deaths and hangs, keep the slots full.
        Returns whether it gave up waiting on a stop (the survivors are then killed at once)."""
        stopping_since: Optional[float] = None
        spawn_more()
        while any(not w.ended for w in workers):
            live = [w for w in workers if not w.ended]
            ready = wait([w.conn for w in live if not w.closed] + [w.proc.sentinel for w in live], timeout=TICK)
            for w in live:
                if w.conn in ready:
                    self._drain(w, sink)
                if not w.ended and w.proc.sentinel in ready:
                    self._reap(w, sink, stopping=stopping_since is not None)
            if stop.is_set() and stopping_since is None:
                stopping_since = time.monotonic()
                for w in workers:
                    _signal(w, signal.SIGTERM)
            if stopping_since is not None and time.monotonic() - stopping_since > GRACE:
                return True
            self._retire(workers)
            if stopping_since is None:
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
        try:
            while w.conn.poll():
                self._deliver(w, ev.from_dict(w.conn.recv()), sink)
        except (EOFError, OSError):
            w.closed = True  # the sentinel tells whether the process ended well

    def _deliver(self, w: _Worker, event: ev.Event, sink: Sink) -> None:
        w.last_event = time.monotonic()
        if isinstance(event, ev.Started):
            w.started = True
        elif isinstance(event, ev.Finished):
            w.ended = True
        sink(w.job.host, w.job.device, event)

    def _reap(self, w: _Worker, sink: Sink, stopping: bool) -> None:
        """The process ended: read what is left; without a Finished event it crashed."""
        w.proc.join(timeout=1)
        self._drain(w, sink)
        if w.ended:
            return
        w.ended = True
        code = w.proc.exitcode
        if stopping and code in (-signal.SIGTERM, -signal.SIGKILL, -signal.SIGINT):
            return  # asked to stop and ended by that signal: the verdict says ABORTED
        name = signal.Signals(-code).name if code is not None and code < 0 else None
        how = f"from signal {name}" if name else f"with exit code {code}"
        msg = f"worker for {w.job.host}:{w.job.device} died {how} during {hangs.where(w.started, w.cycle, w.copies)}"
        sink(w.job.host, w.job.device, ev.Crashed(message=msg, exitcode=code, signal=name))

    def _check_hangs(self, live: List[_Worker], sink: Sink) -> None:
        """Overdue workers: ask all of them for their stacks at once, wait once, then kill each."""
        now = time.monotonic()
        overdue = [w for w in live if now > w.deadline]
        stacks = hangs.dump_stacks([(w.proc.pid, w.log) for w in overdue], STACK_WAIT)
        for w, stack in zip(overdue, stacks):
            cycle, copies = w.cycle, w.copies
            _kill(w)
            self._drain(w, sink)
            if not w.ended:
                w.ended = True
                sink(w.job.host, w.job.device, hangs.hung_event(w.job, w.started, cycle, copies, stack))


STACK_WAIT = 1.0


def _sim(job: DeviceJob, run_dir: Path) -> Optional[Dict[str, Any]]:
    """The job's simulator config; a shared link is shared by this run's workers of one host only."""
    if not job.sim or not job.sim.get("link_gbps"):
        return job.sim
    return dict(job.sim, link_state=str(run_dir / f"sim-link-{job.host}.state"))


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


def make_launcher(options: Dict[str, Any]) -> LocalLauncher:
    """The local launcher takes no options (the registry's signature is shared with Ray's)."""
    return LocalLauncher()
