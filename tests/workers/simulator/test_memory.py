"""Allocation, capacity accounting, get_mem_info attributes, and the checks before bytes move."""

from __future__ import annotations

import ctypes
import time

import numpy as np
import pytest

from workers.simulator.acl import _state

GIB = 1 << 30


def hbm_free(acl):
    free, total, ret = acl.rt.get_mem_info(1)
    assert ret == 0
    return free


def test_alignment_and_rounding(acl):
    before = hbm_free(acl)
    host, ret = acl.rt.malloc_host(100)
    assert ret == 0 and host % 64 == 0
    dvpp, ret = acl.media.dvpp_malloc(100)
    assert ret == 0 and dvpp % 128 == 0
    assert before - hbm_free(acl) == 128 + 32  # ALIGN_UP(100, 32) + 32
    assert _state.driver().memory.find(host).size == 128  # ALIGN_UP(100, 32)
    dev, ret = acl.rt.malloc(1000, 0)
    assert ret == 0 and dev % 64 == 0
    assert before - hbm_free(acl) == 160 + 1024 + 32


def test_capacity_falls_and_rises(acl):
    total = acl.rt.get_mem_info(1)[1]
    assert total == GIB and hbm_free(acl) == GIB
    ptrs = [acl.media.dvpp_malloc(1 << 20)[0] for _ in range(3)]
    assert hbm_free(acl) == GIB - 3 * ((1 << 20) + 32)
    for ptr in ptrs:
        assert acl.media.dvpp_free(ptr) == 0
    assert hbm_free(acl) == GIB


def test_request_that_does_not_fit_allocates_nothing(acl):
    regions = len(_state.driver().memory.regions)
    assert acl.media.dvpp_malloc(2 * GIB) == (0, 207001)
    assert acl.rt.malloc(GIB, 0) == (0, 207001)  # + 32 bytes does not fit
    assert "out of HBM" in acl.get_recent_err_msg()
    assert len(_state.driver().memory.regions) == regions
    assert hbm_free(acl) == GIB


def test_fill_until_full_then_free(acl):
    block = 256 << 20
    ptrs = []
    while True:
        ptr, ret = acl.media.dvpp_malloc(block)
        if ret:
            break
        ptrs.append(ptr)
    assert ret == 207001 and len(ptrs) == 3  # 4 blocks need 32 * 4 bytes more than 1 GiB
    for ptr in ptrs:
        acl.media.dvpp_free(ptr)
    assert hbm_free(acl) == GIB


def test_dvpp_limit_caps_dvpp_only(sim):
    acl = sim({"chip": "Ascend310", "memory": {"ddr": 8 * GIB}})
    acl.init()
    acl.rt.set_device(0)
    assert acl.media.dvpp_malloc(4 * GIB) == (0, 207001)  # over the 4 GiB DVPP window
    ptr, ret = acl.rt.malloc(5 * GIB, 2)  # plain device memory is not capped by it
    assert ret == 0
    assert acl.rt.free(ptr) == 0


def test_size_zero_and_bad_policy(acl):
    assert acl.rt.malloc_host(0) == (0, 100000)
    assert acl.rt.malloc(0, 0) == (0, 100000)
    assert acl.media.dvpp_malloc(0) == (0, 100000)
    assert acl.rt.malloc(64, 99)[1] == 100000
    assert acl.rt.malloc(64, 0x1000 | 2)[1] == 0  # HIGH_BAND_WIDTH flag OR-ed with a policy


def test_free_errors(acl):
    host, _ = acl.rt.malloc_host(64)
    dvpp, _ = acl.media.dvpp_malloc(64)
    assert acl.rt.free(dvpp) == 107000  # dvpp memory is freed with dvpp_free
    assert acl.rt.free_host(dvpp) == 107000
    assert acl.media.dvpp_free(host) == 107000
    assert acl.media.dvpp_free(dvpp + 128) == 107000  # interior pointer
    assert acl.media.dvpp_free(0) == 100000
    assert acl.media.dvpp_free(dvpp) == 0
    assert acl.media.dvpp_free(dvpp) == 107000  # double free
    assert acl.rt.free_host(host) == 0
    assert acl.rt.free_host(host) == 107000


@pytest.mark.parametrize(
    "chip,ddr,hbm",
    [
        ("Ascend910B", (0, 0), (61 * GIB, 61 * GIB)),
        ("Ascend910", (0, 0), (30 * GIB, 30 * GIB)),
        ("Ascend310P3", (21 * GIB, 21 * GIB), (21 * GIB, 21 * GIB)),  # HBM attrs map to DDR
        ("Ascend310", (7 * GIB, 7 * GIB), (0, 0)),
    ],
)
def test_mem_info_per_chip(sim, chip, ddr, hbm):
    acl = sim({"chip": chip})
    acl.init()
    acl.rt.set_device(0)
    assert acl.rt.get_mem_info(0) == (*ddr, 0)
    assert acl.rt.get_mem_info(1) == (*hbm, 0)


def test_every_attribute_answers(acl):
    for attr in range(18):
        free, total, ret = acl.rt.get_mem_info(attr)
        assert ret == 0 and free <= total
    assert acl.rt.get_mem_info(18) == (0, 0, 107016)
    assert acl.rt.get_mem_info(-1) == (0, 0, 107016)


def test_dvpp_on_310p_draws_from_ddr(sim):
    acl = sim({"chip": "Ascend310P3", "memory": {"ddr": GIB}, "driver_cache": 0})
    acl.init()
    acl.rt.set_device(0)
    acl.media.dvpp_malloc(1000)
    assert acl.rt.get_mem_info(0)[0] == GIB - 1056
    assert acl.rt.get_mem_info(1)[0] == GIB - 1056
    assert acl.rt.get_mem_info(2)[0] == acl.rt.get_mem_info(4)[0] == GIB * 3 // 4 - 1056  # DDR huge pages


def test_reset_device_releases_device_memory(acl):
    acl.media.dvpp_malloc(1 << 20)
    assert acl.rt.reset_device(0) == 0
    acl.rt.set_device(0)
    assert hbm_free(acl) == GIB


# --- copies and fills -------------------------------------------------------------------------


@pytest.fixture
def buffers(acl):
    host, _ = acl.rt.malloc_host(4096)
    dev, _ = acl.media.dvpp_malloc(4096)
    return acl, host, dev


def test_round_trip_moves_real_bytes(buffers):
    acl, host, dev = buffers
    pattern = bytes(range(256)) * 16
    ctypes.memmove(host, pattern, 4096)
    assert acl.rt.memcpy(dev, 4096, host, 4096, 1) == 0
    out = bytes(4096)
    assert acl.rt.memcpy(acl.util.bytes_to_ptr(out), 4096, dev, 4096, 2) == 0
    assert out == pattern


def test_numpy_to_ptr_and_ptr_to_numpy_share_memory(buffers):
    acl, host, dev = buffers
    assert acl.rt.memset(dev, 4096, 9, 4096) == 0
    array = np.zeros(4096, dtype=np.uint8)
    with pytest.warns(Warning, match="numpy_to_ptr will be deprecated"):
        assert acl.rt.memcpy(acl.util.numpy_to_ptr(array), 4096, dev, 4096, 2) == 0
    assert (array == 9).all()
    with pytest.warns(Warning, match="ptr_to_numpy will be deprecated"):
        view = acl.util.ptr_to_numpy(host, (1024,), 5)  # 5 = NPY_INT32
    view[:] = -1
    assert acl.util.ptr_to_bytes(host, 8) == b"\xff" * 8
    assert "bytes_to_ptr" in dir(acl.util)


def test_util_refuses_device_and_foreign_memory(buffers):
    acl, host, dev = buffers
    with pytest.raises(ValueError):
        acl.util.ptr_to_bytes(dev, 8)
    with pytest.raises(ValueError, match="runs past"), pytest.warns(Warning):
        acl.util.ptr_to_numpy(host, (2048,), 5)  # 8 KiB past a 4 KiB buffer


def test_kind_is_reserved(buffers):
    acl, host, dev = buffers
    for kind in range(6):  # even a "wrong" direction is accepted: direction comes from addresses
        assert acl.rt.memcpy(dev, 4096, host, 4096, kind) == 0
    assert acl.rt.memcpy(dev, 4096, host, 4096, 6) == 100000  # kinds 0..5 (docs/pyacl-api.md, section 5)
    assert acl.rt.memcpy(dev, 4096, host, 4096, -1) == 100000


def test_copy_errors(buffers):
    acl, host, dev = buffers
    assert acl.rt.memcpy(0, 4096, host, 4096, 1) == 100000
    assert acl.rt.memcpy(dev, 4096, 0, 4096, 1) == 100000
    assert acl.rt.memcpy(dev, 100, host, 101, 1) == 107000
    assert acl.rt.memcpy(dev, 0, host, 1, 1) == 107000
    assert acl.rt.memcpy(dev, 8192, host, 8192, 1) == 107000  # past both buffers
    assert acl.rt.memcpy(dev + 4000, 200, host, 200, 1) == 107000  # runs off the end
    assert acl.rt.memcpy(8, 16, host, 16, 1) == 107000  # unknown and unmapped (page 0 never is)
    assert acl.rt.memcpy(dev, 4096, host, 0, 1) == 0
    assert acl.rt.memcpy(dev, 4096, dev, 4096, 3) == 0


def test_use_after_free(buffers):
    acl, host, dev = buffers
    acl.media.dvpp_free(dev)
    assert acl.rt.memcpy(dev, 4096, host, 4096, 1) == 107000
    assert "not inside a live allocation" in acl.get_recent_err_msg()
    assert acl.rt.memset(dev, 4096, 0, 4096) == 107000


def test_no_context_for_copies(buffers):
    acl, host, dev = buffers
    acl.rt.reset_device(0)
    assert acl.rt.memcpy(dev, 4096, host, 4096, 1) == 107002
    assert acl.rt.memset(host, 4096, 0, 4096) == 107002
    assert acl.rt.get_mem_info(0) == (0, 0, 107002)


def test_memset_checks(buffers):
    acl, host, dev = buffers
    assert acl.rt.memset(host, 4096, 0x107, 10) == 0
    assert acl.util.ptr_to_bytes(host, 11) == b"\x07" * 10 + acl.util.ptr_to_bytes(host + 10, 1)
    assert acl.rt.memset(0, 10, 0, 10) == 100000
    assert acl.rt.memset(host, 10, 0, 11) == 107000
    assert acl.rt.memset(host, 8192, 0, 8192) == 107000
    assert acl.rt.memset(host, 10, 0, 0) == 0


def test_async_runs_at_the_sync_point(buffers):
    acl, host, dev = buffers
    stream, _ = acl.rt.create_stream()
    assert acl.rt.memset_async(host, 4096, 5, 4096, stream) == 0
    assert acl.rt.synchronize_stream(stream) == 0
    assert acl.rt.memcpy_async(dev, 4096, host, 4096, 1, stream) == 0
    out, _ = acl.rt.malloc_host(4096)
    acl.rt.memset(out, 4096, 0, 4096)
    assert acl.rt.memcpy_async(out, 4096, dev, 4096, 2, stream) == 0
    assert acl.util.ptr_to_bytes(out, 4) == b"\0" * 4  # queued, not run yet
    assert acl.rt.synchronize_stream(stream) == 0
    assert acl.util.ptr_to_bytes(out, 4096) == b"\x05" * 4096


def test_async_checks(buffers):
    acl, host, dev = buffers
    stream, _ = acl.rt.create_stream()
    assert acl.rt.memcpy_async(dev + 32, 64, host, 64, 1, stream) == 107008
    assert acl.rt.memcpy_async(dev, 64, host + 8, 64, 1, stream) == 107008
    other, _ = acl.rt.malloc_host(64)
    assert acl.rt.memcpy_async(other, 64, host, 64, 0, stream) == 207000
    assert acl.rt.memcpy_async(dev, 64, host, 65, 1, stream) == 107000
    assert acl.rt.memcpy_async(dev, 64, host, 64, 1, 424242) == 107003


def test_async_copy_of_memory_freed_before_sync_fails_at_sync(buffers):
    acl, host, dev = buffers
    stream, _ = acl.rt.create_stream()
    assert acl.rt.memcpy_async(dev, 4096, host, 4096, 1, stream) == 0
    acl.media.dvpp_free(dev)
    assert acl.rt.synchronize_stream(stream) == 107000


def test_temporary_host_objects_do_not_accumulate(acl):
    dev, _ = acl.media.dvpp_malloc(64)
    for _ in range(2000):
        data = bytes(64)
        assert acl.rt.memcpy(acl.util.bytes_to_ptr(data), 64, dev, 64, 2) == 0
    assert len(_state.driver().memory.regions) < 300


def _best(func, rounds=30):
    best = float("inf")
    for _ in range(rounds):
        start = time.perf_counter()
        func()
        best = min(best, time.perf_counter() - start)
    return best


@pytest.mark.slow  # a speed ratio: measured against memmove in the same run
def test_big_copies_run_at_memmove_speed(sim):
    acl = sim()
    acl.init()
    acl.rt.set_device(0)
    size = 10 << 20
    host, _ = acl.rt.malloc_host(size)
    dev, _ = acl.media.dvpp_malloc(size)
    for _ in range(3):
        acl.rt.memcpy(dev, size, host, size, 1)
    raw = _best(lambda: ctypes.memmove(dev, host, size))
    simulated = _best(lambda: acl.rt.memcpy(dev, size, host, size, 1))
    assert raw / simulated >= 0.8


def test_async_copies_refuse_host_memory_that_is_not_from_malloc_host(buffers):
    import numpy as np

    acl, host, dev = buffers
    stream, ret = acl.rt.create_stream()
    assert ret == 0
    pageable = np.zeros(4096 + 64, dtype=np.uint8)
    start = (-pageable.ctypes.data) % 64  # aligned, so only the kind of memory is wrong
    with pytest.warns(Warning, match="numpy_to_ptr will be deprecated"):
        ptr = acl.util.numpy_to_ptr(pageable[start : start + 4096])
    assert acl.rt.memcpy_async(dev, 4096, ptr, 4096, 1, stream) == 107000
    assert "malloc_host" in acl.get_recent_err_msg()
    assert acl.rt.memcpy_async(dev, 4096, host, 4096, 1, stream) == 0
    assert acl.rt.synchronize_stream(stream) == 0
    assert acl.rt.destroy_stream(stream) == 0
