"""The judged records every output is rendered from: a ``Verdict`` per device and its causes.

A cause has the shape of a worker's ``Fault`` event (kind, message, runtime call, code, where it
happened, detail), whether the worker recorded it or the judgement found it (a leak, a bandwidth
floor, a crash), so every output describes both the same way.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Tuple

from orchestrator.results.collect import DeviceResult
from orchestrator.results.status import Status
from workers.events import Fault

Cause = Fault


def cause(kind: str, message: str, **fields: Any) -> Cause:
    """A cause found by the judgement rather than recorded by the worker; ``fields`` are the other
    fields of a ``Fault`` (``api``, ``code``, ``name``, ``cycle``, ``copy``, ``detail``)."""
    return Fault(fault=kind, message=message, **fields)


@dataclass(frozen=True)
class Verdict:
    """One device's result, its status and the causes behind it. ``warnings`` are causes that do not
    change the status (e.g. a bandwidth outlier in its fleet); empty when none."""

    result: DeviceResult
    status: Status
    causes: Tuple[Cause, ...]
    warnings: Tuple[Cause, ...] = ()

    @property
    def name(self) -> str:
        return f"{self.result.host}:{self.result.device}"
