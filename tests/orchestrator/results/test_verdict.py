"""From folded events to statuses: every rule of verdict.py, on real events through the collector."""

from __future__ import annotations

import dataclasses

import pytest

from orchestrator.results.collect import Collector
from orchestrator.results.records import Verdict
from orchestrator.results.status import Status
from orchestrator.results.verdict import exit_code, judge, judge_all
from orchestrator.spec.schema import Thresholds
from workers import events as ev

MEM = {"hbm": {"free": 1000, "total": 2000}, "ddr": {"free": 0, "total": 0}}
STATS = {"count": 4, "min": 9.0, "max": 12.0, "median": 10.0, "mean": 10.5}


def started():
    return ev.Started(
        physical_id=0, logical_id=0, chip="Ascend910B1", backend="sim", simulated=True, pid=1, params={}, memory=MEM
    )


def finished(outcome="completed", leak=0, verify_errors=0):
    return ev.Finished(
        outcome=outcome,
        cycles=2,
        copies=8,
        bytes=16,
        h2d=STATS,
        d2h=STATS,
        verify_errors=verify_errors,
        leak=leak,
        lowest_free={"hbm": 900},
        memory=MEM,
        elapsed=1.5,
    )


NO_LIMITS = Thresholds(max_leak=0)


def run(*events, thresholds=NO_LIMITS, interrupted=False):
    c = Collector([("h", 0, {})])
    for e in events:
        c.fold("h", 0, e)
    return judge(c.results[("h", 0)], thresholds, interrupted)


def test_clean_run_passes_with_no_cause():
    status, causes = run(started(), finished())
    assert (status, causes) == (Status.PASS, [])


def test_data_mismatch_fails_and_is_the_cause():
    bad = ev.Fault(fault="data_mismatch", message="3 bytes differ", cycle=1, copy=2, detail={"first_bad_offset": 8})
    status, causes = run(started(), bad, finished(verify_errors=1))
    assert status is Status.FAIL
    assert [(c.fault, c.cycle, c.copy) for c in causes] == [("data_mismatch", 1, 2)]


def test_crash_hang_and_open_failure_map_to_their_statuses():
    assert run(started(), ev.Crashed(message="died", exitcode=-11, signal="SIGSEGV"))[0] is Status.CRASHED
    assert run(started(), ev.Hung(message="stuck", timeout=3.0))[0] is Status.HUNG
    opened = ev.Fault(fault="open_failed", message="set_device failed", api="acl.rt.set_device", code=507033)
    assert run(opened, finished(outcome="error"))[0] is Status.UNAVAILABLE


@pytest.mark.parametrize("end", ["crashed", "hung"])
def test_a_crash_or_hang_is_a_cause_at_its_cycle_and_copy_saying_which_figures_are_partial(end):
    at = {"cycle": 5, "copy": 40, "cycles": 4, "copies": 39, "bytes": 39 * 16}
    event = ev.Crashed(message="died", exitcode=-11, signal="SIGSEGV", **at)
    if end == "hung":
        event = ev.Hung(message="stuck", timeout=3.0, stack="Current thread 0x1", **at)
    status, causes = run(started(), event)
    assert status is (Status.CRASHED if end == "crashed" else Status.HUNG)
    (found,) = causes
    assert (found.fault, found.cycle, found.copy) == (end, 5, 40)
    assert {k: found.detail[k] for k in ("cycles", "copies", "bytes")} == {"cycles": 4, "copies": 39, "bytes": 624}
    assert "cycle" not in found.detail and "copy" not in found.detail
    assert found.detail["partial"].endswith(
        "the bandwidth statistics are those of its last cycle report (0 timed of the 39 copies)"
    )


def test_a_crash_from_an_old_journal_has_no_place_and_no_partial_note():
    _, (found,) = run(started(), ev.Crashed(message="died", exitcode=-11, signal="SIGSEGV"))
    assert (found.cycle, found.copy) == (None, None)
    assert found.detail == {"exitcode": -11, "signal": "SIGSEGV", "cycles": None, "copies": None, "bytes": None}


def test_thresholds_turn_a_slow_or_leaking_device_into_fail():
    status, causes = run(started(), finished(), thresholds=Thresholds(min_h2d_gbps=20.0, min_d2h_gbps=None, max_leak=0))
    assert status is Status.FAIL
    assert causes[0].message == "H2D median 10.00 GB/s is below the threshold 20 GB/s"
    status, causes = run(started(), finished(leak=4096), thresholds=Thresholds(max_leak=1024))
    assert [c.fault for c in causes] == ["leak"]
    assert run(started(), finished(leak=512), thresholds=Thresholds(max_leak=1024))[0] is Status.PASS


def test_capacity_is_a_pass_only_when_filling_was_the_point():
    def cap(expected):
        return ev.Capacity(
            cycle=1,
            copy=5,
            blocks=5,
            bytes=50,
            api="acl.media.dvpp_malloc",
            code=207001,
            name="ACL_ERROR_RT_MEMORY_ALLOCATION",
            expected=expected,
        )

    assert run(started(), cap(True), finished(outcome="capacity"))[0] is Status.PASS
    status, causes = run(started(), cap(False), finished(outcome="error"))
    assert status is Status.FAIL and causes[0].code == 207001


@pytest.mark.parametrize("interrupted, expected", [(True, Status.ABORTED), (False, Status.INCOMPLETE)])
def test_a_run_without_its_end_is_aborted_or_incomplete(interrupted, expected):
    assert run(started(), interrupted=interrupted)[0] is expected


def test_stopped_outcome_is_aborted_and_never_pass():
    assert run(started(), finished(outcome="stopped"))[0] is Status.ABORTED


def test_unknown_event_kind_raises():
    class Odd(ev.Event):
        kind = "odd"

    with pytest.raises(ValueError, match="unknown event kind 'odd' from h:0"):
        Collector([("h", 0, {})]).fold("h", 0, Odd())


def test_a_device_that_never_started_is_skipped_even_when_interrupted():
    assert run(interrupted=True)[0] is Status.SKIPPED
    assert run()[0] is Status.SKIPPED


@pytest.mark.parametrize("interrupted, expected", [(True, Status.ABORTED), (False, Status.INCOMPLETE)])
def test_a_launched_device_that_never_reported_is_not_skipped(interrupted, expected):
    # the controller died (or was stopped) between spawning the worker and its Started: the device may be open
    assert run(ev.Launched(pid=42), interrupted=interrupted)[0] is expected


def test_lost_fault_records_cannot_make_a_pass():
    # Finished counts 2 verify errors but the fault lines were lost (a torn or full journal)
    status, causes = run(started(), finished(verify_errors=2))
    assert status is Status.FAIL
    assert [c.fault for c in causes] == ["data_mismatch"]
    assert "counted 2 verify error(s) but their fault records are missing" in causes[0].message


def test_an_error_outcome_without_its_fault_is_a_cause():
    status, causes = run(started(), finished(outcome="error"))
    assert status is Status.FAIL
    assert [c.fault for c in causes] == ["worker_error"]


def test_a_recorded_mismatch_is_not_counted_twice():
    bad = ev.Fault(fault="data_mismatch", message="3 bytes differ", cycle=1, copy=2)
    assert [c.fault for c in run(started(), bad, finished(verify_errors=1))[1]] == ["data_mismatch"]


def host_error():
    return ev.Fault(fault="host_error", message="the worker: the host is out of memory (MemoryError)")


def test_a_host_problem_is_not_the_devices_fault():
    assert run(host_error(), finished(outcome="error"))[0] is Status.HOST_ERROR
    # a worker that died of it (the launcher read MemoryError in its log) is still the host's problem
    assert run(host_error(), ev.Crashed(message="died with exit code 1", exitcode=1))[0] is Status.HOST_ERROR
    assert (
        run(ev.Launched(pid=3), host_error(), ev.Hung(message="stuck starting", timeout=60.0))[0] is Status.HOST_ERROR
    )


def test_a_device_fault_beside_a_host_problem_still_fails_the_device():
    bad = ev.Fault(fault="data_mismatch", message="3 bytes differ", cycle=1, copy=2)
    assert run(started(), bad, host_error(), finished(outcome="error", verify_errors=1))[0] is Status.FAIL


def test_a_device_held_by_another_process_is_busy():
    busy = ev.Fault(fault="busy", message="device 0 is in use by pid 7", detail={"holder": {"pid": 7}})
    assert run(busy, finished(outcome="busy"))[0] is Status.BUSY


def judged(params, *events):
    c = Collector([("h", 0, params)])
    for e in events:
        c.fold("h", 0, e)
    return judge_all(c, {}, NO_LIMITS)[0]


def test_an_unverified_run_passes_only_with_a_warning():
    unverified = dataclasses.replace(started(), params={"verify": False})
    v = judged({"verify": False}, unverified, finished())
    assert v.status is Status.PASS and v.causes == ()
    assert [w.fault for w in v.warnings] == ["unverified"]
    assert "no copied byte was checked" in v.warnings[0].message
    assert judged({}, started(), finished()).warnings == ()


def verdicts(*statuses):
    out = []
    for status in statuses:
        c = Collector([("h", 0, {})])
        out.append(Verdict(result=c.results[("h", 0)], status=status, causes=()))
    return out


@pytest.mark.parametrize(
    "statuses, interrupted, write_failed, code",
    [
        ((Status.PASS, Status.PASS), False, False, 0),
        ((Status.PASS, Status.FAIL), False, False, 1),
        ((Status.PASS, Status.BUSY), False, False, 1),
        ((Status.HOST_ERROR, Status.HOST_ERROR), False, False, 3),  # only the host failed the test
        ((Status.HOST_ERROR, Status.CRASHED), False, False, 1),
        ((Status.PASS, Status.ABORTED), True, False, 130),
        ((Status.PASS, Status.PASS), False, True, 3),  # the run's record is not whole
        ((Status.PASS, Status.ABORTED), True, True, 3),
    ],
)
def test_exit_codes(statuses, interrupted, write_failed, code):
    assert exit_code(verdicts(*statuses), interrupted, write_failed=write_failed) == code


def test_more_mismatches_than_the_worker_sends_are_not_called_lost():
    faults = [ev.Fault(fault="data_mismatch", message="bad", cycle=1, copy=i) for i in range(1, 21)]
    status, causes = run(started(), *faults, finished(verify_errors=50))  # the worker sends the first 20
    assert status is Status.FAIL and len(causes) == 20
    assert not any("records are missing" in c.message for c in causes)


@pytest.mark.parametrize(
    "events, kind, status",
    [
        ((ev.Launched(pid=3), "busy"), "busy", Status.BUSY),  # the busy fault line was lost
        ((started(), "capacity"), "worker_error", Status.FAIL),  # the Capacity line was lost
        ((ev.Launched(pid=3), "completed"), "worker_error", Status.FAIL),  # never started, yet "completed"
        ((started(), "bogus"), "worker_error", Status.FAIL),
    ],
)
def test_an_end_that_is_not_a_pass_is_a_cause_by_itself(events, kind, status):
    *before, outcome = events
    got, causes = run(*before, finished(outcome=outcome))
    assert (got, [c.fault for c in causes]) == (status, [kind])


def test_a_stop_never_hides_a_fault_the_device_recorded():
    bad = ev.Fault(fault="data_mismatch", message="3 bytes differ", cycle=1, copy=2)
    assert run(started(), bad, finished(outcome="stopped", verify_errors=1))[0] is Status.FAIL
    assert run(started(), bad, interrupted=True)[0] is Status.FAIL
    # a partial run's figures are no threshold failure: stopped early with a leak-sized gap stays ABORTED
    assert run(started(), finished(outcome="stopped", leak=10**9))[0] is Status.ABORTED


def real(chip="Ascend910B1"):
    """A real (not simulated) device of ``chip``."""
    return dataclasses.replace(started(), chip=chip, backend="acl", simulated=False)


def test_a_fraction_floor_is_that_share_of_the_chips_reference():
    """Ascend910B: reference 50.4 GB/s (80% of PCIe 5.0 x16); 0.7 of it is 35.28 GB/s > the median 10."""
    status, causes = run(real(), finished(), thresholds=Thresholds(max_leak=0, min_h2d_fraction=0.7))
    assert status is Status.FAIL
    assert [c.message for c in causes] == [
        "H2D median 10.00 GB/s is below 70% of the Ascend910B reference 50.4 GB/s (min_h2d_fraction)"
    ]
    assert causes[0].detail["floor"] == pytest.approx(35.28)
    assert run(real(), finished(), thresholds=Thresholds(max_leak=0, min_h2d_fraction=0.19))[0] is Status.PASS


def test_a_fraction_floor_never_judges_a_simulated_device():
    assert run(started(), finished(), thresholds=Thresholds(max_leak=0, min_d2h_fraction=0.9)) == (Status.PASS, [])


def test_a_fraction_floor_on_a_chip_without_reference_is_a_warning_not_a_pass_in_silence():
    c = Collector([("h", 0, {})])
    for e in (real("Ascend999X"), finished()):
        c.fold("h", 0, e)
    limits = Thresholds(max_leak=0, min_h2d_fraction=0.7)
    [v] = judge_all(c, {("h", 0): limits}, limits)
    assert v.status is Status.PASS
    assert [(w.fault, w.message) for w in v.warnings] == [
        ("no_reference", "no reference figure for chip Ascend999X: the floors min_h2d_fraction 0.7 are not applied")
    ]


def test_a_chips_entry_applies_to_the_chips_devices_by_the_longest_name():
    limits = Thresholds.model_validate(
        {"max_leak": 0, "chips": {"Ascend910": {"min_h2d_gbps": 5}, "Ascend910B": {"min_h2d_gbps": 11}}}
    )
    status, causes = run(real("Ascend910B3"), finished(), thresholds=limits)
    assert (status, [c.message for c in causes]) == (
        Status.FAIL,
        ["H2D median 10.00 GB/s is below the threshold 11 GB/s"],
    )
    assert run(real("Ascend910"), finished(), thresholds=limits)[0] is Status.PASS  # 5 GB/s for the older chip
    assert run(real("Ascend310P3"), finished(), thresholds=limits)[0] is Status.PASS  # no entry: the fleet's


def test_a_devices_own_threshold_wins_over_its_chips():
    limits = Thresholds.model_validate({"max_leak": 0, "chips": {"Ascend910B": {"min_h2d_gbps": 11, "max_leak": 64}}})
    own = limits.for_device({"min_h2d_gbps": None})  # this device: no floor, whatever its chip
    assert run(real(), finished(leak=32), thresholds=own)[0] is Status.PASS
    assert run(real(), finished(leak=65), thresholds=own)[1][0].fault == "leak"  # the chip's max_leak still holds
    assert (
        Thresholds.model_validate(own.model_dump()).for_chip("Ascend910B1").min_h2d_gbps is None
    )  # as the journal keeps it


def _with_link(busy, wall=10.0, outcome="completed", simulated=False, **params):
    opened = dataclasses.replace(started(), simulated=simulated, backend="sim" if simulated else "acl", params=params)
    end = dataclasses.replace(finished(outcome), link=ev.LinkUse(busy=busy, wall=wall, verified=16))
    c = Collector([("h", 0, params)])
    for e in (opened, end):
        c.fold("h", 0, e)
    return judge_all(c, {}, Thresholds(min_duty_cycle=0.5))[0]


def test_a_link_busy_under_min_duty_cycle_is_a_warning_and_never_a_failure():
    idle = _with_link(busy=3.2)
    assert idle.status is Status.PASS and idle.causes == ()
    (warning,) = idle.warnings
    assert warning.fault == "low_duty_cycle" and warning.detail == {"duty_cycle": 0.32, "min_duty_cycle": 0.5}
    assert warning.message.startswith("the link was busy 32% of the time (min_duty_cycle 50%)")
    assert _with_link(busy=5.0).warnings == ()  # at the floor
    assert _with_link(busy=3.2, outcome="duration").warnings[0].fault == "low_duty_cycle"


def test_no_duty_cycle_warning_where_it_would_mislead():
    assert _with_link(busy=1.0, simulated=True).warnings == ()  # the simulator's link is the host's CPU
    assert [w.fault for w in _with_link(busy=1.0, outcome="stopped").warnings] == []  # cut short
    assert _with_link(busy=1.0, bidirectional=True).warnings == ()  # its checks use the link untimed
    assert _with_link(busy=1.0, interval=0.5).warnings == ()  # the pauses were asked for
    assert [w.fault for w in _with_link(busy=1.0, interval=0.0).warnings] == ["low_duty_cycle"]
    no_floor = Collector([("h", 0, {})])
    no_floor.fold("h", 0, dataclasses.replace(started(), simulated=False, backend="acl"))
    no_floor.fold("h", 0, dataclasses.replace(finished(), link=ev.LinkUse(busy=0.1, wall=10.0, verified=0)))
    assert judge_all(no_floor, {}, NO_LIMITS)[0].warnings == ()  # min_duty_cycle unset: never said


def test_duty_and_verified_rate_come_from_the_last_link_report():
    c = Collector([("h", 0, {})])
    c.fold("h", 0, started())
    r = c.results[("h", 0)]
    assert (r.duty, r.verified_gbps) == (None, None)  # no cycle yet
    link = ev.LinkUse(busy=0.5, wall=1.0, verified=4_000_000_000)
    c.fold("h", 0, ev.CycleEnd(1, 1, 4, 8, STATS, STATS, MEM, 0, {}, 1.0, link=link))
    assert (r.duty, r.verified_gbps) == (0.5, 4.0)
    c.fold("h", 0, dataclasses.replace(finished(), link=ev.LinkUse(busy=1.8, wall=2.0, verified=0)))
    assert r.duty == pytest.approx(0.9) and r.verified_gbps is None  # nothing verified: no rate
    c.fold("h", 0, ev.Crashed(message="x"))
    assert r.duty == pytest.approx(0.9)  # a later end without figures keeps the last
