"""Parsers for the values people write in a fleet spec: sizes, durations and device selections.

Each parser takes what YAML produced and returns the canonical value (bytes as ``int``, seconds as
``float``, device ids as a sorted ``tuple``), or raises ``ValueError`` whose message says what is
wrong in words; the spec adds the key path and the value given.
"""

from __future__ import annotations

import math
import re
from typing import Iterable, List, Tuple, Union, cast

from workers.simulator import catalog

SIZE_UNITS = {
    "b": 1,
    "kb": 10**3,
    "mb": 10**6,
    "gb": 10**9,
    "tb": 10**12,
    "kib": 2**10,
    "mib": 2**20,
    "gib": 2**30,
    "tib": 2**40,
}
DURATION_UNITS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0}
MAX_SIZE = 2**50
"""Largest size accepted (1 PiB): more than any device or host holds, small enough to print."""
MAX_DURATION = 366 * 86400.0
"""Longest duration accepted (366 days)."""
MAX_DEVICE_ID = catalog.MAX_DEVICES - 1
"""Highest device id accepted (a simulated host holds at most ``catalog.MAX_DEVICES`` devices)."""

_SIZE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([a-z]*)\s*$", re.IGNORECASE)
_DURATION_PART = re.compile(r"(\d+(?:\.\d+)?)\s*(ms|s|m|h|d)", re.IGNORECASE)
_SIZE_HINT = "a number of bytes or a number with a unit: B, KB, MB, GB, TB, KiB, MiB, GiB, TiB"
_DURATION_HINT = "seconds or a duration such as 30s, 5m, 2h, 1h30m, 500ms"

Devices = Union[str, Tuple[int, ...]]


def parse_size(value: object, *, allow_zero: bool = False) -> int:
    """Bytes from ``10485760``, ``"10MiB"``, ``"4 KiB"``, ``"1GB"`` (KB/MB/GB are decimal)."""
    if isinstance(value, bool) or not isinstance(value, (int, float, str)):
        raise ValueError(f"must be a size: {_SIZE_HINT}")
    if isinstance(value, str):
        value = _size_from_text(value)
    if isinstance(value, float) and not math.isfinite(value):
        raise ValueError(f"must be a size: {_SIZE_HINT}")
    if value != int(value):
        raise ValueError("must be a whole number of bytes")
    if value < 0 or (value == 0 and not allow_zero):
        raise ValueError("must be >= 0" if allow_zero else "must be > 0")
    if value > MAX_SIZE:
        raise ValueError("must be at most 1PiB")
    return int(value)


def _size_from_text(text: str) -> Union[int, float]:
    match = _SIZE.match(text)
    unit = match.group(2).lower() if match else ""
    if not match or unit not in SIZE_UNITS and unit != "":
        if text.strip().startswith("-"):
            raise ValueError("must be > 0")
        raise ValueError(f"not a size: use {_SIZE_HINT}")
    number = match.group(1)
    scale = SIZE_UNITS.get(unit, 1)
    return float(number) * scale if "." in number else int(number) * scale


def parse_duration(value: object, *, positive: bool = False) -> float:
    """Seconds from ``30``, ``"30s"``, ``"5m"``, ``"2h"``, ``"1h30m"``, ``"500ms"``."""
    if isinstance(value, bool) or not isinstance(value, (int, float, str)):
        raise ValueError(f"must be a duration: {_DURATION_HINT}")
    try:
        seconds = _duration_from_text(value) if isinstance(value, str) else float(value)
    except OverflowError:
        seconds = math.inf
    if not math.isfinite(seconds) and seconds > 0:
        raise ValueError("must be at most 366d")
    if not math.isfinite(seconds):
        raise ValueError(f"must be a duration: {_DURATION_HINT}")
    if seconds < 0 or (positive and seconds == 0):
        raise ValueError("must be > 0" if positive else "must be >= 0")
    if seconds > MAX_DURATION:
        raise ValueError("must be at most 366d")
    return seconds


def _duration_from_text(text: str) -> float:
    stripped = text.strip()
    if re.fullmatch(r"-?\d+(?:\.\d+)?", stripped):
        return float(stripped)
    parts = _DURATION_PART.findall(stripped)
    if not parts or "".join(n + u for n, u in parts).lower() != re.sub(r"\s+", "", stripped).lower():
        if stripped.startswith("-"):
            raise ValueError("must be >= 0")
        raise ValueError(f"not a duration: use {_DURATION_HINT}")
    return sum(float(number) * DURATION_UNITS[unit.lower()] for number, unit in parts)


def parse_devices(value: object) -> Devices:
    """``"all"``, or sorted physical ids from ``3``, ``[0, 1, 3]``, ``"0-7"``, ``"0-3,6"``."""
    if value == "all":
        return "all"
    if isinstance(value, str):
        ids = [i for part in value.split(",") for i in _id_range(part.strip())]
    elif isinstance(value, list):
        ids = [_device_id(item) for item in value]
    else:
        ids = [_device_id(value)]
    if not ids:
        raise ValueError("selects no device")
    seen = set()
    for device in ids:
        if device in seen:
            raise ValueError(f"device {device} is listed twice")
        seen.add(device)
    return tuple(sorted(ids))


def _id_range(part: str) -> range:
    match = re.fullmatch(r"(\d+)(?:\s*-\s*(\d+))?", part)
    if not match:
        raise ValueError('must be all, a list of ids, or ranges such as "0-7" or "0-3,6"')
    first = int(match.group(1))
    last = int(match.group(2)) if match.group(2) is not None else first
    if last < first:
        raise ValueError(f"range {part} runs backwards (write {last}-{first})")
    if last > MAX_DEVICE_ID:
        raise ValueError(f"device ids must be 0..{MAX_DEVICE_ID}")
    return range(first, last + 1)


def _device_id(item: object) -> int:
    if isinstance(item, bool) or not isinstance(item, int):
        raise ValueError('must be all, a list of ids, or ranges such as "0-7" or "0-3,6"')
    if not 0 <= item <= MAX_DEVICE_ID:
        raise ValueError(f"device ids must be 0..{MAX_DEVICE_ID}")
    return item


def format_size(size: int) -> str:
    """``10485760`` -> ``"10MiB"``, ``1610612736`` -> ``"1.5GiB"``, ``1000`` -> ``"1000B"``."""
    for unit in ("TiB", "GiB", "MiB", "KiB"):
        scale = SIZE_UNITS[unit.lower()]
        if size >= scale:
            return f"{size // scale}{unit}" if size % scale == 0 else f"{size / scale:.1f}{unit}"
    return f"{size}B"


def format_ids(ids: object) -> str:
    """``[0, 1, 2, 3, 6]`` -> ``"0-3,6"``."""
    ordered = sorted(set(cast(Iterable[int], ids)))
    runs: List[List[int]] = []
    for device in ordered:
        if runs and device == runs[-1][1] + 1:
            runs[-1][1] = device
        else:
            runs.append([device, device])
    return ",".join(str(a) if a == b else f"{a}-{b}" for a, b in runs)


MAX_SWEEP = 64
"""Most sizes one sweep may hold."""

_SWEEP = re.compile(r"^\s*([^.\s][^.]*?)\s*\.\.\s*(\S+?)\s*(?:[x×]\s*(\S+))?\s*$", re.IGNORECASE)
_SWEEP_HINT = 'a size, a list of sizes, or a range such as "4KiB..64MiB x2" (from..to x factor)'


def parse_sizes(value: object) -> Union[int, Tuple[int, ...]]:
    """One size (as ``parse_size``) or a sweep: a list of sizes, or ``"4KiB..64MiB x2"`` (each
    size ``factor`` times the one before, default 2, and the upper bound always last). A sweep
    comes back ascending, without repeats; a sweep of one size is that size."""
    if isinstance(value, list):
        sizes = [parse_size(item) for item in value]
    elif isinstance(value, str) and ".." in value:
        sizes = _size_range(value)
    else:
        return parse_size(value)
    if not sizes:
        raise ValueError(f"must be {_SWEEP_HINT}")
    repeated = sorted({s for s in sizes if sizes.count(s) > 1})
    if repeated:
        raise ValueError(f"size {format_size(repeated[0])} is listed twice")
    if len(sizes) > MAX_SWEEP:
        raise ValueError(f"a sweep holds at most {MAX_SWEEP} sizes")
    return sizes[0] if len(sizes) == 1 else tuple(sorted(sizes))


def _size_range(text: str) -> List[int]:
    match = _SWEEP.match(text)
    if not match:
        raise ValueError(f"not a size range: use {_SWEEP_HINT}")
    low, high = parse_size(match.group(1)), parse_size(match.group(2))
    factor = _factor(match.group(3) or "2")
    if high < low:
        raise ValueError(f"range {text.strip()} runs backwards")
    sizes: List[int] = []
    size = float(low)
    while round(size) < high and len(sizes) <= MAX_SWEEP:
        sizes.append(int(round(size)))
        size = max(size * factor, sizes[-1] + 1.0)
    return sizes + [high]


def _factor(text: str) -> float:
    try:
        factor = float(text)
    except ValueError:
        factor = math.nan
    if not math.isfinite(factor) or factor <= 1:
        raise ValueError(f"the factor after x must be a number > 1 (got {text})")
    return factor
