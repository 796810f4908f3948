"""How a person reads a figure, in one place: an amount of bytes, a rate, a span of time, a ratio.

Every output (the table, the failure summary, fault messages, the drill-down, JUnit, the HTML page,
the live view, the doctor and the seed-compatible command) writes a measured figure with these, so
the same number reads the same way everywhere: ``16.0 GiB`` in the table is ``16.0 GiB`` in the live
view. Amounts are binary (GiB, MiB, KiB); rates are decimal GB/s, as link speeds are quoted. A size
the user wrote in a spec is shown as written (``orchestrator.spec.units.format_size``: ``64MiB``).
"""

from __future__ import annotations

import math
from typing import Any, Optional, Tuple

BINARY_UNITS = (("TiB", 1 << 40), ("GiB", 1 << 30), ("MiB", 1 << 20), ("KiB", 1 << 10))
UNKNOWN = "-"
"""What a figure that was not measured reads as."""

BYTE_KEYS = frozenset(
    {"bytes", "leak", "free", "total", "size", "held", "baseline", "lowest_free", "memory_size", "need", "available"}
)
"""Keys of a fault's detail whose numbers are amounts of bytes."""


def binary_unit(n: float) -> Tuple[str, int]:
    """The largest binary unit ``n`` bytes fill at least once, and its size (``B``, 1 below a KiB)."""
    return next(((unit, size) for unit, size in BINARY_UNITS if abs(n) >= size), ("B", 1))


def amount(n: Optional[float]) -> str:
    """A measured number of bytes: ``371.4 MiB``, ``0 B``, ``-2.0 MiB``; ``-`` when unknown."""
    if n is None:
        return UNKNOWN
    unit, size = binary_unit(n)
    return f"{int(n)} B" if size == 1 else f"{n / size:.1f} {unit}"


def gbps(value: Optional[float]) -> str:
    """A rate in decimal GB/s with two decimals (no unit: the column or sentence names it)."""
    return UNKNOWN if value is None else f"{value:.2f}"


def rate(value: Optional[float]) -> str:
    """A rate with its unit: ``14.32 GB/s``."""
    return UNKNOWN if value is None else f"{gbps(value)} GB/s"


def share(value: Optional[float]) -> str:
    """A fraction as a whole percentage: ``72%``; ``-`` when unknown."""
    return UNKNOWN if value is None or not math.isfinite(value) else f"{value:.0%}"


def seconds(value: Optional[float]) -> str:
    """A span of time: ``0.8s``, ``42.0s``, ``2m05s``, ``1h02m``, ``3d04h``; ``-`` when unknown."""
    if value is None or not math.isfinite(value):
        return UNKNOWN
    if value < 60:
        return f"{value:.1f}s"
    total = int(round(value))
    for unit, size, sub, subsize in (("d", 86400, "h", 3600), ("h", 3600, "m", 60), ("m", 60, "s", 1)):
        if total >= size:
            return f"{total // size}{unit}{(total % size) // subsize:02d}{sub}"
    return f"{value:.1f}s"  # pragma: no cover - every value of a minute or more matched above


def number(value: Any) -> str:
    """A plain figure of a record: floats to four significant digits, everything else as is."""
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value)


def detail(key: str, value: Any) -> str:
    """One value of a fault's detail, read by a person: amounts of bytes in units (with the exact
    count when it is not round), floats cut to four digits, lists and maps item by item."""
    if isinstance(value, bool) or value is None:
        return str(value).lower() if isinstance(value, bool) else "null"
    if key in BYTE_KEYS and isinstance(value, int):
        text = amount(value)
        return text if text.endswith(" B") or value % (1 << 10) == 0 else f"{text} ({value} bytes)"
    if key in BYTE_KEYS and isinstance(value, dict):
        return ", ".join(f"{k} {detail(key, v)}" for k, v in value.items())
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(detail(key, v) for v in value) + "]"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{k}: {detail(str(k), v)}" for k, v in value.items()) + "}"
    return number(value)
