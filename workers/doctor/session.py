"""One doctor run in this process: the machine checks, each device from open to close, and
``acl.finalize`` (always, once ``acl.init`` held), into one report dict (``doctor``)."""

from __future__ import annotations

from typing import Any, Callable, Dict, List, Optional, Sequence, Tuple

from workers.backend import load_acl
from workers.doctor import machine
from workers.doctor.device import ASSUMED, check_device
from workers.doctor.machine import Visibility
from workers.doctor.records import FAIL, Check, progress_line
from workers.runtime import Runtime
from workers.visibility import VISIBLE_ENV

Progress = Callable[[Dict[str, Any]], None]


class BadSimConfig(Exception):
    """The simulator's config was refused while loading it, before any check ran."""


class Recorder:
    """The report's checks, each also written as a progress line as it completes."""

    def __init__(self, report: Dict[str, Any], progress: Progress) -> None:
        self.report, self.progress = report, progress

    def running(self, name: str, device: Optional[int]) -> None:
        self.progress({"running": name, "device": device})

    def add(self, check: Check) -> None:
        self.report["checks"].append(check.to_dict())
        self.progress({"check": check.to_dict()})


def doctor(
    backend: str,
    sim_config: Optional[Dict[str, Any]] = None,
    tolerance: int = 0,
    devices: Optional[Sequence[int]] = None,
    progress: Progress = progress_line,
) -> Dict[str, Any]:
    """The report: ``backend``, ``simulated``, ``acl_origin``, ``tolerance``, ``device_count`` (the
    runtime's, None when it failed), ``visibility``, ``devices`` (the physical ids checked),
    ``checks``, ``error`` (None). ``devices`` None: every visible device. Raises ``BackendMissing``
    (and ``BadSimConfig``); an exception raised later is a check's, never the config's."""
    try:
        rt = Runtime(*load_acl(backend, sim_config))
    except ValueError as exc:
        raise BadSimConfig(str(exc)) from exc
    report: Dict[str, Any] = {
        "backend": rt.backend,
        "simulated": rt.simulated,
        "acl_origin": getattr(rt.acl, "__file__", None),
        "tolerance": tolerance,
        "device_count": None,
        "visibility": None,
        "devices": [],
        "checks": [],
        "error": None,
    }
    out = Recorder(report, progress)
    progress({"started": {"backend": rt.backend, "simulated": rt.simulated}})
    first: List[Tuple[str, Callable[[], Check]]] = [
        ("acl_origin", lambda: machine.acl_origin(rt)),
        ("acl_util_calls", lambda: machine.util_calls(rt.acl)),
        ("acl_util_types", lambda: machine.util_types(rt.acl)),
        ("init", lambda: machine.init(rt)),
    ]
    for name, check in first:
        out.running(name, None)
        out.add(check())
    if report["checks"][-1]["status"] == FAIL:  # acl.init failed: nothing to finalize
        return report
    try:
        _machine_and_devices(rt, report, out, tolerance, devices)
    finally:
        out.running("finalize", None)
        out.add(machine.finalize(rt))
    return report


def _machine_and_devices(
    rt: Runtime, report: Dict[str, Any], out: Recorder, tolerance: int, devices: Optional[Sequence[int]]
) -> None:
    out.running("visibility", None)
    check, seen = machine.visibility(rt)
    out.add(check)
    report["device_count"], report["visibility"] = seen.count, seen.to_dict()
    out.running("run_mode", None)
    check, mode = machine.run_mode(rt)
    out.add(check)
    report["devices"] = devices = list(seen.kept if devices is None else devices)
    for physical in devices:
        _device(rt, physical, seen, tolerance, mode, out)


def _device(rt: Runtime, physical: int, seen: Visibility, tolerance: int, mode: Optional[str], out: Recorder) -> None:
    out.running("open", physical)
    logical = seen.logical(physical)
    if logical is None:
        shown = ",".join(map(str, seen.kept)) or "none"
        why = f"the runtime shows device(s) {shown}" + (
            f" ({VISIBLE_ENV}={seen.value!r})" if seen.value is not None else ""
        )
        out.add(Check("open", physical, FAIL, f"device {physical} is not visible: {why}", ASSUMED["open"]))
        return
    check_device(rt, physical, logical, tolerance, mode, out)
