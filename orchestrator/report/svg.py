"""Small inline-SVG line and dot charts for the HTML report: no library, no script, no network.

A chart is drawn from plain data: ``Series`` (a label, a colour, ``(x, y)`` points), optional
horizontal ``Rule`` lines and vertical ``marks`` (e.g. faults). ``downsample`` bounds the points
per series while keeping every bucket's lowest and highest value, so dips and slopes survive.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from html import escape
from typing import Callable, List, Optional, Sequence, Tuple

Point = Tuple[float, float]
MARGIN = (48, 12, 14, 26)  # left, right, top, bottom (pixels)


@dataclass(frozen=True)
class Series:
    label: str
    color: str
    points: Sequence[Point]
    dots: bool = False


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
class Chart:
    title: str
    y_unit: str
    series: Sequence[Series]
    rules: Sequence[Rule] = ()
    marks: Sequence[float] = ()
    x_unit: str = "s"
    x_labels: Sequence[Tuple[float, str]] = ()
    css: str = "plot"
    size: Tuple[int, int] = (440, 170)
    x_max: Optional[float] = None
    zero_based: bool = True  # False: the y axis spans the data, so a small slope is visible
    whiskers: Sequence[Tuple[float, float, float, str]] = ()  # x, low, high, colour
    rings: Sequence[Tuple[float, float, str]] = ()  # x, y, what is wrong there


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


def nice_ceiling(value: float) -> float:
    """The smallest 1, 2, 2.5 or 5 times a power of ten at or above ``value`` (1 for nothing)."""
    if value <= 0 or not math.isfinite(value):
        return 1.0
    power: float = 10 ** math.floor(math.log10(value))
    return next(m * power for m in (1, 2, 2.5, 5, 10) if m * power >= value)


def render(chart: Chart) -> str:
    """The chart as one ``<svg>`` element, with a title, axes, a legend and its data."""
    width, height = chart.size
    xs = [x for s in chart.series for x, _ in s.points] + list(chart.marks)
    ys = [y for s in chart.series for _, y in s.points] + [r.y for r in chart.rules]
    ys += [hi for _, _, hi, _ in chart.whiskers]
    x_max = chart.x_max or max(xs, default=1.0) or 1.0
    y_min, y_max = y_range(ys, chart.zero_based)
    fx, fy = _scale(0.0, x_max, MARGIN[0], width - MARGIN[1]), _scale(y_min, y_max, height - MARGIN[3], MARGIN[2])
    parts = [
        f'<svg class="{chart.css}" width="{width}" height="{height}" viewBox="0 0 {width} {height}" '
        f'role="img"><title>{escape(chart.title)}</title>'
    ]
    parts += _axes(chart, width, height, x_max, (y_min, y_max), fx, fy)
    parts += [_rule(r, fx, fy, x_max) for r in chart.rules]
    parts += [
        f'<line class="mark" x1="{fx(m):.1f}" x2="{fx(m):.1f}" y1="{MARGIN[2]}" y2="{height - MARGIN[3]}" '
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
    parts.append(_legend(chart, width))
    return "".join(parts) + "</svg>"


Scale = Callable[[float], float]


def _scale(lo: float, hi: float, out_lo: float, out_hi: float) -> Scale:
    span = (hi - lo) or 1.0
    return lambda v: out_lo + (v - lo) / span * (out_hi - out_lo)


def y_range(ys: Sequence[float], zero_based: bool) -> Tuple[float, float]:
    """From 0 to a round ceiling, or (not ``zero_based``) the data's span with a tenth of margin."""
    if zero_based or not ys:
        return 0.0, nice_ceiling(max(ys, default=1.0))
    lo, hi = min(ys), max(ys)
    pad = (hi - lo) * 0.1 or max(abs(hi) * 0.01, 1e-9)
    return max(lo - pad, 0.0), hi + pad


def _axes(
    chart: Chart, width: int, height: int, x_max: float, y_span: Tuple[float, float], fx: Scale, fy: Scale
) -> List[str]:
    left, bottom = MARGIN[0], height - MARGIN[3]
    out = [
        f'<rect x="{left}" y="{MARGIN[2]}" width="{width - left - MARGIN[1]}" height="{bottom - MARGIN[2]}" '
        f'fill="#fafafa" stroke="#ccc"/>'
    ]
    for i in range(5):
        y = y_span[0] + (y_span[1] - y_span[0]) * i / 4
        out.append(
            f'<line x1="{left}" x2="{width - MARGIN[1]}" y1="{fy(y):.1f}" y2="{fy(y):.1f}" stroke="#e4e4e4"/>'
            f'<text x="{left - 4}" y="{fy(y) + 4:.1f}" text-anchor="end" class="tick">{y:.4g}</text>'
        )
    ticks = chart.x_labels or [(x_max * i / 4, f"{x_max * i / 4:.3g}{chart.x_unit}") for i in range(5)]
    out += [
        f'<text x="{fx(x):.1f}" y="{bottom + 14}" text-anchor="middle" class="tick">{escape(t)}</text>'
        for x, t in ticks
    ]
    out.append(f'<text x="6" y="{MARGIN[2] - 2}" class="unit">{escape(chart.y_unit)}</text>')
    return out


def _rule(r: Rule, fx: Scale, fy: Scale, x_max: float) -> str:
    x0, x1 = fx(r.x0 if r.x0 is not None else 0.0), fx(r.x1 if r.x1 is not None else x_max)
    return (
        f'<line class="rule" x1="{x0:.1f}" x2="{x1:.1f}" y1="{fy(r.y):.1f}" y2="{fy(r.y):.1f}" '
        f'stroke="{r.color}" stroke-dasharray="{r.dash}"><title>{escape(r.label)}</title></line>'
    )


def _series(s: Series, fx: Scale, fy: Scale) -> str:
    if s.dots or len(s.points) == 1:
        return "".join(f'<circle cx="{fx(x):.1f}" cy="{fy(y):.1f}" r="3" fill="{s.color}"/>' for x, y in s.points)
    path = " ".join(f"{fx(x):.1f},{fy(y):.1f}" for x, y in s.points)
    return f'<polyline points="{path}" fill="none" stroke="{s.color}" stroke-width="1.5"/>'


def _legend(chart: Chart, width: int) -> str:
    x, out = width - MARGIN[1], []
    for s in reversed(list(chart.series)):
        x -= 7 * len(s.label) + 18
        out.append(
            f'<rect x="{x}" y="2" width="10" height="10" fill="{s.color}"/>'
            f'<text x="{x + 13}" y="11" class="legend">{escape(s.label)}</text>'
        )
    return "".join(out)
