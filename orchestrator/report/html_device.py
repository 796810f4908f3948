"""The HTML report's per-device figures: free device memory and copy bandwidth over the device's own time.

x is seconds since the device started (its ``started`` record, else its first record), so in a serial
run each device fills its own charts; the axis title says when in the run that was. The memory chart
spans 0 to the device's total memory, in the unit of that total, with the range the run saw shaded;
a zoom beside it shows that range as each pool's free memory below its highest reading, so an 8 MiB
sawtooth on a 4 GiB device reads as what it is. A device with no samples gets a sentence saying why,
never an empty chart. Points come from the journal's records; each series keeps at most
``MAX_POINTS`` (``svg.downsample``), so a week-long run makes a page of the same size as a short one.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from html import escape
from typing import Any, Dict, List, Optional, Sequence, Tuple, cast

from orchestrator.report import fmt, svg, table
from orchestrator.report.html_fleet import COLORS, status_color
from orchestrator.results.records import Verdict
from orchestrator.results.status import Status
from orchestrator.spec.units import format_size
from workers import figures
from workers.events import DIRECTIONS

MAX_POINTS = 400
MARKED = ("fault", "capacity", "crashed", "hung")
SAMPLED = ("started", "progress", "cycle_end", "finished") + MARKED
NOT_RUN = {
    Status.UNAVAILABLE: "the device could not be opened",
    Status.BUSY: "another process held the device, so it was not tested",
    Status.HOST_ERROR: "the host could not run the test",
    Status.SKIPPED: "its worker was never started",
}
"""Why a device of these statuses has no samples at all."""
CUT_SHORT = (Status.CRASHED, Status.HUNG, Status.ABORTED, Status.INCOMPLETE)
Key = Tuple[str, int]


@dataclass
class DeviceSeries:
    """What one device's records say over time: x is seconds since the device started, ``start``
    is when that was (seconds since the run's first record); memory figures are bytes."""

    start: float = 0.0
    memory: Dict[str, List[svg.Point]] = field(default_factory=dict)
    totals: Dict[str, int] = field(default_factory=dict)
    rate: Dict[str, List[svg.Point]] = field(default_factory=dict)  # per copy, from progress
    median: Dict[str, List[svg.Point]] = field(default_factory=dict)  # run medians, from cycle_end
    faults: List[float] = field(default_factory=list)

    def span(self) -> float:
        """The device's last x: where its charts' time axis ends."""
        lists = list(self.memory.values()) + list(self.rate.values()) + list(self.median.values())
        return max([pts[-1][0] for pts in lists if pts] + self.faults, default=0.0)


def collect_series(records: Sequence[Dict[str, Any]]) -> Dict[Key, DeviceSeries]:
    """Per device, the memory and bandwidth samples of the journal records, in arrival order."""
    timed = [r for r in records if isinstance(r.get("t"), (int, float))]
    t0 = min((r["t"] for r in timed), default=0.0)
    sampled = [r for r in timed if r.get("kind") in SAMPLED]
    first: Dict[Key, float] = {}
    opened: Dict[Key, float] = {}
    for rec in sampled:
        first.setdefault(_key(rec), rec["t"])
        if rec["kind"] == "started":
            opened.setdefault(_key(rec), rec["t"])
    out: Dict[Key, DeviceSeries] = {}
    for rec in sampled:
        origin = opened.get(_key(rec), first[_key(rec)])
        _add(out.setdefault(_key(rec), DeviceSeries(start=origin - t0)), rec, max(0.0, rec["t"] - origin))
    return out


def _key(rec: Dict[str, Any]) -> Key:
    return cast(Key, (rec.get("host"), rec.get("device")))


def _add(s: DeviceSeries, rec: Dict[str, Any], x: float) -> None:
    for kind, sample in (rec.get("memory") or {}).items():
        if isinstance(sample, dict) and sample.get("total") and isinstance(sample.get("free"), int):
            s.totals[kind] = sample["total"]
            s.memory.setdefault(kind, []).append((x, float(sample["free"])))
    if rec["kind"] == "progress":
        for d in DIRECTIONS:
            if isinstance(rec.get(f"{d}_gbps"), (int, float)):
                s.rate.setdefault(d, []).append((x, float(rec[f"{d}_gbps"])))
    elif rec["kind"] == "cycle_end":
        for d in DIRECTIONS:
            if isinstance((rec.get(d) or {}).get("median"), (int, float)):
                s.median.setdefault(d, []).append((x, float(rec[d]["median"])))
    elif rec["kind"] in MARKED:
        s.faults.append(x)


def figure(v: Verdict, s: Optional[DeviceSeries]) -> str:
    """One device's figure: caption, charts (or why there are none), notes, a size sweep's curve."""
    s = s or DeviceSeries()
    rates, label = _rates(s)
    charts: List[str] = []
    notes: List[str] = []
    if not s.memory and not rates:
        notes.append(missing(v, "memory or bandwidth"))
    else:
        charts += [_memory(v, s), _zoom(v, s)] if s.memory else []
        notes += [_memory_note(s)] if s.memory else [missing(v, "memory")]
        charts += [_bandwidth(v, s, rates, label)] if rates else []
        notes += [] if rates else [missing(v, "bandwidth")]
    charts.append(_curve(v))
    word = f'<span class="status" style="color:{status_color(v.status)}">{v.status.value}</span>'
    return (
        f'<figure class="device" data-device="{escape(v.name)}" data-status="{v.status.value}"><figcaption>'
        f"<b>{escape(v.name)}</b> {word}{' &#9888;' if v.warnings else ''} {escape(v.result.chip or '')} "
        f"<span class=why>{escape(table.first_fault(v, width=None))}</span></figcaption>"
        f'<div class="charts">{"".join(charts)}</div>'
        + "".join(f'<p class="{"nodata" if n.startswith("no ") else "note"}">{escape(n)}</p>' for n in notes)
        + "</figure>"
    )


def missing(v: Verdict, what: str) -> str:
    """The sentence in place of a chart: ``no memory samples: the device could not be opened (UNAVAILABLE)``."""
    reason = NOT_RUN.get(v.status) or ("no copy was timed" if what == "bandwidth" else "the worker reported none")
    return f"no {what} samples: {reason}{' before the worker ended' * (v.status in CUT_SHORT)} ({v.status.value})"


def _rates(s: DeviceSeries) -> Tuple[Dict[str, List[svg.Point]], str]:
    """Per-copy rates when there are at least two per direction, else the cycles' medians, else
    what there is (a worker that ended in its first cycle: a dot)."""
    if sum(len(p) for p in s.rate.values()) >= 2 * len(s.rate) > 0 or not s.median:
        return s.rate, ""
    return s.median, " median"


def _x_title(s: DeviceSeries) -> str:
    return f"time since the device started, {fmt.seconds(s.start)} into the run"


def _memory(v: Verdict, s: DeviceSeries) -> str:
    total = max(s.totals.values())
    unit, size = figures.binary_unit(total)
    kinds = sorted(s.memory)
    chart = svg.Chart(
        f"{v.name}: free device memory, from 0 to the device's total ({fmt.amount(total)})",
        f"{unit} free",
        [svg.Series(fmt.pool_name(k), _color(k), _scaled(s.memory[k], size)) for k in kinds],
        rules=[svg.Rule(t / size, f"{fmt.pool_name(k)} total {fmt.amount(t)}", _color(k)) for k, t in s.totals.items()],
        marks=s.faults,
        css="plot memory",
        x_max=s.span(),
        y_span=(0.0, total / size),
        x_title=_x_title(s),
        shades=[_range_shade(k, s.memory[k], size) for k in kinds],
    )
    return svg.render(chart)


def _range_shade(kind: str, points: Sequence[svg.Point], size: int) -> svg.Shade:
    lo, hi = min(y for _, y in points), max(y for _, y in points)
    label = f"{fmt.pool_name(kind)}: free {fmt.amount(lo)} to {fmt.amount(hi)} during the run ({fmt.amount(hi - lo)})"
    return svg.Shade(label, _color(kind), None, None, lo / size, hi / size, opacity=0.3)


def _zoom(v: Verdict, s: DeviceSeries) -> str:
    """The shaded range up close: per pool, free memory minus its highest reading (0 at the top)."""
    drops = {k: [(x, y - max(f for _, f in pts)) for x, y in pts] for k, pts in sorted(s.memory.items())}
    deepest = -min(y for pts in drops.values() for _, y in pts)
    if deepest <= 0:
        return ""
    unit, size = figures.binary_unit(deepest)
    low, _, _ = svg.axis_range(-deepest / size, 0.0)
    chart = svg.Chart(
        f"{v.name}: zoom on the shaded range: free memory below each pool's highest reading",
        f"{unit} vs. highest",
        [svg.Series(fmt.pool_name(k), _color(k), _scaled(pts, size)) for k, pts in drops.items()],
        marks=s.faults,
        css="plot memory-zoom",
        size=(240, 170),
        x_max=s.span(),
        y_span=(low, 0.0),
        x_title="zoom on the shaded range",
        legend=False,
    )
    return svg.render(chart)


def _memory_note(s: DeviceSeries) -> str:
    pools = [
        f"{fmt.pool_name(k)} lowest {fmt.amount(min(y for _, y in pts))} of {fmt.amount(s.totals[k])}, "
        f"varying by {fmt.amount(max(y for _, y in pts) - min(y for _, y in pts))}"
        for k, pts in sorted(s.memory.items())
    ]
    return "Free memory (shaded: the range seen, shown close up in the zoom chart): " + "; ".join(pools) + "."


def _bandwidth(v: Verdict, s: DeviceSeries, rates: Dict[str, List[svg.Point]], label: str) -> str:
    chart = svg.Chart(
        f"{v.name}: copy bandwidth",
        "GB/s",
        [
            svg.Series(d.upper() + label, COLORS[d], svg.downsample(rates[d], MAX_POINTS))
            for d in DIRECTIONS
            if rates.get(d)
        ],
        marks=s.faults,
        css="plot bandwidth",
        x_max=s.span(),
        x_title=_x_title(s),
    )
    return svg.render(chart)


def _scaled(points: Sequence[svg.Point], size: int) -> List[svg.Point]:
    return svg.downsample([(x, y / size) for x, y in points], MAX_POINTS)


def _color(kind: str) -> str:
    return COLORS.get(kind, "#444")


def _curve(v: Verdict) -> str:
    """A size sweep's bandwidth curve: median GB/s per block size, sizes evenly spaced (log scale)."""
    curve = [e for e in (v.result.curve or []) if e.get("size")]
    if len(curve) < 2:
        return ""
    labels = [(float(i), format_size(e["size"])) for i, e in enumerate(curve)]
    series = [
        svg.Series(
            f"{d.upper()} median",
            COLORS[d],
            [(float(i), e[d]["median"]) for i, e in enumerate(curve) if (e.get(d) or {}).get("median") is not None],
            dots=True,
        )
        for d in DIRECTIONS
    ]
    chart = svg.Chart(
        f"{v.name}: bandwidth by block size",
        "GB/s",
        [s for s in series if s.points],
        x_unit="",
        x_labels=labels,
        css="plot curve",
        x_max=float(len(curve) - 1),
    )
    return svg.render(chart)
