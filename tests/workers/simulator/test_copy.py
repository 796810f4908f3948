"""Synchronous memcpy and host memory the simulator never saw: any mapped host memory of the
process works, unmapped (or inaccessible) memory returns 107000 without a fault, device memory
keeps its bounds, and memcpy_async still wants malloc_host memory."""

from __future__ import annotations

import ctypes
import mmap

import numpy as np
import pytest

from workers.simulator.acl import _state

from .conftest import PROGRAMS, run_program

SIZE = 4096
PAGE = mmap.PAGESIZE


@pytest.fixture
def dev(acl):
    ptr, ret = acl.media.dvpp_malloc(SIZE)
    assert ret == 0
    return ptr


class Pages:
    """Anonymous pages from libc mmap, so a test can unmap or protect some of them."""

    def __init__(self, count, prot=mmap.PROT_READ | mmap.PROT_WRITE):
        self.libc = ctypes.CDLL(None, use_errno=True)
        self.libc.mmap.restype = ctypes.c_void_p
        self.libc.mmap.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int, ctypes.c_int, ctypes.c_int]
        self.libc.mmap.argtypes += [ctypes.c_long]
        self.libc.munmap.argtypes = [ctypes.c_void_p, ctypes.c_size_t]
        self.libc.mprotect.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int]
        flags = mmap.MAP_PRIVATE | mmap.MAP_ANONYMOUS
        self.addr, self.size = self.libc.mmap(None, count * PAGE, prot, flags, -1, 0), count * PAGE
        assert self.addr not in (None, ctypes.c_void_p(-1).value)

    def unmap(self, offset, length):
        assert self.libc.munmap(self.addr + offset, length) == 0

    def protect(self, offset, length, prot):
        assert self.libc.mprotect(self.addr + offset, length, prot) == 0

    def close(self):
        self.libc.munmap(self.addr, self.size)


@pytest.fixture
def pages():
    made = []

    def make(count, prot=mmap.PROT_READ | mmap.PROT_WRITE):
        made.append(Pages(count, prot))
        return made[-1]

    yield make
    for each in made:
        each.close()


def regions():
    return len(_state.driver().memory.regions)


def test_memcpy_with_ndarray_buffers_never_registered(acl, dev):
    sent = (np.arange(SIZE) % 253).astype(np.uint8)
    back = np.zeros(SIZE, dtype=np.uint8)
    before = regions()
    assert acl.rt.memcpy(dev, SIZE, sent.ctypes.data, SIZE, 1) == 0
    assert acl.rt.memcpy(back.ctypes.data, SIZE, dev, SIZE, 2) == 0
    assert (back == sent).all()
    assert regions() == before  # nothing was registered on the way


def test_memcpy_from_a_bytes_buffer_and_other_foreign_host_memory(acl, dev):
    data = bytes(range(256)) * (SIZE // 256)
    src = ctypes.cast(ctypes.c_char_p(data), ctypes.c_void_p).value
    assert acl.rt.memcpy(dev, SIZE, src, SIZE, 1) == 0
    out = ctypes.create_string_buffer(SIZE)
    assert acl.rt.memcpy(ctypes.addressof(out), SIZE, dev, SIZE, 2) == 0
    assert out.raw == data
    host, _ = acl.rt.malloc_host(SIZE)
    plain = np.zeros(SIZE, dtype=np.uint8)
    assert acl.rt.memcpy(host, SIZE, ctypes.addressof(out), SIZE, 0) == 0  # host to host, both ways
    assert acl.rt.memcpy(plain.ctypes.data, SIZE, host, SIZE, 0) == 0
    assert plain.tobytes() == data


def test_memcpy_with_an_unmapped_address_fails_without_a_fault(acl, dev, pages):
    area = pages(2)
    assert acl.rt.memcpy(area.addr, 2 * PAGE, dev, SIZE, 2) == 0  # mapped: fine (and now cached)
    area.unmap(0, 2 * PAGE)
    assert acl.rt.memcpy(area.addr, SIZE, dev, SIZE, 2) == 107000
    assert "not inside a live allocation, a registered object or writable mapped host memory" in (
        acl.get_recent_err_msg()
    )
    assert acl.rt.memcpy(dev, SIZE, area.addr, SIZE, 1) == 107000
    assert "readable mapped host memory" in acl.get_recent_err_msg()
    assert acl.rt.memcpy(8, 16, dev, 16, 2) == 107000
    assert acl.rt.memcpy(dev, 16, 8, 16, 1) == 107000
    assert acl.rt.memcpy(dev, 16, -4096, 16, 1) == 107000


def test_memcpy_that_runs_into_an_unmapped_page_moves_nothing(acl, dev, pages):
    area = pages(2)
    area.unmap(PAGE, PAGE)
    ctypes.memset(area.addr, 0xAB, PAGE)
    acl.rt.memset(dev, SIZE, 0, SIZE)
    assert acl.rt.memcpy(dev, SIZE, area.addr + PAGE // 2, SIZE, 1) == 107000
    back = bytes(SIZE)
    assert acl.rt.memcpy(acl.util.bytes_to_ptr(back), SIZE, dev, SIZE, 2) == 0
    assert back == bytes(SIZE)  # checked before a byte moved
    assert acl.rt.memcpy(dev, PAGE // 2, area.addr + PAGE // 2, PAGE // 2, 1) == 0


def test_memcpy_honours_page_protection(acl, dev, pages):
    area = pages(1, mmap.PROT_READ)
    assert acl.rt.memcpy(dev, 64, area.addr, 64, 1) == 0  # reading a read-only page is fine
    assert acl.rt.memcpy(area.addr, 64, dev, 64, 2) == 107000  # writing it would fault
    assert "writable" in acl.get_recent_err_msg()
    guard = pages(1, 0)  # PROT_NONE  # mapped (mincore says so) but not accessible at all
    assert acl.rt.memcpy(dev, 64, guard.addr, 64, 1) == 107000
    guard.protect(0, PAGE, mmap.PROT_READ | mmap.PROT_WRITE)  # a refusal is not cached
    assert acl.rt.memcpy(guard.addr, 64, dev, 64, 2) == 0


def test_device_memory_keeps_its_bounds(acl, dev):
    small, _ = acl.media.dvpp_malloc(100)  # 160 bytes of a page of its own
    host = np.zeros(SIZE, dtype=np.uint8)
    assert acl.rt.memcpy(small, 160, host.ctypes.data, 160, 1) == 0
    assert acl.rt.memcpy(small, 161, host.ctypes.data, 161, 1) == 107000
    assert acl.rt.memcpy(small + 256, 16, host.ctypes.data, 16, 1) == 107000  # past its end, same page
    assert "runs past the dvpp allocation" in acl.get_recent_err_msg()
    assert acl.rt.memcpy(host.ctypes.data, 16, small + 1000, 16, 2) == 107000
    assert acl.rt.memcpy(dev + SIZE + 32 - 8, 16, host.ctypes.data, 16, 1) == 107000  # 4096 + 32 bytes


def test_freed_memory_is_unmapped_and_refused(acl, dev):
    host, _ = acl.rt.malloc_host(SIZE)
    plain = np.zeros(SIZE, dtype=np.uint8)
    assert acl.rt.free_host(host) == 0
    assert acl.rt.memcpy(plain.ctypes.data, SIZE, host, SIZE, 0) == 107000
    assert acl.media.dvpp_free(dev) == 0
    assert acl.rt.memcpy(dev, SIZE, plain.ctypes.data, SIZE, 1) == 107000


def test_a_copy_from_pageable_memory_counts_as_host_to_device(sim):
    acl = sim({"memory": {"hbm": 1 << 30}, "faults": [{"device": 0, "kind": "bitflip", "at_copy": 1, "bits": 1}]})
    acl.init()
    acl.rt.set_device(0)
    dev, _ = acl.media.dvpp_malloc(SIZE)
    sent = np.zeros(SIZE, dtype=np.uint8)
    assert acl.rt.memcpy(dev, SIZE, sent.ctypes.data, SIZE, 1) == 0
    back = np.zeros(SIZE, dtype=np.uint8)
    assert acl.rt.memcpy(back.ctypes.data, SIZE, dev, SIZE, 2) == 0
    assert _state.driver().devices[0].h2d_copies == 1
    assert int(np.unpackbits(back).sum()) == 1  # the fault hit the copy from pageable memory


def test_async_copies_and_fills_still_want_memory_the_simulator_knows(acl, dev):
    stream, _ = acl.rt.create_stream()
    raw = np.zeros(SIZE + 64, dtype=np.uint8)
    aligned = raw.ctypes.data + (-raw.ctypes.data % 64)
    assert acl.rt.memcpy_async(dev, SIZE, aligned, SIZE, 1, stream) == 107000
    assert "not inside a live allocation" in acl.get_recent_err_msg()
    assert acl.rt.memset(aligned, SIZE, 0, SIZE) == 107000
    assert acl.rt.destroy_stream(stream) == 0


def test_an_acllite_style_program_runs_unmodified():
    result = run_program([str(PROGRAMS / "acllite_copy.py"), "8192"])
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == [
        "ndarray -> device -> dvpp -> bytes equal True",
        "bytes -> device -> bytes equal True",
        "device -> malloc_host equal True",
        "malloc_host -> ndarray.ctypes.data equal True",
        "run success!",
    ]
    assert "Warning: acl.util.numpy_to_ptr will be deprecated" in result.stderr


def test_a_read_only_page_mapped_where_a_writable_one_was_is_refused_not_written(acl, dev, pages):
    area = pages(1)
    ctypes.memset(area.addr, 0x5A, PAGE)  # touched: resident, and the maps cache grants it
    assert acl.rt.memcpy(area.addr, 64, dev, 64, 2) == 0
    fixed = mmap.MAP_PRIVATE | mmap.MAP_ANONYMOUS | 0x10  # MAP_FIXED: the same address, read-only now
    assert area.libc.mmap(area.addr, PAGE, mmap.PROT_READ, fixed, -1, 0) == area.addr
    assert acl.rt.memcpy(area.addr, 64, dev, 64, 2) == 107000  # a stale grant would fault the process
    assert "writable" in acl.get_recent_err_msg()


def test_a_long_lived_buffer_is_checked_without_reading_the_maps_again(acl, dev, monkeypatch):
    from workers.simulator.acl import _memory

    back = np.ones(SIZE, dtype=np.uint8)  # touched: every page resident
    assert acl.rt.memcpy(back.ctypes.data, SIZE, dev, SIZE, 2) == 0
    reads = []
    real = _memory.HostMaps._read
    monkeypatch.setattr(_memory.HostMaps, "_read", lambda self: reads.append(1) or real(self))
    for _ in range(5):
        assert acl.rt.memcpy(back.ctypes.data, SIZE, dev, SIZE, 2) == 0
    assert reads == []
