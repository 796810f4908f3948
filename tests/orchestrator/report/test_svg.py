"""The inline SVG charts: downsampling bounds the points and keeps each bucket's lowest and highest,
round axis ceilings, the y range with and without zero, and one self-contained ``<svg>`` with its
title and every series."""

from __future__ import annotations

import math
import re
from xml.etree import ElementTree

import pytest

from orchestrator.report import svg

NS = "{http://www.w3.org/2000/svg}"


def wave(n: int):
    return [(float(i), 10.0 + math.sin(i / 7.0)) for i in range(n)]


def test_few_points_are_kept_as_they_are():
    points = wave(50)
    out = svg.downsample(points, 50)
    assert out == points and out is not points


@pytest.mark.parametrize("n, limit", [(1000, 100), (1000, 400), (5000, 400), (1001, 10), (801, 3)])
def test_downsample_bounds_the_count(n, limit):
    out = svg.downsample(wave(n), limit)
    assert limit // 2 <= len(out) <= limit


def test_downsample_keeps_each_buckets_lowest_and_highest_in_order():
    points = [(float(i), 5.0) for i in range(1000)]
    points[123] = (123.0, -40.0)  # a dip
    points[456] = (456.0, 90.0)  # a spike
    points[457] = (457.0, -3.0)  # and a dip right after it, in the same bucket
    out = svg.downsample(points, 100)  # 50 buckets of 20 points
    assert len(out) == 52  # a flat bucket gives one point, the two with a dip or a spike two each
    assert (123.0, -40.0) in out and (456.0, 90.0) in out and (457.0, -3.0) in out
    assert [x for x, _ in out] == sorted(x for x, _ in out)
    assert min(y for _, y in out) == -40.0 and max(y for _, y in out) == 90.0


def test_downsample_of_a_ramp_keeps_both_ends_of_every_bucket():
    points = [(float(i), float(i)) for i in range(1000)]
    out = svg.downsample(points, 100)
    assert out[:4] == [(0.0, 0.0), (19.0, 19.0), (20.0, 20.0), (39.0, 39.0)]
    assert out[-1] == (999.0, 999.0) and len(out) == 100


@pytest.mark.parametrize(
    "value, ceiling",
    [
        (0, 1.0),
        (-5.0, 1.0),
        (math.inf, 1.0),
        (math.nan, 1.0),
        (1.0, 1.0),
        (1.2, 2.0),
        (2.2, 2.5),
        (3.0, 5.0),
        (7.0, 10.0),
        (25.0, 25.0),
        (26.0, 50.0),
        (64.0, 100.0),
        (0.03, 0.05),
        (980.0, 1000.0),
    ],
)
def test_nice_ceiling(value, ceiling):
    assert svg.nice_ceiling(value) == pytest.approx(ceiling)
    assert svg.nice_ceiling(value) >= (value if math.isfinite(value) and value > 0 else 1.0)


def test_y_range_zero_based_is_zero_to_a_round_ceiling():
    assert svg.y_range([3.0, 18.0, 7.0], True) == (0.0, 20.0)
    assert svg.y_range([], True) == (0.0, 1.0)
    assert svg.y_range([], False) == (0.0, 1.0)


def test_y_range_of_the_data_has_a_tenth_of_margin():
    lo, hi = svg.y_range([60.0, 62.0, 61.0], False)
    assert (lo, hi) == pytest.approx((59.8, 62.2))


def test_y_range_of_a_flat_series_still_spans_something_and_never_goes_below_zero():
    assert svg.y_range([50.0, 50.0], False) == pytest.approx((49.5, 50.5))
    assert svg.y_range([0.5, 10.0], False) == pytest.approx((0.0, 10.95))


def chart(**overrides):
    fields = dict(
        title="node-a:3 <H2D & D2H>",
        y_unit="GB/s",
        series=[
            svg.Series("H2D", "#1f77b4", [(0.0, 24.0), (1.0, 23.5), (2.0, 24.5)]),
            svg.Series("D2H", "#ff7f0e", [(0.5, 25.0), (1.5, 25.2)], dots=True),
        ],
        rules=[svg.Rule(20.0, "min_h2d_gbps 20", "#999")],
        marks=[1.2],
    )
    fields.update(overrides)
    return svg.Chart(**fields)


def test_render_is_one_svg_element_with_its_title_and_series():
    text = svg.render(chart())
    assert text.startswith('<svg class="plot" width="440" height="170" viewBox="0 0 440 170" role="img">')
    assert text.endswith("</svg>") and text.count("<svg") == 1
    root = ElementTree.fromstring(text.replace("<svg ", '<svg xmlns="http://www.w3.org/2000/svg" ', 1))
    assert root.find(f"{NS}title").text == "node-a:3 <H2D & D2H>"
    (line,) = root.findall(f"{NS}polyline")
    assert line.get("stroke") == "#1f77b4" and len(line.get("points").split()) == 3
    dots = [c for c in root.findall(f"{NS}circle") if c.get("fill") == "#ff7f0e"]
    assert len(dots) == 2
    legend = [t.text for t in root.iter(f"{NS}text") if t.get("class") == "legend"]
    assert sorted(legend) == ["D2H", "H2D"]
    (rule,) = [e for e in root.iter(f"{NS}line") if e.get("class") == "rule"]
    assert rule.find(f"{NS}title").text == "min_h2d_gbps 20"
    assert len([e for e in root.iter(f"{NS}line") if e.get("class") == "mark"]) == 1


def test_render_escapes_text():
    text = svg.render(chart())
    assert "<title>node-a:3 &lt;H2D &amp; D2H&gt;</title>" in text


def test_render_scales_the_points_inside_the_plot_area():
    text = svg.render(chart(rules=(), marks=()))
    xy = [tuple(map(float, p.split(","))) for p in re.search(r'polyline points="([^"]+)"', text).group(1).split()]
    left, right, top, bottom = svg.MARGIN
    assert all(left <= x <= 440 - right and top <= y <= 170 - bottom for x, y in xy)
    assert xy[0][0] == left and xy[-1][0] == 440 - right  # x runs from 0 to the last point


def test_a_single_point_is_drawn_as_a_dot():
    text = svg.render(chart(series=[svg.Series("only", "#123456", [(1.0, 2.0)])], rules=(), marks=()))
    assert text.count('fill="#123456"') == 2  # the dot and its legend swatch
    assert "<polyline" not in text


@pytest.mark.parametrize("n", [402, 401, 1399, 20_000])
def test_downsample_keeps_a_spike_on_the_last_point(n):
    points = [(float(i), 1.0) for i in range(n - 1)] + [(float(n - 1), 99.0)]
    out = svg.downsample(points, 400)
    assert len(out) <= 400 and out[-1] == (float(n - 1), 99.0)


def test_downsample_to_one_point_keeps_one():
    assert svg.downsample([(0.0, 1.0), (1.0, 5.0), (2.0, 3.0)], 1) == [(0.0, 1.0)]
