"""The HTML report's fleet view: each device's median H2D/D2H with min-max whiskers, against the
fleet median of its chip, the outlier line, outliers ringed, and the chip's reference figures."""

from __future__ import annotations

from html import escape
from typing import Any, Dict, List, Optional, Sequence, Tuple

from orchestrator.report import svg
from orchestrator.results import outliers, reference
from orchestrator.results.records import Cause, Verdict
from workers.events import DIRECTIONS

COLORS = {
    "h2d": "#1f77b4",
    "d2h": "#ff7f0e",
    "hbm": "#2ca02c",
    "ddr": "#9467bd",
    "hbm_huge": "#98df8a",
    "ddr_huge": "#c5b0d5",
}


def fleet_view(
    verdicts: Sequence[Verdict], medians: outliers.FleetMedians, data: Dict[str, Any], fraction: Optional[float]
) -> str:
    """The section: a heading, the chart, and a note per chip (fleet median, reference figures)."""
    order = sorted(verdicts, key=lambda v: (v.result.chip or "", v.result.host, v.result.device))
    dots, whiskers, rings = _fleet_points(order)
    hosts = len({v.result.host for v in order})
    labels = [(i, v.name if hosts > 1 else str(v.result.device)) for i, v in enumerate(order, start=1)]
    chart = svg.Chart(
        "Median bandwidth per device (whiskers: min to max)",
        "GB/s",
        [
            svg.Series("H2D", COLORS["h2d"], dots["h2d"], dots=True),
            svg.Series("D2H", COLORS["d2h"], dots["d2h"], dots=True),
        ],
        rules=_fleet_rules(order, medians, fraction, data),
        x_labels=labels,
        css="plot fleet",
        size=(max(520, (80 if hosts > 1 else 40) * len(order)), 240),
        x_max=len(order) + 1,
        whiskers=whiskers,
        rings=rings,
    )
    return (
        "<h2>Fleet view: is this normal?</h2>"
        + svg.render(chart)
        + "".join(f"<p class=note>{escape(n)}</p>" for n in _fleet_notes(order, medians, fraction, data))
    )


def _fleet_points(order: Sequence[Verdict]) -> Tuple[Dict[str, List[svg.Point]], List[Any], List[Any]]:
    """Per direction the median dots, min-max whiskers, and rings around the outliers."""
    dots: Dict[str, List[svg.Point]] = {d: [] for d in DIRECTIONS}
    whiskers, rings = [], []
    for i, v in enumerate(order, start=1):
        for d, dx in (("h2d", -0.15), ("d2h", 0.15)):
            stats = getattr(v.result, d) or {}
            if isinstance(stats.get("median"), (int, float)):
                m = stats["median"]
                dots[d].append((i + dx, m))
                whiskers.append((i + dx, stats.get("min") or m, stats.get("max") or m, COLORS[d]))
                rings += [(i + dx, m, w.message) for w in _outliers(v) if w.detail.get("direction") == d]
    return dots, whiskers, rings


def _outliers(v: Verdict) -> List[Cause]:
    return [c for c in v.warnings + v.causes if c.fault == "outlier"]


def _fleet_rules(
    order: Sequence[Verdict], medians: outliers.FleetMedians, fraction: Optional[float], data: Dict[str, Any]
) -> List[svg.Rule]:
    rules = []
    for chip in dict.fromkeys(v.result.chip or "unknown" for v in order):
        xs = [i for i, v in enumerate(order, start=1) if (v.result.chip or "unknown") == chip]
        for d in DIRECTIONS:
            if (chip, d) in medians:
                m = medians[(chip, d)][0]
                rules.append(
                    svg.Rule(
                        m, f"{chip} fleet median {d.upper()} {m:.2f} GB/s", COLORS[d], "6 3", xs[0] - 0.4, xs[-1] + 0.4
                    )
                )
                if fraction is not None:
                    rules.append(
                        svg.Rule(
                            m * (1 - fraction),
                            f"{chip} {d.upper()} outlier line",
                            "#d62728",
                            "2 3",
                            xs[0] - 0.4,
                            xs[-1] + 0.4,
                        )
                    )
        ref = reference.host_link(chip, [v.result.run_mode for v in order if (v.result.chip or "unknown") == chip])
        if ref is not None and not data.get("simulated"):
            rules.append(
                svg.Rule(ref.expected_gbps, f"{chip} expected (estimate)", "#2ca02c", "8 4", xs[0] - 0.4, xs[-1] + 0.4)
            )
    return rules


def _fleet_notes(
    order: Sequence[Verdict], medians: outliers.FleetMedians, fraction: Optional[float], data: Dict[str, Any]
) -> List[str]:
    notes = []
    for chip in dict.fromkeys(v.result.chip or "unknown" for v in order):
        found = [f"{d.upper()} {medians[(chip, d)][0]:.2f} GB/s" for d in DIRECTIONS if (chip, d) in medians]
        if not found:
            notes.append(f"{chip}: fewer than {outliers.MIN_PEERS} finished devices, no fleet comparison.")
        else:
            limit = f"; dotted red: {fraction:.0%} below it (max_below_fleet)" if fraction is not None else ""
            notes.append(f"{chip}: fleet median {', '.join(found)}{limit}; ringed: outliers.")
        ref = reference.host_link(chip, [v.result.run_mode for v in order if (v.result.chip or "unknown") == chip])
        if ref is not None:
            notes.append(
                f"{chip} reference: {ref.link} link, {ref.link_gbps:g} GB/s raw per direction"
                f"{' (estimated link)' if ref.link_estimated else ''}; expected about {ref.expected_gbps:g} "
                f"GB/s (an estimate){'; does not apply to simulated devices' if data.get('simulated') else ''}."
                f" Source: {ref.source}."
            )
    return notes
