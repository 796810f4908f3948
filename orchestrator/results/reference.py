"""Reference bandwidth per chip: what the host link of each chip's products can carry.

The link rate is the PCIe generation and width of the product (raw rate per direction after
8b/10b or 128b/130b coding); ``expected_gbps`` is an estimate in every row (80% of the link, the
share that DMA copies of pinned host memory typically reach once packet overhead is paid; no vendor
publishes it per chip). It is shown next to measured figures, and fails a device only where the spec
asks for it: ``thresholds.min_h2d_fraction`` / ``min_d2h_fraction`` (a share of ``expected_gbps``).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Optional, Sequence, Tuple

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
    Reference(
        "Ascend910B",
        "Atlas 800T A2, Atlas 900 A2 PoD, Atlas 300T A2",
        "PCIe 5.0 x16",
        63.0,
        True,
        "product pages list a PCIe 5.0 x16 host link per NPU; a host whose root port is PCIe 4.0 "
        "trains at 31.5 GB/s, so read this as an upper estimate",
    ),
    Reference(
        "Ascend910",
        "Atlas 300T training card (model 9000), Atlas 800 training server (model 9000)",
        "PCIe 4.0 x16",
        31.5,
        False,
        "product pages: PCIe 4.0 x16 host interface",
    ),
    Reference(
        "Ascend310P",
        "Atlas 300I Pro, Atlas 300V Pro inference cards",
        "PCIe 4.0 x16",
        31.5,
        False,
        "product pages: PCIe 4.0 x16 card interface, one chip per card (the two-chip Atlas 300I Duo shares it)",
    ),
    Reference(
        "Ascend310",
        "Atlas 200 AI accelerator module, Atlas 300I inference card (model 3000)",
        "PCIe 3.0 x4",
        3.94,
        True,
        "Atlas 200 module: PCIe 3.0 x4 per chip; on the four-chip Atlas 300I (model 3000) the chips "
        "share one PCIe 3.0 x16 card interface through a switch (per-chip width assumed x4)",
    ),
)
"""Longest matching prefix wins: ``Ascend910B`` before ``Ascend910``, ``Ascend310P`` before ``Ascend310``."""


def reference(chip: Optional[str]) -> Optional[Reference]:
    """The reference for a reported SoC name, or None for an unknown or missing one."""
    for ref in sorted(REFERENCES, key=lambda r: -len(r.chip)):
        if chip and chip.startswith(ref.chip) and re.fullmatch(r"[A-Za-z0-9]*", chip[len(ref.chip) :]):
            return ref
    return None


def host_link(chip: Optional[str], run_modes: Sequence[Optional[str]]) -> Optional[Reference]:
    """The reference for devices of ``chip`` that ran in ``run_modes``: none when every one of them ran
    in RC mode (the application on the device itself has no PCIe link to the host to compare with)."""
    if run_modes and all(mode == "rc" for mode in run_modes):
        return None
    return reference(chip)
