from __future__ import annotations

import io

from orchestrator.report.progress import ProgressView
from orchestrator.results.collect import Collector
from tests.helpers.fleet_runs import ended
from workers import events as ev

MEM = {"hbm": {"free": 10, "total": 20}}


class Tty(io.StringIO):
    def isatty(self) -> bool:
        return True


def feed(view: ProgressView) -> None:
    c = Collector([("h", 0, {}), ("h", 1, {})])
    for device in (0, 1):
        started = ev.Started(
            physical_id=device, logical_id=device, chip="c", backend="sim", simulated=True, pid=1, params={}, memory=MEM
        )
        view.update(c.fold("h", device, started), started)
    prog = ev.Progress(cycle=1, copies=5, bytes=5_000_000_000, h2d_gbps=7.5, d2h_gbps=8.25, memory=MEM, elapsed=1.0)
    view.update(c.fold("h", 0, prog), prog)
    end = ended(cycles=1, copies=5, bytes=5_000_000_000, memory=MEM, elapsed=1.25)
    view.update(c.fold("h", 0, end), end)
    view.close()


def test_plain_output_prints_a_line_per_ended_device_only():
    out = io.StringIO()
    feed(ProgressView(2, stream=out))
    assert out.getvalue() == "h:0 done (completed) after 5 copies, 1.2s\n"


def test_a_terminal_gets_one_line_per_device_redrawn_in_place():
    out = Tty()
    feed(ProgressView(2, stream=out))
    text = out.getvalue()
    assert "\x1b[3F" in text  # moved back up over the 2 device lines and the fleet line
    last = text.rsplit("\x1b[3F", 1)[1].split("\n")
    assert (
        last[0]
        .replace("\x1b[2K", "")
        .startswith("h:0   cycle    1 copies        5    4.7 GiB  H2D   7.50 D2H   8.25 GB/s  done (completed)")
    )
    assert last[1].replace("\x1b[2K", "").endswith("running")
    assert "1/2 device(s) done, 4.7 GiB moved" in last[2]


def test_disabled_view_prints_nothing():
    out = Tty()
    feed(ProgressView(2, enabled=False, stream=out))
    assert out.getvalue() == ""
