""" "Is this normal?": the fleet-relative outlier check.

A device whose median H2D or D2H is more than a fraction below the median of the devices with the
same chip in the same run. Peers share the host, driver, firmware and test, so this catches a link
trained at a lower width or generation, a slot behind a congested switch, or a throttled device,
without needing a trustworthy absolute figure (``reference.py`` has those, for display only).
"""

from __future__ import annotations

import statistics
from typing import Dict, List, Optional, Sequence, Tuple

from orchestrator.results.records import Cause, Verdict, cause
from orchestrator.results.status import Status
from workers.events import DIRECTIONS

MIN_PEERS = 3
"""Devices of one chip needed for a fleet median: with fewer, "the odd one out" is not defined."""


def median_gbps(v: Verdict, direction: str) -> Optional[float]:
    """The device's median rate in ``direction`` (``h2d``/``d2h``), or None when none was measured."""
    stats = getattr(v.result, direction)
    value = stats.get("median") if stats else None
    return float(value) if isinstance(value, (int, float)) else None


def comparable(v: Verdict) -> bool:
    """Devices whose figures count: the worker finished (PASS or FAIL), so its copies ran to the end."""
    return v.status in (Status.PASS, Status.FAIL) and v.result.ended_by == "finished"


FleetMedians = Dict[Tuple[str, str], Tuple[float, int]]


def fleet_medians(verdicts: Sequence[Verdict]) -> FleetMedians:
    """(chip, direction) -> (median of the devices' medians, number of devices), for every chip
    with at least ``MIN_PEERS`` comparable devices."""
    groups: Dict[Tuple[str, str], List[float]] = {}
    for v in filter(comparable, verdicts):
        for direction in DIRECTIONS:
            value = median_gbps(v, direction)
            if value is not None:
                groups.setdefault((v.result.chip or "unknown", direction), []).append(value)
    return {key: (statistics.median(values), len(values)) for key, values in groups.items() if len(values) >= MIN_PEERS}


def fleet_ratio(v: Verdict, direction: str, medians: FleetMedians) -> Optional[float]:
    """The device's median divided by its fleet median (1.0 = typical), or None when unknown."""
    value, peers = median_gbps(v, direction), medians.get((v.result.chip or "unknown", direction))
    if value is None or peers is None or peers[0] <= 0 or not comparable(v):
        return None
    return value / peers[0]


def find_outliers(verdicts: Sequence[Verdict], fraction: Optional[float]) -> List[Tuple[Cause, ...]]:
    """Per verdict (same order), the outlier causes of its H2D and D2H medians: more than
    ``fraction`` below the fleet median of its chip. ``fraction`` None turns the check off.
    What an outlier does to a status is decided in ``verdict.py``."""
    if fraction is None:
        return [() for _ in verdicts]
    medians = fleet_medians(verdicts)
    return [tuple(c for c in (_outlier(v, d, medians, fraction) for d in DIRECTIONS) if c) for v in verdicts]


def _outlier(v: Verdict, direction: str, medians: FleetMedians, fraction: float) -> Optional[Cause]:
    ratio = fleet_ratio(v, direction, medians)
    if ratio is None or ratio >= 1.0 - fraction:
        return None
    chip = v.result.chip or "unknown"
    fleet, peers = medians[(chip, direction)]
    value = median_gbps(v, direction)
    message = (
        f"{direction.upper()} median {value:.2f} GB/s is {1 - ratio:.0%} below the fleet median "
        f"{fleet:.2f} GB/s of {peers} {chip} device(s) (max_below_fleet {fraction:g})"
    )
    return cause(
        "outlier",
        message,
        detail={
            "direction": direction,
            "median": value,
            "fleet_median": fleet,
            "ratio": round(ratio, 4),
            "peers": peers,
            "chip": chip,
            "max_below_fleet": fraction,
        },
    )
