"""A validated spec, resolved against the devices really there, becomes one ``DeviceJob`` per device.

``resolve`` applies the command line's ``--backend``/``--launcher``, picks the devices of every
host from the inventory (``python -m workers.discover``), merges ``defaults`` with each device's
``overrides`` into a complete ``WorkerParams``, and checks what only the machine can tell: that the
devices exist, that a block fits in a device and the workers' buffers fit in this host's memory.
Every problem is collected and raised at once as ``SpecError``; doubts become ``warnings``.
It reads ``/proc/meminfo`` and nothing else: the inventory is given to it.
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any, Dict, List, Optional, Sequence, Tuple, Union, cast

from orchestrator import units
from orchestrator.errors import SpecError
from orchestrator.expect import missing, surplus
from orchestrator.spec import BACKENDS, FleetSpec, Host
from workers.params import WorkerParams

LOCAL_NAMES = ("localhost", "127.0.0.1")
LAUNCHER_NAMES = ("local", "ray")
HOST_BUFFERS_PER_WORKER = 2
"""Host buffers a worker holds at once: the source and the read-back (a lower bound without reuse)."""


@dataclass(frozen=True)
class Timeouts:
    """Seconds: ``init`` to open the device, ``copy`` without progress before a worker is HUNG."""

    init: float
    copy: float


@dataclass(frozen=True)
class Thresholds:
    """Pass limits per device: bandwidth floors in decimal GB/s (``None``: no floor) and the largest
    tolerated leak in bytes (0: any leak fails). ``max_below_fleet``: the fraction a device's median
    H2D or D2H may sit below the fleet median of its chip (``None``: no comparison); ``outlier``:
    ``warn`` or ``fail`` for a device beyond it (see ``normal.flag_outliers``)."""

    min_h2d_gbps: Optional[float]
    min_d2h_gbps: Optional[float]
    max_leak: int
    max_below_fleet: Optional[float] = 0.25
    outlier: str = "warn"


@dataclass(frozen=True)
class DeviceJob:
    """One worker's assignment. ``device`` is the physical id (also ``params.device_id``).

    ``sim`` is the simulator config for this worker (``chip``, ``device_count``, ``memory``,
    ``link_gbps`` and this host's ``faults`` without their ``host`` key); ``None`` on the real ``acl``.
    """

    host: str
    device: int
    params: WorkerParams
    timeouts: Timeouts
    thresholds: Thresholds
    sim: Optional[Dict[str, Any]]

    def to_dict(self) -> Dict[str, Any]:
        """JSON-serialisable form."""
        return {"host": self.host, "device": self.device, "params": self.params.to_dict(),
                "timeouts": dataclasses.asdict(self.timeouts),
                "thresholds": dataclasses.asdict(self.thresholds), "sim": self.sim}


@dataclass(frozen=True)
class Expectation:
    """Expected device counts: ``devices`` for the whole fleet, ``hosts`` per host name."""

    devices: Optional[int] = None
    hosts: Dict[str, int] = field(default_factory=dict)


@dataclass(frozen=True)
class FleetPlan:
    """Everything a launcher needs. ``backend`` is the one asked for (``acl``/``sim``/``auto``);
    ``runtime`` the one that runs (``acl`` or ``sim``); ``resolved`` the full spec as JSON for the
    journal; ``ray`` the Ray options when the launcher is Ray, else ``None``."""

    backend: str
    launcher: str
    jobs: Tuple[DeviceJob, ...]
    warnings: Tuple[str, ...]
    resolved: Dict[str, Any]
    ray: Optional[Dict[str, Any]]
    expect: Expectation
    runtime: str = "sim"
    concurrency: Union[str, int] = "all"
    status_interval: float = 30.0
    missing: Tuple[Tuple[str, int], ...] = ()
    visible: Dict[str, int] = field(default_factory=dict)
    """Devices the backend could see, per host name (what ``expect`` is checked against)."""
    """(host, device) expected by ``expect`` but not visible: reported UNAVAILABLE, never launched."""

    @property
    def slots(self) -> int:
        """How many devices may copy at the same time."""
        return slots_for(self.concurrency, len(self.jobs))


def slots_for(concurrency: Union[str, int], devices: int) -> int:
    """``concurrency`` (all, serial or N) as a number of devices copying at once, at least 1."""
    if concurrency == "all":
        return max(1, devices)
    return 1 if concurrency == "serial" else int(concurrency)


def resolve(spec: FleetSpec, inventory: Dict[str, Any], *, hostname: str, backend: Optional[str] = None,
            launcher: Optional[str] = None) -> FleetPlan:
    """The plan for ``spec`` on the devices of ``inventory``; raises ``SpecError`` with every problem.

    ``inventory`` describes this machine; with the Ray launcher it may instead hold
    ``{"hosts": {name: inventory}}`` for other machines (a host missing there uses this machine's).
    """
    backend, launcher = _choices(spec, backend, launcher)
    if launcher == "local":  # `hosts: all` is every node of a cluster; with the local launcher, this one
        spec = spec.model_copy(update={"hosts": [h.model_copy(update={"name": "localhost"}) if h.name == "all"
                                                 else h for h in spec.hosts]})
    runtime = str(inventory.get("backend") or "sim") if backend == "auto" else backend
    problems: List[str] = []
    selected = _select_all(spec, inventory, hostname, launcher, problems)
    problems += _check_overrides(spec, selected) + _check_faults(spec, selected)
    jobs = tuple(_job(spec, i, device, runtime) for i, ids in selected.items() for device in ids)
    problems += _check_memory(spec, jobs, inventory, hostname, launcher, runtime)
    if problems:
        raise SpecError(problems)
    visible = {i: tuple(d["id"] for d in _inventory_for(spec.hosts[i].name, inventory, is_here(spec.hosts[i].name, hostname))
                        .get("devices") or []) for i in selected}
    expect = Expectation(spec.expect.devices if spec.expect else None,
                         {h.name: h.expect.devices for h in spec.hosts if h.expect})
    return FleetPlan(backend=backend, launcher=launcher, jobs=jobs,
                     warnings=tuple(_warnings(spec, jobs, launcher, runtime) + surplus(spec, visible)),
                     resolved=_resolved(spec, selected, backend, launcher, runtime),
                     ray=spec.ray.model_dump() if launcher == "ray" else None, expect=expect, runtime=runtime,
                     concurrency=spec.concurrency, status_interval=spec.status_interval,
                     missing=missing(spec, visible), visible={spec.hosts[i].name: len(ids) for i, ids in visible.items()})


def _choices(spec: FleetSpec, backend: Optional[str], launcher: Optional[str]) -> Tuple[str, str]:
    problems = []
    if backend is not None and backend not in BACKENDS:
        problems.append(f"--backend: must be one of {', '.join(BACKENDS)} (got {backend!r})")
    if launcher is not None and launcher not in LAUNCHER_NAMES:
        problems.append(f"--launcher: must be one of {', '.join(LAUNCHER_NAMES)} (got {launcher!r})")
    if problems:
        raise SpecError(problems)
    return backend or spec.backend, launcher or spec.launcher


def is_here(name: str, hostname: str) -> bool:
    """Whether a host name in the spec means this machine."""
    return name in LOCAL_NAMES or name in (hostname, hostname.split(".")[0])


def _select_all(spec: FleetSpec, inventory: Dict[str, Any], hostname: str, launcher: str,
                problems: List[str]) -> Dict[int, Tuple[int, ...]]:
    """Host index -> the physical ids it runs."""
    selected: Dict[int, Tuple[int, ...]] = {}
    here: Optional[int] = None
    for index, host in enumerate(spec.hosts):
        local = is_here(host.name, hostname)
        if launcher == "local" and not local:
            problems.append(f"hosts[{index}].name: {host.name!r} is not this machine ({hostname}); the local "
                            "launcher runs only here: use the Ray launcher (launcher: ray) for other hosts")
            continue
        if local and here is not None:
            problems.append(f"hosts[{index}].name: {host.name!r} is this machine again (also hosts[{here}]); "
                            "list each machine once")
            continue
        here = index if local else here
        where = "this host" if local else host.name
        selected[index] = _select(index, host, _inventory_for(host.name, inventory, local), where, problems)
    return selected


def _inventory_for(name: str, inventory: Dict[str, Any], local: bool) -> Dict[str, Any]:
    others = inventory.get("hosts") or {}
    return inventory if local or name not in others else others[name]


def _select(index: int, host: Host, inventory: Dict[str, Any], where: str, problems: List[str]) -> Tuple[int, ...]:
    visible = [d["id"] for d in inventory.get("devices") or []]
    if not visible:
        backend = inventory.get("backend") or "unknown"
        problems.append(f"hosts[{index}].devices: selects no device: {where} has none visible (backend {backend})")
        return ()
    if host.devices == "all":
        return tuple(sorted(visible))
    devices = cast(Tuple[int, ...], host.devices)  # anything but "all" is a tuple of ids
    missing = [d for d in devices if d not in visible]
    for device in missing:
        problems.append(f"hosts[{index}].devices: device {device} does not exist on {where} "
                        f"({len(visible)} visible: {units.format_ids(visible)})")
    return tuple(d for d in devices if d in visible)


def _check_overrides(spec: FleetSpec, selected: Dict[int, Tuple[int, ...]]) -> List[str]:
    problems = []
    for index, ids in selected.items():
        for device in spec.hosts[index].overrides:
            if device not in ids:
                problems.append(f"hosts[{index}].overrides.{device}: device {device} is not selected on this "
                                f"host ({_shown_ids(ids)})")
    return problems


def _check_faults(spec: FleetSpec, selected: Dict[int, Tuple[int, ...]]) -> List[str]:
    index_of = {h.name: i for i, h in enumerate(spec.hosts)}
    problems = []
    for n, fault in enumerate(spec.sim.faults):
        name = fault.host or spec.hosts[0].name
        if name not in index_of:
            problems.append(f"sim.faults[{n}].host: no host named {name!r} in hosts "
                            f"({', '.join(h.name for h in spec.hosts)})")
        elif index_of[name] in selected and fault.device not in selected[index_of[name]]:
            problems.append(f"sim.faults[{n}].device: device {fault.device} is not selected on host "
                            f"{name} ({_shown_ids(selected[index_of[name]])})")
    return problems


def _shown_ids(ids: Sequence[int]) -> str:
    return f"selected: {units.format_ids(ids)}" if ids else "none selected"


def _job(spec: FleetSpec, index: int, device: int, runtime: str) -> DeviceJob:
    host = spec.hosts[index]
    values = spec.defaults.model_dump()
    override = host.overrides.get(device)
    if override is not None:
        values.update(override.model_dump(exclude_unset=True))
    values["patterns"] = tuple(values["patterns"])
    return DeviceJob(host=host.name, device=device, params=WorkerParams(device_id=device, **values),
                     timeouts=Timeouts(spec.timeouts.init, spec.timeouts.copy),
                     thresholds=Thresholds(**spec.thresholds.model_dump()),
                     sim=spec.sim_config(host.name) if runtime == "sim" else None)


def _size_path(spec: FleetSpec, job: DeviceJob) -> str:
    """Where this job's ``memory_size`` was set: its override, else ``defaults``."""
    for index, host in enumerate(spec.hosts):
        override = host.overrides.get(job.device)
        if host.name == job.host and override is not None and "memory_size" in override.model_fields_set:
            return f"hosts[{index}].overrides.{job.device}.memory_size"
    return "defaults.memory_size"


def _check_memory(spec: FleetSpec, jobs: Sequence[DeviceJob], inventory: Dict[str, Any], hostname: str,
                  launcher: str, runtime: str) -> List[str]:
    too_big: Dict[Tuple[str, str, int, int], List[int]] = {}
    for job in jobs:
        capacity = _device_capacity(_inventory_for(job.host, inventory, is_here(job.host, hostname)), job.device)
        if capacity is not None and job.params.memory_size > capacity:
            key = (_size_path(spec, job), job.host, job.params.memory_size, capacity)
            too_big.setdefault(key, []).append(job.device)
    problems = [f"{path}: {units.format_size(size)} does not fit in device{'s' if len(ids) > 1 else ''} "
                f"{units.format_ids(ids)} of {host} ({units.format_size(capacity)} of device memory"
                f"{' each' if len(ids) > 1 else ''})" for (path, host, size, capacity), ids in too_big.items()]
    here = [j for j in jobs if is_here(j.host, hostname)]
    index = next((i for i, h in enumerate(spec.hosts) if here and h.name == here[0].host), 0)
    return problems + _check_host_memory(index, here, runtime, slots_for(spec.concurrency, len(here)))


def _device_capacity(inventory: Dict[str, Any], device: int) -> Optional[int]:
    for entry in inventory.get("devices") or []:
        if entry.get("id") == device:
            totals = [int((entry.get("memory") or {}).get(kind, {}).get("total") or 0) for kind in ("hbm", "ddr")]
            return max(totals) or None
    return None


def _buffers(params: WorkerParams, runtime: str) -> int:
    """Blocks of ``memory_size`` one worker holds in host RAM at once (a lower bound without reuse):
    the source and the read-back, twice with ``host_memory: both``, plus on the simulator its
    device blocks (two when bidirectional)."""
    host = HOST_BUFFERS_PER_WORKER * (2 if params.host_memory == "both" else 1)
    return host + ((2 if params.bidirectional else 1) if runtime == "sim" else 0)


def _check_host_memory(index: int, jobs: Sequence[DeviceJob], runtime: str, slots: int) -> List[str]:
    """The workers that run at the same time (``concurrency``) must fit in this host's free memory."""
    available = host_memory_available()
    needs = sorted((_buffers(j.params, runtime) * j.params.memory_size for j in jobs), reverse=True)
    need = sum(needs[:slots])
    if available is None or need <= available:
        return []
    extra = ", plus the simulated device blocks" if runtime == "sim" else ""
    return [f"hosts[{index}]: the {min(slots, len(jobs))} workers running at once on this host would hold at least "
            f"{units.format_size(need)} of host memory ({HOST_BUFFERS_PER_WORKER} or more host buffers of "
            f"memory_size each{extra}), more than the {units.format_size(available)} available here"]


def host_memory_available() -> Optional[int]:
    """``MemAvailable`` of ``/proc/meminfo`` in bytes; ``None`` where it cannot be read."""
    try:
        with open("/proc/meminfo", encoding="ascii") as meminfo:
            for line in meminfo:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        return None
    return None


def _warnings(spec: FleetSpec, jobs: Sequence[DeviceJob], launcher: str, runtime: str) -> List[str]:
    warnings = []
    endless: Dict[Tuple[str, str], List[int]] = {}
    for job in jobs:
        reason = _endless(job.params)
        if reason:
            endless.setdefault((job.host, reason), []).append(job.device)
    for (host, reason), ids in endless.items() if spec.unattended else ():
        warnings.append(f"unattended: {reason} and no duration is set ({host}, devices {units.format_ids(ids)}): "
                        "this run never ends on its own (set defaults.duration, e.g. 12h)")
    if spec.sim.faults and runtime != "sim":
        warnings.append(f"sim.faults: ignored: the backend is the real acl ({len(spec.sim.faults)} faults)")
    if "ray" in spec.model_fields_set and launcher != "ray":
        warnings.append("ray: ignored: the launcher is local (set launcher: ray or pass --launcher ray)")
    return warnings


def _endless(params: WorkerParams) -> Optional[str]:
    """Why this worker would loop forever, or ``None``."""
    if params.duration is not None:
        return None
    if params.number_of_cycles == -1:
        return "number_of_cycles is -1"
    if params.release_cycle == -1 and params.memory_reuse:
        return "release_cycle is -1 with memory_reuse"
    return None


def _resolved(spec: FleetSpec, selected: Dict[int, Tuple[int, ...]], backend: str, launcher: str,
              runtime: str) -> Dict[str, Any]:
    data = spec.model_dump(mode="json")
    for index, host in enumerate(data["hosts"]):
        host["devices"] = list(selected.get(index, ()))
        host["overrides"] = {str(d): o.model_dump(mode="json", exclude_unset=True)
                             for d, o in spec.hosts[index].overrides.items()}
    data.update(backend=backend, launcher=launcher, runtime=runtime)
    return data
