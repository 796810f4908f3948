"""The driver's one-time caches: taken at the first allocation on a device, kept until it is released."""

from __future__ import annotations

import pytest

from workers.simulator import catalog

GIB = 1 << 30
MIB = 1 << 20
CACHE = catalog.DEFAULT_DRIVER_CACHE
TOTAL = 4 * GIB
NORMAL = TOTAL - int(TOTAL * catalog.PROFILES[catalog.DEFAULT_CHIP].huge_share)


@pytest.fixture
def cached(sim):
    """4 GiB HBM with the default driver cache; initialised, nothing opened yet."""
    acl = sim({"memory": {"hbm": TOTAL}})
    assert acl.init() == 0
    return acl


def hbm(acl):
    free, total, ret = acl.rt.get_mem_info(1)
    assert ret == 0 and total == TOTAL
    return free


def test_the_default_is_in_the_documented_range():
    assert 100 * 10**6 <= CACHE <= 200 * 10**6


def test_opening_and_sampling_take_nothing(cached):
    assert cached.rt.set_device(0) == 0
    assert hbm(cached) == TOTAL
    host, _ = cached.rt.malloc_host(4096)  # host memory does not touch the device
    assert hbm(cached) == TOTAL
    assert cached.rt.free_host(host) == 0


def allocate(acl, policy):
    """1 MiB of DVPP memory (``policy`` None) or of acl.rt.malloc memory with ``policy``."""
    return acl.media.dvpp_malloc(MIB) if policy is None else acl.rt.malloc(MIB, policy)


def release(acl, policy, ptr):
    return acl.media.dvpp_free(ptr) if policy is None else acl.rt.free(ptr)


@pytest.mark.parametrize("policy", [None, 0, 2])  # dvpp_malloc, HUGE_FIRST, NORMAL_ONLY
def test_the_first_allocation_takes_it_from_normal_pages_once(cached, policy):
    cached.rt.set_device(0)
    ptr, ret = allocate(cached, policy)
    assert ret == 0
    assert hbm(cached) == TOTAL - CACHE - (MIB + 32)
    assert cached.rt.get_mem_info(5)[0] == NORMAL - CACHE - (0 if policy is None else MIB + 32)
    assert release(cached, policy, ptr) == 0
    assert hbm(cached) == TOTAL - CACHE  # kept after the free: it is not the program's memory
    ptr, _ = allocate(cached, policy)
    assert hbm(cached) == TOTAL - CACHE - (MIB + 32)  # taken once, not per allocation
    assert release(cached, policy, ptr) == 0


def test_a_failed_allocation_still_warms_the_device(sim):
    acl = sim({"memory": {"hbm": TOTAL}, "faults": [{"device": 0, "kind": "alloc_fail", "at_alloc": 1}]})
    acl.init()
    acl.rt.set_device(0)
    assert acl.media.dvpp_malloc(MIB) == (0, 207001)
    assert hbm(acl) == TOTAL - CACHE


def test_kept_while_any_reference_holds_the_device(cached):
    cached.rt.set_device(0)
    cached.rt.set_device(0)
    cached.media.dvpp_free(cached.media.dvpp_malloc(MIB)[0])
    assert cached.rt.reset_device(0) == 0
    assert hbm(cached) == TOTAL - CACHE  # one set_device reference left
    context, _ = cached.rt.create_context(0)
    assert cached.rt.reset_device(0) == 0
    assert cached.rt.get_mem_info(1)[0] == TOTAL - CACHE  # the created context holds the device
    assert cached.rt.destroy_context(context) == 0
    cached.rt.set_device(0)
    assert hbm(cached) == TOTAL  # released with the last reference, taken again at the next use
    cached.media.dvpp_free(cached.media.dvpp_malloc(MIB)[0])
    assert hbm(cached) == TOTAL - CACHE


def test_finalize_gives_it_back(cached):
    cached.rt.set_device(0)
    cached.media.dvpp_malloc(MIB)
    assert cached.finalize() == 0
    assert cached.init() == 0 and cached.rt.set_device(0) == 0
    assert hbm(cached) == TOTAL


def test_each_device_pays_its_own(cached):
    cached.rt.set_device(0)
    cached.media.dvpp_malloc(MIB)
    cached.rt.set_device(1)
    assert hbm(cached) == TOTAL
    cached.rt.malloc(MIB, 2)
    assert hbm(cached) == TOTAL - CACHE - (MIB + 32)


@pytest.mark.parametrize("size,taken", [(0, 0), (64 * MIB, 64 * MIB), (100 * GIB, NORMAL // 2)])
def test_size_is_configurable_and_never_more_than_half_the_free_normal_pages(sim, size, taken):
    acl = sim({"memory": {"hbm": TOTAL}, "driver_cache": size})
    acl.init()
    acl.rt.set_device(0)
    ptr, ret = acl.media.dvpp_malloc(MIB)  # huge pages: untouched by the cache
    assert ret == 0
    assert hbm(acl) == TOTAL - taken - (MIB + 32)
    assert acl.rt.get_mem_info(5)[0] == NORMAL - taken
