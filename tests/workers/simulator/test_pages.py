"""Huge and normal pages: how get_mem_info reports them and which pages each allocation takes."""

from __future__ import annotations

import pytest

from workers.simulator import catalog

GIB = 1 << 30
MIB = 1 << 20
HUGE = 3 * GIB // 4  # huge_share 0.75 of 1 GiB
NORMAL = GIB - HUGE


@pytest.fixture
def split(sim):
    """1 GiB HBM, three quarters of it huge pages, no driver cache; device 0 set."""
    acl = sim({"memory": {"hbm": GIB}, "huge_share": 0.75, "driver_cache": 0})
    assert acl.init() == 0 and acl.rt.set_device(0) == 0
    return acl


def pages(acl):
    """(huge free, normal free) of the HBM pool."""
    return acl.rt.get_mem_info(4)[0], acl.rt.get_mem_info(5)[0]


def test_attributes_report_huge_normal_and_their_sum(split):
    assert split.rt.get_mem_info(1) == (GIB, GIB, 0)
    assert split.rt.get_mem_info(4) == (HUGE, HUGE, 0)  # ACL_HBM_MEM_HUGE
    assert split.rt.get_mem_info(5) == (NORMAL, NORMAL, 0)  # ACL_HBM_MEM_NORMAL
    for attr in (0, 2, 3, 6, 7):  # the chip has no DDR
        assert split.rt.get_mem_info(attr) == (0, 0, 0)


@pytest.mark.parametrize(
    "attr,total",
    [(8, HUGE), (9, NORMAL), (10, HUGE), (11, HUGE), (12, NORMAL), (13, HUGE), (14, HUGE), (15, NORMAL)]
    + [(16, HUGE), (17, HUGE)],
)
def test_p2p_1g_and_generic_attributes_read_like_their_base(split, attr, total):
    assert split.rt.get_mem_info(attr) == (total, total, 0)


def test_dvpp_takes_huge_pages_and_fails_when_they_run_out_with_normal_left(split):
    ptr, ret = split.media.dvpp_malloc(HUGE - 64)
    assert ret == 0
    assert pages(split) == (32, NORMAL)
    assert split.media.dvpp_malloc(64) == (0, 207001)
    assert "out of HBM huge pages" in split.get_recent_err_msg()
    assert split.rt.get_mem_info(1)[0] == NORMAL + 32  # plenty free, none of it huge
    assert split.media.dvpp_free(ptr) == 0
    assert pages(split) == (HUGE, NORMAL)


@pytest.mark.parametrize(
    "policy,taken",
    [
        (0, "huge"),  # HUGE_FIRST above 1 MiB
        (1, "huge"),  # HUGE_ONLY
        (2, "normal"),  # NORMAL_ONLY
        (3, "huge"),  # HUGE_FIRST_P2P
        (4, "huge"),  # HUGE_ONLY_P2P
        (5, "normal"),  # NORMAL_ONLY_P2P
        (6, "huge"),  # HUGE1G_ONLY
        (7, "huge"),  # HUGE1G_ONLY_P2P
        (0x1000 | 2, "normal"),  # a bandwidth flag does not change the policy
    ],
)
def test_malloc_takes_the_pages_of_its_policy(split, policy, taken):
    size = 4 * MIB
    ptr, ret = split.rt.malloc(size, policy)
    assert ret == 0
    need = size + 32
    assert pages(split) == ((HUGE - need, NORMAL) if taken == "huge" else (HUGE, NORMAL - need))
    assert split.rt.free(ptr) == 0
    assert pages(split) == (HUGE, NORMAL)


def test_huge_first_takes_normal_pages_up_to_1_mib(split):
    small, _ = split.rt.malloc(MIB, 0)
    assert pages(split) == (HUGE, NORMAL - MIB - 32)
    big, _ = split.rt.malloc(MIB + 1, 0)
    assert pages(split) == (HUGE - (MIB + 64), NORMAL - MIB - 32)
    assert split.rt.free(small) == split.rt.free(big) == 0


def test_huge_first_falls_back_to_normal_pages_but_huge_only_does_not(split):
    filler, _ = split.media.dvpp_malloc(HUGE - 64)
    assert split.rt.malloc(4 * MIB, 1) == (0, 207001)  # HUGE_ONLY
    assert split.rt.malloc(4 * MIB, 4) == (0, 207001)  # HUGE_ONLY_P2P
    ptr, ret = split.rt.malloc(4 * MIB, 0)
    assert ret == 0 and pages(split) == (32, NORMAL - 4 * MIB - 32)
    assert split.rt.free(ptr) == 0 and split.media.dvpp_free(filler) == 0


def test_normal_only_fails_when_normal_pages_run_out_with_huge_left(split):
    ptr, ret = split.rt.malloc(NORMAL - 64, 2)
    assert ret == 0
    assert split.rt.malloc(64, 2) == (0, 207001)
    assert split.rt.malloc(64, 0) == (0, 207001)  # HUGE_FIRST at <= 1 MiB: normal pages only
    assert "out of HBM normal pages" in split.get_recent_err_msg()
    assert split.rt.malloc(2 * MIB, 0)[1] == 0  # above 1 MiB it takes huge pages
    assert split.rt.free(ptr) == 0


def test_a_leak_keeps_bytes_of_the_pool_they_came_from(sim):
    acl = sim(
        {
            "memory": {"hbm": GIB},
            "huge_share": 0.75,
            "driver_cache": 0,
            "faults": [{"device": 0, "kind": "leak", "bytes": 4096}],
        }
    )
    acl.init()
    acl.rt.set_device(0)
    acl.media.dvpp_free(acl.media.dvpp_malloc(MIB)[0])
    assert pages(acl) == (HUGE - 4096, NORMAL)
    acl.rt.free(acl.rt.malloc(MIB, 2)[0])
    assert pages(acl) == (HUGE - 4096, NORMAL - 4096)
    acl.rt.reset_device(0)
    acl.rt.set_device(0)
    assert pages(acl) == (HUGE - 4096, NORMAL - 4096)  # a leak survives closing the device


def test_310p_reads_hbm_page_attributes_as_ddr(sim):
    acl = sim({"chip": "Ascend310P3", "memory": {"ddr": GIB}, "driver_cache": 0})
    acl.init()
    acl.rt.set_device(0)
    acl.media.dvpp_malloc(1000)
    huge = int(GIB * catalog.PROFILES["Ascend310P3"].huge_share)
    assert acl.rt.get_mem_info(2) == acl.rt.get_mem_info(4) == (huge - 1056, huge, 0)
    assert acl.rt.get_mem_info(3) == acl.rt.get_mem_info(5) == (GIB - huge, GIB - huge, 0)


@pytest.mark.parametrize("chip", catalog.CHIPS)
def test_each_chip_splits_by_its_share(sim, chip):
    profile = catalog.PROFILES[chip]
    acl = sim({"chip": chip})
    acl.init()
    acl.rt.set_device(0)
    normal = acl.rt.get_mem_info(12)[1]  # ACL_MEM_NORMAL: the main pool's normal pages
    huge = acl.rt.get_mem_info(13)[1]  # ACL_MEM_HUGE
    assert huge == int((normal + huge) * profile.huge_share)
    assert acl.rt.get_mem_info(1 if profile.hbm else 0)[1] == normal + huge


def test_huge_share_0_leaves_dvpp_nothing(sim):
    acl = sim({"memory": {"hbm": GIB}, "huge_share": 0, "driver_cache": 0})
    acl.init()
    acl.rt.set_device(0)
    assert acl.rt.get_mem_info(4) == (0, 0, 0)
    assert acl.media.dvpp_malloc(64) == (0, 207001)
    assert acl.rt.malloc(4 * MIB, 0)[1] == 0  # HUGE_FIRST falls back to normal pages
