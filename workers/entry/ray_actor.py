"""What runs inside a Ray actor process, next to one NPU: the Ray counterpart of ``local.py``.

    controller (launch/ray/launcher.py)      DeviceActor (one process per device, holds NPU: 1)
    --------------------------                --------------------------------------------------
    where.remote()        ------------->      its node and the NPU id Ray assigned to it
    start.remote(job)     ------------->      a thread runs workers.main.run_device(...)
    drain.remote(wait)    <-------------      the events emitted since the last drain (long poll)
    stop.remote()         ------------->      stop after the current copy (outcome ``stopped``)
    stack.remote()        <-------------      the run thread's stack, for a hang report
    remains.remote(n)     <-------------      the log's last lines and the exact position and totals,
                                              from node-local files (a plain task reads them if it died)

Ray sets ``ASCEND_RT_VISIBLE_DEVICES`` to the NPU it assigned before this class is built, so the
worker's runtime maps the physical id to logical id 0 exactly as it does for a local worker under
that variable. The actor is threaded (``max_concurrency``): ``drain`` and ``stop`` are served while
the device thread runs. It never decides a status.
"""

from __future__ import annotations

import faulthandler
import os
import shutil
import socket
import sys
import tempfile
import threading
import time
from typing import Any, Dict, List, Optional, Tuple

from workers.entry.position import Position, read_position, round_trips
from workers.job import LOG_BANNER, LOG_SUFFIX, POSITION_SUFFIX, WorkerJob
from workers.visibility import VISIBLE_ENV

MAX_CONCURRENCY = 4


def node_folder(run_id: str) -> str:
    """A run's folder in its node's temp directory; ``run_id`` is unique to one launch of a run."""
    return os.path.join(tempfile.gettempdir(), "dvpp-fleet", run_id)


def node_files(run_id: str, name: str) -> Tuple[str, str]:
    """(log, position) files of a worker on its node, in the run's ``node_folder``."""
    base = os.path.join(node_folder(run_id), name)
    return base + LOG_SUFFIX, base + POSITION_SUFFIX


def forget(run_id: str) -> int:
    """Remove the run's folder on this node (its workers' logs and positions, copied into the run
    directory where they mattered); returns how many files it held. Run as a Ray task on each node
    once the run is over."""
    folder = node_folder(run_id)
    try:
        names = os.listdir(folder)
    except OSError:
        return 0
    shutil.rmtree(folder, ignore_errors=True)
    return len(names)


def remains(run_id: str, name: str, lines: int) -> Dict[str, Any]:
    """``{"tail": [the log's last lines], "position": {cycle, copies, cycles, bytes} or None}`` of a
    worker (``position.Where`` as a dict), read on its node. Also run as a plain Ray task on that node
    when the actor died, so a crash still leaves its last words, its exact place and its totals."""
    log, position = node_files(run_id, name)
    try:
        with open(log, encoding="utf-8", errors="replace") as fh:
            tail = fh.read().splitlines()[-lines:]
    except OSError:
        tail = []
    where = read_position(position)
    return {"tail": tail, "position": where._asdict() if where is not None else None}


class DeviceActor:
    """One device's worker; created by the Ray launcher (``orchestrator/launch/ray``) through ``ray.remote``."""

    def __init__(self) -> None:
        self._events: List[Dict[str, Any]] = []
        self._done = False
        self._cond = threading.Condition()
        self._stop = threading.Event()
        self._thread: Optional[threading.Thread] = None
        self._files: Optional[Tuple[str, str]] = None  # (run id, name) once start() set up the files
        self._watch: Optional[Position] = None
        self._last_sent = time.monotonic()  # when the device thread last sent an event (or started)
        self._opened = False

    def where(self) -> Dict[str, Any]:
        """``{"node_id", "ip", "hostname", "npu_ids": [int], "visible": str|None, "pid"}``."""
        import ray

        context = ray.get_runtime_context()
        ids = context.get_accelerator_ids().get("NPU") or []
        return {
            "node_id": context.get_node_id(),
            "ip": ray.util.get_node_ip_address(),
            "hostname": socket.gethostname(),
            "npu_ids": [int(i) for i in ids],
            "visible": os.environ.get(VISIBLE_ENV),
            "pid": os.getpid(),
        }

    def start(self, job: WorkerJob, run_id: Optional[str] = None) -> None:
        """Run ``job`` in a thread. With ``run_id``, this process's stdout and stderr (vendor runtime
        output included) and the exact position go to node-local files (``node_files``) that
        ``remains`` reads."""
        watch = self._set_up_files(run_id, job.name, round_trips(job.params)) if run_id else None
        self._watch = watch
        self._last_sent = time.monotonic()
        self._thread = threading.Thread(target=self._run, args=(job, watch), name="dvpp-device", daemon=True)
        self._thread.start()

    def _set_up_files(self, run_id: str, name: str, trips: int) -> Position:
        log, position = node_files(run_id, name)
        os.makedirs(os.path.dirname(log), exist_ok=True)
        fd = os.open(log, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
        for target in (1, 2):
            os.dup2(fd, target)
        os.close(fd)
        self._files = (run_id, name)
        faulthandler.enable(all_threads=True)  # a fatal signal leaves every thread's stack in the log
        print(f"{LOG_BANNER} {os.getpid()} on {socket.gethostname()}: {name}", flush=True)
        return Position.create(position, trips)

    def _run(self, job: WorkerJob, watch: Optional[Position]) -> None:
        from workers.main import run_device

        try:
            run_device(
                job.params,
                self._emit,
                backend=job.backend,
                sim_config=job.sim,
                stop=self._stop,
                watch=watch,
                host=job.host,  # the simulated nodes of a test cluster share one machine, not their devices
            )
        finally:
            with self._cond:
                self._done = True
                self._cond.notify_all()

    def _emit(self, event: Any) -> None:
        if event.kind == "started":
            self._opened = True
            if self._watch is not None:
                self._watch.opened()  # a Started still undrained when the actor dies is not lost
        self._last_sent = time.monotonic()
        with self._cond:
            self._events.append(event.to_dict())
            self._cond.notify_all()

    def drain(self, wait: float) -> Dict[str, Any]:
        """``{"events": [event dicts], "done": bool}``: waits up to ``wait`` seconds for the first."""
        with self._cond:
            self._cond.wait_for(lambda: self._events or self._done, timeout=wait)
            events, self._events = self._events, []
            return {"events": events, "done": self._done}

    def quiet_for(self) -> Dict[str, Any]:
        """``{"quiet": seconds since the device thread last sent an event (or started), "started":
        it opened the device, "done": the device thread has ended}``, on this node's clock: what
        hang detection counts from, however far behind the controller reading the events is."""
        with self._cond:
            done = self._done
        return {"quiet": time.monotonic() - self._last_sent, "started": self._opened, "done": done}

    def stop(self) -> None:
        """Ask the device thread to stop after the current copy."""
        self._stop.set()

    def remains(self, lines: int) -> Dict[str, Any]:
        """This worker's log tail and exact position (see the module function ``remains``)."""
        sys.stdout.flush()
        sys.stderr.flush()
        return remains(*self._files, lines) if self._files else {"tail": [], "position": None}

    def stack(self) -> Optional[str]:
        """The device thread's stack in ``faulthandler``'s format (innermost frame first)."""
        ident = self._thread.ident if self._thread else None
        frame = sys._current_frames().get(ident) if ident else None
        if frame is None or ident is None:
            return None
        lines = [f"Current thread 0x{ident:016x} (most recent call first):"]
        while frame is not None:
            code = frame.f_code
            lines.append(f'  File "{code.co_filename}", line {frame.f_lineno} in {code.co_name}')
            frame = frame.f_back
        return "\n".join(lines)
