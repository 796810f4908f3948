"""The Ray cluster's pure half (orchestrator/launch/ray/cluster.py): naming nodes, choosing the
runtime, expanding ``hosts: all`` and building the plan's inventory, on node dicts shaped as
``alive_nodes`` returns them. Ray itself is neither needed nor imported."""

from __future__ import annotations

import socket
import time
from typing import Any, Dict, List, Optional

import pytest

from orchestrator.errors import EnvironmentProblem, SpecError
from orchestrator.launch.ray.cluster import (
    describe,
    expand_hosts,
    find_node,
    matching,
    plan_inventory,
    reach,
    runtime_for,
)
from orchestrator.spec.plan import resolve
from orchestrator.spec.schema import FleetSpec, parse_spec

HEAD_ID = "a1b2c3d4e5f60718293a4b5c6d7e8f90a1b2c3d4e5f60718293a4b5c"
A_ID = "b2c3d4e5f60718293a4b5c6d7e8f90a1b2c3d4e5f60718293a4b5c6d"
B_ID = A_ID[:8] + "0" + A_ID[9:]  # shares only the first 8 characters with A_ID


def node(
    node_id: str,
    name: str,
    hostname: str,
    ip: str,
    label: str,
    npus: int = 4,
    chip: Optional[str] = None,
    head: bool = False,
) -> Dict[str, Any]:
    """One node as ``alive_nodes`` gives it, with the devices ``cluster_inventory`` adds."""
    devices = [{"id": i, "chip": chip, "memory": {}} for i in range(npus)]
    return {
        "node_id": node_id,
        "node_name": name,
        "hostname": hostname,
        "ip": ip,
        "npus": npus,
        "chip": chip,
        "head": head,
        "label": label,
        "devices": devices,
    }


def nodes() -> List[Dict[str, Any]]:
    """A head without NPUs (Ray's default node name: its IP) and two NPU nodes sharing a hostname,
    so their labels are their node names."""
    return [
        node(HEAD_ID, "192.0.2.1", "head.example.com", "192.0.2.1", "head.example.com", npus=0, head=True),
        node(A_ID, "node-a", "worker.example.com", "192.0.2.2", "node-a", chip="Ascend910B1"),
        node(B_ID, "node-b", "worker.example.com", "192.0.2.3", "node-b", npus=2),
    ]


def names(found: List[Dict[str, Any]]) -> List[str]:
    return [n["node_name"] for n in found]


def ray_spec(hosts: List[Dict[str, Any]]) -> FleetSpec:
    return parse_spec({"version": 1, "backend": "sim", "launcher": "ray", "hosts": hosts})


def test_describe_names_label_ip_and_a_short_node_id():
    assert describe(nodes()[1]) == "node-a (192.0.2.2, id b2c3d4e5)"


@pytest.mark.parametrize("name", ["localhost", "127.0.0.1"])
def test_localhost_is_the_node_with_this_controllers_ip(name):
    assert names(matching(name, nodes(), "192.0.2.3")) == ["node-b"]
    assert matching(name, nodes(), None) == []


@pytest.mark.parametrize(
    "name, found",
    [
        ("node-a", ["node-a"]),  # Ray node name
        ("head.example.com", ["192.0.2.1"]),  # label (full hostname)
        ("head", ["192.0.2.1"]),  # short hostname
        ("192.0.2.3", ["node-b"]),  # IP
        ("worker.example.com", ["node-a", "node-b"]),  # a hostname two nodes share
        ("worker", ["node-a", "node-b"]),
        (A_ID, ["node-a"]),  # full node id
        (A_ID[:8], ["node-a", "node-b"]),  # an 8-character prefix both ids share
        (A_ID[:9], ["node-a"]),
        (A_ID[:7], []),  # too short to be an id prefix
        ("node-c", []),
    ],
)
def test_a_host_name_designates_nodes_by_name_label_hostname_ip_or_id(name, found):
    assert names(matching(name, nodes(), "192.0.2.1")) == found


def test_an_exact_node_name_wins_over_hostnames():
    cluster = nodes() + [node("c" * 56, "worker", "other.example.com", "192.0.2.4", "other.example.com")]
    assert names(matching("worker", cluster, None)) == ["worker"]


def test_a_node_id_prefix_must_be_hexadecimal():
    assert matching(A_ID[:8].upper(), nodes(), None) == []


def test_find_node_returns_the_one_node():
    assert find_node("192.0.2.2", nodes(), None, "hosts[0].name")["node_id"] == A_ID


def test_find_node_without_a_match_lists_the_nodes():
    with pytest.raises(SpecError) as info:
        find_node("node-c", nodes(), None, "hosts[1].name")
    assert info.value.problems == [
        "hosts[1].name: no alive node of the Ray cluster is named 'node-c' (nodes: head.example.com (192.0.2.1, id "
        "a1b2c3d4), node-a (192.0.2.2, id b2c3d4e5), node-b (192.0.2.3, id b2c3d4e5)); name a node by its hostname, "
        "IP, Ray node name or node id"
    ]


def test_find_node_in_an_empty_cluster_says_none():
    with pytest.raises(SpecError, match=r"\(nodes: none\)"):
        find_node("node-a", [], None, "hosts[0].name")


def test_find_node_refuses_a_name_of_several_nodes():
    with pytest.raises(SpecError) as info:
        find_node("worker", nodes(), None, "hosts[0].name")
    assert info.value.problems == [
        "hosts[0].name: 'worker' names 2 nodes of the Ray cluster (node-a (192.0.2.2, id b2c3d4e5), node-b "
        "(192.0.2.3, id b2c3d4e5)); name one by its Ray node name or node id"
    ]


@pytest.mark.parametrize("backend", ["acl", "sim"])
def test_an_explicit_backend_is_the_runtime(backend):
    assert runtime_for(backend, nodes()) == backend
    assert runtime_for(backend, []) == backend


def test_auto_is_the_real_runtime_only_where_an_npu_node_has_an_ascend_chip():
    assert runtime_for("auto", nodes()) == "acl"  # node-a
    no_chip = [n for n in nodes() if n["node_name"] != "node-a"]
    assert runtime_for("auto", no_chip) == "sim"
    chip_without_npus = [node(HEAD_ID, "h", "h", "192.0.2.9", "h", npus=0, chip="Ascend910B1")]
    assert runtime_for("auto", chip_without_npus) == "sim"
    assert runtime_for("auto", [node(A_ID, "g", "g", "192.0.2.8", "g", chip="A100")]) == "sim"
    assert runtime_for("auto", []) == "sim"


def test_all_becomes_one_host_per_npu_node_keeping_devices_and_overrides():
    spec = ray_spec([{"name": "all", "devices": [0, 1], "overrides": {1: {"memory_size": "1MiB"}}}])
    expanded = expand_hosts(spec, nodes())
    assert [h.name for h in expanded.hosts] == ["node-a", "node-b"]  # not the head: it has no NPU
    for host in expanded.hosts:
        assert host.devices == (0, 1)
        assert host.overrides[1].memory_size == 1 << 20
    assert [h.name for h in spec.hosts] == ["all"]  # the spec itself is left as it was


def test_all_leaves_out_the_nodes_named_by_other_hosts():
    spec = ray_spec([{"name": "node-b", "devices": [1]}, {"name": "all"}])
    expanded = expand_hosts(spec, nodes())
    assert [(h.name, h.devices) for h in expanded.hosts] == [("node-b", (1,)), ("node-a", "all")]


@pytest.mark.parametrize("name", ["localhost", "192.0.2.2", A_ID[:9], A_ID])
def test_all_leaves_out_a_node_another_host_names_by_any_of_its_names(name):
    spec = ray_spec([{"name": name}, {"name": "all"}])
    expanded = expand_hosts(spec, nodes(), here_ip="192.0.2.2")  # the controller runs on node-a
    assert [h.name for h in expanded.hosts] == [name, "node-b"]  # node-a once, under the spec's name


def test_without_all_the_hosts_stay_as_they_are():
    spec = ray_spec([{"name": "node-a"}, {"name": "node-b"}])
    assert expand_hosts(spec, nodes()).hosts == spec.hosts


def cluster(here_ip: Optional[str] = "192.0.2.2") -> Dict[str, Any]:
    return {"address": "auto", "backend": "sim", "simulated": True, "nodes": nodes(), "here_ip": here_ip}


def test_the_plan_inventory_holds_each_hosts_node_and_this_machine_at_the_top():
    spec = ray_spec([{"name": "localhost"}, {"name": "node-b"}])
    inv = plan_inventory(spec, cluster(), hostname="controller.example.com")
    assert sorted(inv["hosts"]) == ["localhost", "node-b"]
    assert inv["hosts"]["node-b"] == {
        "backend": "sim",
        "simulated": True,
        "devices": nodes()[2]["devices"],
        "node": "node-b (192.0.2.3, id b2c3d4e5)",
    }
    assert inv["hosts"]["localhost"]["node"] == "node-a (192.0.2.2, id b2c3d4e5)"
    assert {k: inv[k] for k in ("backend", "simulated", "devices", "node")} == inv["hosts"]["localhost"]


def test_without_a_host_here_the_top_has_no_devices():
    spec = ray_spec([{"name": "node-a"}])
    inv = plan_inventory(spec, cluster(), hostname="controller.example.com")
    assert (inv["backend"], inv["devices"], sorted(inv["hosts"])) == ("sim", [], ["node-a"])


def test_the_plan_inventory_reports_every_unknown_host_at_once():
    spec = ray_spec([{"name": "node-x"}, {"name": "node-a"}, {"name": "worker"}])
    with pytest.raises(SpecError) as info:
        plan_inventory(spec, cluster(), hostname="controller.example.com")
    assert [p.split(":")[0] for p in info.value.problems] == ["hosts[0].name", "hosts[2].name"]
    assert "no alive node" in info.value.problems[0] and "names 2 nodes" in info.value.problems[1]


def test_resolve_plans_the_devices_of_each_node():
    spec = expand_hosts(ray_spec([{"name": "all"}]), nodes())
    inv = plan_inventory(spec, cluster(), hostname="controller.example.com")
    plan = resolve(spec, inv, hostname="controller.example.com", launcher="ray")
    assert [(j.host, j.device) for j in plan.jobs] == [("node-a", d) for d in range(4)] + [("node-b", 0), ("node-b", 1)]
    assert plan.visible == {"node-a": 4, "node-b": 2}


def test_an_address_that_accepts_no_connection_is_an_environment_problem_at_once(monkeypatch):
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    port = listener.getsockname()[1]
    listener.close()  # nothing listens there now
    start = time.monotonic()
    with pytest.raises(EnvironmentProblem) as info:
        reach(f"127.0.0.1:{port}", timeout=5)
    assert time.monotonic() - start < 5
    assert str(info.value).startswith(f"cannot reach the Ray cluster at '127.0.0.1:{port}': ")
    assert "connection refused" in str(info.value) and "ray start --head" in str(info.value)
    monkeypatch.setenv("RAY_ADDRESS", f"ray://127.0.0.1:{port}")
    with pytest.raises(EnvironmentProblem, match=rf"'auto' \(RAY_ADDRESS=ray://127.0.0.1:{port}\)"):
        reach("auto", timeout=5)


def test_an_address_that_listens_or_is_this_machine_s_own_is_left_to_ray(monkeypatch):
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(1)
        reach(f"127.0.0.1:{listener.getsockname()[1]}", timeout=5)
    monkeypatch.delenv("RAY_ADDRESS", raising=False)
    reach("auto", timeout=0.01)  # Ray finds a cluster of this machine itself
    reach("local", timeout=0.01)


def test_an_address_that_never_answers_gives_up_within_the_timeout():
    start = time.monotonic()
    with pytest.raises(EnvironmentProblem, match=r"^cannot reach the Ray cluster at '192\.0\.2\.1:6379': "):
        reach("192.0.2.1:6379", timeout=0.5)  # TEST-NET-1: never routed
    assert time.monotonic() - start < 3
