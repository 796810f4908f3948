"""A validated spec, resolved against the devices really there, becomes one ``DeviceJob`` per device.

``resolve`` applies the command line's ``--backend``/``--launcher``, picks the devices of every
host from the inventory (``python -m workers.discover``), merges ``defaults`` with each device's
``overrides`` into a complete ``WorkerParams``, and checks (``checks.py``) what only the machine can
tell: that the devices exist, that a block fits in a device and the workers' buffers fit in this
host's memory. Every problem is collected and raised at once as ``SpecError``; doubts become
``warnings``. It does no I/O: the inventory and the host's free memory are given to it.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any, Dict, List, Optional, Tuple, Union

from orchestrator.errors import SpecError
from orchestrator.launch.registry import LAUNCHER_NAMES
from orchestrator.spec import checks
from orchestrator.spec.expect import missing, surplus
from orchestrator.spec.schema import ALL_HOSTS, DEVICE_THRESHOLDS, FleetSpec, Thresholds, Timeouts
from workers.job import BACKENDS, WorkerJob
from workers.params import WorkerParams


@dataclass(frozen=True)
class DeviceJob:
    """One device's assignment: what its worker runs (``worker``) and the limits the controller
    judges it by (``timeouts`` for hang detection, ``thresholds`` for the verdict)."""

    worker: WorkerJob
    timeouts: Timeouts
    thresholds: Thresholds

    @property
    def host(self) -> str:
        return self.worker.host

    @property
    def device(self) -> int:
        """The physical id (also ``params.device_id``)."""
        return self.worker.device

    @property
    def params(self) -> WorkerParams:
        return self.worker.params

    @property
    def sim(self) -> Optional[Dict[str, Any]]:
        return self.worker.sim

    def to_dict(self) -> Dict[str, Any]:
        """The journal header's record of the job: enough to judge the device again."""
        record = {"host": self.host, "device": self.device, "params": self.params.to_dict()}
        return dict(record, thresholds=self.thresholds.model_dump(), timeouts=self.timeouts.model_dump())


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
    runtime: str
    concurrency: Union[str, int]
    status_interval: float
    thresholds: Thresholds
    """The fleet-wide thresholds (what a device that never got a job, or the fleet check, uses)."""
    missing: Tuple[Tuple[str, int], ...]
    """(host, device) expected by ``expect`` but not visible: reported UNAVAILABLE, never launched."""
    visible: Dict[str, int]
    """Devices the backend could see, per host name (what ``expect`` is checked against)."""

    @property
    def slots(self) -> int:
        """How many devices may copy at the same time."""
        return checks.slots_for(self.concurrency, len(self.jobs))


def resolve(
    spec: FleetSpec,
    inventory: Dict[str, Any],
    *,
    hostname: str,
    host_memory: Optional[int] = None,
    backend: Optional[str] = None,
    launcher: Optional[str] = None,
) -> FleetPlan:
    """The plan for ``spec`` on the devices of ``inventory``; raises ``SpecError`` with every problem.

    ``inventory`` describes this machine; with the Ray launcher it may instead hold
    ``{"hosts": {name: inventory}}`` for other machines (a host missing there uses this machine's).
    ``host_memory`` is the bytes this host has available (``None``: unknown, not checked).
    """
    backend, launcher = _choices(spec, backend, launcher)
    if launcher == "local":  # `hosts: all` is every node of a cluster; with the local launcher, this one
        here = [h.model_copy(update={"name": "localhost"}) if h.name == ALL_HOSTS else h for h in spec.hosts]
        spec = spec.model_copy(update={"hosts": here})
    runtime = str(inventory.get("backend") or "sim") if backend == "auto" else backend
    problems: List[str] = []
    selected = checks.select_all(spec, inventory, hostname, launcher, problems)
    problems += checks.overrides(spec, selected) + checks.faults(spec, selected)
    jobs = tuple(_job(spec, i, device, runtime) for i, ids in selected.items() for device in ids)
    problems += checks.memory(spec, jobs, inventory, hostname, runtime, host_memory)
    if problems:
        raise SpecError(problems)
    visible = {i: checks.visible_ids(spec.hosts[i].name, inventory, hostname) for i in selected}
    return FleetPlan(
        backend=backend,
        launcher=launcher,
        jobs=jobs,
        warnings=tuple(checks.warnings(spec, jobs, launcher, runtime) + surplus(spec, visible)),
        resolved=_resolved(spec, selected, backend, launcher, runtime),
        ray=spec.ray.model_dump() if launcher == "ray" else None,
        runtime=runtime,
        concurrency=spec.concurrency,
        status_interval=spec.status_interval,
        thresholds=spec.thresholds,
        missing=missing(spec, visible),
        visible={spec.hosts[i].name: len(ids) for i, ids in visible.items()},
    )


def waiting_busy(plan: FleetPlan, seconds: float) -> FleetPlan:
    """``plan`` with every job's ``wait_busy`` set to ``seconds`` (the command line's ``--wait-busy``)."""
    if not seconds:
        return plan
    jobs = tuple(_waiting(job, seconds) for job in plan.jobs)
    return dataclasses.replace(plan, jobs=jobs)


def _waiting(job: DeviceJob, seconds: float) -> DeviceJob:
    params = dataclasses.replace(job.params, wait_busy=seconds)
    return dataclasses.replace(job, worker=dataclasses.replace(job.worker, params=params))


def _choices(spec: FleetSpec, backend: Optional[str], launcher: Optional[str]) -> Tuple[str, str]:
    problems = []
    if backend is not None and backend not in BACKENDS:
        problems.append(f"--backend: must be one of {', '.join(BACKENDS)} (got {backend!r})")
    if launcher is not None and launcher not in LAUNCHER_NAMES:
        problems.append(f"--launcher: must be one of {', '.join(LAUNCHER_NAMES)} (got {launcher!r})")
    if problems:
        raise SpecError(problems)
    return backend or spec.backend, launcher or spec.launcher


def _job(spec: FleetSpec, index: int, device: int, runtime: str) -> DeviceJob:
    host = spec.hosts[index]
    values = spec.defaults.model_dump()
    override = host.overrides.get(device)
    own = override.model_dump(exclude_unset=True) if override is not None else {}
    limits = {key: own.pop(key) for key in list(own) if key in DEVICE_THRESHOLDS}
    values.update(own)
    values["patterns"] = tuple(values["patterns"])
    worker = WorkerJob(
        host=host.name,
        params=WorkerParams(device_id=device, **values),
        backend=runtime,
        sim=spec.sim_config(host.name) if runtime == "sim" else None,
    )
    return DeviceJob(worker=worker, timeouts=spec.timeouts, thresholds=spec.thresholds.for_device(limits))


def _resolved(
    spec: FleetSpec, selected: Dict[int, Tuple[int, ...]], backend: str, launcher: str, runtime: str
) -> Dict[str, Any]:
    data = spec.model_dump(mode="json")
    for index, host in enumerate(data["hosts"]):
        host["devices"] = list(selected.get(index, ()))
        host["overrides"] = {
            str(d): o.model_dump(mode="json", exclude_unset=True) for d, o in spec.hosts[index].overrides.items()
        }
    data.update(backend=backend, launcher=launcher, runtime=runtime)
    return data
