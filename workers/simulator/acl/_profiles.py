"""Chip profiles: how much device memory each chip has, and which pool DVPP draws from.

Public product specs give the physical sizes (8 GB DDR on Ascend310, 24 GB DDR on Ascend310P3,
32 GB HBM on Ascend910, 64 GB HBM on Ascend910B1-B3, 32 GB on 910B4). How much the system keeps
for itself and how much DVPP may use are not published per chip; the figures below are
assumptions, chosen to look like what ``get_mem_info`` reports on such parts:

- ``reserved``: memory the device OS and firmware keep; ``get_mem_info`` totals exclude it.
- ``dvpp_limit``: the per-process DVPP address space, 16 GiB on 310P / 910B (documented); 16 GiB
  assumed on 910 too; 4 GiB on 310 (the commonly cited DVPP window, not confirmed).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Dict

GIB = 1 << 30


@dataclass(frozen=True)
class Profile:
    """One chip. Sizes in bytes; ``hbm == 0`` means the chip has no HBM."""

    name: str
    soc_name: str
    ddr: int
    hbm: int
    reserved: int
    dvpp_limit: int
    dvpp_pool: str  # "hbm" or "ddr": where dvpp_malloc memory comes from
    hbm_maps_to_ddr: bool  # get_mem_info answers HBM attributes with the DDR figures (310P)

    @property
    def main_pool(self) -> str:
        """The pool ``acl.rt.malloc`` draws from."""
        return "hbm" if self.hbm else "ddr"


PROFILES: Dict[str, Profile] = {
    p.name: p
    for p in (
        Profile("Ascend310", "Ascend310", 8 * GIB, 0, 1 * GIB, 4 * GIB, "ddr", False),
        Profile("Ascend310P3", "Ascend310P3", 24 * GIB, 0, 3 * GIB, 16 * GIB, "ddr", True),
        Profile("Ascend910", "Ascend910A", 0, 32 * GIB, 2 * GIB, 16 * GIB, "hbm", False),
        Profile("Ascend910B", "Ascend910B1", 0, 64 * GIB, 3 * GIB, 16 * GIB, "hbm", False),
        Profile("Ascend910B4", "Ascend910B4", 0, 32 * GIB, 2 * GIB, 16 * GIB, "hbm", False),
    )
}
"""Known chips by profile name (what the ``chip`` config key takes)."""

DEFAULT_CHIP = "Ascend910B"
