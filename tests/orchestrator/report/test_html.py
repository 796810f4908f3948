"""The HTML report: one self-contained page that parses, holds one plot pair per device with samples
and no external reference, bounds its points on long runs, agrees with the verdicts, and renders in
a headless browser at a desktop's and at a phone's width without overflowing the phone's."""

from __future__ import annotations

import re
import struct
import subprocess
from html.parser import HTMLParser

import pytest

from orchestrator.report import html as html_report
from orchestrator.report import html_device
from tests.helpers import debian
from tests.helpers.fleet_runs import MIXED_STATUSES, assert_consistent, copies, mixed_run, record_run
from workers import events as ev

EXTERNAL = re.compile(r"(?i)(https?:|ftp:|file:|data:|//[a-z0-9])")


class Page(HTMLParser):
    """Every start tag with its attributes, and the text, as the stdlib parser reads the page."""

    def __init__(self, text):
        super().__init__()
        self.tags, self.text, self.stack = [], [], []
        self.feed(text)
        self.close()

    def handle_starttag(self, tag, attrs):
        self.tags.append((tag, dict(attrs), tuple(self.stack)))
        if tag not in ("meta", "br", "hr", "img", "input", "link"):  # HTML's void elements
            self.stack.append((tag, dict(attrs)))

    def handle_startendtag(self, tag, attrs):
        self.tags.append((tag, dict(attrs), tuple(self.stack)))

    def handle_endtag(self, tag):
        while self.stack and self.stack.pop()[0] != tag:
            pass

    def handle_data(self, data):
        self.text.append(data)

    def find(self, tag, css=None):
        return [
            (a, parents)
            for t, a, parents in self.tags
            if t == tag and (css is None or css in (a.get("class") or "").split())
        ]


def page_of(run):
    return html_report.render(run.verdicts, run.data, run.records, run.header)


def test_page_parses_with_one_plot_pair_per_device_with_samples(tmp_path):
    run = mixed_run(tmp_path)
    page = Page(page_of(run))
    figures = page.find("figure", "device")
    assert sorted(a["data-device"] for a, _ in figures) == sorted(MIXED_STATUSES)
    unsampled = {"node-b:2", "node-b:3"}  # never opened, never started
    for kind in ("memory", "memory-zoom", "bandwidth"):
        plots = page.find("svg", kind)
        owners = [dict(parents)["figure"]["data-device"] for _, parents in plots]
        assert sorted(owners) == sorted(set(MIXED_STATUSES) - unsampled), kind
    sentences = [dict(parents)["figure"]["data-device"] for _, parents in page.find("p", "nodata")]
    assert sorted(sentences) == sorted(unsampled)
    assert len(page.find("svg", "fleet")) == 1


def test_page_is_self_contained(tmp_path):
    text = page_of(mixed_run(tmp_path))
    page = Page(text)
    assert not page.find("script") and not page.find("link") and not page.find("img") and not page.find("iframe")
    assert not [a for _, a, _ in page.tags if {"src", "href"} & set(a)]
    assert not EXTERNAL.search(text), EXTERNAL.search(text)


def test_statuses_warnings_and_exit_code_agree_with_the_verdicts(tmp_path):
    run = mixed_run(tmp_path)
    assert_consistent(run)
    page = Page(page_of(run))
    cells = [a["data-status"] for a, parents in page.find("td", "status")]
    assert cells == [v.status.value for v in run.verdicts]
    text = "".join(page.text)
    assert "SIMULATED" in text and "4 PASS" in text
    assert "WARNING: H2D median 9.00 GB/s is 62% below the fleet median 24.00 GB/s" in text
    assert "3 byte(s) differ after D2H" in text and "exit code" in text
    heads = [cell for cell, _ in page.find("th")]
    assert any("link busy" in str(h) for h in heads) or "link busy" in text
    assert "72%" in text


def test_fleet_view_rings_the_outlier_and_draws_the_fleet_median(tmp_path):
    fleet = page_of(mixed_run(tmp_path))
    page = Page(fleet)
    rings = re.findall(r'<circle class="outlier"[^>]*><title>([^<]*)</title>', fleet)
    assert len(rings) == 1 and rings[0].startswith("H2D median 9.00 GB/s")
    rules = re.findall(r'<line class="rule"[^>]*><title>([^<]*)</title>', fleet)
    assert "Ascend910B1 fleet median H2D 24.00 GB/s" in rules and "Ascend910B1 H2D outlier line" in rules
    assert page.find("svg", "fleet")


def test_long_run_is_downsampled_to_a_bounded_page(tmp_path):
    n = 6000
    long = (
        [copies(0)[0]]
        + [
            ev.Progress(
                cycle=1,
                copies=i,
                bytes=i,
                h2d_gbps=20.0 + (i % 7),
                d2h_gbps=21.0 - (i % 5),
                memory={"hbm": {"free": (64 << 30) - i * 4096, "total": 64 << 30}},
                elapsed=float(i),
            )
            for i in range(1, n)
        ]
        + copies(0)[-1:]
    )
    run = record_run(tmp_path, {("h", 0): long, ("h", 1): copies(1)})
    text = page_of(run)
    figure = text[text.index('data-device="h:0"') : text.index('data-device="h:1"')]
    polylines = re.findall(r'<polyline points="([^"]*)"', figure)
    counts = [len(p.split()) for p in polylines]
    assert len(counts) == 4 and max(counts) <= html_device.MAX_POINTS  # memory, its zoom, H2D, D2H
    assert len(text) < 200_000
    lows = [float(y) for y in re.findall(r",([\d.]+)", polylines[1])]  # the zoom: 24 MiB of 64 GiB
    # free memory falls copy after copy (y grows downwards) until the release at the end
    assert lows[:-1] == sorted(lows[:-1]) and lows[-2] > lows[0] + 50 and lows[-1] == lows[0]


def test_run_without_progress_records_still_draws_every_device(tmp_path):
    run = record_run(tmp_path, {("h", d): [copies(d)[0], copies(d)[-1]] for d in range(2)})
    page = Page(page_of(run))
    assert len(page.find("figure", "device")) == 2 and len(page.find("svg", "memory")) == 2


# --- rendered in a real browser ------------------------------------------------------------

BROWSERS = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")


@pytest.fixture(scope="module")
def browser():
    return debian.needed(BROWSERS, "chromium", "DVPP_FLEET_NO_BROWSER_INSTALL")


def _chromium(browser, tmp_path, *args):
    return subprocess.run(
        [
            browser,
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-background-networking",
            f"--user-data-dir={tmp_path / 'profile'}",
            *args,
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )


@pytest.mark.parametrize("width", [1300, 390])  # a desktop window and a phone
def test_page_renders_in_headless_chromium(tmp_path, browser, width):
    page = tmp_path / "report.html"
    html_report.write(page, *_parts(mixed_run(tmp_path)))
    shot = tmp_path / "report.png"
    proc = _chromium(
        browser,
        tmp_path,
        "--hide-scrollbars",
        f"--window-size={width},2400",
        f"--screenshot={shot}",
        page.resolve().as_uri(),
    )
    assert shot.is_file(), proc.stderr[-2000:]
    data = shot.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    assert struct.unpack(">II", data[16:24]) == (width, 2400)
    assert len(data) > 50_000  # a blank page compresses to a few kB


PROBE = """<!DOCTYPE html><html><body style="margin:0">
<iframe id="page" src="report.html" style="width:390px;height:844px;border:0"></iframe><pre id="out">pending</pre>
<script>
document.getElementById("page").onload = function () {
  var root = this.contentDocument.documentElement;
  document.getElementById("out").textContent = "layout " + root.scrollWidth + " " + root.clientWidth;
};
</script></body></html>
"""


def test_page_fits_a_phone_width(tmp_path, browser):
    """Laid out 390 px wide, the page is no wider than its window: charts scale, tables and the
    fleet view scroll in their own box (the report has no script; the probe page beside it measures)."""
    html_report.write(tmp_path / "report.html", *_parts(mixed_run(tmp_path)))
    probe = tmp_path / "probe.html"
    probe.write_text(PROBE)
    proc = _chromium(
        browser,
        tmp_path,
        "--allow-file-access-from-files",
        "--virtual-time-budget=10000",
        "--dump-dom",
        probe.resolve().as_uri(),
    )
    found = re.search(r"layout (\d+) (\d+)", proc.stdout)
    assert found, proc.stdout[-2000:] + proc.stderr[-2000:]
    scroll, client = int(found.group(1)), int(found.group(2))
    assert 300 < client <= 390 and scroll <= client


def _parts(run):
    return run.verdicts, run.data, run.records, run.header
