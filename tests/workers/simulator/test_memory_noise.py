"""``memory_noise``: get_mem_info's free figure jitters, reproducibly per device, within bounds."""

from __future__ import annotations

import json

from .conftest import run_program, write_config

GIB = 1 << 30
NOISE = 1 << 20
CONFIG = {"memory": {"hbm": GIB}, "driver_cache": 0, "memory_noise": NOISE}


def samples(acl, device, count=50, attr=1):
    assert acl.rt.set_device(device) == 0
    return [acl.rt.get_mem_info(attr)[:2] for _ in range(count)]


def test_free_jitters_within_the_noise_and_total_stays(sim):
    acl = sim(CONFIG)
    acl.init()
    seen = samples(acl, 0)
    assert {total for _, total in seen} == {GIB}
    assert all(GIB - NOISE <= free <= GIB for free, _ in seen)
    assert len({free for free, _ in seen}) > 10


def test_reproducible_per_device(sim):
    acl = sim(CONFIG)
    acl.init()
    first = samples(acl, 0)
    other = samples(acl, 1)
    acl = sim(CONFIG)
    acl.init()
    assert samples(acl, 0) == first
    assert other != first


def test_never_below_zero_or_above_total(sim):
    acl = sim({"memory": {"hbm": 4096}, "driver_cache": 0, "memory_noise": GIB})
    acl.init()
    frees = {free for free, _ in samples(acl, 0, count=20)}
    assert frees == {0, 4096}  # the jitter is far wider than the pool on both sides


def test_allocations_see_the_real_free_memory(sim):
    acl = sim({**CONFIG, "huge_share": 1})
    acl.init()
    acl.rt.set_device(0)
    ptr, ret = acl.media.dvpp_malloc(GIB - 64)  # everything, whatever the samples say
    assert ret == 0
    assert all(0 <= free <= NOISE for free, _ in samples(acl, 0, count=20))
    assert acl.media.dvpp_free(ptr) == 0


def test_the_same_figures_in_every_process(tmp_path):
    config = write_config(tmp_path, "memory: {hbm: 1073741824}\nmemory_noise: 1048576\n")
    code = "import acl; acl.init(); acl.rt.set_device(2); print([acl.rt.get_mem_info(1)[0] for _ in range(5)])"
    runs = [run_program(["-c", code], config) for _ in range(2)]
    assert runs[0].returncode == 0, runs[0].stderr
    assert runs[0].stdout == runs[1].stdout and len(set(json.loads(runs[0].stdout))) > 1
