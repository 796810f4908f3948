from __future__ import annotations

import json
import os
import signal
import subprocess
import threading
import time

import pytest

from tests.helpers.workers import finished, held, live_allocations, of, params, run, sim, worker_process
from workers import devlock, events
from workers.backend import acl_available
from workers.devlock import LOCK_DIR_ENV, DeviceLock
from workers.main import run_device


def test_a_clean_run_starts_with_device_facts_and_ends_once():
    got = run(params(release_cycle=2, number_of_cycles=2, memory_reuse=True))
    start = got[0]
    assert isinstance(start, events.Started)
    assert (start.physical_id, start.logical_id, start.backend, start.simulated) == (0, 0, "sim", True)
    assert start.chip == "Ascend910B1" and start.pid == os.getpid() and start.attempts == 1
    assert start.params["release_cycle"] == 2 and start.memory["hbm"]["free"] == 1 << 20
    assert finished(got).outcome == "completed"


def test_init_fail_every_time_is_open_failed_after_the_retries():
    faults = [{"device": 0, "kind": "init_fail", "times": -1, "code": 507033}]
    got = run(params(open_retries=2), sim(faults=faults))
    fault, end = got
    assert fault.fault == "open_failed" and fault.detail["attempts"] == 3
    assert (fault.code, fault.name) == (507033, "ACL_ERROR_RT_DEV_SETUP_ERROR")
    assert end.outcome == "error" and end.copies == 0


def test_init_fail_fewer_times_than_attempts_opens_the_device():
    faults = [{"device": 0, "kind": "init_fail", "times": 2}]
    got = run(params(open_retries=2, release_cycle=1), sim(faults=faults))
    assert got[0].attempts == 3 and finished(got).outcome == "completed"


def test_visible_devices_map_physical_to_logical(monkeypatch):
    monkeypatch.setenv("ASCEND_RT_VISIBLE_DEVICES", "0,1")
    faults = [{"device": 1, "kind": "leak", "bytes": 64}]
    got = run(params(device_id=1, release_cycle=1), sim(faults=faults))
    assert (got[0].physical_id, got[0].logical_id) == (1, 1)
    assert finished(got).leak > 0  # the fault of physical device 1 hit this run
    monkeypatch.setenv("ASCEND_RT_VISIBLE_DEVICES", "1")
    got = run(params(device_id=1, release_cycle=1), sim(faults=faults))
    assert (got[0].physical_id, got[0].logical_id) == (1, 0)
    got = run(params(device_id=0, release_cycle=1), sim())
    assert of(got, events.Fault)[0].fault == "open_failed" and "not visible" in got[0].message


def test_an_unexpected_exception_is_a_worker_error_then_finished():
    got = run(params(patterns=("zebra",)))
    fault = of(got, events.Fault)[0]
    assert fault.fault == "worker_error" and "unknown pattern" in fault.message
    assert "Traceback" in fault.detail["traceback"]
    assert finished(got).outcome == "error"


@pytest.mark.skipif(acl_available(), reason="the real acl is installed here")
def test_missing_real_backend_is_open_failed():
    got = []
    run_device(params(), got.append, backend="acl")
    assert got[0].fault == "open_failed" and "acl" in got[0].message
    assert finished(got).outcome == "error"


@pytest.mark.parametrize(
    "faults,p",
    [
        ([{"device": 0, "kind": "bitflip", "at_copy": 2}], params(release_cycle=3)),
        ([{"device": 0, "kind": "alloc_fail", "at_alloc": 3}], params(release_cycle=4, number_of_cycles=2)),
        ([], params()),  # the fill run: memory full
        ([{"device": 0, "kind": "leak", "bytes": 100}], params(release_cycle=2, number_of_cycles=2)),
    ],
)
def test_no_buffer_outlives_the_run_whatever_the_fault(faults, p):
    with held(sim(faults=faults)):
        got = run(p, None)
        assert live_allocations() == []
    end = finished(got)
    expected = {"bitflip": ("completed", 1), "alloc_fail": ("error", 0), "leak": ("completed", 0)}
    kind = faults[0]["kind"] if faults else None
    assert (end.outcome, end.verify_errors) == expected.get(kind, ("capacity", 0))


def _events(out: str):
    return [events.from_dict(json.loads(line)) for line in out.splitlines() if line.strip()]


def test_crash_kills_the_worker_process_with_the_signal():
    proc = worker_process(params(release_cycle=5), sim(faults=[{"device": 0, "kind": "crash", "at_copy": 3}]))
    out, _ = proc.communicate(timeout=60)
    assert proc.returncode == -signal.SIGSEGV
    got = _events(out)
    assert isinstance(got[0], events.Started) and not of(got, events.Finished)


@pytest.mark.slow
def test_hang_stops_all_progress_until_the_process_is_killed():
    proc = worker_process(params(release_cycle=5), sim(faults=[{"device": 0, "kind": "hang", "at_copy": 2}]))
    assert proc.stdout is not None
    first = proc.stdout.readline()  # the clock starts once the worker is up, however loaded the machine
    try:
        out, _ = proc.communicate(timeout=3)
    except subprocess.TimeoutExpired:
        proc.kill()
        out, _ = proc.communicate()
    assert proc.returncode == -signal.SIGKILL
    got = _events(first + out)
    assert isinstance(got[0], events.Started) and not of(got, events.Finished)
    assert max([p.copies for p in of(got, events.Progress)] or [0]) <= 1


def _sim_device(device: int = 0):
    from workers.simulator.acl import _state

    return _state.driver().devices[device]


def test_a_device_another_process_holds_is_never_opened_and_reported_busy():
    with DeviceLock(0, simulated=True) as holder:
        holder.acquire()
        got = run(params(release_cycle=1))
        assert _sim_device().open_attempts == 0 and not of(got, events.Started)
    fault, end = got
    assert fault.fault == "busy" and fault.detail["holder"]["pid"] == os.getpid()
    assert fault.message.startswith(f"device 0 is in use by pid {os.getpid()} (since {fault.detail['holder']['since']}")
    assert (fault.detail["lock"], fault.detail["waited"]) == (str(holder.path), 0.0)
    assert (end.outcome, end.copies) == ("busy", 0)
    assert finished(run(params(release_cycle=1))).outcome == "completed"  # given back: free again


def test_with_wait_busy_the_run_starts_once_the_holder_lets_go(monkeypatch, capsys):
    holder = DeviceLock(1, simulated=True)
    holder.acquire()
    refused = devlock._LockFile.holder

    def let_go_soon(lock):  # read by the worker when it finds the device held
        threading.Timer(0.3, holder.release).start()
        return refused(lock)

    monkeypatch.setattr(devlock._LockFile, "holder", let_go_soon)
    begun = time.monotonic()
    got = run(params(device_id=1, release_cycle=1, wait_busy=30.0))
    assert time.monotonic() - begun >= 0.25 and not of(got, events.Fault)
    assert isinstance(got[0], events.Started) and got[0].params["wait_busy"] == 30.0
    assert finished(got).outcome == "completed"
    (line,) = capsys.readouterr().out.splitlines()  # in the worker's log
    assert line.startswith(f"device 1 is in use by pid {os.getpid()} (since ")
    assert line.endswith(": waiting up to 30s for it")


def test_wait_busy_ends_busy_at_its_deadline_and_stopped_when_asked_to_stop():
    with DeviceLock(0, simulated=True) as holder:
        holder.acquire()
        begun = time.monotonic()
        got = run(params(wait_busy=0.3))
        assert time.monotonic() - begun >= 0.3
        assert (got[0].fault, got[0].detail["waited"], finished(got).outcome) == ("busy", 0.3, "busy")
        stop = threading.Event()
        threading.Timer(0.2, stop.set).start()
        begun = time.monotonic()
        got = run(params(wait_busy=300.0), stop=stop)
        assert time.monotonic() - begun < 10 and finished(got).outcome == "stopped"  # ABORTED, not BUSY
        assert [e.kind for e in got] == ["finished"]


def test_a_simulated_host_has_devices_of_its_own():
    with DeviceLock(0, simulated=True) as holder:
        holder.acquire()
        assert finished(run(params(release_cycle=1), host="node-a")).outcome == "completed"
        with DeviceLock(0, simulated=True, host="node-a") as other:
            other.acquire()
            assert finished(run(params(release_cycle=1), host="node-a")).outcome == "busy"


def test_a_worker_process_holds_its_device_until_it_dies_and_no_longer():
    proc = worker_process(params(release_cycle=5), sim(faults=[{"device": 0, "kind": "hang", "at_copy": 2}]))
    try:
        assert proc.stdout is not None
        assert _events(proc.stdout.readline())[0].kind == "started"  # open, then stuck in a copy
        fault, end = run(params(release_cycle=1))
        assert (fault.fault, fault.detail["holder"]["pid"], end.outcome) == ("busy", proc.pid, "busy")
        assert f"in use by pid {proc.pid} (since " in fault.message and "from workers.main import" in fault.message
    finally:
        proc.kill()
        proc.communicate(timeout=30)
    assert proc.returncode == -signal.SIGKILL
    assert finished(run(params(release_cycle=1))).outcome == "completed"  # the kernel freed its lock


def test_an_unusable_lock_directory_runs_unlocked_and_says_so(monkeypatch, tmp_path, capsys):
    (tmp_path / "plain").write_text("a file, not a directory")
    monkeypatch.setenv(LOCK_DIR_ENV, str(tmp_path / "plain" / "locks"))
    got = run(params(release_cycle=1))
    assert isinstance(got[0], events.Started) and finished(got).outcome == "completed"
    (line,) = capsys.readouterr().out.splitlines()
    assert line.startswith("device 0 runs without its lock (another process could use it too): cannot use the lock ")
