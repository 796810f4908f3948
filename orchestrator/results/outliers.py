""" "Is this normal?": the fleet-relative outlier check.

A device whose median H2D or D2H is more than a fraction below the median of the devices with the
same chip in the same run. Peers share the host, driver, firmware and test, so this catches a link
trained at a lower width or generation, a slot behind a congested switch, or a throttled device,
without needing a trustworthy absolute figure (``reference.py`` has those, for display only).

Two guards keep it from crying wolf where the figures are noise, without blunting it on hardware.
A device is judged on at least ``MIN_SAMPLES`` timed copies. A simulated device is judged by its
fastest copy as well (``best_is_typical``): its "link" is this host's CPU, shared with every other
process, and a burst of work elsewhere slows a run of its copies (one healthy device alone measured
37%, 53% and 79% below its peers on a busy two-core host) while nothing can make a copy faster than
the host allows. So a simulated device whose best copy reaches its fleet's level has nothing wrong,
and the simulator's ``slow`` fault, which slows every copy, still stands out (from about factor 1.4:
a milder one hides in the host's own spread). Hardware is judged by its median alone: a link that
is slow only at times is a finding there. (A floor from the fleet's own scatter was tried and left
out: with few peers it grew past any fraction and hid real outliers.)

The same holds for the capacity a fill run reached: a device that took far fewer blocks than its
peers of the same chip and block size (a failing allocation, memory held by something else) is an
outlier too, although each device alone looks like "memory full, as expected".
"""

from __future__ import annotations

import statistics
from typing import Dict, List, Optional, Sequence, Tuple

from orchestrator.results.records import Cause, Verdict, cause
from orchestrator.results.status import Status
from workers.events import DIRECTIONS

MIN_PEERS = 3
"""Devices of one chip needed for a fleet median: with fewer, "the odd one out" is not defined."""
MIN_SAMPLES = 8
"""Timed copies a device's median needs to be compared with its fleet's."""
UNJUDGED = "unjudged"
"""The kind of the warning that a passing device was left out for too few copies: always a warning,
even with ``outlier: fail`` (nothing was found wrong, the check could not be made)."""


def median_gbps(v: Verdict, direction: str) -> Optional[float]:
    """The device's median rate in ``direction`` (``h2d``/``d2h``), or None when none was measured."""
    stats = getattr(v.result, direction)
    value = stats.get("median") if stats else None
    return float(value) if isinstance(value, (int, float)) else None


def _judged_gbps(v: Verdict, direction: str) -> Optional[float]:
    """The median, when it rests on at least ``MIN_SAMPLES`` copies."""
    stats = getattr(v.result, direction)
    count = stats.get("count") if stats else None
    return median_gbps(v, direction) if isinstance(count, int) and count >= MIN_SAMPLES else None


def comparable(v: Verdict) -> bool:
    """Devices whose figures count: the worker finished (PASS or FAIL), so its copies ran to the end."""
    return v.status in (Status.PASS, Status.FAIL) and v.result.ended_by == "finished"


FleetMedians = Dict[Tuple[str, str], Tuple[float, int]]


def fleet_medians(verdicts: Sequence[Verdict]) -> FleetMedians:
    """(chip, direction) -> (median of the devices' medians, number of devices), for every chip
    with at least ``MIN_PEERS`` comparable devices."""
    groups: Dict[Tuple[str, str], List[float]] = {}
    groups = _medians_by_chip(verdicts)
    return {key: (statistics.median(values), len(values)) for key, values in groups.items() if len(values) >= MIN_PEERS}


def _medians_by_chip(verdicts: Sequence[Verdict]) -> Dict[Tuple[str, str], List[float]]:
    groups: Dict[Tuple[str, str], List[float]] = {}
    for v in filter(comparable, verdicts):
        for direction in DIRECTIONS:
            value = _judged_gbps(v, direction)
            if value is not None:
                groups.setdefault((v.result.chip or "unknown", direction), []).append(value)
    return groups


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
    medians, capacities = fleet_medians(verdicts), _fleet_capacities(verdicts)
    return [
        tuple(
            c
            for c in [
                *(_outlier(v, d, medians, fraction) for d in DIRECTIONS),
                _too_few(v, medians),
                _capacity_outlier(v, capacities, fraction),
            ]
            if c
        )
        for v in verdicts
    ]


def _too_few(v: Verdict, medians: FleetMedians) -> Optional[Cause]:
    """A passing device left out of the comparison for too few timed copies while its peers had
    enough (a ``duration`` run in which it managed far fewer copies): said, never silent."""
    chip = v.result.chip or "unknown"
    short = [
        d for d in DIRECTIONS if (chip, d) in medians and median_gbps(v, d) is not None and _judged_gbps(v, d) is None
    ]
    if v.status is not Status.PASS or not comparable(v) or not short:
        return None
    count = min(int((getattr(v.result, d) or {}).get("count") or 0) for d in short)
    message = (
        f"not compared with its fleet: only {count} timed cop{'y' if count == 1 else 'ies'} "
        f"(at least {MIN_SAMPLES}), while {medians[(chip, short[0])][1]} {chip} peer(s) had enough"
    )
    return cause(UNJUDGED, message, detail={"measure": "samples", "count": count, "min_samples": MIN_SAMPLES})


def _capacity_key(v: Verdict) -> Optional[Tuple[str, object]]:
    """(chip, block size) of a device whose fill run reached a capacity, else None."""
    size = v.result.params.get("memory_size")
    if v.result.capacity is None or not comparable(v) or not isinstance(size, int):
        return None
    return v.result.chip or "unknown", size


def _fleet_capacities(verdicts: Sequence[Verdict]) -> Dict[Tuple[str, object], Tuple[float, int]]:
    groups: Dict[Tuple[str, object], List[int]] = {}
    for v in verdicts:
        key = _capacity_key(v)
        if key is not None and v.result.capacity is not None:
            groups.setdefault(key, []).append(v.result.capacity.blocks)
    return {key: (statistics.median(blocks), len(blocks)) for key, blocks in groups.items() if len(blocks) >= MIN_PEERS}


def _capacity_outlier(
    v: Verdict, capacities: Dict[Tuple[str, object], Tuple[float, int]], fraction: float
) -> Optional[Cause]:
    key = _capacity_key(v)
    peers = capacities.get(key) if key is not None else None
    cap = v.result.capacity
    if peers is None or cap is None or peers[0] <= 0 or cap.blocks >= (1.0 - fraction) * peers[0]:
        return None
    ratio = cap.blocks / peers[0]
    message = (
        f"memory filled after {cap.blocks} block(s), {1 - ratio:.0%} fewer than the fleet median of "
        f"{peers[0]:g} on {peers[1]} {key[0] if key else 'unknown'} device(s) (max_below_fleet {fraction:g})"
    )
    detail = {"measure": "capacity", "blocks": cap.blocks, "fleet_median": peers[0], "ratio": round(ratio, 4)}
    return cause("outlier", message, detail=dict(detail, peers=peers[1], max_below_fleet=fraction))


def best_is_typical(v: Verdict, direction: str, fleet: float, fraction: float) -> bool:
    """Whether the device's fastest copy in ``direction`` is within ``fraction`` of the fleet median."""
    stats = getattr(v.result, direction)
    best = stats.get("max") if stats else None
    return isinstance(best, (int, float)) and best >= (1.0 - fraction) * fleet


def _outlier(v: Verdict, direction: str, medians: FleetMedians, fraction: float) -> Optional[Cause]:
    chip = v.result.chip or "unknown"
    ratio = fleet_ratio(v, direction, medians) if _judged_gbps(v, direction) is not None else None
    if ratio is None or ratio >= 1.0 - fraction:
        return None
    fleet, peers = medians[(chip, direction)]
    if v.result.simulated and best_is_typical(v, direction, fleet, fraction):
        return None
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
