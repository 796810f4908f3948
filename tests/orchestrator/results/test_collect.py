"""The collector: what each ``on_<kind>`` handler records from a real worker event, the one dispatch
point that refuses an unknown kind, the bounded fault list, and the lowest free memory seen."""

from __future__ import annotations

import dataclasses

import pytest

from orchestrator.results.collect import MAX_FAULTS_KEPT, Collector, partial_figures
from tests.helpers.fleet_runs import BLOCK, CHIP, TOTAL, copies, mem, mismatch, started, stats
from workers import events as ev

PARAMS = {"memory_size": 1 << 20, "number_of_cycles": 2}


def collector(*devices: int) -> Collector:
    return Collector(("h", d, dict(PARAMS)) for d in devices)


def fold_all(c: Collector, device: int, events) -> None:
    for e in events:
        c.fold("h", device, e)


def test_a_new_collector_holds_an_empty_result_per_job():
    c = collector(0, 3)
    assert sorted(c.results) == [("h", 0), ("h", 3)]
    r = c.results[("h", 3)]
    assert (r.host, r.device, r.params) == ("h", 3, PARAMS)
    assert (r.started, r.ended_by, r.outcome, r.cycles, r.copies, r.faults, r.lowest_free) == (
        False,
        None,
        None,
        0,
        0,
        [],
        {},
    )


def test_fold_returns_the_result_it_changed():
    c = collector(0, 1)
    assert c.fold("h", 1, started(1)) is c.results[("h", 1)]
    assert not c.results[("h", 0)].started


def test_started_records_identity_baseline_and_node():
    c = collector(2)
    event = dataclasses.replace(started(2), logical_id=0, attempts=3, node="worker-7")
    r = c.fold("h", 2, event)
    assert (r.started, r.chip, r.logical_id, r.simulated, r.attempts, r.node) == (True, CHIP, 0, True, 3, "worker-7")
    assert r.baseline == r.memory == mem(TOTAL)
    assert r.params == {"memory_size": BLOCK}  # the worker's resolved parameters replace the job's
    assert r.lowest_free == {"hbm": TOTAL, "ddr": 0}


def test_started_without_params_keeps_the_jobs():
    r = collector(0).fold("h", 0, dataclasses.replace(started(0), params={}))
    assert r.params == PARAMS


def test_progress_records_running_totals_and_the_latest_rates():
    c = collector(0)
    r = c.fold("h", 0, started(0))
    progress = copies(0)[1]
    assert isinstance(progress, ev.Progress)
    c.fold("h", 0, progress)
    assert (r.cycle, r.copies, r.bytes, r.elapsed) == (1, 4, 8 * BLOCK, 0.5)
    assert r.last_gbps == (progress.h2d_gbps, progress.d2h_gbps)
    assert r.memory == mem(TOTAL - 4 * BLOCK)
    assert r.lowest_free["hbm"] == TOTAL - 4 * BLOCK
    assert (r.cycles, r.h2d, r.ended_by) == (0, None, None)  # cycles count only ended cycles


def test_cycle_end_records_cumulative_stats_and_keeps_the_worst_leak():
    c = collector(0)
    events = copies(0, h2d=20.0, d2h=21.0, cycles=2, leak=BLOCK)
    fold_all(c, 0, events[:3])  # started, progress, cycle_end 1
    r = c.results[("h", 0)]
    assert (r.cycle, r.cycles, r.copies, r.bytes, r.elapsed) == (1, 1, 8, 16 * BLOCK, 1.0)
    assert (r.h2d, r.d2h, r.leak) == (stats(20.0), stats(21.0), BLOCK)
    assert r.memory == mem(TOTAL - BLOCK)
    smaller = dataclasses.replace(events[2], leak=0)  # a later, smaller leak figure never lowers it
    c.fold("h", 0, smaller)
    assert r.leak == BLOCK


def test_capacity_is_kept_as_the_event():
    cap = ev.Capacity(
        cycle=1, copy=9, blocks=9, bytes=9 * BLOCK, api="acl.rt.malloc", code=207001, name="X", expected=True
    )
    r = collector(0).fold("h", 0, cap)
    assert r.capacity is cap


def test_faults_are_kept_counted_and_a_mismatch_is_a_verify_error():
    c = collector(0)
    api = ev.Fault(fault="api_error", message="memcpy failed", api="acl.rt.memcpy", code=507011, cycle=1, copy=2)
    c.fold("h", 0, api)
    r = c.fold("h", 0, mismatch())
    assert r.faults == [api, mismatch()]
    assert (r.faults_total, r.verify_errors) == (2, 1)


def test_only_the_first_faults_are_kept_but_all_are_counted():
    c = collector(0)
    for n in range(1, MAX_FAULTS_KEPT + 6):
        c.fold("h", 0, mismatch(cycle=1, copy=n))
    r = c.results[("h", 0)]
    assert MAX_FAULTS_KEPT == 20
    assert [f.copy for f in r.faults] == list(range(1, MAX_FAULTS_KEPT + 1))
    assert r.faults_total == r.verify_errors == MAX_FAULTS_KEPT + 5


def test_finished_records_the_exact_totals_and_outcome():
    c = collector(0)
    curve = [{"size": BLOCK, "h2d": stats(24.0), "d2h": stats(25.0)}]
    events = copies(0, cycles=3, leak=BLOCK)
    events[-1] = dataclasses.replace(events[-1], curve=curve)
    fold_all(c, 0, events)
    r = c.results[("h", 0)]
    assert (r.ended_by, r.outcome, r.cycles, r.copies, r.bytes, r.elapsed) == (
        "finished",
        "completed",
        3,
        24,
        48 * BLOCK,
        3.0,
    )
    assert (r.h2d, r.d2h, r.leak, r.curve) == (stats(24.0), stats(25.0), 3 * BLOCK, curve)
    assert r.memory == mem(TOTAL - 3 * BLOCK)
    assert r.end is None


def test_finished_keeps_the_counted_verify_errors_when_it_reports_fewer():
    c = collector(0)
    fold_all(c, 0, [started(0), mismatch(), mismatch(copy=12)])
    r = c.fold("h", 0, dataclasses.replace(copies(0)[-1], verify_errors=1))
    assert r.verify_errors == 2
    r = c.fold("h", 0, dataclasses.replace(copies(0)[-1], verify_errors=5))
    assert r.verify_errors == 5


def test_finished_without_memory_keeps_the_last_sample():
    c = collector(0)
    fold_all(c, 0, copies(0, cycles=1)[:2])
    last = c.results[("h", 0)].memory
    r = c.fold("h", 0, dataclasses.replace(copies(0)[-1], memory={}))
    assert r.memory == last == mem(TOTAL - 4 * BLOCK)


@pytest.mark.parametrize(
    "end, kind",
    [
        (ev.Crashed(message="worker died from signal SIGKILL", exitcode=-9, signal="SIGKILL"), "crashed"),
        (ev.Hung(message="no progress for 30s", timeout=30.0), "hung"),
    ],
)
def test_a_launcher_end_event_ends_the_device_and_is_kept(end, kind):
    c = collector(0)
    fold_all(c, 0, copies(0)[:2])
    r = c.fold("h", 0, end)
    assert (r.ended_by, r.end, r.outcome) == (kind, end, None)
    assert r.copies == 4  # what was recorded before stays


@pytest.mark.parametrize(
    "end",
    [
        ev.Crashed(
            message="died", exitcode=-11, signal="SIGSEGV", cycle=3, copy=20, cycles=2, copies=19, bytes=19 * 2 * BLOCK
        ),
        ev.Hung(message="stuck", timeout=30.0, cycle=3, copy=20, cycles=2, copies=19, bytes=19 * 2 * BLOCK),
    ],
)
def test_a_launcher_end_event_with_exact_totals_replaces_the_rate_limited_figures(end):
    c = collector(0)
    fold_all(c, 0, copies(0)[:3])  # progress at 4 copies, the end of cycle 1 at 8
    before = c.results[("h", 0)]
    h2d = before.h2d
    assert (before.cycle, before.cycles, before.copies, before.bytes) == (1, 1, 8, 8 * 2 * BLOCK)
    r = c.fold("h", 0, end)
    assert (r.cycle, r.cycles, r.copies, r.bytes) == (3, 2, 19, 19 * 2 * BLOCK)
    assert r.h2d == h2d  # the bandwidth statistics stay those of the last cycle report
    noun = "crash" if end.kind == "crashed" else "hang"
    assert partial_figures(r) == (
        f"cycles, copies and bytes are exact up to the {noun} (the worker's position file); "
        f"the bandwidth statistics are those of its last cycle report ({h2d['count']} timed of the 19 copies)"
    )


def test_a_launcher_end_event_without_totals_keeps_the_figures_of_the_events():
    c = collector(0)
    fold_all(c, 0, copies(0)[:3])
    r = c.fold("h", 0, ev.Crashed(message="died", exitcode=-9, signal="SIGKILL", cycle=2, copy=9))  # an old journal
    assert (r.cycle, r.cycles, r.copies, r.bytes) == (2, 1, 8, 8 * 2 * BLOCK)
    assert partial_figures(r) is None
    r = c.fold("h", 0, ev.Crashed(message="died", exitcode=-9))
    assert (r.cycle, r.copies) == (2, 8)  # no place known: the last one stays


def test_totals_never_go_below_what_the_events_already_said():
    c = collector(0)
    fold_all(c, 0, copies(0)[:3])
    r = c.fold("h", 0, ev.Hung(message="stuck", timeout=3.0, cycle=1, copy=1, cycles=0, copies=0, bytes=0))
    assert (r.cycles, r.copies, r.bytes) == (1, 8, 8 * 2 * BLOCK)


def test_an_unknown_kind_raises_naming_the_device():
    c = collector(0, 5)
    with pytest.raises(ValueError) as err:
        c.fold("h", 5, ev.Event())
    assert str(err.value) == "unknown event kind 'event' from h:5"
    assert not c.results[("h", 5)].started


def test_every_worker_event_kind_has_a_handler():
    c = collector(0)
    assert all(callable(getattr(c, f"on_{kind}", None)) for kind in ev.EVENT_TYPES)


def test_lowest_free_keeps_the_minimum_per_kind_across_events():
    c = collector(0)
    r = c.fold("h", 0, started(0))
    c.fold(
        "h",
        0,
        ev.Progress(
            cycle=1,
            copies=1,
            bytes=2,
            h2d_gbps=1.0,
            d2h_gbps=1.0,
            memory={"hbm": {"free": 100, "total": TOTAL}, "ddr": {"free": 5, "total": 10}},
            elapsed=0.1,
        ),
    )
    assert r.lowest_free == {"hbm": 100, "ddr": 0}  # ddr 0 from the baseline stays the lowest
    end = dataclasses.replace(copies(0)[-1], lowest_free={"hbm": 40, "ddr": None, "hugepage": 7})
    c.fold("h", 0, end)
    assert r.lowest_free == {"hbm": 40, "ddr": 0, "hugepage": 7}  # plain maps too; a non-int is ignored
    c.fold("h", 0, dataclasses.replace(copies(0)[2], lowest_free={"hbm": 500}))
    assert r.lowest_free["hbm"] == 40  # a higher figure never raises it
