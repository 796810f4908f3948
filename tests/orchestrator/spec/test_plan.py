"""Resolving a spec against a device inventory: jobs with every default, and what the machine refuses."""

from __future__ import annotations

import json
from typing import Any, Dict, Optional

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from orchestrator.errors import SpecError
from orchestrator.spec.plan import DeviceJob, FleetPlan, resolve
from orchestrator.spec.schema import Thresholds, Timeouts, parse_spec
from tests.helpers.specs import HOST, inventory
from workers.job import WorkerJob
from workers.params import PATTERNS, WorkerParams

GiB = 2**30
MiB = 2**20
PLENTY = 256 * GiB


def plan(
    data: Dict[str, Any], inv: Optional[Dict[str, Any]] = None, host_memory: Optional[int] = PLENTY, **kwargs: Any
) -> FleetPlan:
    return resolve(parse_spec(data), inv or inventory(), hostname=HOST, host_memory=host_memory, **kwargs)


def problems(data: Dict[str, Any], inv: Optional[Dict[str, Any]] = None, **kwargs: Any) -> list:
    with pytest.raises(SpecError) as info:
        plan(data, inv, **kwargs)
    return info.value.problems


def test_minimal_spec_runs_every_device_with_every_default():
    result = plan({"version": 1})
    assert [(j.host, j.device) for j in result.jobs] == [("localhost", i) for i in range(8)]
    assert result.jobs[3] == DeviceJob(
        worker=WorkerJob(
            host="localhost",
            backend="sim",
            params=WorkerParams(
                device_id=3,
                memory_size=10 * MiB,
                release_cycle=10,
                number_of_cycles=1,
                memory_reuse=True,
                memory_kind="dvpp",
                patterns=PATTERNS,
                verify=True,
                interval=0.0,
                duration=None,
                seed=0,
                open_retries=2,
                open_retry_delay=1.0,
                warmup=1,
            ),  # the spec leaves the first copy out of the figures
            sim={"chip": "Ascend910B", "device_count": 8, "memory": {}, "link_gbps": None, "faults": []},
        ),
        timeouts=Timeouts(init=60.0, copy=30.0),
        thresholds=Thresholds(min_h2d_gbps=None, min_d2h_gbps=None, max_leak=512 * 1024),
    )
    assert (result.backend, result.runtime, result.launcher, result.warnings, result.ray) == (
        "auto",
        "sim",
        "local",
        (),
        None,
    )


def test_overrides_apply_to_their_device_only():
    result = plan(
        {
            "version": 1,
            "defaults": {"duration": "1h", "memory_size": "8MiB"},
            "hosts": [{"name": HOST, "devices": "0-3", "overrides": {2: {"memory_size": "1MiB", "duration": None}}}],
        }
    )
    params = {j.device: j.params for j in result.jobs}
    assert (params[2].memory_size, params[2].duration) == (MiB, None)
    assert (params[1].memory_size, params[1].duration) == (8 * MiB, 3600.0)


def test_cli_overrides_backend_and_launcher():
    result = plan({"version": 1, "backend": "sim"}, inventory(backend="acl"), backend="acl")
    assert (result.backend, result.runtime) == ("acl", "acl")
    assert all(job.sim is None for job in result.jobs)
    assert problems({"version": 1}, backend="cuda", launcher="ssh") == [
        "--backend: must be one of acl, sim, auto (got 'cuda')",
        "--launcher: must be one of local, ray (got 'ssh')",
    ]


def test_auto_takes_the_runtime_from_the_inventory():
    assert plan({"version": 1}, inventory(backend="acl")).runtime == "acl"


def test_each_job_gets_the_faults_of_its_host_only():
    result = plan(
        {
            "version": 1,
            "launcher": "ray",
            "hosts": [{"name": "n1"}, {"name": "n2", "devices": [0]}],
            "sim": {"faults": [{"device": 1, "kind": "hang"}, {"host": "n2", "device": 0, "kind": "crash"}]},
        }
    )
    by_host = {j.host: j.sim["faults"] for j in result.jobs}
    assert by_host == {
        "n1": [{"device": 1, "kind": "hang", "at_copy": 1}],
        "n2": [{"device": 0, "kind": "crash", "at_copy": 1, "signal": "SIGSEGV"}],
    }
    assert result.ray == {"address": "auto"}


def test_device_that_does_not_exist():
    assert problems({"version": 1, "hosts": [{"name": "localhost", "devices": [0, 9, 12]}]}) == [
        "hosts[0].devices: device 9 does not exist on this host (8 visible: 0-7)",
        "hosts[0].devices: device 12 does not exist on this host (8 visible: 0-7)",
    ]


def test_zero_devices():
    assert problems({"version": 1}, inventory(0)) == [
        "hosts[0].devices: selects no device: this host has none visible (backend sim)"
    ]


def test_foreign_host_with_the_local_launcher():
    assert problems({"version": 1, "hosts": [{"name": "localhost"}, {"name": "rack2-node7"}]}) == [
        f"hosts[1].name: 'rack2-node7' is not this machine ({HOST}); the local launcher runs only here: "
        "use the Ray launcher (launcher: ray) for other hosts"
    ]


def test_this_machine_twice():
    assert problems({"version": 1, "hosts": [{"name": "localhost"}, {"name": HOST}]}) == [
        f"hosts[1].name: '{HOST}' is this machine again (also hosts[0]); list each machine once"
    ]


def test_own_names_are_accepted():
    for name in ("localhost", "127.0.0.1", HOST, f"{HOST}.example.com"):
        assert (
            len(
                resolve(
                    parse_spec({"version": 1, "hosts": [{"name": name}]}), inventory(), hostname=f"{HOST}.example.com"
                ).jobs
            )
            == 8
        )


def test_override_for_a_device_not_selected():
    assert problems(
        {"version": 1, "hosts": [{"name": "localhost", "devices": "0-3", "overrides": {5: {"seed": 1}}}]}
    ) == ["hosts[0].overrides.5: device 5 is not selected on this host (selected: 0-3)"]


def test_fault_for_a_device_not_selected_or_an_unknown_host():
    assert problems(
        {
            "version": 1,
            "hosts": [{"name": "localhost", "devices": [0, 1]}],
            "sim": {"faults": [{"device": 6, "kind": "crash"}, {"host": "x", "device": 1, "kind": "hang"}]},
        }
    ) == [
        "sim.faults[0].device: device 6 is not selected on host localhost (selected: 0-1)",
        "sim.faults[1].host: no host named 'x' in hosts (localhost)",
    ]


def test_block_bigger_than_the_device():
    assert problems(
        {
            "version": 1,
            "defaults": {"memory_size": "80GiB"},
            "hosts": [{"name": "localhost", "devices": [0], "overrides": {}}],
        }
    ) == ["defaults.memory_size: 80GiB does not fit in device 0 of localhost (64GiB of device memory)"]
    assert problems({"version": 1, "defaults": {"memory_size": "80GiB"}}) == [
        "defaults.memory_size: 80GiB does not fit in devices 0-7 of localhost (64GiB of device memory each)",
        "hosts[0]: the 8 workers running at once on this host would hold at least 1.9TiB of host memory (2 or "
        "more host buffers of memory_size each, plus the simulated device blocks), more than the 256GiB available here",
    ]
    assert problems(
        {"version": 1, "hosts": [{"name": "localhost", "devices": [0, 1], "overrides": {1: {"memory_size": "24GiB"}}}]},
        inventory(hbm=0, ddr=16 * GiB),
    ) == ["hosts[0].overrides.1.memory_size: 24GiB does not fit in device 1 of localhost (16GiB of device memory)"]


def test_buffers_bigger_than_host_memory():
    assert problems({"version": 1, "backend": "sim", "defaults": {"memory_size": "1GiB"}}, host_memory=16 * GiB) == [
        "hosts[0]: the 8 workers running at once on this host would hold at least 24GiB of host memory (2 or "
        "more host buffers of memory_size each, plus the simulated device blocks), more than the 16GiB available here"
    ]
    serial = plan(
        {"version": 1, "backend": "sim", "concurrency": "serial", "defaults": {"memory_size": "1GiB"}},
        host_memory=16 * GiB,
    )
    assert len(serial.jobs) == 8 and serial.slots == 1
    assert problems(
        {"version": 1, "backend": "acl", "defaults": {"memory_size": "1.5GiB"}},
        inventory(backend="acl"),
        host_memory=16 * GiB,
    ) == [
        "hosts[0]: the 8 workers running at once on this host would hold at least 24GiB of host memory (2 or "
        "more host buffers of memory_size each), more than the 16GiB available here"
    ]


def test_unknown_host_memory_is_tolerated():
    assert len(plan({"version": 1, "defaults": {"memory_size": "60GiB"}}, host_memory=None).jobs) == 8


def test_expected_device_counts():
    short = plan(
        {"version": 1, "expect": {"devices": 9}, "hosts": [{"name": "localhost", "expect": {"devices": 8}}]},
        inventory(7),
    )
    assert short.missing == (("localhost", 7), ("localhost", 8))  # the host's shortfall, then the fleet's
    assert [j.device for j in short.jobs] == list(range(7))
    more = plan(
        {"version": 1, "expect": {"devices": 6}, "hosts": [{"name": "localhost", "expect": {"devices": 6}}]},
        inventory(7),
    )
    assert more.missing == () and more.warnings[-2:] == (
        "hosts[0].expect.devices: 6 expected on localhost, 7 visible (0-6)",
        "expect.devices: 6 expected in the fleet, 7 visible",
    )
    result = plan({"version": 1, "expect": {"devices": 8}, "hosts": [{"name": "localhost", "expect": {"devices": 8}}]})
    assert (result.missing, result.visible) == ((), {"localhost": 8})


ENDLESS_SPEC = {
    "version": 1,
    "defaults": {"number_of_cycles": -1},
    "hosts": [
        {
            "name": "localhost",
            "devices": "0-3",
            "overrides": {3: {"duration": "1h"}, 2: {"number_of_cycles": 1, "release_cycle": -1}},
        }
    ],
}
ENDLESS_WARNINGS = (
    "localhost:0-1 never end: number_of_cycles -1 and no duration (add duration: 12h, or a number of cycles)",
    "localhost:2 never ends: release_cycle -1 with memory_reuse and no duration (add duration: 12h, or a "
    "release_cycle: copies per cycle)",
)


def test_an_endless_loop_is_a_warning_naming_its_devices_and_keys():
    """``run`` prints ``plan.warnings`` on stderr before it starts, ``validate`` on stdout."""
    assert plan(ENDLESS_SPEC).warnings == ENDLESS_WARNINGS
    unattended = plan({**ENDLESS_SPEC, "unattended": True}).warnings
    assert unattended == tuple(f"unattended: {w}" for w in ENDLESS_WARNINGS)


def test_a_bounded_loop_is_no_warning():
    assert plan({"version": 1, "defaults": {"number_of_cycles": -1, "duration": "30s"}}).warnings == ()
    fill = {"release_cycle": -1, "memory_reuse": False, "number_of_cycles": -1}  # ends when the device is full
    assert plan({"version": 1, "unattended": True, "defaults": fill}).warnings == ()


def test_ignored_sections_are_warnings():
    result = plan(
        {
            "version": 1,
            "backend": "acl",
            "ray": {"address": "local"},
            "sim": {"faults": [{"device": 0, "kind": "hang"}]},
        },
        inventory(backend="acl"),
    )
    assert result.warnings == (
        "sim.faults: ignored: the backend is the real acl (1 fault)",
        "ray: ignored: the launcher is local (set launcher: ray or pass --launcher ray)",
    )


def test_resolved_spec_is_json_for_the_journal():
    result = plan(
        {
            "version": 1,
            "defaults": {"duration": "2m"},
            "hosts": [{"name": "localhost", "devices": "0-1", "overrides": {1: {"seed": 3}}}],
        }
    )
    resolved = json.loads(json.dumps(result.resolved))
    assert resolved["hosts"] == [
        {"name": "localhost", "devices": [0, 1], "overrides": {"1": {"seed": 3}}, "expect": None}
    ]
    assert (resolved["backend"], resolved["runtime"], resolved["defaults"]["duration"]) == ("auto", "sim", 120.0)


def test_job_to_dict_round_trips_the_params():
    job = plan({"version": 1}).jobs[0]
    data = json.loads(json.dumps(job.to_dict()))
    assert WorkerParams.from_dict(data["params"]) == job.params
    assert data["timeouts"] == {"init": 60.0, "copy": 30.0}


# --- generated specs never raise anything but SpecError ------------------------------------

ANY_SCALAR = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(10**12), 10**12),
    st.floats(allow_nan=True),
    st.text(max_size=12),
    st.sampled_from(
        ["10MiB", "-5", "0-7", "all", "1h30m", "KiB", "1e400", 10**400, "9" * 40 + "GiB", "9" * 400 + "h", -(10**400)]
    ),
)


def mostly(valid: st.SearchStrategy) -> st.SearchStrategy:
    """``valid`` four times in five, anything else the fifth."""
    return st.integers(0, 4).flatmap(lambda i: ANY_SCALAR if i == 0 else valid)


VALUES = {
    "memory_size": mostly(st.sampled_from(["1MiB", "4 KiB", 4096, "100GiB", 0])),
    "release_cycle": mostly(st.sampled_from([-1, 1, 8, 0])),
    "number_of_cycles": mostly(st.sampled_from([-1, 1, 2])),
    "memory_reuse": mostly(st.booleans()),
    "patterns": mostly(st.lists(st.sampled_from(list(PATTERNS) + ["zebra"]), max_size=3)),
    "duration": mostly(st.sampled_from(["1h", 10, None])),
    "memroy_size": ANY_SCALAR,
}
WORKER = st.dictionaries(st.sampled_from(sorted(VALUES)), ANY_SCALAR, max_size=4).flatmap(
    lambda d: st.fixed_dictionaries({k: VALUES[k] for k in d})
)
DEVICES = mostly(
    st.one_of(
        st.sampled_from(["all", "0-7", "0-3,6", "9", [0, 0], [], "x-y"]), st.lists(st.integers(-2, 12), max_size=4)
    )
)
HOSTS = st.lists(
    st.fixed_dictionaries(
        {"name": mostly(st.sampled_from(["localhost", HOST, "other"]))},
        optional={
            "devices": DEVICES,
            "overrides": mostly(st.dictionaries(st.integers(-1, 9), WORKER, max_size=2)),
            "expect": mostly(st.fixed_dictionaries({"devices": st.integers(-1, 9)})),
        },
    ),
    max_size=3,
)
FAULT = st.fixed_dictionaries(
    {"device": st.integers(-1, 9)},
    optional={
        "kind": st.sampled_from(["bitflip", "alloc_fail", "crash", "hang", "leak", "slow", "init_fail", "boom"]),
        "host": st.sampled_from(["localhost", "other"]),
        "bytes": mostly(st.just("1MiB")),
        "factor": mostly(st.just(2)),
        "at_copy": mostly(st.just(3)),
        "signal": mostly(st.just("KILL")),
        "times": mostly(st.just(2)),
    },
)
SPEC = st.fixed_dictionaries(
    {},
    optional={
        "version": mostly(st.just(1)),
        "backend": mostly(st.sampled_from(["acl", "sim", "auto"])),
        "launcher": mostly(st.sampled_from(["local", "ray"])),
        "unattended": mostly(st.booleans()),
        "defaults": mostly(WORKER),
        "timeouts": mostly(
            st.fixed_dictionaries({}, optional={"init": mostly(st.just("1m")), "copy": mostly(st.just(5))})
        ),
        "thresholds": st.dictionaries(
            st.sampled_from(["min_h2d_gbps", "max_leak", "max_leek"]), mostly(st.just(1)), max_size=2
        ),
        "hosts": mostly(HOSTS),
        "sim": mostly(
            st.fixed_dictionaries(
                {},
                optional={
                    "faults": st.lists(FAULT, max_size=3),
                    "memory": st.dictionaries(st.sampled_from(["hbm", "ssd"]), mostly(st.just("4GiB")), max_size=2),
                    "device_count": mostly(st.integers(1, 16)),
                },
            )
        ),
        "ray": mostly(st.fixed_dictionaries({"address": mostly(st.just("local"))})),
        "expect": mostly(st.fixed_dictionaries({"devices": st.integers(0, 9)})),
    },
)


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    data=st.one_of(SPEC, SPEC.map(lambda d: {**d, "version": 1}), ANY_SCALAR, st.lists(ANY_SCALAR, max_size=2)),
    count=st.integers(0, 9),
    launcher=st.sampled_from([None, "local", "ray"]),
)
def test_generated_specs_give_a_plan_or_spec_errors(data, count, launcher):
    try:
        result = resolve(parse_spec(data, "generated.yaml"), inventory(count), hostname=HOST, launcher=launcher)
    except SpecError as exc:
        assert exc.problems and all(isinstance(p, str) and p.strip() for p in exc.problems)
    else:
        assert result.jobs and all(isinstance(j.params, WorkerParams) for j in result.jobs)
        json.dumps(result.resolved)


def test_hosts_all_is_this_machine_with_the_local_launcher():
    result = plan({"version": 1, "hosts": "all"})
    assert {j.host for j in result.jobs} == {"localhost"} and len(result.jobs) == 8


def test_expect_counts_visible_devices_not_the_selected_ones():
    result = plan({"version": 1, "expect": {"devices": 8}, "hosts": [{"name": "localhost", "devices": [0, 1]}]})
    assert result.missing == () and [j.device for j in result.jobs] == [0, 1]
    short = plan(
        {"version": 1, "expect": {"devices": 8}, "hosts": [{"name": "localhost", "devices": [0, 1]}]}, inventory(6)
    )
    assert short.missing == (("localhost", 6), ("localhost", 7)) and short.visible == {"localhost": 6}


def test_thresholds_in_an_override_are_that_devices_and_never_reach_its_worker():
    spec = parse_spec(
        {
            "version": 1,
            "thresholds": {"min_h2d_gbps": 10, "chips": {"Ascend910B": {"min_d2h_gbps": 9, "max_leak": "1MiB"}}},
            "hosts": [{"name": "localhost", "devices": "0-1", "overrides": {1: {"min_d2h_gbps": 3, "seed": 7}}}],
            "sim": {"device_count": 2},
        }
    )
    plan = resolve(spec, inventory(2), hostname=HOST, host_memory=None)
    first, second = plan.jobs
    assert (second.params.seed, first.params.seed) == (7, 0)
    assert second.thresholds.for_chip("Ascend910B2").model_dump(
        include={"min_h2d_gbps", "min_d2h_gbps", "max_leak"}
    ) == {
        "min_h2d_gbps": 10,
        "min_d2h_gbps": 3,  # its own, not the chip's 9
        "max_leak": 1 << 20,  # the chip's
    }
    assert first.thresholds.for_chip("Ascend910B2").min_d2h_gbps == 9


def test_a_threshold_in_an_override_is_checked_like_the_fleets():
    with pytest.raises(SpecError) as err:
        parse_spec({"version": 1, "hosts": [{"name": "x", "overrides": {0: {"min_h2d_fraction": 1.5}}}]})
    assert err.value.problems == ["hosts[0].overrides.0.min_h2d_fraction: must be <= 1 (got 1.5)"]
    with pytest.raises(SpecError) as err:  # a floor may be lifted for one device; the leak limit may not
        parse_spec({"version": 1, "hosts": [{"name": "x", "overrides": {1: {"max_leak": None, "min_h2d_gbps": None}}}]})
    assert [p.split(":")[0] for p in err.value.problems] == ["hosts[0].overrides.1.max_leak"]
    with pytest.raises(SpecError) as err:
        parse_spec({"version": 1, "thresholds": {"chips": {"Ascend910B": {"min_h2d_gbps": 0, "bogus": 1}}}})
    assert err.value.problems[0] == "thresholds.chips.Ascend910B.min_h2d_gbps: must be > 0 (got 0)"
    assert err.value.problems[1].startswith("thresholds.chips.Ascend910B.bogus: unknown key")
