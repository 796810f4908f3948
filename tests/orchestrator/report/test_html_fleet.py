"""The HTML report's fleet view: devices in (host, device) order, each label in its status colour,
every device that did not pass shaded and marked with its status word, figures with their units, and
a chip's fleet median drawn over that chip's devices only."""

from __future__ import annotations

import dataclasses
import re
from xml.etree import ElementTree

from orchestrator.report import html_fleet
from orchestrator.results import outliers
from orchestrator.results.status import Status
from tests.helpers.fleet_runs import MIXED_STATUSES, copies, mixed_run, record_run

NS = "{http://www.w3.org/2000/svg}"


def fleet_svg(run, fraction=0.25):
    section = html_fleet.fleet_view(run.verdicts, outliers.fleet_medians(run.verdicts), run.data, fraction)
    (text,) = re.findall(r'<svg class="plot fleet".*?</svg>', section, re.S)
    return section, ElementTree.fromstring(text.replace("<svg ", f'<svg xmlns="{NS[1:-1]}" ', 1))


def labels(root):
    return [(t.text, t.get("style")) for t in root.iter(f"{NS}text") if t.get("class") == "tick x"]


def test_devices_are_in_host_and_device_order_coloured_by_status(tmp_path):
    run = mixed_run(tmp_path)  # node-b:2 never opened and node-b:3 never started: no chip known
    _, root = fleet_svg(run)
    names = sorted(MIXED_STATUSES, key=lambda n: (n.split(":")[0], int(n.split(":")[1])))
    assert [text for text, _ in labels(root)] == names
    assert [style for _, style in labels(root)] == [
        f"fill:{html_fleet.status_color(Status(MIXED_STATUSES[n]))}" for n in names
    ]
    assert html_fleet.status_color(Status.PASS) == "#2ca02c" and html_fleet.status_color(Status.FAIL) == "#d62728"


def test_every_device_that_did_not_pass_is_marked_with_its_status(tmp_path):
    section, root = fleet_svg(mixed_run(tmp_path))
    failed = [(n, s) for n, s in sorted(MIXED_STATUSES.items()) if s != "PASS"]
    flags = [g for g in root.iter(f"{NS}g") if g.get("class") == "flag"]
    assert [g.find(f"{NS}text").text for g in flags] == [s for _, s in failed]
    tips = [g.find(f"{NS}title").text for g in flags]
    assert tips[0] == "node-a:3 FAIL: 3 byte(s) differ after D2H"
    assert tips[[n for n, _ in failed].index("node-b:3")] == (
        "node-b:3 SKIPPED: the device was never started (the run ended before its turn)"
    )
    shades = [r for r in root.iter(f"{NS}rect") if r.get("class") == "shade"]
    assert [r.find(f"{NS}title").text for r in shades] == tips
    assert all(g.find(f"{NS}polygon") is not None for g in flags)  # a triangle over the column too
    assert "8 of 12 device(s) did not pass" in section and "node-b:2 UNAVAILABLE" in section


def test_dots_and_rules_carry_their_figures_with_units(tmp_path):
    _, root = fleet_svg(mixed_run(tmp_path))
    tips = [c.find(f"{NS}title").text for c in root.iter(f"{NS}circle") if c.find(f"{NS}title") is not None]
    assert "node-a:0 PASS: H2D median 24.00 GB/s (min 19.20 GB/s, max 25.20 GB/s)" in tips
    rules = [r.find(f"{NS}title").text for r in root.iter(f"{NS}line") if r.get("class") == "rule"]
    assert "Ascend910B1 fleet median H2D 24.00 GB/s" in rules
    assert [t.text for t in root.iter(f"{NS}text") if t.get("class") == "tick y"] == ["0", "10", "20", "30"]


def test_a_chips_fleet_median_spans_only_that_chips_devices(tmp_path):
    def chip(events, name):
        return [dataclasses.replace(events[0], chip=name)] + events[1:]

    devices = {("h", d): chip(copies(d, h2d=10.0 if d % 2 else 20.0), "B4" if d % 2 else "B1") for d in range(6)}
    run = record_run(tmp_path, devices)
    medians = outliers.fleet_medians(run.verdicts)
    order = sorted(run.verdicts, key=lambda v: v.result.device)
    rules = html_fleet._fleet_rules(order, medians, None, run.data)
    spans = {(r.label, r.x0, r.x1) for r in rules if r.label.endswith("H2D 10.00 GB/s")}
    assert spans == {("B4 fleet median H2D 10.00 GB/s", x - 0.4, x + 0.4) for x in (2, 4, 6)}  # devices 1, 3, 5
    mixed = [order[i] for i in (0, 1, 2, 4, 3)]  # chips B1, B4, B1, B1, B4
    assert [tuple(round(x, 6) for x in span) for span in html_fleet._runs(mixed, "B1")] == [(0.6, 1.4), (2.6, 4.4)]
