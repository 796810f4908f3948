"""The machine-side checks of a spec: which devices each host runs, overrides and faults naming
selected devices, blocks that fit in a device and workers that fit in host memory, and warnings."""

from __future__ import annotations

from typing import Any, Dict, List, Tuple

import pytest

from orchestrator.errors import SpecError
from orchestrator.spec import checks
from orchestrator.spec.plan import DeviceJob, resolve
from orchestrator.spec.schema import FleetSpec, Thresholds, Timeouts, parse_spec
from tests.helpers.specs import HOST, inventory
from workers.job import WorkerJob
from workers.params import WorkerParams

GiB = 2**30
MiB = 2**20


def fleet(**top: Any) -> FleetSpec:
    return parse_spec({"version": 1, **top})


def select(
    spec: FleetSpec, inv: Dict[str, Any], launcher: str = "local"
) -> Tuple[Dict[int, Tuple[int, ...]], List[str]]:
    problems: List[str] = []
    return checks.select_all(spec, inv, HOST, launcher, problems), problems


def job(device: int, host: str = "localhost", runtime: str = "sim", **params: Any) -> DeviceJob:
    worker = WorkerJob(host=host, params=WorkerParams(device_id=device, **params), backend=runtime)
    return DeviceJob(worker=worker, timeouts=Timeouts(), thresholds=Thresholds())


# --- select_all -----------------------------------------------------------------------------


def test_all_selects_every_visible_device_in_order():
    inv = inventory(4)
    inv["devices"] = [d for d in reversed(inv["devices"]) if d["id"] != 1]
    assert select(fleet(), inv) == ({0: (0, 2, 3)}, [])


def test_listed_devices_that_exist_are_kept_the_others_reported():
    spec = fleet(hosts=[{"name": "localhost", "devices": [1, 9, 12]}])
    assert select(spec, inventory(8)) == (
        {0: (1,)},
        [
            "hosts[0].devices: device 9 does not exist on this host (8 visible: 0-7)",
            "hosts[0].devices: device 12 does not exist on this host (8 visible: 0-7)",
        ],
    )


def test_no_visible_device_names_the_backend():
    assert select(fleet(), inventory(0)) == (
        {0: ()},
        ["hosts[0].devices: selects no device: this host has none visible (backend sim)"],
    )
    assert select(fleet(), {"devices": []})[1] == [
        "hosts[0].devices: selects no device: this host has none visible (backend unknown)"
    ]


def test_local_launcher_refuses_another_host():
    spec = fleet(hosts=[{"name": "localhost"}, {"name": "node-b"}])
    assert select(spec, inventory(2)) == (
        {0: (0, 1)},
        [
            f"hosts[1].name: 'node-b' is not this machine ({HOST}); the local launcher runs only here: "
            "use the Ray launcher (launcher: ray) for other hosts"
        ],
    )


def test_this_machine_listed_twice_under_two_names():
    spec = fleet(hosts=[{"name": "localhost"}, {"name": HOST, "devices": [0]}])
    assert select(spec, inventory(2)) == (
        {0: (0, 1)},
        [f"hosts[1].name: {HOST!r} is this machine again (also hosts[0]); list each machine once"],
    )


def test_ray_hosts_use_their_own_inventory():
    spec = fleet(launcher="ray", hosts=[{"name": "localhost"}, {"name": "node-b", "devices": [0, 5]}])
    inv = dict(inventory(2), hosts={"node-b": inventory(3)})
    assert select(spec, inv, launcher="ray") == (
        {0: (0, 1), 1: (0,)},
        ["hosts[1].devices: device 5 does not exist on node-b (3 visible: 0-2)"],
    )


# --- overrides and faults -------------------------------------------------------------------


def test_override_of_an_unselected_device():
    spec = fleet(hosts=[{"name": "localhost", "devices": [0, 1], "overrides": {1: {"seed": 3}, 5: {"seed": 1}}}])
    assert checks.overrides(spec, {0: (0, 1)}) == [
        "hosts[0].overrides.5: device 5 is not selected on this host (selected: 0-1)"
    ]
    assert checks.overrides(spec, {0: ()}) == [
        "hosts[0].overrides.1: device 1 is not selected on this host (none selected)",
        "hosts[0].overrides.5: device 5 is not selected on this host (none selected)",
    ]


def test_overrides_of_a_host_that_was_not_selected_are_not_judged():
    spec = fleet(hosts=[{"name": "localhost"}, {"name": "node-b", "overrides": {7: {"seed": 1}}}])
    assert checks.overrides(spec, {0: (0,)}) == []


def test_faults_name_a_known_host_and_a_selected_device():
    spec = fleet(
        sim={
            "faults": [
                {"device": 9, "kind": "hang"},
                {"host": "nowhere", "device": 0, "kind": "hang"},
                {"host": "localhost", "device": 1, "kind": "crash"},
            ]
        }
    )
    assert checks.faults(spec, {0: (0, 1, 2)}) == [
        "sim.faults[0].device: device 9 is not selected on host localhost (selected: 0-2)",
        "sim.faults[1].host: no host named 'nowhere' in hosts (localhost)",
    ]


def test_fault_on_a_host_that_was_not_selected_is_not_judged():
    spec = fleet(
        launcher="ray",
        hosts=[{"name": "n1"}, {"name": "n2"}],
        sim={"faults": [{"host": "n2", "device": 40, "kind": "hang"}]},
    )
    assert checks.faults(spec, {0: (0,)}) == []
    assert checks.faults(spec, {0: (0,), 1: ()}) == [
        "sim.faults[0].device: device 40 is not selected on host n2 (none selected)"
    ]


# --- memory: the block in the device --------------------------------------------------------


def test_block_larger_than_the_devices():
    jobs = [job(0, memory_size=2 * GiB), job(1, memory_size=2 * GiB)]
    assert checks.memory(fleet(), jobs, inventory(2, hbm=GiB), HOST, "sim", None) == [
        "defaults.memory_size: 2GiB does not fit in devices 0-1 of localhost (1GiB of device memory each)"
    ]


def test_block_set_by_an_override_is_blamed_on_the_override():
    spec = fleet(hosts=[{"name": "localhost", "overrides": {1: {"memory_size": "2GiB"}, 0: {"seed": 1}}}])
    jobs = [job(0, memory_size=GiB), job(1, memory_size=2 * GiB)]
    assert checks.memory(spec, jobs, inventory(2, hbm=GiB), HOST, "sim", None) == [
        "hosts[0].overrides.1.memory_size: 2GiB does not fit in device 1 of localhost (1GiB of device memory)"
    ]


def test_capacity_is_the_larger_memory_kind_and_unknown_capacity_is_not_judged():
    assert (
        checks.memory(fleet(), [job(0, memory_size=4 * GiB)], inventory(1, hbm=0, ddr=8 * GiB), HOST, "sim", None) == []
    )
    unopened = inventory(2, hbm=GiB)
    unopened["devices"][0]["memory"] = None
    jobs = [job(0, memory_size=2 * GiB), job(5, memory_size=2 * GiB)]  # device 5 is not in the inventory
    assert checks.memory(fleet(), jobs, unopened, HOST, "sim", None) == []


def test_block_exactly_the_device_size_fits():
    assert checks.memory(fleet(), [job(0, memory_size=GiB)], inventory(1, hbm=GiB), HOST, "sim", None) == []


# --- memory: the workers in this host's memory (host_memory given as bytes) -----------------


def four_gib_jobs(runtime: str = "sim") -> List[DeviceJob]:
    return [job(d, runtime=runtime, memory_size=GiB) for d in range(4)]


def test_workers_that_fit_in_host_memory():
    assert checks.memory(fleet(), four_gib_jobs(), inventory(4), HOST, "sim", 12 * GiB) == []


def test_workers_beyond_host_memory_on_the_simulator():
    assert checks.memory(fleet(), four_gib_jobs(), inventory(4), HOST, "sim", 11 * GiB) == [
        "hosts[0]: the 4 workers running at once on this host would hold at least 12GiB of host memory "
        "(2 or more host buffers of memory_size each, plus the simulated device blocks), "
        "more than the 11GiB available here"
    ]


def test_workers_beyond_host_memory_on_the_real_runtime():
    jobs = four_gib_jobs("acl")
    assert checks.memory(fleet(), jobs, inventory(4), HOST, "acl", 8 * GiB) == []
    assert checks.memory(fleet(), jobs, inventory(4), HOST, "acl", 7 * GiB) == [
        "hosts[0]: the 4 workers running at once on this host would hold at least 8GiB of host memory "
        "(2 or more host buffers of memory_size each), more than the 7GiB available here"
    ]


def test_only_the_largest_workers_running_at_once_count():
    jobs = [job(0, memory_size=GiB), job(1, memory_size=2 * GiB), job(2, memory_size=512 * MiB)]
    assert checks.memory(fleet(concurrency=2), jobs, inventory(4), HOST, "sim", 9 * GiB) == []
    assert checks.memory(fleet(concurrency=2), jobs, inventory(4), HOST, "sim", 8 * GiB) == [
        "hosts[0]: the 2 workers running at once on this host would hold at least 9GiB of host memory "
        "(2 or more host buffers of memory_size each, plus the simulated device blocks), "
        "more than the 8GiB available here"
    ]
    assert checks.memory(fleet(concurrency="serial"), jobs, inventory(4), HOST, "sim", 6 * GiB) == []


def test_concurrency_above_the_device_count_names_the_devices_there_are():
    jobs = four_gib_jobs()[:2]
    assert checks.memory(fleet(concurrency=8), jobs, inventory(4), HOST, "sim", GiB) == [
        "hosts[0]: the 2 workers running at once on this host would hold at least 6GiB of host memory "
        "(2 or more host buffers of memory_size each, plus the simulated device blocks), "
        "more than the 1GiB available here"
    ]


def test_unknown_host_memory_is_not_judged():
    assert checks.memory(fleet(), four_gib_jobs(), inventory(4), HOST, "sim", None) == []


def test_only_this_hosts_workers_count_and_the_problem_names_its_entry():
    spec = fleet(launcher="ray", hosts=[{"name": "node-b"}, {"name": "localhost"}])
    jobs = [job(d, host="node-b", memory_size=GiB) for d in range(8)] + [job(d, memory_size=GiB) for d in (0, 1)]
    inv = dict(inventory(2), hosts={"node-b": inventory(8)})
    assert checks.memory(spec, jobs, inv, HOST, "sim", 6 * GiB) == []
    assert checks.memory(spec, jobs, inv, HOST, "sim", 2 * GiB) == [
        "hosts[1]: the 2 workers running at once on this host would hold at least 6GiB of host memory "
        "(2 or more host buffers of memory_size each, plus the simulated device blocks), "
        "more than the 2GiB available here"
    ]


@pytest.mark.parametrize(
    "params, runtime, blocks",
    [
        ({}, "sim", 3),
        ({}, "acl", 2),
        ({"host_memory": "both"}, "sim", 5),
        ({"host_memory": "both"}, "acl", 4),
        ({"bidirectional": True, "copy_mode": "async"}, "sim", 4),
        ({"bidirectional": True, "copy_mode": "async"}, "acl", 2),
    ],
)
def test_buffers_per_worker(params, runtime, blocks):
    assert checks.buffers(WorkerParams(**params), runtime) == blocks


# --- warnings -------------------------------------------------------------------------------


def endless_jobs() -> List[DeviceJob]:
    return [
        job(0, number_of_cycles=-1, release_cycle=10),
        job(1, number_of_cycles=-1, release_cycle=10),
        job(2, release_cycle=-1, memory_reuse=True),
        job(3, release_cycle=-1, memory_reuse=True),
        job(4, number_of_cycles=-1, duration=60.0),
        job(5, release_cycle=-1, memory_reuse=False),
        job(6, release_cycle=-1, memory_reuse=False, number_of_cycles=-1),  # fills the device, then ends
        job(1, host="node2", number_of_cycles=-1, release_cycle=10),
        job(7, release_cycle=-1, memory_reuse=True, number_of_cycles=-1),
    ]


ENDLESS = [
    "localhost:0-1, node2:1 never end: number_of_cycles -1 and no duration (add duration: 12h, or a number of cycles)",
    "localhost:2-3 never end: release_cycle -1 with memory_reuse and no duration (add duration: 12h, or a "
    "release_cycle: copies per cycle)",
    "localhost:7 never ends: release_cycle -1 with memory_reuse, number_of_cycles -1 and no duration (add "
    "duration: 12h, or a release_cycle and a number of cycles)",
]


def test_endless_workers_are_warned_about_grouped_by_reason():
    assert checks.warnings(fleet(), endless_jobs(), "local", "sim") == ENDLESS


def test_an_unattended_spec_says_so_in_its_endless_warnings():
    assert checks.warnings(fleet(unattended=True), endless_jobs(), "local", "sim") == [
        f"unattended: {line}" for line in ENDLESS
    ]


def test_bounded_workers_are_not_warned_about():
    assert checks.endless(endless_jobs()[4:7]) == []


def test_simulated_faults_on_the_real_runtime_are_ignored():
    spec = fleet(sim={"faults": [{"device": 0, "kind": "hang"}, {"device": 1, "kind": "crash"}]})
    assert checks.warnings(spec, [job(0)], "local", "acl") == [
        "sim.faults: ignored: the backend is the real acl (2 faults)"
    ]
    assert checks.warnings(spec, [job(0)], "local", "sim") == []


def test_ray_section_without_the_ray_launcher_is_ignored():
    spec = fleet(ray={"address": "auto"})
    assert checks.warnings(spec, [job(0)], "local", "sim") == [
        "ray: ignored: the launcher is local (set launcher: ray or pass --launcher ray)"
    ]
    assert checks.warnings(spec, [job(0)], "ray", "sim") == []
    assert checks.warnings(fleet(), [job(0)], "local", "sim") == []


@pytest.mark.parametrize(
    "params, reason",
    [
        ({}, None),
        ({"number_of_cycles": -1, "release_cycle": 10}, "number_of_cycles -1"),
        ({"number_of_cycles": -1, "release_cycle": 10, "duration": 5.0}, None),
        ({"number_of_cycles": -1}, None),  # release_cycle -1 without reuse: the first cycle fills the device
        ({"release_cycle": -1, "memory_reuse": True}, "release_cycle -1 with memory_reuse"),
        (
            {"release_cycle": -1, "memory_reuse": True, "number_of_cycles": -1},
            "release_cycle -1 with memory_reuse, number_of_cycles -1",
        ),
        ({"release_cycle": -1, "memory_reuse": True, "duration": 5.0}, None),
        ({"release_cycle": -1, "memory_reuse": False}, None),
        ({"release_cycle": 10, "memory_reuse": True}, None),
    ],
)
def test_endless_reason(params, reason):
    assert checks.endless_reason(WorkerParams(**params)) == reason
    assert reason is None or reason in checks.ENDLESS_FIXES


def test_device_names_are_id_ranges_per_host_in_first_seen_order():
    names = [("b", 3), ("a", 0), ("b", 1), ("a", 1), ("b", 2), ("b", 6)]
    assert checks.device_names(names) == "b:1-3,6, a:0-1"


# --- small helpers --------------------------------------------------------------------------


@pytest.mark.parametrize(
    "concurrency, devices, slots",
    [("all", 5, 5), ("all", 0, 1), ("serial", 8, 1), (3, 8, 3), (3, 1, 3)],
)
def test_slots_for(concurrency, devices, slots):
    assert checks.slots_for(concurrency, devices) == slots


@pytest.mark.parametrize(
    "name, here",
    [
        ("localhost", True),
        ("127.0.0.1", True),
        ("npu-server-01.lab.example", True),
        ("npu-server-01", True),
        ("npu-server-02", False),
        ("lab.example", False),
    ],
)
def test_is_here(name, here):
    assert checks.is_here(name, "npu-server-01.lab.example") is here


def test_inventory_for_this_machine_another_host_and_an_unknown_one():
    node_b = inventory(3)
    inv = dict(inventory(2), hosts={"node-b": node_b})
    assert checks.inventory_for("localhost", inv, HOST) is inv
    assert checks.inventory_for(HOST, inv, HOST) is inv
    assert checks.inventory_for("node-b", inv, HOST) is node_b
    assert checks.inventory_for("node-c", inv, HOST) is inv  # a host Ray did not answer for: this machine's
    assert checks.visible_ids("node-b", inv, HOST) == (0, 1, 2)
    assert checks.visible_ids("localhost", {"devices": None}, HOST) == ()


def _with_huge(inv, huge):
    for entry in inv["devices"]:
        entry["memory"]["hbm_huge"] = {"free": huge, "total": huge}
    return inv


def test_a_dvpp_block_must_fit_in_the_huge_pages_a_device_block_in_the_whole_pool():
    inv = _with_huge(inventory(2, hbm=64 * GiB), 57 * GiB)
    dvpp = parse_spec({"version": 1, "defaults": {"memory_size": "60GiB"}})
    with pytest.raises(SpecError) as info:
        resolve(dvpp, inv, hostname=HOST)
    assert info.value.problems == [
        "defaults.memory_size: 60GiB does not fit in devices 0-1 of localhost (57GiB of DVPP memory (huge pages) each)"
    ]
    device = parse_spec({"version": 1, "defaults": {"memory_size": "60GiB", "memory_kind": "device"}})
    assert len(resolve(device, inv, hostname=HOST).jobs) == 2
