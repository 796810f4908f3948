"""From recorded facts to a status: the only place that decides PASS or not.

Rules for one device, first match wins: only the host failed it (out of memory, descriptors; no
fault of the device itself) -> HOST_ERROR; the process died -> CRASHED; it stopped making progress
-> HUNG; another process held the device -> BUSY; the device never opened -> UNAVAILABLE; its
worker was never started -> SKIPPED; the run was interrupted -> ABORTED (FAIL when the device had
recorded a fault of its own before the stop: a stop never hides one); the record stops before
the end (a controller that died) -> INCOMPLETE; any fault or threshold not met -> FAIL; else PASS.
A PASS therefore never carries a fault, and a fault whose record was lost still shows: the
worker's own ``Finished`` (verify errors, outcome ``error``) is a cause by itself. A run that
verified nothing (``verify: false``) is a PASS with a warning, never a plain one.
``judge_all`` then compares each device with its fleet (``outliers.py``), and, for a run still in
progress, ``live=True`` shows a device that has not ended as RUNNING, or FAIL once it recorded a
fault (a monitor must see a device go bad hours before the end).
"""

from __future__ import annotations

import dataclasses
from typing import Dict, List, Optional, Tuple

from orchestrator.errors import EXIT_DEVICE_FAILURE, EXIT_ENVIRONMENT, EXIT_INTERRUPTED, EXIT_PASS
from orchestrator.results.collect import Collector, DeviceResult, Key, partial_figures
from orchestrator.results.outliers import UNJUDGED, find_outliers
from orchestrator.results.records import Cause, Verdict, cause
from orchestrator.results.reference import reference
from orchestrator.results.status import Status
from orchestrator.spec.schema import FLOOR_KEYS, Thresholds
from orchestrator.spec.units import format_size
from workers import events as ev
from workers.figures import amount, share

UNOPENED = ("open_failed", "not_visible")
"""Cause kinds of a device that could not be opened (UNAVAILABLE)."""
HOST_SIDE = ("host_error", "crashed", "hung")
"""Cause kinds that do not by themselves say the device misbehaved (with ``host_error``: HOST_ERROR)."""


def judge(r: DeviceResult, limits: Thresholds, interrupted: bool = False) -> tuple[Status, List[Cause]]:
    """The status of one device and every cause that explains it (empty for PASS)."""
    limits = limits.for_chip(r.chip)
    causes = list(r.faults) + _end_causes(r) + _capacity_causes(r) + _threshold_causes(r, limits) + _lost_causes(r)
    return _status(r, causes, interrupted), causes


def judge_all(
    collector: Collector,
    thresholds: Dict[Key, Thresholds],
    fleet: Thresholds,
    interrupted: bool = False,
    live: bool = False,
) -> List[Verdict]:
    """Judge every device by its own thresholds, then compare each with its fleet (``fleet``: the
    spec's fleet-wide thresholds). ``live``: the run is still going (see the module docstring)."""
    out = []
    for key, result in collector.results.items():
        limits = thresholds.get(key, fleet)
        status, causes = judge(result, limits, interrupted)
        if live and result.ended_by is None and status in (Status.INCOMPLETE, Status.SKIPPED):
            status = Status.FAIL if causes else Status.RUNNING
        warnings = _rc_warnings(result, limits.for_chip(result.chip)) + _unverified(result, status)
        warnings += _unreferenced(result, limits.for_chip(result.chip)) + _idle_link(result, fleet.min_duty_cycle)
        out.append(Verdict(result=result, status=status, causes=tuple(causes), warnings=warnings))
    found = find_outliers(out, fleet.max_below_fleet)
    return [_with_outliers(v, causes, fleet.outlier == "fail") for v, causes in zip(out, found)]


def _with_outliers(v: Verdict, found: tuple[Cause, ...], fail: bool) -> Verdict:
    """An outlier is a warning; with ``outlier: fail`` a cause that turns a PASS into FAIL (a device
    with another status keeps it)."""
    notes = tuple(c for c in found if c.fault == UNJUDGED)
    found = tuple(c for c in found if c.fault != UNJUDGED)
    if not found or not fail:
        return dataclasses.replace(v, warnings=v.warnings + found + notes) if found or notes else v
    status = Status.FAIL if v.status is Status.PASS else v.status
    return dataclasses.replace(v, status=status, causes=v.causes + found, warnings=v.warnings + notes)


def _rc_warnings(r: DeviceResult, limits: Thresholds) -> tuple[Cause, ...]:
    """An RC-mode device has no host link: its bandwidth floors are not applied, and it says so."""
    floors = [f"{k} {v:g}" for k in FLOOR_KEYS for v in [getattr(limits, k)] if v is not None]
    if not r.rc or not floors:
        return ()
    message = (
        f"RC mode (the application runs on the device, no PCIe link to the host): the bandwidth floors "
        f"{', '.join(floors)} are not applied"
    )
    return (cause("rc_mode", message, detail={"run_mode": "rc"}),)


def _unreferenced(r: DeviceResult, limits: Thresholds) -> tuple[Cause, ...]:
    """A fraction floor asked for on a chip with no reference figure is not applied, and says so
    (a simulated device is never measured against a real link's figure: the banner says so once)."""
    shares = [f"{k} {v:g}" for k in FLOOR_KEYS if k.endswith("_fraction") for v in [getattr(limits, k)] if v]
    if not shares or r.rc or r.simulated or not r.started or reference(r.chip) is not None:
        return ()
    message = f"no reference figure for chip {r.chip or 'unknown'}: the floors {', '.join(shares)} are not applied"
    return (cause("no_reference", message, detail={"chip": r.chip}),)


def _idle_link(r: DeviceResult, floor: Optional[float]) -> tuple[Cause, ...]:
    """A device whose link was busy less than ``min_duty_cycle`` of its cycles was not stressed: the
    host's checks and allocations set the pace. Said for a run that went its course; never for a
    simulated device (its "link" is a memmove on the host's CPUs), one in RC mode (no link), a
    bidirectional run (its checks move bytes over the link untimed) or one that asked for pauses
    (``interval``)."""
    duty = r.duty
    if floor is None or duty is None or duty >= floor or r.simulated or r.rc:
        return ()
    if r.params.get("bidirectional") or (r.params.get("interval") or 0) > 0:
        return ()
    if r.outcome not in ("completed", "duration"):
        return ()
    message = (
        f"the link was busy {share(duty)} of the time (min_duty_cycle {share(floor)}): the host's checks and "
        "allocations, not the link, set the pace, so the link was not stressed"
    )
    return (cause("low_duty_cycle", message, detail={"duty_cycle": round(duty, 4), "min_duty_cycle": floor}),)


def _unverified(r: DeviceResult, status: Status) -> tuple[Cause, ...]:
    """``verify: false``: the copies ran but no byte was checked; said wherever a status is shown."""
    if r.params.get("verify", True) is not False or status not in (Status.PASS, Status.FAIL, Status.RUNNING):
        return ()
    message = "verify: false: no copied byte was checked, so this run cannot show data corruption"
    return (cause("unverified", message, detail={"verify": False}),)


def _status(r: DeviceResult, causes: List[Cause], interrupted: bool) -> Status:
    kinds = {c.fault for c in causes}
    if "host_error" in kinds and kinds <= set(HOST_SIDE):
        return Status.HOST_ERROR
    if r.ended_by == "crashed":
        return Status.CRASHED
    if r.ended_by == "hung":
        return Status.HUNG
    if "busy" in kinds:
        return Status.BUSY
    if kinds & set(UNOPENED):
        return Status.UNAVAILABLE
    if r.ended_by is None and not r.launched and not r.started and not r.faults:
        return Status.SKIPPED  # never ran: e.g. still waiting for a slot when the run was stopped
    if r.outcome == "stopped" or (interrupted and r.ended_by is None):
        return Status.FAIL if r.faults else Status.ABORTED  # a fault it recorded is not hidden by the stop
    if r.ended_by is None:
        return Status.INCOMPLETE
    return Status.FAIL if causes else Status.PASS


def _end_causes(r: DeviceResult) -> List[Cause]:
    if r.end is None:
        return []
    detail = {k: v for k, v in dataclasses.asdict(r.end).items() if k not in ("message", "cycle", "copy")}
    partial = partial_figures(r)
    if partial:
        detail["partial"] = partial
    return [cause(r.end.kind, r.end.message, cycle=r.end.cycle, copy=r.end.copy, detail=detail)]


def _capacity_causes(r: DeviceResult) -> List[Cause]:
    cap = r.capacity
    if cap is None or cap.expected:
        return []
    msg = (
        f"device memory full after {cap.blocks} block(s), {amount(cap.bytes)} held, although the run should have fitted"
    )
    return [cause("alloc_failed", msg, api=cap.api, code=cap.code, name=cap.name, cycle=cap.cycle, copy=cap.copy)]


def _threshold_causes(r: DeviceResult, limits: Thresholds) -> List[Cause]:
    out: List[Cause] = []
    for direction, floor, what in _floors(r, limits):
        stats = getattr(r, direction)
        if stats and stats.get("median") is not None and stats["median"] < floor:
            out.append(
                cause(
                    "bandwidth",
                    f"{direction.upper()} median {stats['median']:.2f} GB/s is below {what}",
                    detail={"direction": direction, "floor": round(floor, 3), **stats},
                )
            )
    if r.leak > limits.max_leak:
        out.append(
            cause(
                "leak",
                f"free device memory after release is {amount(r.leak)} below the baseline "
                f"(max_leak {format_size(limits.max_leak)})",
                detail={"leak": r.leak},
            )
        )
    elif r.leak_trend:
        losses = ", ".join(format_size(n) if n else "0B" for n in r.leak_trend)
        message = (
            f"free device memory after release fell further in each of the last {len(r.leak_trend)} cycles "
            f"({losses} below the baseline): a leak that grows every cycle, "
            f"below max_leak {format_size(limits.max_leak)}"
        )
        out.append(cause("leak", message, detail={"leak": r.leak, "trend": list(r.leak_trend)}))
    return out


def _floors(r: DeviceResult, limits: Thresholds) -> List[Tuple[str, float, str]]:
    """(direction, floor in GB/s, what it is) of each bandwidth floor that applies to the device: none
    in RC mode (no host link); a fraction only of a real device whose chip has a reference figure."""
    if r.rc:
        return []
    ref = None if r.simulated else reference(r.chip)
    out = []
    for direction in ("h2d", "d2h"):
        rate, share = getattr(limits, f"min_{direction}_gbps"), getattr(limits, f"min_{direction}_fraction")
        if rate is not None:
            out.append((direction, rate, f"the threshold {rate:g} GB/s"))
        if share is not None and ref is not None:
            what = f"{share:.0%} of the {ref.chip} reference {ref.expected_gbps:g} GB/s (min_{direction}_fraction)"
            out.append((direction, share * ref.expected_gbps, what))
    return out


PASSING_OUTCOMES = ("completed", "duration", "capacity")
"""``Finished`` outcomes of a run that went to its end (``capacity``: a fill run, judged by its Capacity)."""


def _lost_causes(r: DeviceResult) -> List[Cause]:
    """What the worker's ``Finished`` says went wrong when no fault record tells it (a journal line
    lost to a torn write or a full disk): the device must not PASS on a lost record."""
    out: List[Cause] = []
    if r.mismatches_recorded < min(r.verify_errors, ev.MAX_MISMATCH_FAULTS):
        out.append(
            cause(
                "data_mismatch",
                f"the worker counted {r.verify_errors} verify error(s) but their fault records are missing",
                detail={"verify_errors": r.verify_errors, "recorded": r.mismatches_recorded},
            )
        )
    if r.ended_by != "finished" or r.faults or r.capacity or r.end or r.outcome == "stopped":
        return out
    if r.outcome not in PASSING_OUTCOMES:
        kind = "busy" if r.outcome == "busy" else "worker_error"
        out.append(cause(kind, f"the worker ended its run with outcome {r.outcome!r} but no fault of it was recorded"))
    elif not r.started:
        out.append(
            cause("worker_error", "the worker ended without ever starting the device, and no reason was recorded")
        )
    elif r.outcome == "capacity":
        out.append(cause("worker_error", "the worker ended with its device memory full but that record is missing"))
    return out


def not_visible(host: str, device: int, seen: int) -> ev.Fault:
    """The cause of a device ``expect`` named that the backend cannot see (``seen`` devices are)."""
    return ev.Fault(
        fault="not_visible",
        message=f"device {device} was expected on {host} but is not visible "
        f"({seen} device(s) are); a dead NPU or a driver problem",
        detail={"visible": seen},
    )


def exit_code(verdicts: List[Verdict], interrupted: bool, write_failed: bool = False) -> int:
    """0 only when every device passed; 3 when a result file could not be written (the verdicts
    shown stand, but the run's record is not whole) or only the host failed the test; 130 when
    the run was interrupted."""
    if write_failed:
        return EXIT_ENVIRONMENT
    if interrupted:
        return EXIT_INTERRUPTED
    if verdicts and all(v.status is Status.PASS for v in verdicts):
        return EXIT_PASS
    failed = [v for v in verdicts if v.status is not Status.PASS]
    return EXIT_ENVIRONMENT if failed and all(v.status is Status.HOST_ERROR for v in failed) else EXIT_DEVICE_FAILURE
