from __future__ import annotations

import json
import os
import signal
import subprocess

import pytest

from tests.helpers.workers import finished, held, live_allocations, of, params, run, sim, worker_process
from workers import events
from workers.backend import acl_available
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
