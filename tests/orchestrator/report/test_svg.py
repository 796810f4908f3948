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
    "span, most, step",
    [
        (0, 5, 1.0),
        (-5.0, 5, 1.0),
        (math.inf, 5, 1.0),
        (math.nan, 5, 1.0),
        (4.0, 5, 1.0),  # a 4 GiB device: 0, 1, 2, 3, 4
        (64.0, 5, 20.0),
        (15.0, 5, 5.0),
        (0.26, 4, 0.1),
        (0.075, 4, 0.02),
        (8.0, 5, 2.0),
        (0.37, 5, 0.1),
        (980.0, 5, 200.0),
        (1.0, 5, 0.2),
    ],
)
def test_nice_step_is_1_2_or_5_times_a_power_of_ten(span, most, step):
    got = svg.nice_step(span, most)
    assert got == pytest.approx(step)
    mantissa = got / 10 ** math.floor(math.log10(got) + 1e-9)
    assert round(mantissa, 9) in (1.0, 2.0, 5.0)
    if math.isfinite(span) and span > 0:
        assert span / got <= most + 1e-9


def test_axis_range_widens_to_whole_steps():
    assert svg.axis_range(0.0, 18.0) == (0.0, 20.0, 5.0)
    assert svg.axis_range(0.0, 14.46) == (0.0, 15.0, 5.0)
    assert svg.axis_range(0.0, 0.37) == pytest.approx((0.0, 0.4, 0.1))
    assert svg.axis_range(-7.9, 0.0) == (-8.0, 0.0, 2.0)
    assert svg.axis_range(0.0, 0.0) == (0.0, 1.0, 0.2)  # never empty


def test_ticks_and_their_text_are_round():
    assert svg.ticks(0.0, 4.0, 1.0) == [0.0, 1.0, 2.0, 3.0, 4.0]
    assert svg.ticks(0.0, 3.6, 1.0) == [0.0, 1.0, 2.0, 3.0]  # the top of the range needs no tick
    assert svg.ticks(0.0, 0.3, 0.1) == [0.0, 0.1, 0.2, 0.3]  # no 0.30000000000000004
    assert [svg.tick_text(t, 0.1) for t in svg.ticks(0.0, 0.3, 0.1)] == ["0", "0.1", "0.2", "0.3"]
    assert [svg.tick_text(t, 2.0) for t in svg.ticks(-8.0, 0.0, 2.0)] == ["-8", "-6", "-4", "-2", "0"]
    assert svg.tick_text(-0.0001, 0.02) == "0" and svg.tick_text(0.06, 0.02) == "0.06"


@pytest.mark.parametrize(
    "seconds, unit",
    [(0.08, "s"), (90.0, "s"), (179.0, "s"), (180.0, "min"), (7100.0, "min"), (7200.0, "h"), (7 * 86400.0, "d")],
)
def test_a_time_axis_counts_in_the_unit_its_span_fits(seconds, unit):
    assert svg.time_unit(seconds)[0] == unit


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


def parsed(text):
    return ElementTree.fromstring(text.replace("<svg ", '<svg xmlns="http://www.w3.org/2000/svg" ', 1))


def tick_texts(root, axis):
    return [t.text for t in root.iter(f"{NS}text") if t.get("class") == f"tick {axis}"]


def test_rendered_axes_have_round_ticks_with_the_time_unit():
    root = parsed(svg.render(chart()))
    assert tick_texts(root, "y") == ["0", "10", "20", "30"]  # 0 to a whole step above 25.2 GB/s
    assert tick_texts(root, "x") == ["0 s", "0.5 s", "1.0 s", "1.5 s", "2.0 s"]
    minutes = parsed(svg.render(chart(series=[svg.Series("H2D", "#1f77b4", [(0.0, 1.0), (590.0, 1.0)])], marks=())))
    assert tick_texts(minutes, "x") == ["0 min", "5 min", "10 min"]


def test_an_exact_y_span_keeps_its_ends_and_ticks_inside():
    root = parsed(svg.render(chart(y_span=(0.0, 3.6), rules=())))
    assert tick_texts(root, "y") == ["0", "1", "2", "3"]


def test_a_thin_shade_is_still_visible_and_says_what_it_is():
    root = parsed(
        svg.render(chart(y_span=(0.0, 4.0), shades=[svg.Shade("HBM 3.86-3.87 GiB", "#2ca02c", y0=3.86, y1=3.87)]))
    )
    (rect,) = [r for r in root.iter(f"{NS}rect") if r.get("class") == "shade"]
    assert float(rect.get("height")) == 6.0 and rect.find(f"{NS}title").text == "HBM 3.86-3.87 GiB"
    assert float(rect.get("x")) == svg.MARGIN[0] and float(rect.get("width")) == 440 - svg.MARGIN[0] - svg.MARGIN[1]


def test_flags_dot_tooltips_and_label_colours():
    text = svg.render(
        chart(
            series=[svg.Series("H2D", "#1f77b4", [(1.0, 5.0), (2.0, 6.0)], dots=True, tips=["dev 0", "dev 1"])],
            x_labels=[(1.0, "0"), (2.0, "1")],
            x_label_colors=["#2ca02c", "#d62728"],
            x_max=3.0,
            flags=[svg.Flag(2.0, "FAIL", "#d62728", "localhost:1 FAIL: 2 bad bytes")],
        )
    )
    root = parsed(text)
    assert [c.find(f"{NS}title").text for c in root.iter(f"{NS}circle") if c.get("fill") == "#1f77b4"] == [
        "dev 0",
        "dev 1",
    ]
    assert [t.get("style") for t in root.iter(f"{NS}text") if t.get("class") == "tick x"] == [
        "fill:#2ca02c",
        "fill:#d62728",
    ]
    (flag,) = [g for g in root.iter(f"{NS}g") if g.get("class") == "flag"]
    assert flag.find(f"{NS}title").text == "localhost:1 FAIL: 2 bad bytes"
    assert flag.find(f"{NS}text").text == "FAIL" and flag.find(f"{NS}polygon").get("fill") == "#d62728"


def test_the_last_time_tick_stays_inside_the_chart():
    root = parsed(svg.render(chart()))
    last = [t for t in root.iter(f"{NS}text") if t.get("class") == "tick x"][-1]
    assert last.text == "2.0 s" and last.get("text-anchor") == "end"
