"""The Ray cluster as dvpp-fleet sees it: join it, list its alive nodes and their NPUs, and turn the
spec's host names into nodes. The controller imports Ray in this folder only (here, the launcher,
the claims) and only when the Ray launcher is chosen; on the nodes, ``workers/entry/ray_actor.py``.

A spec host names a node by its Ray node name (``ray start --node-name``; Ray's default is the IP),
its hostname (full or short), its IP, or its node id (hex, or a prefix of at least 8 characters);
``localhost`` is the node this controller runs on. The host name ``all`` (Ray only) stands for
every alive node that offers an ``NPU``.

A node's devices are the NPU ids Ray can assign there: ``0 .. NPU-1`` (the ``NPU`` resource Ray
detected, or declared with ``ray start --resources``). On the simulator they are also capped by
``sim.device_count``. ``backend: auto`` means the real ``acl`` when Ray detected an Ascend chip
type on an NPU node (it reads it through ``acl``), else the simulator.

An address of a cluster (``host:port``, ``ray://host:port``, or ``auto`` with ``RAY_ADDRESS``
set) is first reached with a plain TCP connection of at most ``REACH_TIMEOUT`` seconds: Ray itself
retries an unreachable address for about 12 minutes before it gives up.

Ray's driver prints the cluster's error messages (``(raylet) A worker died ...``, dozens after a
node is lost) on stdout, whatever ``log_to_driver`` says, which would break ``--format json`` and
bury the table. ``connect`` routes them to the file a run names (``ray_messages``), else to stderr.
"""

from __future__ import annotations

import importlib.util
import logging
import os
import re
import socket
import sys
from contextlib import contextmanager
from pathlib import Path
from types import ModuleType
from typing import Any, Dict, Iterator, List, Optional, Tuple, cast

from orchestrator.errors import EnvironmentProblem, SpecError
from orchestrator.spec.checks import LOCAL_NAMES, is_here
from orchestrator.spec.inventory import discover
from orchestrator.spec.plan import FleetPlan, resolve
from orchestrator.spec.schema import ALL_HOSTS, FleetSpec, Host
from workers.simulator import catalog

INSTALL_HINT = "the Ray launcher needs Ray, which is not installed here: pip install 'dvpp-fleet[ray]'"
REACH_TIMEOUT = 30.0
"""Seconds a cluster's address may take to accept a TCP connection before the run gives up (exit 3)."""
ADDRESS_VARIABLE = "RAY_ADDRESS"
"""Where Ray looks for the cluster of ``address: auto``."""
_messages: List[Optional[Path]] = [None]  # where Ray's driver messages go (ray_messages); None: stderr
NODE_ID_PREFIX = 8
Node = Dict[str, Any]


def import_ray() -> ModuleType:
    """The ``ray`` module, or ``EnvironmentProblem`` saying how to install it."""
    try:
        import ray
    except ImportError:
        raise EnvironmentProblem(INSTALL_HINT) from None
    return cast(ModuleType, ray)  # ray is typed as Any (see [tool.mypy] in pyproject.toml)


def connect(address: str, sim_npus: Optional[int] = None) -> ModuleType:
    """Join the cluster at ``address`` (``auto``, ``host:port``, ``ray://...``) or start a private
    one (``local``, declaring ``sim_npus`` fake NPUs when given); does nothing when connected."""
    ray = import_ray()
    if ray.is_initialized():
        return ray
    reach(address)
    options: Dict[str, Any] = {"address": address, "log_to_driver": False, "logging_level": logging.WARNING}
    if address == "local":
        options.update(include_dashboard=False, resources={"NPU": sim_npus} if sim_npus else None)
    _route_driver_messages()
    try:
        with _quiet_npu_detection():
            ray.init(**options)
    except ConnectionError as exc:
        raise EnvironmentProblem(
            f"cannot join the Ray cluster at {address!r}: {str(exc).rstrip('.')}. Start one with "
            "`ray start --head` (see README), or use `ray: {address: local}`"
        ) from None
    return ray


def reach(address: str, timeout: float = REACH_TIMEOUT) -> None:
    """``EnvironmentProblem`` when the cluster at ``address`` does not accept a TCP connection
    within ``timeout`` seconds; nothing for ``local``, or for ``auto`` without ``RAY_ADDRESS`` (Ray
    then looks for a cluster started on this machine, and says at once when there is none)."""
    target = os.environ.get(ADDRESS_VARIABLE, "") if address == "auto" else address
    found = re.fullmatch(r"(?:ray://)?\[?([^\]\s]+?)\]?:(\d{1,5})", target.strip())
    if found is None:
        return
    host, port = found.group(1), int(found.group(2))
    try:
        socket.create_connection((host, port), timeout=timeout).close()
    except OSError as exc:
        why = f"no answer within {timeout:g}s" if isinstance(exc, socket.timeout) else (exc.strerror or str(exc))
        named = f"{address!r}" if target == address else f"{address!r} ({ADDRESS_VARIABLE}={target})"
        raise EnvironmentProblem(
            f"cannot reach the Ray cluster at {named}: {why.lower()}. Is `ray start --head` running there, "
            "and is the port open? (or use `ray: {address: local}`)"
        ) from None


def ray_messages(path: Path) -> None:
    """From now on Ray's driver messages are appended to ``path`` (a run's log): also those that
    arrive after the run, as the news of its workers' deaths can, until another run names its own."""
    _messages[0] = path


def _route_driver_messages() -> None:
    """Make Ray's driver write what it prints of the cluster (error messages, worker output) where
    ``ray_messages`` says, never on stdout; Ray calls its module function ``print_to_stdstream``
    for both. A Ray without that function is left as it is."""
    try:
        driver = importlib.import_module("ray._private.worker")
    except ImportError:
        return
    original = getattr(driver, "print_to_stdstream", None)
    if original is None or getattr(original, "routed_by_dvpp_fleet", False):
        return  # absent in this Ray, or routed already

    def print_to_stdstream(data: Dict[str, Any], ignore_prefix: bool = False) -> None:
        who = data.get("pid")
        text = "".join(f"({who}) {line}\n" for line in data.get("lines") or [])
        if not text:
            return
        path = _messages[0]
        try:
            if path is None:
                sys.stderr.write(text)
            else:
                with open(path, "a", encoding="utf-8", errors="replace") as log:
                    log.write(text)
        except (OSError, ValueError):
            pass  # a full disk or a closed stream: Ray's words are not worth a failed run

    print_to_stdstream.routed_by_dvpp_fleet = True  # type: ignore[attr-defined]
    setattr(driver, "print_to_stdstream", print_to_stdstream)  # noqa: B010 - a module of Ray, patched at run time


@contextmanager
def _quiet_npu_detection() -> Iterator[None]:
    """Ray logs a traceback when it cannot read the chip type of declared (fake) NPUs."""
    logger = logging.getLogger("ray._private.accelerators.npu")
    level = logger.level
    logger.setLevel(logging.CRITICAL)
    try:
        yield
    finally:
        logger.setLevel(level)


def kill_actor(ray: ModuleType, actor: Any) -> None:
    """Kill ``actor`` for good (no restart); one already gone is fine."""
    try:
        ray.kill(actor, no_restart=True)
    except Exception:  # already gone
        pass


def alive_nodes(ray: ModuleType) -> List[Node]:
    """Every alive node: ``node_id``, ``node_name``, ``hostname``, ``ip``, ``npus`` (int), ``chip``
    (Ray's ``accelerator_type``, None when unknown), ``head`` and a unique display ``label``."""
    nodes = []
    for n in ray.nodes():
        if not n.get("Alive"):
            continue
        res = n.get("Resources") or {}
        chip = next((k.split(":", 1)[1] for k in res if k.startswith("accelerator_type:")), None)
        nodes.append(
            {
                "node_id": n["NodeID"],
                "node_name": n.get("NodeName") or n["NodeManagerAddress"],
                "hostname": n.get("NodeManagerHostname") or "",
                "ip": n["NodeManagerAddress"],
                "npus": int(res.get("NPU", 0)),
                "chip": chip,
                "head": "node:__internal_head__" in res,
            }
        )
    nodes.sort(key=lambda n: (not n["head"], n["node_name"], n["node_id"]))
    for node in nodes:
        node["label"] = _label(node, nodes)
    return nodes


def _label(node: Node, nodes: List[Node]) -> str:
    """The hostname when no other node shares it, else the node name, else a node id prefix."""
    for key in ("hostname", "node_name"):
        if node[key] and sum(1 for n in nodes if n[key] == node[key]) == 1:
            return str(node[key])
    return str(node["node_id"][:12])


def describe(node: Node) -> str:
    """How reports name a node, e.g. ``node-a (192.0.2.7, id 1a2b3c4d)``."""
    return f"{node['label']} ({node['ip']}, id {node['node_id'][:NODE_ID_PREFIX]})"


def matching(name: str, nodes: List[Node], here_ip: Optional[str]) -> List[Node]:
    """The nodes ``name`` designates (see the module docstring); an exact node name wins."""
    if name in LOCAL_NAMES:
        return [n for n in nodes if n["ip"] == here_ip]
    exact = [n for n in nodes if n["node_name"] == name or n["label"] == name]
    if exact:
        return exact
    prefix = len(name) >= NODE_ID_PREFIX and all(c in "0123456789abcdef" for c in name)
    return [
        n
        for n in nodes
        if name in (n["hostname"], n["hostname"].split(".")[0], n["ip"]) or (prefix and n["node_id"].startswith(name))
    ]


def find_node(name: str, nodes: List[Node], here_ip: Optional[str], path: str) -> Node:
    """The one node ``name`` designates, or ``SpecError`` at ``path`` saying which exist."""
    found = matching(name, nodes, here_ip)
    if len(found) == 1:
        return found[0]
    known = ", ".join(describe(n) for n in nodes) or "none"
    if not found:
        raise SpecError(
            [
                f"{path}: no alive node of the Ray cluster is named {name!r} (nodes: {known}); name a "
                "node by its hostname, IP, Ray node name or node id"
            ]
        )
    raise SpecError(
        [
            f"{path}: {name!r} names {len(found)} nodes of the Ray cluster "
            f"({', '.join(describe(n) for n in found)}); name one by its Ray node name or node id"
        ]
    )


def runtime_for(backend: str, nodes: List[Node]) -> str:
    """``acl`` or ``sim``: ``auto`` is the real runtime only where Ray saw Ascend chips."""
    if backend != "auto":
        return backend
    return "acl" if any(n["npus"] and (n["chip"] or "").startswith("Ascend") for n in nodes) else "sim"


def cluster_inventory(
    address: str, backend: str = "auto", sim_config: Optional[Dict[str, Any]] = None
) -> Dict[str, Any]:
    """The cluster at ``address``: ``{"address", "backend", "simulated", "nodes": [node + "devices"]}``.

    Each node's ``devices`` is a list in ``workers.discover``'s shape (``id``, ``chip``, ``memory``;
    memory is known for the simulator only). ``sim_config`` (without faults) sizes the simulator.
    """
    local_sim = address == "local" and (
        backend == "sim" or (backend == "auto" and importlib.util.find_spec("acl") is None)
    )
    npus = int((sim_config or {}).get("device_count", catalog.DEFAULT_DEVICE_COUNT))
    ray = connect(address, sim_npus=npus if local_sim else None)
    nodes = alive_nodes(ray)
    runtime = runtime_for(backend, nodes)
    simulated = _sim_devices(sim_config) if runtime == "sim" else {}
    for node in nodes:
        count = min(node["npus"], len(simulated)) if runtime == "sim" else node["npus"]
        node["devices"] = [simulated.get(i) or {"id": i, "chip": node["chip"], "memory": {}} for i in range(count)]
    return {
        "address": address,
        "backend": runtime,
        "simulated": runtime == "sim",
        "nodes": nodes,
        "here_ip": ray.util.get_node_ip_address(),
    }


def _sim_devices(sim_config: Optional[Dict[str, Any]]) -> Dict[int, Dict[str, Any]]:
    """The simulator's devices by id, asked of ``workers.discover`` on this machine (same config)."""
    found = discover("sim", sim_config)
    return {int(d["id"]): d for d in found.get("devices") or []}


def expand_hosts(spec: FleetSpec, nodes: List[Node], here_ip: Optional[str] = None) -> FleetSpec:
    """``name: all`` becomes one host per alive node with NPUs, each keeping its devices and overrides;
    a node another host already names (by any of its names) is not added again."""
    named = {n["node_id"] for h in spec.hosts if h.name != ALL_HOSTS for n in matching(h.name, nodes, here_ip)}
    hosts: List[Host] = []
    for host in spec.hosts:
        if host.name != ALL_HOSTS:
            hosts.append(host)
            continue
        hosts += [
            host.model_copy(update={"name": n["label"]}) for n in nodes if n["npus"] and n["node_id"] not in named
        ]
    return spec.model_copy(update={"hosts": hosts})


def plan_inventory(spec: FleetSpec, cluster: Dict[str, Any], hostname: str) -> Dict[str, Any]:
    """The cluster in ``plan.resolve``'s shape: ``{"hosts": {spec host name: node inventory}}``, and at
    the top the node of a host that names this machine (``resolve`` looks there for those)."""
    nodes, problems = cluster["nodes"], []
    base = {"backend": cluster["backend"], "simulated": cluster["simulated"]}
    top: Dict[str, Any] = dict(base, devices=[])
    hosts: Dict[str, Any] = {}
    for index, host in enumerate(spec.hosts):
        try:
            node = find_node(host.name, nodes, cluster.get("here_ip"), f"hosts[{index}].name")
        except SpecError as exc:
            problems += exc.problems
            continue
        hosts[host.name] = dict(base, devices=node["devices"], node=describe(node))
        if is_here(host.name, hostname):
            top = hosts[host.name]
    if problems:
        raise SpecError(problems)
    return dict(top, hosts=hosts)


def plan_on_cluster(
    spec: FleetSpec,
    *,
    hostname: str,
    host_memory: Optional[int] = None,
    backend: Optional[str] = None,
    launcher: Optional[str] = None,
) -> Tuple[FleetPlan, Dict[str, Any]]:
    """``plan.resolve`` against the live cluster named by ``spec.ray.address``: hosts and devices are
    checked against the alive nodes before anything is launched. Returns the plan and the cluster."""
    chosen = backend or spec.backend
    sim = None if chosen == "acl" else spec.sim_config(faults=False)
    cluster = cluster_inventory(spec.ray.address, chosen, sim)
    if not any(n["npus"] for n in cluster["nodes"]):
        raise EnvironmentProblem(
            f"no node of the Ray cluster at {spec.ray.address!r} offers an NPU resource "
            f"({', '.join(describe(n) for n in cluster['nodes'])}); start Ray with the CANN "
            "environment sourced so it detects the NPUs, or declare them with --resources"
        )
    spec = expand_hosts(spec, cluster["nodes"], cluster.get("here_ip"))
    plan = resolve(
        spec,
        plan_inventory(spec, cluster, hostname),
        hostname=hostname,
        host_memory=host_memory,
        backend=backend,
        launcher=launcher or "ray",
    )
    return plan, cluster
