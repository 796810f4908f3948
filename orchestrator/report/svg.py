"""Small inline-SVG line and dot charts for the HTML report: no library, no script, no network.

A chart is drawn from plain data: ``Series`` (a label, a colour, ``(x, y)`` points), optional
horizontal ``Rule`` lines, shaded ``Shade`` areas, vertical ``marks`` (e.g. faults) and ``Flag`` words
under the x axis. Every axis has round ticks, 1, 2 or 5 times a power of ten (``nice_step``); a time
axis (``x_unit="s"``) counts in seconds, minutes, hours or days, whichever fits its span. The
charts scale with the page (``viewBox``; the page's style sets their width). ``downsample`` bounds
the points per series while keeping every bucket's lowest and highest value, so dips and slopes survive.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from html import escape
from typing import Callable, List, Optional, Sequence, Tuple

Point = Tuple[float, float]
MARGIN = (48, 12, 18, 4)  # left, right, top, bottom (pixels); each row of text under the plot adds ROW
ROW = 13
TIME_UNITS = (("d", 86400.0), ("h", 3600.0), ("min", 60.0))  # used once a span is twice the unit (3 min for min)


@dataclass(frozen=True)
class Series:
    label: str
    color: str
    points: Sequence[Point]
    dots: bool = False
    tips: Sequence[str] = ()  # per dot, its tooltip (dots only)


@dataclass(frozen=True)
class Rule:
    """A horizontal line at ``y`` over ``x0..x1`` (whole width when None)."""

    y: float
    label: str
    color: str
    dash: str = "4 3"
    x0: Optional[float] = None
    x1: Optional[float] = None


@dataclass(frozen=True)
class Shade:
    """A shaded rectangle over ``x0..x1`` and ``y0..y1`` (None: the plot's edge), at least 6 px high."""

    label: str
    color: str
    x0: Optional[float] = None
    x1: Optional[float] = None
    y0: Optional[float] = None
    y1: Optional[float] = None
    opacity: float = 0.25


@dataclass(frozen=True)
class Flag:
    """A word under the x axis at ``x`` (e.g. a status), with a triangle over the plot and a tooltip."""

    x: float
    text: str
    color: str
    tip: str


@dataclass(frozen=True)
class Chart:
    title: str
    y_unit: str
    series: Sequence[Series]
    rules: Sequence[Rule] = ()
    marks: Sequence[float] = ()
    x_unit: str = "s"  # "s": a time axis in seconds, shown in the unit that fits
    x_labels: Sequence[Tuple[float, str]] = ()  # categories instead of numeric x ticks
    x_label_colors: Sequence[str] = ()  # per category, its label's colour
    css: str = "plot"
    size: Tuple[int, int] = (440, 170)
    x_max: Optional[float] = None
    y_span: Optional[Tuple[float, float]] = None  # exact y range; None: 0 to a round step above the data
    x_title: str = ""  # a line under the x axis
    whiskers: Sequence[Tuple[float, float, float, str]] = ()  # x, low, high, colour
    rings: Sequence[Tuple[float, float, str]] = ()  # x, y, what is wrong there
    shades: Sequence[Shade] = ()
    flags: Sequence[Flag] = ()
    legend: bool = True


def downsample(points: Sequence[Point], limit: int) -> List[Point]:
    """At most ``limit`` points: per bucket of consecutive points, the lowest and the highest."""
    n = len(points)
    if n <= limit:
        return list(points)
    if limit < 2:  # one point cannot hold a bucket's lowest and highest: keep the lowest
        return [min(points, key=lambda p: p[1])][:limit]
    buckets = limit // 2
    out: List[Point] = []
    for i in range(buckets):  # integer bounds: every point falls in exactly one bucket, the last one too
        chunk = points[i * n // buckets : (i + 1) * n // buckets]
        lo, hi = min(chunk, key=lambda p: p[1]), max(chunk, key=lambda p: p[1])
        out += [lo] if lo == hi else sorted((lo, hi))
    return out


def nice_step(span: float, most: int = 5) -> float:
    """The smallest 1, 2 or 5 times a power of ten that cuts ``span`` into at most ``most`` steps
    (1 for an empty, negative or infinite span)."""
    if span <= 0 or not math.isfinite(span):
        return 1.0
    power: float = 10 ** math.floor(math.log10(span / most))
    return next(s for s in (_clean(m * power) for m in (1, 2, 5, 10)) if span / s <= most * (1 + 1e-9))


def axis_range(lo: float, hi: float, most: int = 5) -> Tuple[float, float, float]:
    """``lo..hi`` widened to whole steps of ``nice_step``: ``(low, high, step)``; never empty."""
    hi = hi if hi > lo else lo + (abs(lo) or 1.0)
    step = nice_step(hi - lo, most)
    return _clean(math.floor(lo / step + 1e-9) * step), _clean(math.ceil(hi / step - 1e-9) * step), step


def ticks(lo: float, hi: float, step: float) -> List[float]:
    """Every whole multiple of ``step`` from ``lo`` to ``hi``."""
    first, last = math.ceil(lo / step - 1e-9), math.floor(hi / step + 1e-9)
    return [_clean(k * step) for k in range(first, last + 1)]


def tick_text(value: float, step: float) -> str:
    """An axis tick: as many decimals as ``step`` needs (``0.25``, ``3``), never ``-0``."""
    decimals = max(0, -math.floor(math.log10(step) + 1e-9)) if step > 0 else 0
    text = f"{value:.{decimals}f}"
    return "0" if float(text) == 0 else text


def time_unit(seconds: float) -> Tuple[str, float]:
    """The unit a time axis spanning ``seconds`` counts in, and its length in seconds."""
    return next(((u, size) for u, size in TIME_UNITS if seconds >= (3 if u == "min" else 2) * size), ("s", 1.0))


def _clean(value: float) -> float:
    return float(f"{value:.12g}")


def render(chart: Chart) -> str:
    """The chart as one ``<svg>`` element, with a title, axes, a legend and its data."""
    width, height = chart.size
    bottom = height - MARGIN[3] - ROW * (1 + bool(chart.flags) + bool(chart.x_title))
    x_max, x_ticks = _x_axis(chart)
    (y_lo, y_hi), y_step = _y_axis(chart)
    fx, fy = _scale(0.0, x_max, MARGIN[0], width - MARGIN[1]), _scale(y_lo, y_hi, bottom, MARGIN[2])
    box = _Box(width, bottom, fx, fy)
    parts = [
        f'<svg class="{chart.css}" width="{width}" height="{height}" viewBox="0 0 {width} {height}" '
        f'role="img"><title>{escape(chart.title)}</title>'
    ]
    parts += _axes(chart, box, x_ticks, [(y, tick_text(y, y_step)) for y in ticks(y_lo, y_hi, y_step)])
    parts += [_shade(s, box, x_max, (y_lo, y_hi)) for s in chart.shades]
    parts += [_rule(r, fx, fy, x_max) for r in chart.rules]
    parts += [
        f'<line class="mark" x1="{fx(m):.1f}" x2="{fx(m):.1f}" y1="{MARGIN[2]}" y2="{bottom}" '
        f'stroke="#d62728" stroke-width="1.5"/>'
        for m in chart.marks
    ]
    parts += [
        f'<line class="whisker" x1="{fx(x):.1f}" x2="{fx(x):.1f}" y1="{fy(lo):.1f}" y2="{fy(hi):.1f}" '
        f'stroke="{color}" stroke-width="1" opacity="0.6"/>'
        for x, lo, hi, color in chart.whiskers
    ]
    parts += [_series(s, fx, fy) for s in chart.series]
    parts += [
        f'<circle class="outlier" cx="{fx(x):.1f}" cy="{fy(y):.1f}" r="8" fill="none" stroke="#d62728" '
        f'stroke-width="2"><title>{escape(why)}</title></circle>'
        for x, y, why in chart.rings
    ]
    parts += [_flag(f, box) for f in chart.flags]
    parts.append(_legend(chart) if chart.legend else "")
    return "".join(parts) + "</svg>"


Scale = Callable[[float], float]


@dataclass(frozen=True)
class _Box:
    """The plot area: the svg's width, the pixel row of the x axis, and the data -> pixel scales."""

    width: int
    bottom: float
    fx: Scale
    fy: Scale


def _scale(lo: float, hi: float, out_lo: float, out_hi: float) -> Scale:
    span = (hi - lo) or 1.0
    return lambda v: out_lo + (v - lo) / span * (out_hi - out_lo)


def _x_axis(chart: Chart) -> Tuple[float, List[Tuple[float, str]]]:
    """The x range's end and its ticks: the categories given, else round steps in the axis' unit."""
    xs = [x for s in chart.series for x, _ in s.points] + list(chart.marks)
    data_max = chart.x_max or max(xs, default=1.0) or 1.0
    if chart.x_labels:
        return data_max, list(chart.x_labels)
    unit, size = time_unit(data_max) if chart.x_unit == "s" else (chart.x_unit, 1.0)
    _, hi, step = axis_range(0.0, data_max / size, most=4)
    every = step * (1 if chart.size[0] >= 300 else 2)  # a narrow chart labels every other step
    suffix = f" {unit}" if unit else ""
    return hi * size, [(t * size, tick_text(t, step) + suffix) for t in ticks(0.0, hi, every)]


def _y_axis(chart: Chart) -> Tuple[Tuple[float, float], float]:
    if chart.y_span is not None:
        lo, hi = chart.y_span
        return (lo, hi), nice_step(hi - lo)
    ys = [y for s in chart.series for _, y in s.points] + [r.y for r in chart.rules]
    ys += [hi for _, _, hi, _ in chart.whiskers]
    lo, hi, step = axis_range(0.0, max(ys, default=1.0))
    return (lo, hi), step


def _axes(chart: Chart, box: _Box, x_ticks: List[Tuple[float, str]], y_ticks: List[Tuple[float, str]]) -> List[str]:
    left, right = MARGIN[0], box.width - MARGIN[1]
    out = [
        f'<rect x="{left}" y="{MARGIN[2]}" width="{right - left}" height="{box.bottom - MARGIN[2]:.1f}" '
        f'fill="#fafafa" stroke="#ccc"/>'
    ]
    out += [
        f'<line x1="{left}" x2="{right}" y1="{box.fy(y):.1f}" y2="{box.fy(y):.1f}" stroke="#e4e4e4"/>'
        f'<text x="{left - 4}" y="{box.fy(y) + 4:.1f}" text-anchor="end" class="tick y">{escape(t)}</text>'
        for y, t in y_ticks
    ]
    colors = [f' style="fill:{c}"' for c in chart.x_label_colors] + [""] * len(x_ticks)
    out += [
        f'<text x="{box.fx(x):.1f}" y="{box.bottom + ROW - 1:.1f}" text-anchor="{_anchor(box, box.fx(x), t)}" '
        f'class="tick x"{color}>{escape(t)}</text>'
        for (x, t), color in zip(x_ticks, colors)
    ]
    out.append(f'<text x="6" y="{MARGIN[2] - 5}" class="unit">{escape(chart.y_unit)}</text>')
    if chart.x_title:
        y = box.bottom + ROW * (2 + bool(chart.flags)) - 2
        out.append(f'<text x="{left}" y="{y:.1f}" class="axis-title">{escape(chart.x_title)}</text>')
    return out


def _anchor(box: _Box, x: float, text: str) -> str:
    """``middle``, or ``end`` for a label that would run past the chart's right edge."""
    return "end" if x + 3.5 * len(text) > box.width else "middle"


def _shade(s: Shade, box: _Box, x_max: float, y_span: Tuple[float, float]) -> str:
    x0, x1 = box.fx(s.x0 if s.x0 is not None else 0.0), box.fx(s.x1 if s.x1 is not None else x_max)
    y0, y1 = box.fy(s.y0 if s.y0 is not None else y_span[0]), box.fy(s.y1 if s.y1 is not None else y_span[1])
    top, high = min(y0, y1), abs(y0 - y1)
    if high < 6:  # a range too thin to see on this scale still shows, around where it is, inside the plot
        top, high = min(max(top + high / 2 - 3.0, MARGIN[2]), box.bottom - 6.0), 6.0
    return (
        f'<rect class="shade" x="{x0:.1f}" y="{top:.1f}" width="{max(x1 - x0, 1.0):.1f}" height="{high:.1f}" '
        f'fill="{s.color}" opacity="{s.opacity}"><title>{escape(s.label)}</title></rect>'
    )


def _rule(r: Rule, fx: Scale, fy: Scale, x_max: float) -> str:
    x0, x1 = fx(r.x0 if r.x0 is not None else 0.0), fx(r.x1 if r.x1 is not None else x_max)
    return (
        f'<line class="rule" x1="{x0:.1f}" x2="{x1:.1f}" y1="{fy(r.y):.1f}" y2="{fy(r.y):.1f}" '
        f'stroke="{r.color}" stroke-dasharray="{r.dash}"><title>{escape(r.label)}</title></line>'
    )


def _flag(f: Flag, box: _Box) -> str:
    x, top, tip = box.fx(f.x), MARGIN[2], escape(f.tip)
    return (
        f'<g class="flag"><title>{tip}</title>'
        f'<polygon points="{x - 5:.1f},{top} {x + 5:.1f},{top} {x:.1f},{top + 8}" fill="{f.color}"/>'
        f'<text x="{x:.1f}" y="{box.bottom + 2 * ROW - 1:.1f}" text-anchor="middle" style="fill:{f.color}" '
        f'class="flag-text">{escape(f.text)}</text></g>'
    )


def _series(s: Series, fx: Scale, fy: Scale) -> str:
    if s.dots or len(s.points) == 1:
        tips = list(s.tips) + [""] * (len(s.points) - len(s.tips))
        return "".join(
            f'<circle cx="{fx(x):.1f}" cy="{fy(y):.1f}" r="3" fill="{s.color}"'
            + (f"><title>{escape(tip)}</title></circle>" if tip else "/>")
            for (x, y), tip in zip(s.points, tips)
        )
    path = " ".join(f"{fx(x):.1f},{fy(y):.1f}" for x, y in s.points)
    return f'<polyline points="{path}" fill="none" stroke="{s.color}" stroke-width="1.5"/>'


def _legend(chart: Chart) -> str:
    """The series' swatches in a row after the y unit, from the left (what a narrow screen shows first)."""
    x, out = max(MARGIN[0], 6 + 7 * len(chart.y_unit) + 12), []
    for s in chart.series:
        out.append(
            f'<rect x="{x}" y="3" width="10" height="10" fill="{s.color}"/>'
            f'<text x="{x + 13}" y="12" class="legend">{escape(s.label)}</text>'
        )
        x += 7 * len(s.label) + 24
    return "".join(out)
