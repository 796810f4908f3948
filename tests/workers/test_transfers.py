"""The copy strategies and host memories on the simulator: sync, async, bidirectional, pageable,
both, size sweeps and warm-up; figures asserted, alignment errors as the runtime's codes."""

from __future__ import annotations

import pytest

from tests.helpers.workers import BLOCK, finished, held, of, params, run, sim
from workers import events
from workers.params import WorkerParams, conflicts
from workers.runtime import AclError, Allocations, Runtime, open_device
from workers.transfers import AsyncCopy, Buffer, Verifier, pageable_buffer, pinned_buffer, stream

STATS = {"count", "min", "max", "median", "mean"}
HBM = 16 << 20


def _clean(got):
    end = finished(got)
    assert end.outcome == "completed" and of(got, events.Fault) == [], got
    return end


@pytest.mark.parametrize(
    "mode", [{}, {"copy_mode": "async"}, {"host_memory": "pageable"}, {"copy_mode": "async", "bidirectional": True}]
)
def test_each_mode_round_trips_every_pattern_and_reports_both_directions(mode):
    p = params(release_cycle=4, number_of_cycles=2, patterns=("random", "address"), **mode)
    end = _clean(run(p, sim(HBM)))
    assert end.copies == 8 and end.bytes == 8 * 2 * BLOCK and end.verify_errors == 0
    assert end.h2d["count"] == end.d2h["count"] == 8  # the worker's own default: no warm-up
    assert 0 < end.h2d["min"] <= end.h2d["median"] <= end.h2d["max"]
    (point,) = end.curve
    assert point["size"] == BLOCK and point["h2d"] == end.h2d and point["d2h"] == end.d2h


def test_bidirectional_reports_each_direction_and_their_sum():
    end = _clean(run(params(release_cycle=5, memory_reuse=True, copy_mode="async", bidirectional=True), sim(HBM)))
    (point,) = end.curve
    assert set(point) == {"size", "h2d", "d2h", "sum"}
    assert set(point["sum"]) == STATS and point["sum"]["count"] == 5
    # Each direction's time runs from the common start; the sum moved both blocks in the longer one.
    assert point["sum"]["max"] <= point["h2d"]["max"] + point["d2h"]["max"] + 1e-9
    assert point["sum"]["median"] > point["d2h"]["median"]


def test_bidirectional_without_reuse_takes_two_blocks_per_copy():
    end = _clean(run(params(release_cycle=3, copy_mode="async", bidirectional=True), sim(HBM)))
    assert end.lowest_free["hbm"] <= HBM - 6 * (BLOCK + 32)


@pytest.mark.parametrize("at_copy, copy", [(1, 1), (2, 1), (3, 2)])
def test_bidirectional_catches_a_flipped_bit_in_either_h2d(at_copy, copy):
    """Each bidirectional copy makes two H2D copies: the untimed fill of the block the timed D2H
    reads, then the timed one; a flip in either is found and blamed on H2D."""
    faults = [{"device": 0, "kind": "bitflip", "at_copy": at_copy}]
    got = run(params(release_cycle=2, memory_reuse=True, copy_mode="async", bidirectional=True), sim(faults=faults))
    (fault,) = of(got, events.Fault)
    assert (fault.fault, fault.copy, fault.detail["direction"]) == ("data_mismatch", copy, "h2d")


def test_host_memory_both_reports_pageable_figures_and_the_ratio():
    end = _clean(run(params(release_cycle=3, memory_reuse=True, host_memory="both"), sim(HBM)))
    (point,) = end.curve
    assert end.bytes == 3 * 2 * 2 * BLOCK  # each copy makes the round trip from both memories
    assert set(point["pageable"]) == {"h2d", "d2h"} and point["pageable"]["h2d"]["count"] == 3
    for direction in ("h2d", "d2h"):
        assert point["ratio"][direction] == pytest.approx(
            point[direction]["median"] / point["pageable"][direction]["median"]
        )


def test_pageable_catches_a_flipped_bit_and_names_the_host_memory():
    faults = [{"device": 0, "kind": "bitflip", "at_copy": 2}]
    got = run(params(release_cycle=2, memory_reuse=True, host_memory="both"), sim(faults=faults))
    (fault,) = of(got, events.Fault)
    assert (fault.copy, fault.detail["host_memory"], fault.detail["direction"]) == (1, "pageable", "h2d")


def test_a_size_sweep_gives_a_curve_and_keeps_the_largest_size_as_h2d_and_d2h():
    sizes = (4096, 65536, 1 << 20)
    got = run(params(memory_size=list(sizes), release_cycle=3, number_of_cycles=2, warmup=1), sim(HBM))
    end = _clean(got)
    assert [p["size"] for p in end.curve] == list(sizes)
    assert all(p["h2d"]["count"] == p["d2h"]["count"] == 2 * 3 - 1 for p in end.curve)  # warm-up out
    assert end.h2d == end.curve[-1]["h2d"] and end.d2h == end.curve[-1]["d2h"]
    assert end.copies == 2 * 3 * len(sizes) and end.bytes == 2 * 3 * 2 * sum(sizes)
    assert of(got, events.CycleEnd)[-1].h2d == end.h2d


def test_a_sweep_without_reuse_holds_a_block_per_copy_until_the_cycle_ends():
    sizes = (4096, 65536)
    end = _clean(run(params(memory_size=list(sizes), release_cycle=2), sim(HBM)))
    assert end.lowest_free["hbm"] == HBM - 2 * sum(s + 32 for s in sizes) and end.leak == 0


def test_warmup_copies_are_made_and_verified_but_left_out_of_the_figures():
    end = _clean(run(params(release_cycle=3, memory_reuse=True, warmup=2)))
    assert end.copies == 3 and end.h2d["count"] == end.d2h["count"] == 1
    all_warmup = _clean(run(params(release_cycle=2, memory_reuse=True, warmup=2)))
    assert all_warmup.h2d is None and all_warmup.curve[0]["h2d"] is None


def test_a_conflicting_combination_is_a_worker_error_not_a_run():
    got = run(params(bidirectional=True))
    (fault,) = of(got, events.Fault)
    assert fault.fault == "worker_error" and fault.message == (
        "ValueError: bidirectional: needs copy_mode: async, since H2D and D2H overlap on two streams"
    )


def test_params_normalise_a_sweep_and_survive_json():
    p = WorkerParams(memory_size=[1 << 20, 4096, 4096, 65536], release_cycle=2)
    assert (p.memory_size, p.sizes, p.sweep) == (1 << 20, (4096, 65536, 1 << 20), (4096, 65536, 1 << 20))
    assert WorkerParams.from_dict(p.to_dict()) == p
    assert WorkerParams(memory_size=[4096]).sweep == (4096,) and WorkerParams().sweep == (10 << 20,)
    assert [
        k
        for k, _, _ in conflicts(
            {
                "memory_size": (1, 2),
                "release_cycle": -1,
                "host_memory": "both",
                "copy_mode": "async",
                "bidirectional": False,
            }
        )
    ] == ["host_memory", "memory_size"]


def _async_call(offset_host: int, offset_device: int) -> AclError:
    with held(sim()) as acl:
        rt = Runtime(acl, "sim")
        with open_device(rt, 0), Allocations(rt) as mem, stream(rt) as handle:
            host, device = mem.host(BLOCK), mem.device(BLOCK)
            sent = received = pinned_buffer(host + offset_host, BLOCK - 64)
            with pytest.raises(AclError) as info:
                AsyncCopy(rt, handle).round_trip(
                    sent, received, [device + offset_device], BLOCK - 64, Verifier(rt, False, print)
                )
    return info.value


@pytest.mark.parametrize("host, device", [(1, 0), (32, 0), (0, 8), (0, 64 + 32)])
def test_a_misaligned_async_copy_fails_with_the_runtime_code(host, device):
    error = _async_call(host, device)
    assert (error.api, error.code, error.name) == ("acl.rt.memcpy_async", 107008, "ACL_ERROR_RT_ADDR_UNALIGNED")


def test_64_byte_aligned_offsets_are_fine_for_async():
    with held(sim()) as acl:
        rt = Runtime(acl, "sim")
        with open_device(rt, 0), Allocations(rt) as mem, stream(rt) as handle:
            host, device = mem.host(BLOCK), mem.device(BLOCK)
            buf = pinned_buffer(host + 64, 128)
            timing = AsyncCopy(rt, handle).round_trip(buf, buf, [device + 128], 128, Verifier(rt, False, print))
            assert timing.h2d > 0 and timing.d2h > 0 and timing.overlapped is None


def test_pageable_buffers_are_plain_process_memory_64_aligned():
    with held(sim()) as acl:
        rt = Runtime(acl, "sim")
        with open_device(rt, 0), Allocations(rt) as mem:
            buf = pageable_buffer(1000)
            assert isinstance(buf, Buffer) and buf.ptr % 64 == 0 and buf.ptr == buf.data.ctypes.data
            buf.data[:] = 9
            device = mem.device(1000)
            rt.memcpy_h2d(device, buf.ptr, 1000)  # any live host memory is valid for a sync memcpy
            back = pageable_buffer(1000)
            rt.memcpy_d2h(back.ptr, device, 1000)
            assert set(back.data.tolist()) == {9}


def test_streams_are_destroyed_with_the_run():
    from workers.simulator.acl import _state

    with held(sim()):
        run(params(release_cycle=2, copy_mode="async", bidirectional=True), None)
        assert _state.driver().streams == {}
