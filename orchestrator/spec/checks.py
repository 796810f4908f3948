"""What only the machine can tell about a spec: devices, sizes and host memory, checked before
anything is launched. Each check returns problem lines (``path: what is wrong``) or warnings;
``plan.resolve`` collects them all and raises once.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Dict, List, Optional, Sequence, Tuple, Union, cast

from orchestrator.spec import units
from orchestrator.spec.schema import FleetSpec, Host
from workers.acl_codes import HUGE_SUFFIX
from workers.params import WorkerParams

if TYPE_CHECKING:
    from orchestrator.spec.plan import DeviceJob

LOCAL_NAMES = ("localhost", "127.0.0.1")
HOST_BUFFERS_PER_WORKER = 2
"""Host buffers a worker holds at once: the source and the read-back (a lower bound without reuse)."""


def slots_for(concurrency: Union[str, int], devices: int) -> int:
    """``concurrency`` (all, serial or N) as a number of devices copying at once, at least 1."""
    if concurrency == "all":
        return max(1, devices)
    return 1 if concurrency == "serial" else int(concurrency)


def is_here(name: str, hostname: str) -> bool:
    """Whether a host name in the spec means this machine."""
    return name in LOCAL_NAMES or name in (hostname, hostname.split(".")[0])


def inventory_for(name: str, inventory: Dict[str, Any], hostname: str) -> Dict[str, Any]:
    """The inventory of the host called ``name``: this machine's, or another host's (Ray)."""
    others = inventory.get("hosts") or {}
    return inventory if is_here(name, hostname) or name not in others else others[name]


def visible_ids(name: str, inventory: Dict[str, Any], hostname: str) -> Tuple[int, ...]:
    return tuple(d["id"] for d in inventory_for(name, inventory, hostname).get("devices") or [])


def select_all(
    spec: FleetSpec, inventory: Dict[str, Any], hostname: str, launcher: str, problems: List[str]
) -> Dict[int, Tuple[int, ...]]:
    """Host index -> the physical ids it runs."""
    selected: Dict[int, Tuple[int, ...]] = {}
    here: Optional[int] = None
    for index, host in enumerate(spec.hosts):
        local = is_here(host.name, hostname)
        if launcher == "local" and not local:
            problems.append(
                f"hosts[{index}].name: {host.name!r} is not this machine ({hostname}); the local "
                "launcher runs only here: use the Ray launcher (launcher: ray) for other hosts"
            )
            continue
        if local and here is not None:
            problems.append(
                f"hosts[{index}].name: {host.name!r} is this machine again (also hosts[{here}]); list each machine once"
            )
            continue
        here = index if local else here
        where = "this host" if local else host.name
        selected[index] = _select(index, host, inventory_for(host.name, inventory, hostname), where, problems)
    return selected


def _select(index: int, host: Host, inventory: Dict[str, Any], where: str, problems: List[str]) -> Tuple[int, ...]:
    visible = [d["id"] for d in inventory.get("devices") or []]
    if not visible:
        backend = inventory.get("backend") or "unknown"
        problems.append(f"hosts[{index}].devices: selects no device: {where} has none visible (backend {backend})")
        return ()
    if host.devices == "all":
        return tuple(sorted(visible))
    devices = cast(Tuple[int, ...], host.devices)  # anything but "all" is a tuple of ids
    for device in [d for d in devices if d not in visible]:
        problems.append(
            f"hosts[{index}].devices: device {device} does not exist on {where} "
            f"({len(visible)} visible: {units.format_ids(visible)})"
        )
    return tuple(d for d in devices if d in visible)


def overrides(spec: FleetSpec, selected: Dict[int, Tuple[int, ...]]) -> List[str]:
    """Every override names a selected device."""
    return [
        f"hosts[{index}].overrides.{device}: device {device} is not selected on this host ({_shown_ids(ids)})"
        for index, ids in selected.items()
        for device in spec.hosts[index].overrides
        if device not in ids
    ]


def faults(spec: FleetSpec, selected: Dict[int, Tuple[int, ...]]) -> List[str]:
    """Every simulated fault names a host of the spec and a device selected there."""
    index_of = {h.name: i for i, h in enumerate(spec.hosts)}
    problems = []
    for n, fault in enumerate(spec.sim.faults):
        name = fault.host or spec.hosts[0].name
        if name not in index_of:
            problems.append(
                f"sim.faults[{n}].host: no host named {name!r} in hosts ({', '.join(h.name for h in spec.hosts)})"
            )
        elif index_of[name] in selected and fault.device not in selected[index_of[name]]:
            problems.append(
                f"sim.faults[{n}].device: device {fault.device} is not selected on host "
                f"{name} ({_shown_ids(selected[index_of[name]])})"
            )
    return problems


def _count(n: int, word: str) -> str:
    """``3 workers``, ``1 worker``."""
    return f"{n} {word if n == 1 else word + 's'}"


def _shown_ids(ids: Sequence[int]) -> str:
    return f"selected: {units.format_ids(ids)}" if ids else "none selected"


def _size_path(spec: FleetSpec, job: DeviceJob) -> str:
    """Where this job's ``memory_size`` was set: its override, else ``defaults``."""
    for index, host in enumerate(spec.hosts):
        override = host.overrides.get(job.device)
        if host.name == job.host and override is not None and "memory_size" in override.model_fields_set:
            return f"hosts[{index}].overrides.{job.device}.memory_size"
    return "defaults.memory_size"


def memory(
    spec: FleetSpec,
    jobs: Sequence[DeviceJob],
    inventory: Dict[str, Any],
    hostname: str,
    runtime: str,
    host_memory: Optional[int],
) -> List[str]:
    """A block fits in its device; the workers running at once fit in this host's ``host_memory``."""
    too_big: Dict[Tuple[str, str, int, int, str], List[int]] = {}
    for job in jobs:
        found = _device_capacity(inventory_for(job.host, inventory, hostname), job.device, job.params.memory_kind)
        if found is not None and job.params.memory_size > found[0]:
            key = (_size_path(spec, job), job.host, job.params.memory_size, found[0], found[1])
            too_big.setdefault(key, []).append(job.device)
    problems = [
        f"{path}: {units.format_size(size)} does not fit in device{'s' if len(ids) > 1 else ''} "
        f"{units.format_ids(ids)} of {host} ({units.format_size(capacity)} of {what}"
        f"{' each' if len(ids) > 1 else ''})"
        for (path, host, size, capacity, what), ids in too_big.items()
    ]
    here = [j for j in jobs if is_here(j.host, hostname)]
    index = next((i for i, h in enumerate(spec.hosts) if here and h.name == here[0].host), 0)
    slots = slots_for(spec.concurrency, len(here))
    return problems + _host_memory(index, here, runtime, slots, host_memory)


def _device_capacity(inventory: Dict[str, Any], device: int, memory_kind: str) -> Optional[Tuple[int, str]]:
    """(bytes, what they are) the block comes from on ``device``: DVPP blocks from huge pages (when
    discovery reported them), device blocks from the whole pool; None when unknown."""
    for entry in inventory.get("devices") or []:
        if entry.get("id") != device:
            continue
        memory = entry.get("memory") or {}
        pools = [(int((memory.get(k) or {}).get("total") or 0), k) for k in ("hbm", "ddr")]
        huge = [(int((memory.get(k + HUGE_SUFFIX) or {}).get("total") or 0), k) for k in ("hbm", "ddr")]
        if memory_kind == "dvpp" and max(huge)[0]:
            return max(huge)[0], "DVPP memory (huge pages)"
        return (max(pools)[0], "device memory") if max(pools)[0] else None
    return None


def buffers(params: WorkerParams, runtime: str) -> int:
    """Blocks of ``memory_size`` one worker holds in host RAM at once (a lower bound without reuse):
    the source and the read-back, twice with ``host_memory: both``, plus on the simulator its
    device blocks (two when bidirectional)."""
    host = HOST_BUFFERS_PER_WORKER * (2 if params.host_memory == "both" else 1)
    return host + ((2 if params.bidirectional else 1) if runtime == "sim" else 0)


def _host_memory(
    index: int, jobs: Sequence[DeviceJob], runtime: str, slots: int, available: Optional[int]
) -> List[str]:
    """The workers that run at the same time (``concurrency``) must fit in this host's free memory."""
    needs = sorted((buffers(j.params, runtime) * j.params.memory_size for j in jobs), reverse=True)
    need = sum(needs[:slots])
    if available is None or need <= available:
        return []
    extra = ", plus the simulated device blocks" if runtime == "sim" else ""
    return [
        f"hosts[{index}]: the {_count(min(slots, len(jobs)), 'worker')} running at once on this host would hold "
        f"at least {units.format_size(need)} of host memory ({HOST_BUFFERS_PER_WORKER} or more host buffers of "
        f"memory_size each{extra}), more than the {units.format_size(available)} available here"
    ]


def warnings(spec: FleetSpec, jobs: Sequence[DeviceJob], launcher: str, runtime: str) -> List[str]:
    """Things that run but are probably not what was meant."""
    found = endless(jobs, spec.unattended)
    if spec.sim.faults and runtime != "sim":
        found.append(f"sim.faults: ignored: the backend is the real acl ({_count(len(spec.sim.faults), 'fault')})")
    if "ray" in spec.model_fields_set and launcher != "ray":
        found.append("ray: ignored: the launcher is local (set launcher: ray or pass --launcher ray)")
    return found


def endless(jobs: Sequence[DeviceJob], unattended: bool = False) -> List[str]:
    """One warning per way of never ending, naming its devices: ``localhost:0-7 never end: ...``;
    for an ``unattended`` spec each starts with ``unattended:``."""
    groups: Dict[Tuple[str, str], List[Tuple[str, int]]] = {}
    for job in jobs:
        found = endless_reason(job.params)
        if found:
            groups.setdefault((found, ENDLESS_FIXES[found]), []).append((job.host, job.device))
    prefix = "unattended: " if unattended else ""
    return [
        f"{prefix}{device_names(names)} never end{'s' if len(names) == 1 else ''}: {reason} and no duration "
        f"(add duration: 12h, or {fix})"
        for (reason, fix), names in groups.items()
    ]


ENDLESS_FIXES = {
    "number_of_cycles -1": "a number of cycles",
    "release_cycle -1 with memory_reuse": "a release_cycle: copies per cycle",
    "release_cycle -1 with memory_reuse, number_of_cycles -1": "a release_cycle and a number of cycles",
}
"""What ``endless_reason`` can answer, and what else than a duration bounds it."""


def endless_reason(params: WorkerParams) -> Optional[str]:
    """The keys that make this worker loop forever (a key of ``ENDLESS_FIXES``), or ``None``. Only a
    duration, a count or a full device ends a run: with ``release_cycle`` -1 a cycle copies until
    memory is full, which with ``memory_reuse`` (one block, copied again and again) it never is."""
    if params.duration is not None:
        return None
    if params.release_cycle == -1 and params.memory_reuse:
        both = params.number_of_cycles == -1
        return "release_cycle -1 with memory_reuse" + (", number_of_cycles -1" if both else "")
    if params.number_of_cycles == -1 and params.release_cycle != -1:  # without reuse, -1 fills the device and ends
        return "number_of_cycles -1"
    return None


def device_names(names: Sequence[Tuple[str, int]]) -> str:
    """``localhost:0-3,6, node2:1``: (host, device) pairs as id ranges per host, hosts in first-seen order."""
    ids: Dict[str, List[int]] = {}
    for host, device in names:
        ids.setdefault(host, []).append(device)
    return ", ".join(f"{host}:{units.format_ids(found)}" for host, found in ids.items())
