"""Simulator configuration: one dict (or YAML file) validated strictly into ``SimConfig``.

Shape (every key optional)::

    chip: Ascend910B            # a name from catalog.PROFILES
    device_count: 8             # physical devices
    memory: {hbm: 2147483648}   # per-device totals as get_mem_info reports them (bytes)
    huge_share: 0.9             # share of each pool in huge pages (default: the chip's)
    driver_cache: 134217728     # bytes the device's caches take at first use (0: none)
    memory_noise: 0             # bytes each get_mem_info free figure may jitter by
    run_mode: ep                # ep (get_run_mode: ACL_HOST) or rc (ACL_DEVICE)
    link_gbps: 24               # the host link's bandwidth per direction, shared by all devices
    link_state: /path/link.state # where the processes of one host share it (see _link.py)
    faults: [{device: 3, kind: bitflip, at_copy: 5, bits: 1}, ...]

Errors are ``ValueError`` naming the key path, e.g. ``faults[1].at_copy: must be ...``.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Any, Dict, List, Optional, Tuple, Type

from ._faults import CHECKS, KINDS, Fault
from ._shared import catalog

ENV_VAR = "ACL_SIM_CONFIG"
TOP_KEYS = (
    "chip",
    "device_count",
    "memory",
    "huge_share",
    "driver_cache",
    "memory_noise",
    "run_mode",
    "faults",
    "link_gbps",
    "link_state",
)
Profile = catalog.Profile


@dataclass(frozen=True)
class SimConfig:
    """A validated configuration. ``totals`` maps ``"hbm"``/``"ddr"`` to per-device bytes, ``huge``
    to the huge-page bytes of each (the rest of a pool is normal pages)."""

    profile: Profile
    device_count: int
    totals: Dict[str, int]
    faults: Tuple[Fault, ...] = ()
    link_gbps: Optional[float] = None
    link_state: Optional[str] = None
    raw: Dict[str, Any] = field(default_factory=dict)
    huge: Dict[str, int] = field(default_factory=dict)
    driver_cache: int = catalog.DEFAULT_DRIVER_CACHE
    memory_noise: int = catalog.DEFAULT_MEMORY_NOISE
    run_mode: str = catalog.DEFAULT_RUN_MODE

    def faults_for(self, device: int) -> List[Fault]:
        """The faults configured for one physical device."""
        return [f for f in self.faults if f.device == device]


def _fail(path: str, message: str) -> ValueError:
    return ValueError(f"{path}: {message}")


def _mapping(value: Any, path: str, allowed: Tuple[str, ...]) -> Dict[str, Any]:
    if not isinstance(value, dict):
        raise _fail(path, f"must be a mapping, got {type(value).__name__}")
    for key in value:
        if key not in allowed:
            raise _fail(f"{path}.{key}" if path else str(key), f"unknown key (known: {', '.join(allowed)})")
    return value


def _non_negative_int(value: Any, path: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise _fail(path, f"must be an integer >= 0, got {value!r}")
    return value


def _chip(value: Any) -> Profile:
    if value not in catalog.PROFILES:
        raise _fail("chip", f"unknown chip {value!r} (known: {', '.join(catalog.CHIPS)})")
    profile: Profile = catalog.PROFILES[value]
    return profile


def _totals(profile: Profile, value: Any) -> Dict[str, int]:
    totals = {"hbm": max(profile.hbm - profile.reserved, 0), "ddr": max(profile.ddr - profile.reserved, 0)}
    if not profile.hbm:
        totals["hbm"] = 0
    if not profile.ddr:
        totals["ddr"] = 0
    for key, size in _mapping(value or {}, "memory", ("hbm", "ddr")).items():
        totals[key] = _non_negative_int(size, f"memory.{key}")
    return totals


def _huge_share(profile: Profile, value: Any) -> float:
    if value is None:
        return profile.huge_share
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 <= value <= 1:
        raise _fail("huge_share", f"must be a number from 0 to 1, got {value!r}")
    return float(value)


def _huge(totals: Dict[str, int], share: float) -> Dict[str, int]:
    return {pool: int(total * share) for pool, total in totals.items()}


def _run_mode(value: Any) -> str:
    if value not in catalog.RUN_MODES:
        raise _fail("run_mode", f"unknown run mode {value!r} (known: {', '.join(catalog.RUN_MODES)})")
    return str(value)


def _fault(value: Any, path: str, device_count: int) -> Fault:
    if not isinstance(value, dict):
        raise _fail(path, "must be a mapping")
    kind = value.get("kind")
    if kind not in KINDS:
        raise _fail(f"{path}.kind", f"unknown fault kind {kind!r} (known: {', '.join(KINDS)})")
    cls = KINDS[kind]
    _mapping(value, path, catalog.FAULT_COMMON_KEYS + tuple(catalog.FAULTS[kind].settings))
    if "device" not in value:
        raise _fail(f"{path}.device", "required")
    device = _non_negative_int(value["device"], f"{path}.device")
    if device >= device_count:
        raise _fail(f"{path}.device", f"no physical device {device} (device_count is {device_count})")
    return cls(device, **_fault_params(cls, value, path))


def _fault_params(cls: Type[Fault], value: Dict[str, Any], path: str) -> Dict[str, Any]:
    params = {}
    for key, setting in catalog.FAULTS[cls.kind].settings.items():
        if key not in value and setting.default is catalog.REQUIRED:
            raise _fail(f"{path}.{key}", f"required for kind {cls.kind}")
        try:
            params[key] = CHECKS[setting.kind](value.get(key, setting.default))
        except ValueError as exc:
            raise _fail(f"{path}.{key}", str(exc)) from None
    return params


def _link(value: Any) -> Optional[float]:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value <= 0:
        raise _fail("link_gbps", f"must be a number > 0, got {value!r}")
    return float(value)


def _path(value: Any) -> Optional[str]:
    if value is None:
        return None
    if not isinstance(value, str) or not value:
        raise _fail("link_state", f"must be a file path, got {value!r}")
    return value


def parse(raw: Optional[Dict[str, Any]]) -> SimConfig:
    """Validate a config dict (``None`` or ``{}``: the defaults, 8 devices of Ascend910B)."""
    raw = dict(_mapping(raw or {}, "", TOP_KEYS))
    profile = _chip(raw.get("chip", catalog.DEFAULT_CHIP))
    count = _non_negative_int(raw.get("device_count", catalog.DEFAULT_DEVICE_COUNT), "device_count")
    faults = raw.get("faults")
    faults = [] if faults is None else faults
    if not isinstance(faults, list):
        raise _fail("faults", "must be a list")
    parsed = tuple(_fault(f, f"faults[{i}]", count) for i, f in enumerate(faults))
    totals = _totals(profile, raw.get("memory"))
    link = _link(raw.get("link_gbps"))
    return SimConfig(
        profile,
        count,
        totals,
        parsed,
        link,
        _path(raw.get("link_state")),
        raw,
        huge=_huge(totals, _huge_share(profile, raw.get("huge_share", catalog.DEFAULT_HUGE_SHARE))),
        driver_cache=_non_negative_int(raw.get("driver_cache", catalog.DEFAULT_DRIVER_CACHE), "driver_cache"),
        memory_noise=_non_negative_int(raw.get("memory_noise", catalog.DEFAULT_MEMORY_NOISE), "memory_noise"),
        run_mode=_run_mode(raw.get("run_mode", catalog.DEFAULT_RUN_MODE)),
    )


def load_file(path: str) -> SimConfig:
    """Parse a YAML config file (safe loader); an empty file means the defaults."""
    import yaml  # only needed for file configs

    with open(path, encoding="utf-8") as handle:
        data = yaml.safe_load(handle)
    try:
        return parse(data)
    except ValueError as exc:
        raise ValueError(f"{path}: {exc}") from None


def from_env() -> SimConfig:
    """The config named by ``ACL_SIM_CONFIG``, or the defaults when it is unset or empty."""
    path = os.environ.get(ENV_VAR)
    return load_file(path) if path else parse(None)
