""""Is this normal?": reference bandwidth per chip, and the fleet-relative outlier check.

Two answers, of different strength:

- ``REFERENCES``: what the host link of each chip's products can carry. The link rate is the PCIe
  generation and width of the product (raw rate per direction after 8b/10b or 128b/130b coding);
  ``expected_gbps`` is an estimate in every row (80% of the link, the share that DMA copies of
  pinned host memory typically reach once packet overhead is paid; no vendor publishes it per chip).
  It is shown next to measured figures, never used to fail a device.
- ``flag_outliers``: a device whose median H2D or D2H is more than a fraction below the median of
  the devices with the same chip in the same run. Peers share the host, driver, firmware and test,
  so this catches a link trained at a lower width or generation, a slot behind a congested switch,
  or a throttled device, without needing a trustworthy absolute figure.
"""
from __future__ import annotations

import dataclasses
import re
import statistics
from dataclasses import dataclass
from typing import Dict, List, Optional, Sequence, Tuple

from orchestrator.report import Verdict
from orchestrator.status import Status
from orchestrator.verdict import Cause, cause

DIRECTIONS = ("h2d", "d2h")
MIN_PEERS = 3
"""Devices of one chip needed for a fleet median: with fewer, "the odd one out" is not defined."""

LINK_EFFICIENCY = 0.8
"""Estimated share of the raw link rate that host <-> device DMA copies reach."""


@dataclass(frozen=True)
class Reference:
    """Reference figures for one chip family. Rates in decimal GB/s per direction.

    ``chip`` is a prefix of the SoC name the runtime reports (``Ascend910B`` covers
    ``Ascend910B1``..``B4``). ``link_estimated`` is True when the link itself is not confirmed by
    the product documentation for every product that carries the chip.
    """

    chip: str
    products: str
    link: str
    link_gbps: float
    link_estimated: bool
    source: str

    @property
    def expected_gbps(self) -> float:
        """The estimated achievable H2D/D2H rate: always an estimate."""
        return round(self.link_gbps * LINK_EFFICIENCY, 1)


REFERENCES: Tuple[Reference, ...] = (
    Reference("Ascend910B", "Atlas 800T A2, Atlas 900 A2 PoD, Atlas 300T A2", "PCIe 5.0 x16", 63.0, True,
              "product pages list a PCIe 5.0 x16 host link per NPU; a host whose root port is PCIe 4.0 "
              "trains at 31.5 GB/s, so read this as an upper estimate"),
    Reference("Ascend910", "Atlas 300T training card (model 9000), Atlas 800 training server (model 9000)",
              "PCIe 4.0 x16", 31.5, False, "product pages: PCIe 4.0 x16 host interface"),
    Reference("Ascend310P", "Atlas 300I Pro, Atlas 300V Pro inference cards", "PCIe 4.0 x16", 31.5, False,
              "product pages: PCIe 4.0 x16 card interface, one chip per card (the two-chip Atlas 300I "
              "Duo shares it)"),
    Reference("Ascend310", "Atlas 200 AI accelerator module, Atlas 300I inference card (model 3000)",
              "PCIe 3.0 x4", 3.94, True,
              "Atlas 200 module: PCIe 3.0 x4 per chip; on the four-chip Atlas 300I (model 3000) the chips "
              "share one PCIe 3.0 x16 card interface through a switch (per-chip width assumed x4)"),
)
"""Longest matching prefix wins: ``Ascend910B`` before ``Ascend910``, ``Ascend310P`` before ``Ascend310``."""


def reference(chip: Optional[str]) -> Optional[Reference]:
    """The reference for a reported SoC name, or None for an unknown or missing one."""
    for ref in sorted(REFERENCES, key=lambda r: -len(r.chip)):
        if chip and chip.startswith(ref.chip) and re.fullmatch(r"[A-Za-z0-9]*", chip[len(ref.chip):]):
            return ref
    return None


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
    return {key: (statistics.median(values), len(values)) for key, values in groups.items()
            if len(values) >= MIN_PEERS}


def fleet_ratio(v: Verdict, direction: str, medians: FleetMedians) -> Optional[float]:
    """The device's median divided by its fleet median (1.0 = typical), or None when unknown."""
    value, peers = median_gbps(v, direction), medians.get((v.result.chip or "unknown", direction))
    if value is None or peers is None or peers[0] <= 0 or not comparable(v):
        return None
    return value / peers[0]


def flag_outliers(verdicts: Sequence[Verdict], fraction: Optional[float], fail: bool = False) -> List[Verdict]:
    """The verdicts with every bandwidth outlier flagged: a warning, or with ``fail`` a cause that
    turns a PASS into FAIL. ``fraction`` None turns the check off. Other statuses never change."""
    if fraction is None:
        return list(verdicts)
    medians = fleet_medians(verdicts)
    return [_flag(v, medians, fraction, fail) for v in verdicts]


def _flag(v: Verdict, medians: FleetMedians, fraction: float, fail: bool) -> Verdict:
    found = tuple(c for c in (_outlier(v, d, medians, fraction) for d in DIRECTIONS) if c is not None)
    if not found:
        return v
    if not fail:
        return dataclasses.replace(v, warnings=v.warnings + found)
    status = Status.FAIL if v.status is Status.PASS else v.status
    return dataclasses.replace(v, status=status, causes=v.causes + found)


def _outlier(v: Verdict, direction: str, medians: FleetMedians, fraction: float) -> Optional[Cause]:
    ratio = fleet_ratio(v, direction, medians)
    if ratio is None or ratio >= 1.0 - fraction:
        return None
    chip = v.result.chip or "unknown"
    fleet, peers = medians[(chip, direction)]
    value = median_gbps(v, direction)
    message = (f"{direction.upper()} median {value:.2f} GB/s is {1 - ratio:.0%} below the fleet median "
               f"{fleet:.2f} GB/s of {peers} {chip} device(s) (max_below_fleet {fraction:g})")
    return cause("outlier", message, detail={"direction": direction, "median": value, "fleet_median": fleet,
                                             "ratio": round(ratio, 4), "peers": peers, "chip": chip,
                                             "max_below_fleet": fraction})
