"""What a launcher keeps about a worker (orchestrator/launch/tracking.py): ``Tracked`` follows its
events, says when its silence becomes a hang and where it was; ``Stopping`` is the stop sequence."""

from __future__ import annotations

import time

import pytest

from orchestrator.launch.tracking import GRACE, Stopping, Tracked
from orchestrator.spec.plan import DeviceJob, resolve
from orchestrator.spec.schema import parse_spec
from tests.helpers.specs import HOST, inventory
from workers import events as ev
from workers.entry.position import Where

MEM = {"hbm": {"free": 1 << 30, "total": 1 << 30}}


def job(**defaults: object) -> DeviceJob:
    """Device 3 of a spec with init timeout 5 s, copy timeout 2 s, two open retries 0.5 s apart and a
    0.25 s pause after every copy; ``defaults`` replace those."""
    data = {
        "version": 1,
        "backend": "sim",
        "defaults": {"open_retries": 2, "open_retry_delay": "500ms", "interval": "250ms", **defaults},
        "timeouts": {"init": "5s", "copy": "2s"},
        "hosts": [{"name": "localhost", "devices": [3]}],
    }
    (only,) = resolve(parse_spec(data), inventory(4), hostname=HOST).jobs
    return only


def started() -> ev.Started:
    return ev.Started(
        physical_id=3, logical_id=3, chip="Ascend910B1", backend="sim", simulated=True, pid=1, params={}, memory=MEM
    )


def progress(cycle: int, copies: int) -> ev.Progress:
    return ev.Progress(
        cycle=cycle, copies=copies, bytes=copies * 8192, h2d_gbps=1.0, d2h_gbps=1.0, memory=MEM, elapsed=1.0
    )


def cycle_end(cycle: int, copies: int) -> ev.CycleEnd:
    return ev.CycleEnd(
        cycle=cycle,
        cycles=1,
        copies=copies,
        bytes=copies * 8192,
        h2d=None,
        d2h=None,
        memory=MEM,
        leak=0,
        lowest_free={},
        elapsed=2.0,
    )


def finished() -> ev.Finished:
    return ev.Finished(
        outcome="completed",
        cycles=2,
        copies=8,
        bytes=8 * 8192,
        h2d=None,
        d2h=None,
        verify_errors=0,
        leak=0,
        lowest_free={},
        memory=MEM,
        elapsed=3.0,
    )


def tracked(**defaults: object) -> Tracked:
    return Tracked(job=job(**defaults), since=100.0, last_event=100.0)


def test_the_name_is_host_and_device():
    t = tracked()
    assert (t.job.host, t.job.device, t.name) == ("localhost", 3, "localhost:3")


def test_a_new_worker_is_neither_started_nor_ended_and_is_opening_the_device():
    t = tracked()
    assert (t.started, t.ended, t.cycle, t.copies) == (False, False, 0, 0)
    assert t.where() == "while opening the device"


def test_before_started_the_deadline_counts_every_open_attempt_from_since():
    # init 5 s for the first attempt, then per retry its delay and another init timeout
    assert tracked().deadline == pytest.approx(100.0 + 5.0 + 2 * (0.5 + 5.0))
    assert tracked(open_retries=0).deadline == pytest.approx(105.0)


def test_before_started_events_do_not_move_the_deadline():
    t = tracked()
    t.saw(ev.Fault(fault="api_error", message="acl.rt.set_device failed", api="acl.rt.set_device", code=507033))
    assert not t.started and t.deadline == pytest.approx(116.0)


def test_started_switches_to_the_copy_timeout_plus_the_interval_after_the_last_event():
    t = tracked()
    before = time.monotonic()
    t.saw(started())
    after = time.monotonic()
    assert t.started and not t.ended
    assert before <= t.last_event <= after
    assert t.deadline == pytest.approx(t.last_event + 2.0 + 0.25)
    assert t.where() == "cycle 1, copy 1"


def test_every_event_pushes_the_deadline_on():
    t = tracked()
    t.saw(started())
    for event in (progress(1, 2), ev.Fault(fault="data_mismatch", message="x", cycle=1, copy=3), cycle_end(1, 4)):
        t.last_event = -1.0
        before = time.monotonic()
        t.saw(event)
        assert before <= t.last_event <= time.monotonic()
        assert t.deadline == pytest.approx(t.last_event + 2.25)


def test_progress_and_cycle_end_set_the_position():
    t = tracked(number_of_cycles=-1)
    t.saw(started())
    t.saw(progress(1, 3))
    assert (t.cycle, t.copies, t.where()) == (1, 3, "cycle 1, copy 4")
    t.saw(cycle_end(2, 8))
    assert (t.cycle, t.copies, t.where()) == (2, 8, "cycle 3, copy 9")  # cycle 2 released: the next one


def test_other_events_leave_the_position_alone():
    t = tracked()
    t.saw(started())
    t.saw(progress(2, 5))
    t.saw(ev.Fault(fault="data_mismatch", message="1 byte(s) differ", cycle=2, copy=6))
    assert (t.cycle, t.copies, t.ended) == (2, 5, False)


def test_finished_ends_it():
    t = tracked()
    t.saw(started())
    t.saw(finished())
    assert t.ended and t.started


def test_stopping_is_inactive_until_it_begins():
    s = Stopping()
    assert not s.active and s.since is None
    assert not s.expired(1e9)


def test_stopping_begins_once_at_the_first_time():
    s = Stopping()
    assert s.begin(10.0) is True
    assert s.active and s.since == 10.0
    assert s.begin(11.0) is False
    assert s.since == 10.0


def test_stopping_expires_only_after_the_grace():
    s = Stopping()
    s.begin(10.0)
    assert not s.expired(10.0)
    assert not s.expired(10.0 + GRACE)
    assert s.expired(10.0 + GRACE + 0.01)


def test_a_death_is_placed_in_a_sentence_before_and_after_started():
    w = tracked()
    assert w.during() == "while opening the device"
    w.saw(started())
    w.saw(progress(2, 6))
    assert w.during() == "during cycle 2, copy 7"


def test_place_takes_the_position_file_and_later_events_do_not_move_it_back():
    t = tracked(number_of_cycles=-1)
    t.saw(started())
    t.saw(progress(1, 3))
    assert not t.exact
    t.place(Where(cycle=5, copies=39, cycles=4, bytes=39 * 16384))
    assert (t.cycle, t.copies, t.cycles, t.bytes, t.exact) == (5, 39, 4, 39 * 16384, True)
    t.saw(progress(2, 12))  # drained after the kill: sent before the file was read
    assert (t.cycle, t.copies, t.where()) == (5, 39, "cycle 5, copy 40")


def test_place_of_an_unreadable_file_keeps_the_events_figures():
    t = tracked()
    t.saw(started())
    t.saw(cycle_end(1, 4))
    t.place(None)
    assert (t.cycle, t.copies, t.cycles, t.bytes, t.exact) == (1, 4, 1, 4 * 8192, False)


def test_after_a_release_the_next_copy_is_in_the_next_cycle_unless_the_run_had_no_more():
    t = tracked(number_of_cycles=3)
    t.saw(started())
    t.place(Where(cycle=2, copies=8, cycles=2, bytes=0))  # cycle 2 released, copy 9 not yet done
    assert t.where() == "cycle 3, copy 9"
    t.place(Where(cycle=3, copies=12, cycles=3, bytes=0))  # the last cycle released: it was ending
    assert t.where() == "after the last copy of cycle 3, while ending the run"  # no copy 13 in a 12-copy run
    assert t.during() == t.where() and t.at_end()["copy"] is None and t.at_end()["cycle"] == 3


def test_the_end_events_carry_the_place_and_the_exact_totals():
    t = tracked(number_of_cycles=-1)
    t.saw(started())
    t.place(Where(cycle=5, copies=39, cycles=4, bytes=1234))
    crashed = t.crashed("died", -11, "SIGSEGV")
    assert crashed == ev.Crashed(
        message="died", exitcode=-11, signal="SIGSEGV", cycle=5, copy=40, cycles=4, copies=39, bytes=1234
    )
    hung = t.hung("Current thread 0x1 (most recent call first):")
    assert (hung.cycle, hung.copy, hung.cycles, hung.copies, hung.bytes) == (5, 40, 4, 39, 1234)
    assert hung.message == "no progress for 2s, stuck at cycle 5, copy 40; the worker was killed"
    at_stop = t.hung(None, grace=10.0)
    assert at_stop.message.startswith("did not stop within 10s") and (at_stop.cycle, at_stop.copies) == (5, 39)


def test_the_end_events_of_a_worker_opening_its_device_have_no_place_and_no_totals_without_its_file():
    t = tracked()
    assert t.at_end() == {"cycle": None, "copy": None, "cycles": None, "copies": None, "bytes": None}
    t.place(Where(0, 0, 0, 0))
    assert t.hung(None) == ev.Hung(
        message="no progress for 5s, stuck while opening the device; the worker was killed",
        timeout=5.0,
        cycles=0,
        copies=0,
        bytes=0,
    )
