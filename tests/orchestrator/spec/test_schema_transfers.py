"""The transfer keys of the spec (host_memory, copy_mode, bidirectional, warmup, memory_size
sweeps): their values, the job a worker gets, and one full message per mistake."""

from __future__ import annotations

import pytest

from orchestrator.errors import SpecError
from orchestrator.spec.plan import resolve
from orchestrator.spec.schema import parse_spec
from tests.helpers.specs import HOST, inventory

KiB, MiB, GiB = 2**10, 2**20, 2**30


def problems(data: object) -> list:
    with pytest.raises(SpecError) as info:
        parse_spec(data, "fleet.yaml")
    return info.value.problems


def spec(defaults=None, overrides=None):
    return {"version": 1, "defaults": defaults or {}, "hosts": [{"name": "localhost", "overrides": overrides or {}}]}


def test_a_range_becomes_a_sweep_whose_largest_size_is_memory_size():
    data = spec(
        {"memory_size": "4KiB..64MiB x4", "copy_mode": "async", "bidirectional": True, "warmup": 3},
        {2: {"memory_size": [KiB, "1MiB"], "host_memory": "both", "copy_mode": "sync", "bidirectional": False}},
    )
    jobs = resolve(parse_spec(data), inventory(4), hostname=HOST, host_memory=2**40).jobs
    assert jobs[0].params.sizes == (4 * KiB, 16 * KiB, 64 * KiB, 256 * KiB, MiB, 4 * MiB, 16 * MiB, 64 * MiB)
    assert jobs[0].params.memory_size == 64 * MiB
    assert (jobs[0].params.copy_mode, jobs[0].params.bidirectional, jobs[0].params.warmup) == ("async", True, 3)
    assert (jobs[2].params.sizes, jobs[2].params.memory_size, jobs[2].params.host_memory) == ((KiB, MiB), MiB, "both")


def test_a_single_size_is_no_sweep():
    job = resolve(parse_spec(spec({"memory_size": ["1MiB"]})), inventory(1), hostname=HOST, host_memory=2**40).jobs[0]
    assert (job.params.memory_size, job.params.sizes) == (MiB, ())


def test_the_largest_size_of_a_sweep_must_fit_the_device():
    data = spec({"memory_size": "1MiB..2GiB"})
    with pytest.raises(SpecError) as info:
        resolve(parse_spec(data), inventory(1, hbm=GiB), hostname=HOST, host_memory=2**40)
    assert info.value.problems == [
        "defaults.memory_size: 2GiB does not fit in device 0 of localhost (1GiB of device memory)"
    ]


def test_value_mistakes():
    assert problems(
        spec(
            {
                "memory_size": "64MiB..4KiB",
                "host_memory": "paged",
                "copy_mode": "stream",
                "bidirectional": "yes",
                "warmup": -1,
            }
        )
    ) == [
        "defaults.memory_size: range 64MiB..4KiB runs backwards (got '64MiB..4KiB')",
        "defaults.host_memory: must be one of pinned, pageable, both (got 'paged')",
        "defaults.copy_mode: must be one of sync, async (got 'stream')",
        "defaults.bidirectional: must be true or false (got 'yes')",
        "defaults.warmup: must be >= 0 (got -1)",
    ]
    assert problems(spec({"memory_size": [4096, "4KiB"], "warmup": 1001})) == [
        "defaults.memory_size: size 4KiB is listed twice (got [4096, '4KiB'])",
        "defaults.warmup: must be <= 1000 (got 1001)",
    ]
    assert problems(spec(overrides={1: {"memory_size": "4KiB..1MiB x0.5"}})) == [
        "hosts[0].overrides.1.memory_size: the factor after x must be a number > 1 (got 0.5) (got '4KiB..1MiB x0.5')"
    ]


def test_combinations_that_cannot_run_are_named_in_defaults():
    assert problems(spec({"bidirectional": True})) == [
        "defaults.bidirectional: needs copy_mode: async, since H2D and D2H overlap on two streams "
        "(got bidirectional: true with copy_mode: 'sync')"
    ]
    assert problems(spec({"host_memory": "pageable", "copy_mode": "async"})) == [
        "defaults.host_memory: pageable host memory needs copy_mode: sync, since memcpy_async takes host "
        "memory from malloc_host only (got host_memory: 'pageable' with copy_mode: 'async')"
    ]
    assert problems(spec({"memory_size": "1MiB..4MiB", "release_cycle": -1})) == [
        "defaults.memory_size: a size sweep needs release_cycle >= 1, the copies made at each size in every "
        "cycle (got memory_size: [1MiB, 2MiB, 4MiB] with release_cycle: -1)"
    ]


def test_a_pipeline_that_cannot_be_is_named_with_why():
    assert problems(spec({"pipeline": "overlapped"})) == [
        "defaults.pipeline: must be one of auto, pipelined, serial (got 'overlapped')"
    ]
    assert problems(spec({"pipeline": "pipelined", "copy_mode": "async", "bidirectional": True})) == [
        "defaults.pipeline: pipelined needs one-way copies (bidirectional: false), since a bidirectional copy's "
        "check reads back through the runtime between copies (got pipeline: 'pipelined' with bidirectional: true)"
    ]
    assert problems(spec({"pipeline": "pipelined"}, {2: {"host_memory": "both"}})) == [
        "hosts[0].overrides.2.host_memory: pipelined needs one kind of host memory (pinned or pageable), since "
        "both kinds share the copy's device block (got host_memory: 'both' with pipeline: 'pipelined')"
    ]
    assert parse_spec(spec({"pipeline": "auto", "host_memory": "both"}), "fleet.yaml").defaults.pipeline == "auto"


def test_an_override_is_blamed_for_the_key_it_sets():
    data = spec(
        {"copy_mode": "async", "memory_size": [KiB, MiB]},
        {1: {"copy_mode": "sync", "seed": 2}, 3: {"release_cycle": -1}, 5: {"host_memory": "both"}},
    )
    data["defaults"]["bidirectional"] = True
    assert problems(data) == [
        "hosts[0].overrides.1.copy_mode: needs copy_mode: async, since H2D and D2H overlap on two streams "
        "(got copy_mode: 'sync' with bidirectional: true)",
        "hosts[0].overrides.3.release_cycle: a size sweep needs release_cycle >= 1, the copies made at each "
        "size in every cycle (got release_cycle: -1 with memory_size: [1KiB, 1MiB])",
        "hosts[0].overrides.5.host_memory: pageable host memory needs copy_mode: sync, since memcpy_async "
        "takes host memory from malloc_host only (got host_memory: 'both' with copy_mode: 'async')",
    ]


def test_a_broken_default_is_reported_once_not_for_every_override():
    data = spec({"bidirectional": True}, {1: {"seed": 3}, 2: {"interval": 1}})
    assert len(problems(data)) == 1
