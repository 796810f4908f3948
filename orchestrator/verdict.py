"""From recorded facts to a status: the only place that decides PASS or not.

Rules, first match wins: the process died -> CRASHED; it stopped making progress -> HUNG; the device
never opened -> UNAVAILABLE; it never started -> SKIPPED; the run was interrupted -> ABORTED; the
record stops before the end (a controller that died) -> INCOMPLETE; any fault or threshold not met
-> FAIL; else PASS.
A PASS therefore never carries a fault.
"""
from __future__ import annotations

from typing import Any, Dict, List

from orchestrator.collect import DeviceResult
from orchestrator.plan import Thresholds
from orchestrator.status import Status

Cause = Dict[str, Any]


def cause(kind: str, message: str, **fields: Any) -> Cause:
    """A cause record in the same shape as a worker fault."""
    base: Cause = {"fault": kind, "message": message, "api": None, "code": None, "name": None,
            "cycle": None, "copy": None, "detail": {}}
    base.update(fields)
    return base


def judge(r: DeviceResult, limits: Thresholds, interrupted: bool = False) -> "tuple[Status, List[Cause]]":
    """The status of one device and every cause that explains it (empty for PASS)."""
    causes = list(r.faults) + _end_causes(r) + _capacity_causes(r) + _threshold_causes(r, limits)
    return _status(r, causes, interrupted), causes


def _status(r: DeviceResult, causes: List[Cause], interrupted: bool) -> Status:
    if r.ended_by == "crashed":
        return Status.CRASHED
    if r.ended_by == "hung":
        return Status.HUNG
    if any(c["fault"] in ("open_failed", "not_visible") for c in causes):
        return Status.UNAVAILABLE
    if r.ended_by is None and not r.started and not r.faults:
        return Status.SKIPPED  # never ran: e.g. still waiting for a slot when the run was stopped
    if r.outcome == "stopped" or (interrupted and r.ended_by is None):
        return Status.ABORTED
    if r.ended_by is None:
        return Status.INCOMPLETE
    return Status.FAIL if causes else Status.PASS


def _end_causes(r: DeviceResult) -> List[Cause]:
    if r.end is None:
        return []
    detail = {k: v for k, v in r.end.items() if k not in ("kind", "message")}
    return [cause(r.ended_by or "ended", r.end.get("message", ""), detail=detail)]


def _capacity_causes(r: DeviceResult) -> List[Cause]:
    cap = r.capacity
    if not cap or cap.get("expected"):
        return []
    msg = (f"device memory full after {cap['blocks']} block(s), {cap['bytes']} bytes held, "
           f"although the run should have fitted")
    return [cause("alloc_failed", msg, api=cap.get("api"), code=cap.get("code"), name=cap.get("name"),
                  cycle=cap.get("cycle"), copy=cap.get("copy"))]


def _threshold_causes(r: DeviceResult, limits: Thresholds) -> List[Cause]:
    out: List[Cause] = []
    for direction, floor in (("h2d", limits.min_h2d_gbps), ("d2h", limits.min_d2h_gbps)):
        stats = getattr(r, direction)
        if floor is not None and stats and stats.get("median") is not None and stats["median"] < floor:
            out.append(cause("bandwidth", f"{direction.upper()} median {stats['median']:.2f} GB/s is below "
                             f"the threshold {floor:g} GB/s", detail={"direction": direction, **stats}))
    if r.leak > limits.max_leak:
        out.append(cause("leak", f"free device memory after release is {r.leak} bytes below the baseline "
                         f"(max_leak {limits.max_leak})", detail={"leak": r.leak}))
    return out
