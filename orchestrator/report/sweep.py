"""What the table shows of the deeper transfer modes, from a worker's ``Finished.curve``.

A size sweep adds the peak median and the size it was reached at (the H2D/D2H columns already show
the largest size); ``bidirectional`` adds the summed median; ``host_memory: both`` adds the
pinned/pageable ratio of the medians. Columns appear only when some device ran that mode, in the
wide table (``--wide``); the 100-column one (``narrow.py``) names them in a line under it.
"""

from __future__ import annotations

from typing import Any, Callable, Dict, List, Optional, Sequence, Tuple

from orchestrator.results.collect import DeviceResult
from orchestrator.spec.units import format_size
from workers.events import DIRECTIONS

Curve = List[Dict[str, Any]]


def _median(entry: Optional[Dict[str, Any]], key: str) -> Optional[float]:
    stats = (entry or {}).get(key) or {}
    return stats.get("median")


def peak(curve: Curve, direction: str) -> Optional[Tuple[float, int]]:
    """(highest median, its block size) over the sweep, or None."""
    points = [(m, e["size"]) for e in curve if (m := _median(e, direction)) is not None]
    return max(points) if points else None


def _peak_cell(r: DeviceResult) -> str:
    h2d, d2h = [peak(r.curve or [], d) for d in DIRECTIONS]
    if h2d is None or d2h is None:
        return "-"
    (h, hs), (d, ds) = h2d, d2h
    return f"{h:.2f}@{format_size(hs)} / {d:.2f}@{format_size(ds)}"


def _sum_cell(r: DeviceResult) -> str:
    value = _median((r.curve or [{}])[-1].get("sum") and (r.curve or [{}])[-1], "sum")
    return "-" if value is None else f"{value:.2f}"


def _ratio_cell(r: DeviceResult) -> str:
    ratio = ((r.curve or [{}])[-1] or {}).get("ratio") or {}
    if ratio.get("h2d") is None or ratio.get("d2h") is None:
        return "-"
    return f"{ratio['h2d']:.2f} / {ratio['d2h']:.2f}"


COLUMNS: Tuple[Tuple[str, Callable[[DeviceResult], bool], Callable[[DeviceResult], str]], ...] = (
    ("sweep peak GB/s\nH2D / D2H", lambda r: len(r.curve or []) > 1, _peak_cell),
    ("bidir sum\nGB/s", lambda r: bool(((r.curve or [{}])[-1] or {}).get("sum")), _sum_cell),
    ("pinned/pageable\nH2D / D2H", lambda r: bool(((r.curve or [{}])[-1] or {}).get("ratio")), _ratio_cell),
)


def columns(results: Sequence[DeviceResult]) -> Tuple[List[str], List[List[str]]]:
    """Extra headers and, per result, the extra cells (empty when no device ran these modes)."""
    chosen = [(title, cell) for title, used, cell in COLUMNS if any(used(r) for r in results)]
    return [t for t, _ in chosen], [[cell(r) for _, cell in chosen] for r in results]
