"""The HTML report's fleet view: each device's median H2D/D2H with min-max whiskers, in (host, device)
order, against the fleet median of its chip, the outlier line, outliers ringed, and the chip's
reference figures. Every device's label is coloured by its status; a device that did not pass gets
a shaded column, a triangle and its status word under its label (the first cause in the tooltip),
so a device without figures (UNAVAILABLE, an early crash) is still seen. Also the colours every
chart of the page shares."""

from __future__ import annotations

from html import escape
from typing import Any, Dict, List, Optional, Sequence, Tuple

from orchestrator.report import fmt, svg, table
from orchestrator.results import outliers, reference
from orchestrator.results.records import Cause, Verdict
from orchestrator.results.status import Status
from workers.events import DIRECTIONS

COLORS = {
    "h2d": "#1f77b4",
    "d2h": "#ff7f0e",
    "hbm": "#2ca02c",
    "ddr": "#9467bd",
    "hbm_huge": "#98df8a",
    "ddr_huge": "#c5b0d5",
}
STATUS_COLORS = {
    Status.PASS: "#2ca02c",
    Status.FAIL: "#d62728",
    Status.CRASHED: "#a01010",
    Status.SKIPPED: "#7f7f7f",
    Status.ABORTED: "#7f7f7f",
    Status.INCOMPLETE: "#7f7f7f",
}
OTHER_STATUS = "#b35900"  # HUNG, UNAVAILABLE, BUSY, HOST_ERROR, RUNNING
COLUMN = (64, 90)  # pixels per device: one host (labels are ids), several (labels are host:id)


def status_color(status: Status) -> str:
    return STATUS_COLORS.get(status, OTHER_STATUS)


def fleet_view(
    verdicts: Sequence[Verdict], medians: outliers.FleetMedians, data: Dict[str, Any], fraction: Optional[float]
) -> str:
    """The section: a heading, the chart (in a container that scrolls when it is wider than the
    page), and a note per chip (fleet median, reference figures)."""
    order = sorted(verdicts, key=lambda v: (v.result.host, v.result.device))
    dots, whiskers, rings = _fleet_points(order)
    hosts = len({v.result.host for v in order})
    width = max(560, COLUMN[hosts > 1] * (len(order) + 1))
    chart = svg.Chart(
        "Median bandwidth per device (whiskers: min to max)",
        "GB/s",
        [
            svg.Series("H2D", COLORS["h2d"], [p for p, _ in dots["h2d"]], True, [t for _, t in dots["h2d"]]),
            svg.Series("D2H", COLORS["d2h"], [p for p, _ in dots["d2h"]], True, [t for _, t in dots["d2h"]]),
        ],
        rules=_fleet_rules(order, medians, fraction, data),
        x_labels=[(i, v.name if hosts > 1 else str(v.result.device)) for i, v in enumerate(order, start=1)],
        x_label_colors=[status_color(v.status) for v in order],
        css="plot fleet",
        size=(width, 260),
        x_max=len(order) + 1,
        whiskers=whiskers,
        rings=rings,
        shades=[_column(i, v) for i, v in enumerate(order, start=1) if v.status is not Status.PASS],
        flags=[_flag(i, v) for i, v in enumerate(order, start=1) if v.status is not Status.PASS],
    )
    return (
        "<h2>Fleet view: is this normal?</h2>"
        + f'<div class="scroll"><div class="wide" style="min-width:{width * 3 // 4}px">{svg.render(chart)}</div></div>'
        + "".join(f"<p class=note>{escape(n)}</p>" for n in _fleet_notes(order, medians, fraction, data))
    )


def _why(v: Verdict) -> str:
    first = table.first_fault(v, width=None)
    return f"{v.name} {v.status.value}" + (f": {first}" if first else f": {v.status.meaning}")


def _column(i: int, v: Verdict) -> svg.Shade:
    return svg.Shade(_why(v), status_color(v.status), i - 0.5, i + 0.5, opacity=0.12)


def _flag(i: int, v: Verdict) -> svg.Flag:
    return svg.Flag(i, v.status.value, status_color(v.status), _why(v))


Dot = Tuple[svg.Point, str]


def _fleet_points(order: Sequence[Verdict]) -> Tuple[Dict[str, List[Dot]], List[Any], List[Any]]:
    """Per direction the median dots (with their tooltips), min-max whiskers, and rings around the outliers."""
    dots: Dict[str, List[Dot]] = {d: [] for d in DIRECTIONS}
    whiskers, rings = [], []
    for i, v in enumerate(order, start=1):
        for d, dx in (("h2d", -0.15), ("d2h", 0.15)):
            stats = getattr(v.result, d) or {}
            if isinstance(stats.get("median"), (int, float)):
                m = stats["median"]
                low, high = stats.get("min") or m, stats.get("max") or m
                spread = f"min {fmt.rate(low)}, max {fmt.rate(high)}"
                tip = f"{v.name} {v.status.value}: {d.upper()} median {fmt.rate(m)} ({spread})"
                dots[d].append(((i + dx, m), tip))
                whiskers.append((i + dx, low, high, COLORS[d]))
                rings += [(i + dx, m, w.message) for w in _outliers(v) if w.detail.get("direction") == d]
    return dots, whiskers, rings


def _outliers(v: Verdict) -> List[Cause]:
    return [c for c in v.warnings + v.causes if c.fault == "outlier"]


def _chip(v: Verdict) -> str:
    return v.result.chip or "unknown"


def _runs(order: Sequence[Verdict], chip: str) -> List[Tuple[float, float]]:
    """The x spans of the consecutive devices of ``chip`` (one span when the chips are not mixed)."""
    runs: List[Tuple[int, int]] = []
    for i, v in enumerate(order, start=1):
        if _chip(v) == chip:
            runs[-1:] = [(runs[-1][0], i)] if runs and runs[-1][1] == i - 1 else runs[-1:] + [(i, i)]
    return [(first - 0.4, last + 0.4) for first, last in runs]


def _fleet_rules(
    order: Sequence[Verdict], medians: outliers.FleetMedians, fraction: Optional[float], data: Dict[str, Any]
) -> List[svg.Rule]:
    rules = []
    for chip in dict.fromkeys(_chip(v) for v in order):
        lines: List[Tuple[float, str, str, str]] = []
        for d in DIRECTIONS:
            if (chip, d) in medians:
                m = medians[(chip, d)][0]
                lines.append((m, f"{chip} fleet median {d.upper()} {fmt.rate(m)}", COLORS[d], "6 3"))
                if fraction is not None:
                    lines.append((m * (1 - fraction), f"{chip} {d.upper()} outlier line", "#d62728", "2 3"))
        ref = reference.host_link(chip, [v.result.run_mode for v in order if _chip(v) == chip])
        if ref is not None and not data.get("simulated"):
            lines.append((ref.expected_gbps, f"{chip} expected (estimate)", "#2ca02c", "8 4"))
        rules += [
            svg.Rule(y, label, color, dash, x0, x1) for x0, x1 in _runs(order, chip) for y, label, color, dash in lines
        ]
    return rules


def _fleet_notes(
    order: Sequence[Verdict], medians: outliers.FleetMedians, fraction: Optional[float], data: Dict[str, Any]
) -> List[str]:
    notes = []
    for chip in dict.fromkeys(_chip(v) for v in order):
        found = [f"{d.upper()} {fmt.rate(medians[(chip, d)][0])}" for d in DIRECTIONS if (chip, d) in medians]
        if not found:
            notes.append(f"{chip}: fewer than {outliers.MIN_PEERS} finished devices, no fleet comparison.")
        else:
            limit = f"; dotted red: {fraction:.0%} below it (max_below_fleet)" if fraction is not None else ""
            notes.append(f"{chip}: fleet median {', '.join(found)}{limit}; ringed: outliers.")
        ref = reference.host_link(chip, [v.result.run_mode for v in order if _chip(v) == chip])
        if ref is not None:
            notes.append(
                f"{chip} reference: {ref.link} link, {ref.link_gbps:g} GB/s raw per direction"
                f"{' (estimated link)' if ref.link_estimated else ''}; expected about {ref.expected_gbps:g} "
                f"GB/s (an estimate){'; does not apply to simulated devices' if data.get('simulated') else ''}."
                f" Source: {ref.source}."
            )
    failed = [v for v in order if v.status is not Status.PASS]
    if failed:
        notes.append(
            f"{len(failed)} of {len(order)} device(s) did not pass (shaded, status under the label): "
            + ", ".join(f"{v.name} {v.status.value}" for v in failed)
            + "."
        )
    return notes
