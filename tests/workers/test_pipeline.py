"""Pipelined verified copies (``workers/pipeline.py``) against the simulator: the same findings and
totals as serial copies, every byte checked, nothing left behind on a stop or an error."""

from __future__ import annotations

import ctypes
import dataclasses
import signal
import threading
import time
from types import SimpleNamespace

import pytest

from tests.helpers.workers import BLOCK, MemcpyWrapper, StopAt, finished, held, of, params, run, sim
from workers import events
from workers.cycles import CycleEngine
from workers.params import PATTERNS, PIPELINE_MIN_SIZE, WorkerParams, conflicts, pipelined
from workers.runtime import Runtime, open_device

MODES = ("serial", "pipelined")
WAYS = (
    {"host_memory": "pinned", "copy_mode": "sync"},
    {"host_memory": "pinned", "copy_mode": "async"},
    {"host_memory": "pageable", "copy_mode": "sync"},
)


def _bitflip(at_copy: int, bits: int = 1):
    return [{"device": 0, "kind": "bitflip", "at_copy": at_copy, "bits": bits}]


@pytest.mark.parametrize("way", WAYS, ids=lambda w: f"{w['host_memory']}-{w['copy_mode']}")
@pytest.mark.parametrize("reuse", (True, False))
@pytest.mark.parametrize("at", (1, 2, 5, 6))
def test_a_bitflip_on_copy_k_is_reported_at_copy_k_with_its_offset_and_direction(way, reuse, at):
    got = run(
        params(pipeline="pipelined", release_cycle=6, memory_reuse=reuse, patterns=PATTERNS, **way),
        sim(faults=_bitflip(at)),
    )
    (fault,) = of(got, events.Fault)
    assert (fault.fault, fault.cycle, fault.copy) == ("data_mismatch", 1, at)
    assert fault.detail["direction"] == "h2d"  # re-read from its own block, not the next copy's
    assert fault.detail["pattern"] == PATTERNS[(at - 1) % len(PATTERNS)]
    assert fault.detail["host_memory"] == way["host_memory"] and fault.detail["size"] == BLOCK
    assert fault.detail["bad_bytes"] == 1 and 0 <= fault.detail["first_bad_offset"] < BLOCK
    end = finished(got)
    assert (end.outcome, end.copies, end.verify_errors) == ("completed", 6, 1)


def test_the_offset_is_the_one_the_flip_hit():
    serial, piped = (
        of(run(params(pipeline=m, release_cycle=4, memory_reuse=True), sim(faults=_bitflip(3, 3))), events.Fault)
        for m in MODES
    )
    assert [f.detail for f in piped] == [f.detail for f in serial] and piped[0].copy == 3


class _CorruptD2H(MemcpyWrapper):
    """The simulator's acl with one byte (at ``offset``) of the ``at``-th device-to-host memcpy's
    destination flipped after it: the device held the right bytes, the read-back lost one."""

    offset = 100

    def _memcpy(self, dst, dst_max, src, count, kind):
        ret = self._acl.rt.memcpy(dst, dst_max, src, count, kind)
        if kind == 2:  # ACL_MEMCPY_DEVICE_TO_HOST
            self.calls += 1
            if self.calls == self.at:
                ctypes.c_ubyte.from_address(dst + self.offset).value ^= 0x10
        return ret


@pytest.mark.parametrize("mode", MODES)
def test_a_byte_lost_on_the_way_back_is_a_d2h_mismatch_at_its_copy(mode):
    with held(sim()) as acl:
        rt = Runtime(_CorruptD2H(acl, at=4), "sim")  # the 1st D2H is the warm-up's: the 4th is copy 3's
        got = []
        with open_device(rt, 0):
            p = params(pipeline=mode, release_cycle=5, memory_reuse=True, patterns=PATTERNS)
            CycleEngine(rt, p, got.append, rt.mem_info()).run(lambda baseline: None)
    (fault,) = of(got, events.Fault)
    assert fault.copy == 3 and fault.detail["direction"] == "d2h"
    assert fault.detail["first_bad_offset"] == 100 and fault.detail["bad_bytes"] == 1


@pytest.mark.parametrize("pattern", PATTERNS)
@pytest.mark.parametrize("way", WAYS, ids=lambda w: f"{w['host_memory']}-{w['copy_mode']}")
def test_every_pattern_round_trips_pipelined(pattern, way):
    got = run(params(pipeline="pipelined", patterns=(pattern,), memory_size=100_003, release_cycle=5, **way))
    end = finished(got)
    assert (end.outcome, end.copies, end.verify_errors) == ("completed", 5, 0)
    assert of(got, events.Fault) == []
    assert end.link["verified"] == end.bytes == 2 * 5 * 100_003  # every byte compared


def _totals(end: events.Finished):
    return (end.outcome, end.cycles, end.copies, end.bytes, end.verify_errors, end.leak, end.link["verified"])


@pytest.mark.parametrize("way", WAYS, ids=lambda w: f"{w['host_memory']}-{w['copy_mode']}")
def test_serial_and_pipelined_runs_give_the_same_totals_and_findings(way):
    base = dict(release_cycle=7, number_of_cycles=3, memory_reuse=True, patterns=PATTERNS, warmup=1, **way)
    faults = _bitflip(4) + [{"device": 0, "kind": "bitflip", "at_copy": 19, "bits": 2}]
    serial, piped = (run(params(pipeline=m, **base), sim(faults=faults)) for m in MODES)
    assert _totals(finished(piped)) == _totals(finished(serial))
    assert [(f.cycle, f.copy, f.detail) for f in of(piped, events.Fault)] == [
        (f.cycle, f.copy, f.detail) for f in of(serial, events.Fault)
    ]
    assert finished(piped).h2d["count"] == finished(serial).h2d["count"] == 3 * 7 - 1


def test_a_size_sweep_pipelines_each_size_and_checks_every_copy():
    sizes = (BLOCK, 3 * BLOCK, 8 * BLOCK)
    got = run(params(pipeline="pipelined", memory_size=sizes, release_cycle=3, number_of_cycles=2, memory_reuse=True))
    end = finished(got)
    assert end.outcome == "completed" and end.copies == 2 * 3 * 3
    assert end.link["verified"] == end.bytes == 2 * 2 * 3 * sum(sizes)
    assert [c["size"] for c in end.curve] == list(sizes)


def test_a_stop_in_the_middle_of_a_pipeline_checks_what_moved_and_releases_everything():
    stop = threading.Event()

    config = sim(faults=_bitflip(3))
    with held(config):  # asserts that no host, device or DVPP buffer is left
        got = run(
            params(pipeline="pipelined", release_cycle=-1, memory_reuse=True), None, stop=stop, watch=StopAt(stop, 3)
        )
    end = finished(got)
    assert (end.outcome, end.copies, end.cycles) == ("stopped", 3, 1)
    (fault,) = of(got, events.Fault)
    assert fault.copy == 3 and fault.detail["direction"] == "h2d"  # the last copy was still checked
    assert end.link["verified"] == end.bytes == 2 * 3 * BLOCK
    assert [t.name for t in threading.enumerate() if t.name.startswith("dvpp-host")] == []


class _FailingH2D(MemcpyWrapper):
    """The simulator's acl with the ``at``-th host-to-device memcpy failing (a driver error)."""

    def _memcpy(self, dst, dst_max, src, count, kind):
        if kind == 1:  # ACL_MEMCPY_HOST_TO_DEVICE
            self.calls += 1
            if self.calls == self.at:
                return 507899
        return self._acl.rt.memcpy(dst, dst_max, src, count, kind)


def test_an_error_mid_pipeline_keeps_the_mismatch_found_before_it_and_frees_everything():
    with held(sim(faults=_bitflip(2))) as acl:
        rt = Runtime(_FailingH2D(acl, at=3), "sim")
        got = []
        with open_device(rt, 0) as device:
            p = params(pipeline="pipelined", release_cycle=5, memory_reuse=True)
            engine = CycleEngine(rt, p, got.append, rt.mem_info())
            outcome = engine.run(lambda baseline: None)
        assert device.close_errors == []
    mismatch, error = of(got, events.Fault)
    assert (mismatch.fault, mismatch.copy) == ("data_mismatch", 2)
    assert mismatch.detail["direction"] == "unknown"  # the device is not asked again after its error
    assert (error.fault, error.api, error.copy) == ("api_error", "acl.rt.memcpy", 3)
    end = engine.finished(outcome)
    assert outcome == "error" and end.copies == 3
    assert end.link["verified"] == end.bytes == 2 * 2 * BLOCK  # both copies that moved were compared


class _Threads:
    """The simulator's acl, recording the thread of every runtime call."""

    def __init__(self, acl) -> None:
        self._acl, self.threads = acl, set()
        self.rt = SimpleNamespace(**{n: self._wrap(getattr(acl.rt, n)) for n in dir(acl.rt) if not n.startswith("_")})

    def _wrap(self, fn):
        if not callable(fn):
            return fn

        def call(*args, **kw):
            self.threads.add(threading.current_thread().name)
            return fn(*args, **kw)

        return call

    def __getattr__(self, name):
        return getattr(self._acl, name)


def test_the_host_thread_never_calls_the_runtime():
    with held(sim()) as acl:
        spy = _Threads(acl)
        rt = Runtime(spy, "sim")
        got = []
        with open_device(rt, 0):
            p = params(pipeline="pipelined", release_cycle=6, number_of_cycles=2, memory_reuse=True)
            engine = CycleEngine(rt, p, got.append, rt.mem_info())
            end = engine.finished(engine.run(lambda baseline: None))
    assert spy.threads == {threading.current_thread().name}
    assert end.link["verified"] == 2 * 12 * BLOCK


def test_link_use_adds_up():
    end = finished(run(params(pipeline="pipelined", memory_size=1 << 18, release_cycle=8, memory_reuse=True)))
    link = end.link
    assert 0 < link["busy"] < link["wall"] <= end.elapsed
    assert link["verified"] == end.bytes
    quiet = finished(run(params(release_cycle=3, memory_reuse=True, verify=False)))
    assert quiet.link["verified"] == 0 and quiet.link["busy"] > 0
    cycle_ends = of(run(params(release_cycle=2, number_of_cycles=2, memory_reuse=True)), events.CycleEnd)
    assert all(c.link is not None and c.link["verified"] == c.bytes for c in cycle_ends)


@pytest.mark.parametrize("memory", ("pinned", "pageable"))
@pytest.mark.parametrize("mode", MODES)
def test_every_copy_is_sent_from_its_pattern_written_once(memory, mode):
    sent_from = {}

    class Look:
        def copied(self, cycle, copy, pattern, sent, received, memory):
            sent_from.setdefault(pattern, set()).add(sent.ctypes.data)
            assert bytes(sent[:64]) == bytes(received[:64])

        def released(self, cycle, memory):
            pass

    p = params(pipeline=mode, host_memory=memory, patterns=("constant", "address"), release_cycle=3)
    end = finished(run(dataclasses.replace(p, number_of_cycles=2, memory_reuse=True), watch=Look()))
    assert end.copies == 6 and end.verify_errors == 0
    assert [len(addresses) for addresses in sent_from.values()] == [1, 1]  # no fill: the same bytes each time
    assert len(set.union(*sent_from.values())) == 2


@pytest.mark.parametrize("memory", ("pinned", "pageable"))
@pytest.mark.parametrize("mode", MODES)
def test_host_memory_that_changes_under_a_pattern_is_named_as_the_host_s(memory, mode):
    class Corrupt:
        def copied(self, cycle, copy, pattern, sent, received, memory):
            if copy == 2:
                sent[10] ^= 0x01  # the written-once pattern itself: host RAM gone bad

        def released(self, cycle, memory):
            pass

    p = params(pipeline=mode, host_memory=memory, patterns=("constant",), release_cycle=4, memory_reuse=True)
    faults = of(run(p, watch=Corrupt()), events.Fault)
    assert [(f.copy, f.detail["direction"], f.detail["first_bad_offset"]) for f in faults] == [
        (3, "host", 10),
        (4, "host", 10),
    ]


@pytest.mark.parametrize(
    "given,size,expect",
    [
        ({}, PIPELINE_MIN_SIZE, True),
        ({}, PIPELINE_MIN_SIZE - 1, False),
        ({"host_memory": "both"}, 1 << 26, False),
        ({"copy_mode": "async", "bidirectional": True}, 1 << 26, False),
        ({"pipeline": "serial"}, 1 << 26, False),
        ({"pipeline": "pipelined"}, 64, True),
    ],
)
def test_auto_pipelines_one_way_copies_of_large_blocks_from_one_host_memory(given, size, expect):
    assert pipelined(WorkerParams(**given), size) is expect


def test_pipelined_is_refused_where_it_cannot_be():
    assert [k for k, *_ in conflicts({"pipeline": "pipelined", "copy_mode": "async", "bidirectional": True})] == [
        "pipeline"
    ]
    (rule,) = conflicts({"pipeline": "pipelined", "host_memory": "both", "copy_mode": "sync"})
    assert rule[:2] == ("pipeline", "host_memory")
    assert conflicts({"pipeline": "auto", "host_memory": "both", "copy_mode": "sync"}) == []
    with pytest.raises(ValueError, match="pipeline: pipelined needs one kind of host memory"):
        CycleEngine(None, params(pipeline="pipelined", host_memory="both"), print, {})


def _capacity_run(mode, flip_at=None):
    faults = _bitflip(flip_at) if flip_at else []
    p = params(pipeline=mode, memory_size=4 << 20, release_cycle=-1, memory_reuse=False, patterns=PATTERNS)
    return run(p, sim(56 << 20, faults=faults))


def test_a_capacity_run_checks_its_last_copy_when_the_device_fills():
    blocks = finished(_capacity_run("serial")).copies
    assert blocks >= 3
    for at in (blocks, blocks - 1):
        serial, piped = _capacity_run("serial", at), _capacity_run("auto", at)
        assert [(f.copy, f.detail["direction"]) for f in of(piped, events.Fault)] == [(at, "h2d")]
        assert [(f.copy, f.detail) for f in of(piped, events.Fault)] == [
            (f.copy, f.detail) for f in of(serial, events.Fault)
        ]
        for got in (serial, piped):
            end = finished(got)
            assert (end.outcome, end.copies, end.verify_errors) == ("capacity", blocks, 1)
            assert end.link["verified"] == end.bytes == 2 * blocks * (4 << 20)
            assert of(got, events.Capacity)[0].copy == blocks + 1


def test_auto_copies_serially_where_a_second_block_does_not_fit():
    p = params(memory_size=12 << 20, release_cycle=4, memory_reuse=True, memory_kind="device")
    serial = finished(run(dataclasses.replace(p, pipeline="serial"), sim(20 << 20)))
    auto = finished(run(p, sim(20 << 20)))
    assert _totals(auto) == _totals(serial) and auto.outcome == "completed" and auto.copies == 4
    forced = run(dataclasses.replace(p, pipeline="pipelined"), sim(20 << 20))
    assert finished(forced).outcome == "error" and not of(forced, events.Capacity)[0].expected


class _Interrupt(BaseException):
    """What a signal handler raises in the main thread, like Ctrl-C's KeyboardInterrupt."""


def test_an_interrupt_while_waiting_for_the_host_thread_frees_nothing_under_it(monkeypatch):
    import workers.pipeline as pipeline

    real, still_held = pipeline.compare, []

    def slow(actual, expected):
        if not threading.current_thread().name.startswith("dvpp-host"):
            return real(actual, expected)
        time.sleep(0.05)  # the host thread is comparing when the interrupt comes
        from workers.simulator.acl import _state

        still_held.append(_state.driver().memory.find(actual.ctypes.data, actual.size) is not None)
        return real(actual, expected)

    monkeypatch.setattr(pipeline, "compare", slow)
    main = threading.main_thread().ident

    def raise_interrupt(signum, frame):
        raise _Interrupt()

    previous = signal.signal(signal.SIGUSR2, raise_interrupt)
    timer = threading.Timer(0.3, lambda: signal.pthread_kill(main, signal.SIGUSR2))
    try:
        with held(sim()):  # asserts that every buffer was freed, after the host thread let go of it
            timer.start()
            with pytest.raises(_Interrupt):
                run(params(pipeline="pipelined", release_cycle=-1, memory_reuse=True), None)
            assert [t.name for t in threading.enumerate() if t.name.startswith("dvpp-host")] == []
        assert still_held and all(still_held)  # the host thread never read a freed buffer
    finally:
        timer.cancel()
        signal.signal(signal.SIGUSR2, previous)
