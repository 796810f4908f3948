from __future__ import annotations

import itertools
import threading
import time

import pytest

from tests.helpers.workers import BLOCK, MemcpyWrapper, StopAt, finished, held, huge_pages, of, params, run, sim
from workers import events
from workers.cycles import CycleEngine
from workers.leaks import leak_of
from workers.params import PATTERNS, PROGRESS_PERIOD
from workers.runtime import Runtime, open_device

HBM = 1 << 20


def _expected(release: int, cycles: int, reuse: bool):
    if release < 0 and not reuse:
        return "capacity", None
    if release < 0 or cycles < 0:
        return "duration", None
    return "completed", release * cycles


@pytest.mark.parametrize("release,cycles,reuse", list(itertools.product((-1, 0, 1, 3), (-1, 1, 2), (False, True))))
def test_every_seed_parameter_combination(release, cycles, reuse):
    got = run(params(release_cycle=release, number_of_cycles=cycles, memory_reuse=reuse, duration=0.15), sim(HBM))
    end = finished(got)
    outcome, copies = _expected(release, cycles, reuse)
    assert end.outcome == outcome
    assert of(got, events.Fault) == []
    assert end.leak == 0
    if copies is not None:
        assert end.copies == copies and end.cycles == cycles
        assert end.bytes == 2 * copies * BLOCK  # H2D + D2H
    assert sum(c.cycles for c in of(got, events.CycleEnd)) == end.cycles


def test_default_fill_run_reports_the_capacity_as_its_expected_end():
    got = run(params(memory_size=64 * 1024), sim(HBM))
    (cap,) = of(got, events.Capacity)
    end = finished(got)
    assert cap.expected and end.outcome == "capacity"
    assert cap.blocks == end.copies == huge_pages(HBM) // (64 * 1024 + 32)  # DVPP: huge pages, 32 bytes more
    assert cap.bytes == cap.blocks * 64 * 1024
    assert cap.copy == cap.blocks + 1 and cap.name == "ACL_ERROR_RT_MEMORY_ALLOCATION"
    assert end.memory["hbm"]["free"] == HBM and end.leak == 0
    assert end.lowest_free["hbm"] < HBM - huge_pages(HBM) + 64 * 1024 + 32  # the normal pages are left


def test_memory_full_in_a_run_that_should_fit_is_an_error():
    got = run(params(memory_size=HBM, release_cycle=2, number_of_cycles=1), sim(HBM))
    (cap,) = of(got, events.Capacity)
    assert not cap.expected and cap.blocks == 0
    assert finished(got).outcome == "error"


@pytest.mark.parametrize("pattern", PATTERNS)
def test_each_pattern_round_trips(pattern):
    got = run(params(patterns=(pattern,), memory_size=100_003, release_cycle=3, memory_reuse=True))
    end = finished(got)
    assert end.outcome == "completed" and end.copies == 3 and end.verify_errors == 0
    assert of(got, events.Fault) == []


def test_memory_kind_device_uses_rt_malloc():
    got = run(params(memory_kind="device", release_cycle=2, number_of_cycles=2))
    assert finished(got).outcome == "completed"


def test_bitflip_is_a_data_mismatch_with_its_offset_and_the_run_goes_on():
    faults = [{"device": 0, "kind": "bitflip", "at_copy": 3, "bits": 2}]
    got = run(params(release_cycle=5, memory_reuse=True, patterns=PATTERNS), sim(faults=faults))
    (fault,) = of(got, events.Fault)
    assert fault.fault == "data_mismatch" and fault.copy == 3 and fault.cycle == 1
    assert 0 <= fault.detail["first_bad_offset"] < BLOCK
    assert 1 <= fault.detail["bad_bytes"] <= 2
    assert fault.detail["direction"] == "h2d" and fault.detail["pattern"] == "random"
    sample = fault.detail["samples"][0]
    assert sample["expected"] != sample["actual"]
    end = finished(got)
    assert end.outcome == "completed" and end.copies == 5 and end.verify_errors == 1


def test_without_verify_nothing_is_compared():
    faults = [{"device": 0, "kind": "bitflip", "at_copy": 1}]
    got = run(params(release_cycle=2, verify=False), sim(faults=faults))
    assert of(got, events.Fault) == [] and finished(got).verify_errors == 0


def test_alloc_fail_is_an_unexpected_capacity_and_frees_everything():
    faults = [{"device": 0, "kind": "alloc_fail", "at_alloc": 3}]  # the 1st allocation is the warm-up's
    config = sim(faults=faults)
    with held(config):
        got = run(params(release_cycle=2, number_of_cycles=3, memory_reuse=True), None)
    (cap,) = of(got, events.Capacity)
    assert not cap.expected and cap.cycle == 2 and cap.copy == 3
    end = finished(got)
    assert end.outcome == "error" and end.cycles == 2 and end.copies == 2


def test_leak_shows_in_cycle_end_and_finished():
    faults = [{"device": 0, "kind": "leak", "bytes": 8192}]
    got = run(params(release_cycle=1, number_of_cycles=3, memory_reuse=True), sim(faults=faults))
    leaks = [c.leak for c in of(got, events.CycleEnd)]
    assert leaks[0] > 0 and leaks == sorted(leaks) and len(leaks) == 3  # every increase is sent
    assert finished(got).leak == leaks[-1] == 3 * 8192  # one device block freed per cycle


def test_slow_device_shows_lower_bandwidth():
    p = params(memory_size=1 << 20, release_cycle=4, memory_reuse=True)
    fast = finished(run(p, sim(16 << 20)))
    slow = finished(run(p, sim(16 << 20, faults=[{"device": 0, "kind": "slow", "factor": 20}])))
    assert slow.h2d["median"] < fast.h2d["median"] / 4
    assert slow.d2h["median"] < fast.d2h["median"] / 4


class _FailingMemcpy(MemcpyWrapper):
    """The simulator's acl with ``rt.memcpy`` failing from call ``at`` on (a driver error)."""

    def _memcpy(self, *args):
        self.calls += 1
        return 507899 if self.calls >= self.at else self._acl.rt.memcpy(*args)


class _ShortH2D(_FailingMemcpy):
    """From the ``at``-th memcpy on, every host-to-device copy moves all but its last 64 bytes."""

    def _memcpy(self, dst, dst_max, src, count, kind):
        self.calls += 1
        short = self.calls >= self.at and kind == 1 and count > 64
        return self._acl.rt.memcpy(dst, dst_max, src, count - 64 if short else count, kind)


def test_an_h2d_that_stops_short_is_caught_even_on_identical_stale_bytes():
    with held(sim()) as acl:
        rt = Runtime(_ShortH2D(acl, at=5), "sim")
        got = []
        with open_device(rt, 0):
            p = params(release_cycle=4, number_of_cycles=1, memory_reuse=True, patterns=("constant",))
            CycleEngine(rt, p, got.append, rt.mem_info()).run(lambda baseline: None)
    bad = [f for f in of(got, events.Fault) if f.fault == "data_mismatch"]
    assert [f.copy for f in bad] == [3, 4]  # the 5th memcpy is the H2D of copy 3
    assert all(f.detail["first_bad_offset"] == BLOCK - 1 for f in bad)


def test_a_device_bad_on_every_copy_sends_a_bounded_number_of_faults_and_the_exact_count():
    with held(sim()) as acl:
        rt = Runtime(_ShortH2D(acl, at=1), "sim")
        got = []
        with open_device(rt, 0):
            engine = CycleEngine(
                rt, params(release_cycle=30, number_of_cycles=1, memory_reuse=True), got.append, rt.mem_info()
            )
            outcome = engine.run(lambda baseline: None)
    assert len([f for f in of(got, events.Fault) if f.fault == "data_mismatch"]) == 20
    assert engine.finished(outcome).verify_errors == 30


def test_api_error_is_a_fault_with_cycle_and_copy_and_cleans_up():
    with held(sim()) as acl:
        rt = Runtime(_FailingMemcpy(acl, at=6), "sim")  # the 1st memcpy is the warm-up's D2H
        got = []
        with open_device(rt, 0) as device:
            engine = CycleEngine(rt, params(release_cycle=2, number_of_cycles=3), got.append, rt.mem_info())
            outcome = engine.run(lambda baseline: None)
        assert device.close_errors == []
    (fault,) = of(got, events.Fault)
    assert outcome == "error"
    assert (fault.fault, fault.api, fault.code, fault.name) == (
        "api_error",
        "acl.rt.memcpy",
        507899,
        "ACL_ERROR_RT_DRV_INTERNAL_ERROR",
    )
    assert (fault.cycle, fault.copy) == (2, 3)  # the 5th memcpy is the H2D of copy 3
    assert engine.finished(outcome).copies == 3


def test_stop_is_checked_between_copies():
    stop = threading.Event()
    got = run(params(release_cycle=-1, memory_reuse=True), stop=stop, watch=StopAt(stop, 3))
    end = finished(got)
    assert end.outcome == "stopped" and end.copies == 3 and end.cycles == 1


@pytest.mark.slow  # wall-clock timing: a loaded machine stretches it
def test_interval_pauses_after_each_copy_and_duration_cuts_it_short():
    got = run(params(release_cycle=3, memory_reuse=True, interval=0.05))
    assert finished(got).elapsed >= 0.15
    start = time.perf_counter()
    end = finished(run(params(release_cycle=-1, memory_reuse=True, interval=30, duration=0.2)))
    assert end.outcome == "duration" and time.perf_counter() - start < 5


def test_events_stay_bounded_for_many_tiny_cycles():
    got = run(params(memory_size=64, release_cycle=1, number_of_cycles=-1, duration=1.0), sim())
    end = finished(got)
    budget = end.elapsed / PROGRESS_PERIOD + 3
    assert end.cycles > 50  # many more on an idle machine; kept low for loaded CI hosts
    assert len(of(got, events.CycleEnd)) <= budget and len(of(got, events.Progress)) <= budget
    assert sum(c.cycles for c in of(got, events.CycleEnd)) == end.cycles
    assert of(got, events.CycleEnd)[-1].cycle == end.cycles
    # The duration can run out between the last cycle's allocation and its copy.
    assert end.h2d["count"] == end.copies and end.copies in (end.cycles, end.cycles - 1)


def test_leak_is_the_worst_memory_kind_below_baseline():
    base = {"ddr": {"free": 100, "total": 100}, "hbm": {"free": 1000, "total": 1000}}
    now = {"ddr": {"free": 90, "total": 100}, "hbm": {"free": 1010, "total": 1000}}
    assert leak_of(base, now) == 10
    assert leak_of(base, base) == 0


def test_a_fill_run_whose_first_allocation_fails_is_no_capacity_measurement():
    faults = [{"device": 0, "kind": "alloc_fail", "at_alloc": 1}]
    got = run(params(memory_size=64 * 1024), sim(HBM, faults=faults))
    (cap,) = of(got, events.Capacity)
    assert (cap.blocks, cap.expected) == (0, False)
    assert finished(got).outcome == "error"


def test_samples_include_the_huge_pages_and_a_full_device_names_the_pool_that_filled():
    got = run(params(memory_size=64 * 1024), sim(HBM))
    (cap,) = of(got, events.Capacity)
    assert cap.pool == "hbm_huge"  # DVPP memory comes from huge pages: those filled, the normal ones did not
    end = finished(got)
    assert set(end.memory) == {"ddr", "hbm", "ddr_huge", "hbm_huge"}
    assert end.memory["hbm_huge"]["total"] == huge_pages(HBM) and end.memory["hbm"]["total"] == HBM


def test_a_device_full_at_the_warm_up_starts_then_reports_the_capacity_of_cycle_1():
    got = run(params(release_cycle=2), sim(faults=[{"device": 0, "kind": "alloc_fail", "at_alloc": 1}]))
    kinds = [e.kind for e in got]
    assert kinds[0] == "started" and kinds[-1] == "finished"  # the event order holds
    (cap,) = of(got, events.Capacity)
    assert (cap.cycle, cap.copy, cap.blocks, cap.expected) == (1, 1, 0, False)
