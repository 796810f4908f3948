"""Each device's figure in the HTML report: its charts run over the device's own time, the memory
axis spans 0 to the device's total with round ticks and the run's range shaded and zoomed, and a
device without samples gets a sentence saying why instead of an empty chart."""

from __future__ import annotations

import re
from xml.etree import ElementTree

import pytest

from orchestrator.report import html as html_report
from orchestrator.report import html_device, svg
from tests.helpers.cli import run_fleet
from tests.helpers.fleet_runs import mixed_run
from tests.helpers.specs import spec

NS = "{http://www.w3.org/2000/svg}"
LEFT, RIGHT, TOP = svg.MARGIN[0], 440 - svg.MARGIN[1], svg.MARGIN[2]


def figures(page):
    """``name -> the HTML of its <figure>`` for every device of the page."""
    found = re.findall(r'(<figure class="device" data-device="([^"]+)".*?</figure>)', page, re.S)
    return {name: text for text, name in found}


def charts(figure, css):
    """The parsed ``<svg class="plot CSS">`` elements of a figure."""
    return [
        ElementTree.fromstring(text.replace("<svg ", f'<svg xmlns="{NS[1:-1]}" ', 1))
        for text in re.findall(rf'<svg class="plot {css}".*?</svg>', figure, re.S)
    ]


def texts(root, css):
    return [t.text for t in root.iter(f"{NS}text") if t.get("class") == css]


def polyline_xs(root):
    return [float(p.split(",")[0]) for line in root.iter(f"{NS}polyline") for p in line.get("points").split()]


def page_of(run):
    return html_report.render(run.verdicts, run.data, run.records, run.header)


def test_memory_axis_spans_zero_to_the_devices_total_with_round_ticks(tmp_path):
    run = mixed_run(tmp_path)  # 64 GiB devices
    (memory,) = charts(figures(page_of(run))["node-a:0"], "memory")
    assert texts(memory, "tick y") == ["0", "20", "40", "60"] and texts(memory, "unit") == ["GiB free"]
    (total,) = [r for r in memory.iter(f"{NS}line") if r.get("class") == "rule"]
    assert total.find(f"{NS}title").text == "HBM total 64.0 GiB" and float(total.get("y1")) == TOP  # the top
    (shade,) = [r for r in memory.iter(f"{NS}rect") if r.get("class") == "shade"]
    assert shade.find(f"{NS}title").text == "HBM: free 64.0 GiB to 64.0 GiB during the run (32.0 MiB)"
    assert float(shade.get("height")) == 6.0 and TOP <= float(shade.get("y")) < TOP + 6  # a visible band at 64 GiB


def test_the_zoom_shows_the_runs_range_below_its_highest_reading(tmp_path):
    run = mixed_run(tmp_path)
    figure = figures(page_of(run))["node-a:5"]  # leaks 2 MiB a cycle; 4 blocks of 8 MiB held
    (zoom,) = charts(figure, "memory-zoom")
    assert texts(zoom, "unit") == ["MiB vs. highest"]
    assert texts(zoom, "tick y") == ["-40", "-30", "-20", "-10", "0"]  # 32 MiB held + 6 MiB leaked
    assert "HBM lowest 64.0 GiB of 64.0 GiB, varying by 38.0 MiB" in figure
    series = html_device.collect_series(run.records)[("node-a", 5)]
    ends = [y for _, y in series.memory["hbm"]][2::2]  # after each release: a staircase down
    assert [round((e - ends[0]) / (1 << 20)) for e in ends] == [0, -2, -4, -6]


def test_each_device_is_charted_from_its_own_start(tmp_path):
    run = mixed_run(tmp_path)
    later = [
        dict(r, t=r["t"] + 600.0) if r.get("device") == 1 and r.get("host") == "node-a" else r for r in run.records
    ]
    series = html_device.collect_series(later)
    one, zero = series[("node-a", 1)], series[("node-a", 0)]
    assert zero.start == 0.0 and one.start == pytest.approx(600.25)  # started 0.25 s after node-a:0, then moved
    assert one.memory["hbm"][0][0] == 0.0 and one.span() == pytest.approx(zero.span())
    figure = figures(html_report.render(run.verdicts, run.data, later, run.header))["node-a:1"]
    for chart in charts(figure, "memory") + charts(figure, "bandwidth"):
        assert texts(chart, "tick x")[0] == "0 s" and texts(chart, "tick x")[-1].endswith(" s")  # not 10 min
        assert texts(chart, "axis-title") == ["time since the device started, 10m00s into the run"]


def test_a_device_without_samples_gets_a_sentence_not_an_empty_chart(tmp_path):
    shown = figures(page_of(mixed_run(tmp_path)))
    expected = {
        "node-b:2": "no memory or bandwidth samples: the device could not be opened (UNAVAILABLE)",
        "node-b:3": "no memory or bandwidth samples: its worker was never started (SKIPPED)",
    }
    for name, sentence in expected.items():
        assert "<svg" not in shown[name] and f'<p class="nodata">{sentence}</p>' in shown[name], name
    hung = shown["node-b:1"]  # opened, one copy timed, then stuck: its one point is a dot
    assert charts(hung, "memory") and charts(hung, "bandwidth") and "nodata" not in hung
    assert len([c for c in charts(hung, "bandwidth")[0].iter(f"{NS}circle")]) == 2  # H2D and D2H


def test_no_bandwidth_sentence_names_the_status():
    from orchestrator.results.collect import DeviceResult
    from orchestrator.results.records import Verdict
    from orchestrator.results.status import Status

    crashed = Verdict(DeviceResult(host="h", device=0), Status.CRASHED, ())
    assert html_device.missing(crashed, "bandwidth") == (
        "no bandwidth samples: no copy was timed before the worker ended (CRASHED)"
    )
    busy = Verdict(DeviceResult(host="h", device=0), Status.BUSY, ())
    assert html_device.missing(busy, "memory") == (
        "no memory samples: another process held the device, so it was not tested (BUSY)"
    )


@pytest.mark.slow
def test_a_serial_run_charts_every_device_over_its_own_time(tmp_path):
    data = spec(devices=3, faults=[{"device": 1, "kind": "init_fail"}], concurrency="serial")
    data["defaults"].update(open_retries=0, memory_size="1MiB", release_cycle=8, number_of_cycles=3)
    data["sim"]["memory"] = {"hbm": "4GiB"}
    run = run_fleet(tmp_path, data)
    assert run.code == 1 and run.statuses() == {0: "PASS", 1: "UNAVAILABLE", 2: "PASS"}, run.stderr
    shown = figures((run.run_dir / "report.html").read_text())
    assert "<svg" not in shown["localhost:1"]
    assert "no memory or bandwidth samples: the device could not be opened (UNAVAILABLE)" in shown["localhost:1"]
    offsets = []
    for name in ("localhost:0", "localhost:2"):
        (memory,) = charts(shown[name], "memory")
        assert texts(memory, "tick y") == ["0", "1", "2", "3", "4"] and texts(memory, "unit") == ["GiB free"]
        (bandwidth,) = charts(shown[name], "bandwidth")
        for chart in (memory, bandwidth):
            xs = polyline_xs(chart) or [float(c.get("cx")) for c in chart.iter(f"{NS}circle")]
            assert texts(chart, "tick x")[0] == "0 s"
            assert max(xs) > LEFT + 0.6 * (RIGHT - LEFT), (name, xs)  # the device fills its chart, not a sliver
        (title,) = texts(memory, "axis-title")
        offsets.append(float(re.fullmatch(r"time since the device started, ([\d.]+)s into the run", title).group(1)))
    assert offsets[1] > offsets[0]  # serial: device 2 started after device 0 had finished


def test_memory_plot_shows_a_leak_as_a_slope(tmp_path):
    run = mixed_run(tmp_path)
    series = html_device.collect_series(run.records)
    after_release = [y for _, y in series[("node-a", 5)].memory["hbm"]][2::2]  # cycle ends, then the end
    assert after_release == sorted(after_release, reverse=True) and after_release[0] > after_release[-1]
    steady = {y for _, y in series[("node-a", 0)].memory["hbm"][2::2]}
    assert len(steady) == 1
    assert series[("node-a", 3)].faults  # the mismatch is marked on the plots


def test_a_size_sweep_gets_a_bandwidth_curve_per_device():
    from orchestrator.report.html_device import _curve
    from orchestrator.report.table import Verdict
    from orchestrator.results.collect import DeviceResult
    from orchestrator.results.status import Status

    stats = lambda m: {"count": 3, "min": m, "max": m, "median": m, "mean": m}  # noqa: E731
    curve = [
        {"size": size, "h2d": stats(g), "d2h": stats(g / 2)}
        for size, g in ((4096, 1.0), (1 << 20, 8.0), (1 << 26, 12.0))
    ]
    chart = _curve(Verdict(DeviceResult(host="h", device=0, curve=curve), Status.PASS, ()))
    assert chart.startswith("<svg") and 'class="plot curve"' in chart
    assert [label in chart for label in ("4KiB", "1MiB", "64MiB")] == [True, True, True]
    single = _curve(Verdict(DeviceResult(host="h", device=0, curve=curve[:1]), Status.PASS, ()))
    assert single == ""  # one size is no curve
