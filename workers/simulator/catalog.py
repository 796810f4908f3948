"""What the simulator can play, defined once for the simulator and the fleet spec: the chips, and
the fault kinds with their settings.

Pure data, no dependencies: the fleet spec (``orchestrator/spec/schema.py``) builds its ``sim:``
schema from it, and the simulator (``acl/_config.py``, ``acl/_faults.py``) validates its own
config and runs its faults from the same tables.

Chip profiles. Public product specs give the physical sizes (8 GB DDR on Ascend310, 24 GB DDR on
Ascend310P3, 32 GB HBM on Ascend910, 64 GB HBM on Ascend910B1-B3, 32 GB on 910B4). How much the
system keeps for itself and how much DVPP may use are not published per chip; the figures below
are assumptions, chosen to look like what ``get_mem_info`` reports on such parts:

- ``reserved``: memory the device OS and firmware keep; ``get_mem_info`` totals exclude it.
- ``dvpp_limit``: the per-process DVPP address space, 16 GiB on 310P / 910B (documented); 16 GiB
  assumed on 910 too; 4 GiB on 310 (the commonly cited DVPP window, not confirmed).
- ``huge_share``: the share of each pool that is huge-page memory (the rest is normal pages). On
  310 the system pre-reserves about 25 % of device memory as huge pages for DVPP (documented); the
  others are assumed: 75 % on 310P3 (a DVPP-heavy inference part), 90 % on 910 / 910B, whose
  runtime serves large blocks from huge pages first and keeps normal pages for the device OS.

Runtime behaviour the simulator plays, with its defaults (the simulator's config and the spec's
``sim:`` section take the same keys with these defaults):

- ``driver_cache``: device memory the device OS / AI CPU caches take on first use (100-200 MB
  documented on EP parts; 128 MiB assumed), from the main pool's normal pages.
- ``memory_noise``: how far each ``get_mem_info`` free figure may jitter (other processes moving
  memory); 0, so figures are exact unless asked for.
- ``run_mode``: ``ep`` (the application runs on the host, ``get_run_mode`` is ACL_HOST) or ``rc``
  (it runs on the device, ACL_DEVICE, as on an Atlas 200 DK).
"""

from __future__ import annotations

import signal
from dataclasses import dataclass, field
from typing import Any, Dict, Optional

MIB = 1 << 20
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
    huge_share: float  # the share of each pool that is huge pages (0..1)

    @property
    def main_pool(self) -> str:
        """The pool ``acl.rt.malloc`` draws from."""
        return "hbm" if self.hbm else "ddr"


PROFILES: Dict[str, Profile] = {
    p.name: p
    for p in (
        Profile("Ascend310", "Ascend310", 8 * GIB, 0, 1 * GIB, 4 * GIB, "ddr", False, 0.25),
        Profile("Ascend310P3", "Ascend310P3", 24 * GIB, 0, 3 * GIB, 16 * GIB, "ddr", True, 0.75),
        Profile("Ascend910", "Ascend910A", 0, 32 * GIB, 2 * GIB, 16 * GIB, "hbm", False, 0.9),
        Profile("Ascend910B", "Ascend910B1", 0, 64 * GIB, 3 * GIB, 16 * GIB, "hbm", False, 0.9),
        Profile("Ascend910B4", "Ascend910B4", 0, 32 * GIB, 2 * GIB, 16 * GIB, "hbm", False, 0.9),
    )
}
"""Known chips by profile name (what the ``chip`` key takes)."""
CHIPS = tuple(PROFILES)
DEFAULT_CHIP = "Ascend910B"
DEFAULT_DEVICE_COUNT = 8
MAX_DEVICES = 1024
"""Most simulated devices one host may have."""
DEFAULT_HUGE_SHARE: Optional[float] = None
"""``huge_share`` when none is set: ``None``, the chip's ``Profile.huge_share``."""
DEFAULT_DRIVER_CACHE = 128 * MIB
"""Bytes the device's one-time caches take at first use (documented: 100-200 MB); 0: none."""
DEFAULT_MEMORY_NOISE = 0
"""Bytes each ``get_mem_info`` free figure may jitter by; 0: exact figures."""
RUN_MODES = {"ep": 1, "rc": 0}
"""Run mode name -> what ``acl.rt.get_run_mode`` returns (ACL_HOST = 1, ACL_DEVICE = 0)."""
DEFAULT_RUN_MODE = "ep"


class _Required:
    def __repr__(self) -> str:
        return "REQUIRED"


REQUIRED: Any = _Required()
"""The ``default`` of a setting that has none."""

VALUE_KINDS = {
    "position": "an integer >= 1 (copy or allocation numbers count from 1)",
    "size": "a number of bytes > 0",
    "factor": "a number > 1",
    "signal": "a signal name such as SIGSEGV or KILL, or its number",
    "code": "a runtime return code, an integer from 1 to 2**31-1",
    "times": "-1 (every time) or an integer >= 1",
}
"""What each kind of setting value is; the spec (``SETTING_TYPES``) and the simulator (``CHECKS``)
each check it their way, and both cover exactly these kinds."""


def signal_number(value: Any) -> int:
    """A signal given as a number or a name such as ``SIGKILL`` or ``KILL``; ``ValueError`` otherwise."""
    try:
        if isinstance(value, str):
            name = value.upper()
            return int(signal.Signals[name if name.startswith("SIG") else "SIG" + name])
        if isinstance(value, bool) or not isinstance(value, int):
            raise ValueError
        return int(signal.Signals(value))
    except (KeyError, ValueError):
        raise ValueError(f"must be a signal name or number, got {value!r}") from None


@dataclass(frozen=True)
class Setting:
    """One setting of a fault kind: its value kind (a key of ``VALUE_KINDS``) and its default."""

    kind: str
    default: Any = REQUIRED


@dataclass(frozen=True)
class FaultKind:
    """A fault the simulator can inject: what it does, and its settings beside ``host``/``device``."""

    name: str
    doc: str
    settings: Dict[str, Setting] = field(default_factory=dict)


FAULTS: Dict[str, FaultKind] = {
    k.name: k
    for k in (
        FaultKind(
            "bitflip",
            "flips `bits` distinct bits of the destination right after H2D copy `at_copy`",
            {"at_copy": Setting("position", 1), "bits": Setting("position", 1)},
        ),
        FaultKind(
            "alloc_fail",
            "allocation `at_alloc` fails with the driver's out-of-memory code",
            {"at_alloc": Setting("position", 1)},
        ),
        FaultKind(
            "crash",
            "the process dies by `signal` at H2D copy `at_copy`",
            {"at_copy": Setting("position", 1), "signal": Setting("signal", "SIGSEGV")},
        ),
        FaultKind("hang", "H2D copy `at_copy` never returns", {"at_copy": Setting("position", 1)}),
        FaultKind("leak", "every free on the device keeps `bytes` bytes", {"bytes": Setting("size")}),
        FaultKind("slow", "copies touching the device take `factor` times as long", {"factor": Setting("factor")}),
        FaultKind(
            "init_fail",
            "opening the device fails with `code` for the first `times` attempts (-1: all)",
            {"code": Setting("code", 507033), "times": Setting("times", -1)},
        ),
    )
}
"""Every fault kind by its config name."""
FAULT_KINDS = tuple(FAULTS)
FAULT_COMMON_KEYS = ("host", "device", "kind")
"""Keys every fault takes: ``host`` (fleet spec only: which host's device), ``device`` (physical
id), ``kind``."""
