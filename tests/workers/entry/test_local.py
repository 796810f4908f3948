"""The local worker entry (workers/entry/local.py), run as the local launcher runs it: a spawned
process with a real one-way pipe, its output in a log file, on the simulator."""

from __future__ import annotations

import multiprocessing as mp
import os
import signal
import time
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any, Iterator, List, Optional, Tuple

import pytest

from tests.helpers.workers import params, sim
from workers import events as ev
from workers.entry.local import STACK_SIGNAL, worker_entry
from workers.entry.position import Position, read_position
from workers.job import WorkerJob

pytestmark = pytest.mark.slow
WAIT = 60.0
"""Seconds any one wait for the worker may take before the test fails."""

Worker = Tuple[Any, Connection, Path]


@pytest.fixture
def spawn(tmp_path) -> Iterator[Any]:
    """Start ``worker_entry`` for a job in a spawned process; killed after the test if still alive."""
    started: List[Any] = []

    def start(job: WorkerJob, position: Optional[str] = None) -> Worker:
        ctx = mp.get_context("spawn")
        reader, writer = ctx.Pipe(duplex=False)
        log = tmp_path / f"{job.name}.log"
        proc = ctx.Process(target=worker_entry, args=(job, str(log), writer, os.getpid(), position))
        proc.start()
        started.append(proc)
        writer.close()  # the child holds the only writer: EOF here means it is gone
        return proc, reader, log

    yield start
    for proc in started:
        if proc.is_alive():
            proc.kill()
        proc.join(timeout=WAIT)


def job(**kw: Any) -> WorkerJob:
    return WorkerJob(host="localhost", params=params(**kw), backend="sim", sim=sim())


def short_job() -> WorkerJob:
    return job(release_cycle=4, number_of_cycles=2, memory_reuse=True)


def endless_job() -> WorkerJob:
    return job(release_cycle=4, number_of_cycles=-1, memory_reuse=True, duration=300.0, interval=0.005)


def next_event(reader: Connection) -> Optional[ev.Event]:
    """The next event, or None at EOF; fails when none comes within ``WAIT``."""
    assert reader.poll(WAIT), "the worker sent nothing"
    try:
        return ev.from_dict(reader.recv())
    except EOFError:
        return None


def rest(reader: Connection) -> List[ev.Event]:
    """Every event until the worker closes its end."""
    got: List[ev.Event] = []
    while True:
        event = next_event(reader)
        if event is None:
            return got
        got.append(event)


def test_events_arrive_in_order_and_end_with_finished(spawn):
    proc, reader, log = spawn(short_job())
    got = rest(reader)
    proc.join(timeout=WAIT)
    assert proc.exitcode == 0
    kinds = [e.kind for e in got]
    assert kinds[0] == "started" and kinds[-1] == "finished" and kinds.count("finished") == 1
    assert set(kinds) <= {"started", "progress", "cycle_end", "finished"}
    assert got[0].pid == proc.pid and got[0].backend == "sim"
    assert (got[-1].outcome, got[-1].cycles, got[-1].copies) == ("completed", 2, 8)
    assert f"worker pid {proc.pid}: localhost:0 backend sim" in log.read_text()


@pytest.mark.parametrize("host_memory", ["pinned", "both"])
def test_the_worker_writes_its_position_file_with_the_totals_of_finished(spawn, tmp_path, host_memory):
    path = str(tmp_path / ".localhost-0.position")
    Position.create(path).close()
    proc, reader, _ = spawn(job(release_cycle=4, number_of_cycles=2, host_memory=host_memory), position=path)
    end = rest(reader)[-1]
    proc.join(timeout=WAIT)
    assert isinstance(end, ev.Finished) and end.bytes == 8 * 2 * 4096 * (2 if host_memory == "both" else 1)
    assert read_position(path) == (2, 8, 2, end.bytes)  # cycle, copy, cycles completed, bytes moved


def test_sigterm_stops_the_worker_cleanly(spawn):
    proc, reader, log = spawn(endless_job())
    assert next_event(reader).kind == "started"  # the stop signals are handled from here on
    proc.terminate()
    end = rest(reader)[-1]
    proc.join(timeout=WAIT)
    assert (end.kind, end.outcome, proc.exitcode) == ("finished", "stopped", 0)
    assert "received SIGTERM: stopped after the current copy" in log.read_text()


def test_a_closed_pipe_stops_the_worker(spawn):
    proc, reader, log = spawn(endless_job())
    assert next_event(reader).kind == "started"
    reader.close()  # the controller is gone: the worker's next event cannot be sent
    proc.join(timeout=WAIT)
    assert proc.exitcode == 0
    text = log.read_text()
    assert text.count("controller is gone (its pipe closed): stopping and releasing the device") == 1


def test_the_stack_signal_writes_every_threads_stack_to_the_log_and_the_worker_goes_on(spawn):
    proc, reader, log = spawn(endless_job())
    assert next_event(reader).kind == "started"
    os.kill(proc.pid, STACK_SIGNAL)
    deadline = time.monotonic() + WAIT
    seen: List[ev.Event] = []
    while "most recent call first" not in log.read_text() and time.monotonic() < deadline:
        if reader.poll(0.1):  # wait on the worker's events meanwhile
            seen.append(ev.from_dict(reader.recv()))
    text = log.read_text()
    assert "Current thread" in text and "most recent call first" in text
    assert "workers/main.py" in text.replace(os.sep, "/")
    assert proc.is_alive()
    os.kill(proc.pid, signal.SIGINT)  # and it still stops cleanly
    end = rest(reader)[-1]
    proc.join(timeout=WAIT)
    assert (end.outcome, proc.exitcode) == ("stopped", 0)
    assert "received SIGINT" in log.read_text()
