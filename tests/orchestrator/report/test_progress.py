from __future__ import annotations

import io
import time
from typing import List, Tuple

from orchestrator.report import progress
from orchestrator.report.progress import ProgressView
from orchestrator.results.collect import Collector
from tests.helpers.fleet_runs import ended
from workers import events as ev

MEM = {"hbm": {"free": 10, "total": 20}}
MISMATCH = ev.Fault(
    fault="data_mismatch",
    message="2 bad bytes from offset 3785679 (random pattern)",
    cycle=1,
    copy=3,
    detail={"samples": [{"offset": 3785679, "expected": 85, "actual": 117}], "bad_bytes": 2},
)
API_ERROR = ev.Fault(
    fault="api_error",
    message="acl.rt.memcpy failed",
    api="acl.rt.memcpy",
    code=507011,
    name="ACL_ERROR_RT_INTERNAL_ERROR",
    cycle=2,
    copy=9,
)


class Tty(io.StringIO):
    def isatty(self) -> bool:
        return True


def _started(device: int) -> ev.Started:
    return ev.Started(
        physical_id=device, logical_id=device, chip="c", backend="sim", simulated=True, pid=1, params={}, memory=MEM
    )


def _progress(copies: int, elapsed: float = 1.0) -> ev.Progress:
    return ev.Progress(
        cycle=1, copies=copies, bytes=copies * 1_000_000_000, h2d_gbps=7.5, d2h_gbps=8.25, memory=MEM, elapsed=elapsed
    )


class Fleet:
    """Folds events with the controller's own collector and hands each result to the view."""

    def __init__(self, view: ProgressView, devices: int) -> None:
        self.view = view
        self.collector = Collector([("h", d, {}) for d in range(devices)])

    def send(self, device: int, *events: ev.Event) -> None:
        for event in events:
            self.view.update(self.collector.fold("h", device, event), event)


def feed(view: ProgressView) -> None:
    fleet = Fleet(view, 2)
    fleet.send(0, _started(0))
    fleet.send(1, _started(1))
    fleet.send(0, _progress(5))
    fleet.send(0, ended(cycles=1, copies=5, bytes=5_000_000_000, memory=MEM, elapsed=1.25))
    view.close()


def plain(devices: int = 4) -> Tuple[ProgressView, Fleet, io.StringIO]:
    out = io.StringIO()
    view = ProgressView(devices, stream=out)
    return view, Fleet(view, devices), out


def lines(out: io.StringIO) -> List[str]:
    return out.getvalue().splitlines()


def test_plain_output_prints_a_line_per_ended_device_only():
    out = io.StringIO()
    feed(ProgressView(2, stream=out))
    assert out.getvalue() == "h:0 done (completed) after 5 copies, 4.7 GiB moved, 1.2s\n"


def test_the_first_fault_of_a_device_is_a_line_at_once_and_later_ones_are_counted_at_its_end():
    view, fleet, out = plain()
    fleet.send(1, _started(1), _progress(2), MISMATCH)
    assert lines(out) == [
        "h:1 FAULT [data_mismatch] 2 bad bytes from offset 3785679 (random pattern) (cycle 1, copy 3)"
    ]
    fleet.send(1, API_ERROR, _progress(9), MISMATCH)
    assert len(lines(out)) == 1  # no line per later fault
    fleet.send(1, ended(outcome="error", cycles=2, copies=9, bytes=9 << 30, verify_errors=2, elapsed=75.0))
    assert lines(out)[1:] == ["h:1 FAIL after 9 copies, 9.0 GiB moved, 1m15s; 3 fault(s) recorded"]


def test_a_fault_line_names_the_runtime_call_and_is_cut_to_one_short_line():
    view, fleet, out = plain()
    fleet.send(0, _started(0), API_ERROR)
    long = ev.Fault(fault="worker_error", message="boom\n" + "x" * 300, detail={"traceback": "Traceback ..."})
    fleet.send(2, _started(2), long)
    first, second = lines(out)
    assert first == (
        "h:0 FAULT [api_error] acl.rt.memcpy failed (cycle 2, copy 9) "
        "<acl.rt.memcpy 507011 ACL_ERROR_RT_INTERNAL_ERROR>"
    )
    assert second.startswith("h:2 FAULT [worker_error] boom xxx") and second.endswith("x...")
    assert len(second) == len("h:2 FAULT ") + progress.FAULT_WIDTH


def test_a_crash_and_a_hang_end_lines_say_so_with_the_launchers_sentence():
    view, fleet, out = plain()
    crash = ev.Crashed(message="the worker died by SIGSEGV during cycle 1, copy 4", signal="SIGSEGV", copies=3)
    fleet.send(2, _started(2), _progress(3, elapsed=0.5), crash)
    hang = ev.Hung(message="no progress for 3s, stuck at cycle 1, copy 2; the worker was killed", timeout=3.0)
    fleet.send(3, _started(3), MISMATCH, hang)
    assert lines(out) == [
        "h:2 CRASHED after 3 copies, 2.8 GiB moved, 0.5s; the worker died by SIGSEGV during cycle 1, copy 4",
        "h:3 FAULT [data_mismatch] 2 bad bytes from offset 3785679 (random pattern) (cycle 1, copy 3)",
        "h:3 HUNG after 0 copies, 0 B moved, 0.0s; 1 fault(s) recorded; "
        "no progress for 3s, stuck at cycle 1, copy 2; the worker was killed",
    ]


def test_an_end_line_judges_the_record_as_the_run_does():
    view, fleet, out = plain(5)
    opened = ev.Fault(fault="open_failed", message="acl.rt.set_device failed after 2 attempts")
    fleet.send(0, opened, ended(outcome="error"))
    fleet.send(1, _started(1), ended(outcome="stopped", copies=4, bytes=4 << 20))
    fleet.send(2, _started(2), ended(outcome="error", copies=4, bytes=4 << 20))  # no fault record: still FAIL
    full = ev.Capacity(cycle=1, copy=8, blocks=7, bytes=7 << 20, api="a", code=1, name="n", expected=True)
    fleet.send(3, _started(3), full, ended(outcome="capacity", copies=7, bytes=7 << 20))  # a fill run's end
    fleet.send(4, _started(4), ended(copies=8, bytes=8 << 20, verify_errors=25))  # mismatch records lost
    assert [line for line in lines(out) if "FAULT" not in line] == [
        "h:0 UNAVAILABLE after 0 copies, 0 B moved, 1.0s; 1 fault(s) recorded",
        "h:1 ABORTED after 4 copies, 4.0 MiB moved, 1.0s",
        "h:2 FAIL after 4 copies, 4.0 MiB moved, 1.0s",
        "h:3 done (capacity) after 7 copies, 7.0 MiB moved, 1.0s",
        "h:4 FAIL after 8 copies, 8.0 MiB moved, 1.0s; 25 verify error(s)",
    ]


def test_the_fleet_line_counts_devices_per_state_and_the_failed_so_far():
    view, fleet, out = plain(6)
    fleet.send(0, _started(0), _progress(4))
    fleet.send(1, _started(1), MISMATCH)  # still running, but failed already
    fleet.send(2, _started(2), ended(copies=2, bytes=2 << 30))
    fleet.send(3, _started(3), ev.Crashed(message="died"))
    fleet.send(4, ev.Launched(pid=7))
    assert not any("device(s) ended" in line for line in lines(out))  # not PLAIN_EVERY yet
    view.started_at = time.monotonic() - 90
    view.drawn_at = time.monotonic() - progress.PLAIN_EVERY
    fleet.send(0, _progress(5))
    assert lines(out)[-1] == (
        "[  1m30s] 2/6 device(s) ended, 2 failed so far, 6.7 GiB moved: 1 opening, 1 running, 1 done, 1 FAIL, 1 CRASHED"
    )
    fleet.send(0, _progress(6))
    assert lines(out)[-1].startswith("[  1m30s] 2/6")  # the next one comes PLAIN_EVERY later
    assert sum("device(s) ended" in line for line in lines(out)) == 1


def test_the_fleet_line_comes_also_when_only_faults_and_ends_arrive():
    view, fleet, out = plain(2)
    fleet.send(0, _started(0))
    view.drawn_at = time.monotonic() - progress.PLAIN_EVERY
    fleet.send(0, MISMATCH)
    assert lines(out)[0].startswith("h:0 FAULT [data_mismatch]")
    assert lines(out)[1].endswith("1 failed so far, 0 B moved: 1 FAIL")


def test_the_fleet_line_comes_on_time_while_no_event_arrives():
    view, fleet, out = plain(2)
    fleet.send(0, _started(0))
    view.tick()
    assert lines(out) == []  # not due yet
    view.drawn_at = time.monotonic() - progress.PLAIN_EVERY
    view.tick()  # every worker silent between copies: the timer still brings the fleet line
    assert len(lines(out)) == 1 and lines(out)[0].endswith("0 failed so far, 0 B moved: 1 running")


def _tty_rows(out: Tty) -> List[str]:
    last = out.getvalue().rsplit("\x1b[3F", 1)[1].split("\n")
    return [row.replace("\x1b[2K", "") for row in last if row]


def test_a_terminal_gets_one_line_per_device_redrawn_in_place():
    out = Tty()
    feed(ProgressView(2, stream=out))
    assert "\x1b[3F" in out.getvalue()  # moved back up over the 2 device lines and the fleet line
    rows = _tty_rows(out)
    assert rows[0].startswith(
        "h:0   cycle    1 copies        5    4.7 GiB  H2D   7.50 D2H   8.25 GB/s  done (completed)"
    )
    assert rows[1].endswith("running")
    assert "1/2 device(s) ended, 0 failed so far, 4.7 GiB moved: 1 running, 1 done" in rows[2]


def test_a_terminal_row_shows_fail_once_a_fault_is_recorded():
    out = Tty()
    view = ProgressView(2, stream=out)
    fleet = Fleet(view, 2)
    fleet.send(0, _started(0))
    fleet.send(1, _started(1), MISMATCH)
    fleet.send(0, ended(copies=1, bytes=1 << 20))
    view.close()
    rows = _tty_rows(out)
    assert rows[1].endswith("  FAIL") and "FAULT" not in out.getvalue()
    assert rows[2].endswith("1/2 device(s) ended, 1 failed so far, 1.0 MiB moved: 1 done, 1 FAIL")


def test_disabled_view_prints_nothing():
    out = Tty()
    feed(ProgressView(2, enabled=False, stream=out))
    assert out.getvalue() == ""


def test_a_disabled_plain_view_prints_no_fault_nor_end():
    out = io.StringIO()
    view = ProgressView(1, enabled=False, stream=out)
    Fleet(view, 1).send(0, _started(0), MISMATCH, ended(outcome="error"))
    assert out.getvalue() == ""
