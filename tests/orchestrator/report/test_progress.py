from __future__ import annotations

import io
import re
import time
from typing import Dict, List, Tuple

import pyte
import pytest

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


@pytest.fixture(autouse=True)
def _terminal(monkeypatch):
    """A terminal that moves its cursor, whatever terminal the tests run in."""
    monkeypatch.setenv("TERM", "xterm-256color")


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


def tty(devices: int, size: Tuple[int, int] = (80, 24)) -> Tuple[ProgressView, Fleet, Tty]:
    out = Tty()
    view = ProgressView(devices, stream=out, size=size)
    return view, Fleet(view, devices), out


def screen(out: Tty, size: Tuple[int, int] = (80, 24)) -> pyte.HistoryScreen:
    """The terminal after everything the view wrote, as a person sees it (a newline also returns the
    carriage, as a terminal's driver makes it); lines that scrolled off the top are in its history."""
    shown = pyte.HistoryScreen(*size, history=10_000)
    shown.set_mode(pyte.modes.LNM)
    pyte.Stream(shown).feed(out.getvalue())
    return shown


def shown(term: pyte.HistoryScreen) -> List[str]:
    """The screen's lines down to its last written one, without their trailing blanks."""
    found = [line.rstrip() for line in term.display]
    while found and not found[-1]:
        found.pop()
    return found


def written_widths(out: Tty) -> List[int]:
    """The length of every run of text the view wrote between two cursor movements or line ends."""
    text = re.sub(r"\x1b\[[0-9;?]*[A-Za-z]", "", out.getvalue())
    return [len(piece) for piece in re.split(r"[\r\n]", text)]


def row_of(lines: List[str], device: int) -> str:
    """The one line of ``h:device``; it must be there exactly once."""
    found = [line for line in lines if line.startswith(f"h:{device} ")]
    assert len(found) == 1, (device, lines)
    return found[0]


def after_time(line: str) -> str:
    """A fleet line without its clock (``[   0.1s] ``), which depends on how fast the test ran."""
    assert re.match(r"\[ *[0-9.ms]+\] ", line), line
    return line.split("] ", 1)[1]


def counted(line: str) -> Dict[str, int]:
    """``40 device(s): 10 running, 2 FAIL`` -> ``{"running": 10, "FAIL": 2}``."""
    return {state: int(n) for n, state in re.findall(r"(\d+) (\w+)", line.split(": ", 1)[1])}


def test_a_terminal_gets_one_line_per_device_redrawn_in_place(monkeypatch):
    monkeypatch.setattr(progress, "REDRAW", 0)
    view, _, out = tty(2)
    feed(view)
    term = screen(out)
    rows = shown(term)
    assert rows[:2] == [
        "h:0  copies 5  4.7 GiB  H2D  7.50 D2H  8.25 GB/s  done (completed)",
        "h:1  copies 0      0 B                            running",
    ]
    assert after_time(rows[2]) == "1/2 device(s) ended, 0 failed so far, 4.7 GiB moved: 1 running, 1 done"
    assert out.getvalue().count("device(s) ended") == 5  # drawn 5 times, each over the one before
    assert not term.history.top
    assert (term.cursor.y, term.cursor.x) == (3, 0)  # closed: what follows starts on the line below it


def test_a_terminal_row_shows_fail_once_a_fault_is_recorded():
    view, fleet, out = tty(2)
    fleet.send(0, _started(0))
    fleet.send(1, _started(1), MISMATCH)
    fleet.send(0, ended(copies=1, bytes=1 << 20))
    view.close()
    rows = shown(screen(out))
    assert rows[1] == "h:1  cycle 0  copies 0      0 B  FAIL [data_mismatch] 2 bad bytes from offset 3…"
    assert "FAULT" not in out.getvalue()
    assert after_time(rows[2]) == "1/2 device(s) ended, 1 failed so far, 1.0 MiB moved: 1 done, 1 FAIL"


def _busy_run(fleet: Fleet, devices: int, rounds: int) -> None:
    """Every device copies for ``rounds`` rounds; on the way 3 records a fault, 5 ends, 7 crashes."""
    for d in range(devices):
        fleet.send(d, _started(d))
    for n in range(1, rounds + 1):
        for d in range(devices):
            if d not in (5, 7) or n < rounds // 2:
                fleet.send(d, _progress(n * (d + 1)))
        if n == rounds // 2:
            fleet.send(3, MISMATCH)
            fleet.send(5, ended(cycles=1, copies=n * 6, bytes=n * 6 << 20))
            fleet.send(7, ev.Crashed(message="the worker died by SIGSEGV during cycle 1", signal="SIGSEGV"))


def test_sixteen_devices_fit_80x24_redrawn_in_place_never_scrolled(monkeypatch):
    monkeypatch.setattr(progress, "REDRAW", 0)
    view, fleet, out = tty(16)
    _busy_run(fleet, 16, 20)  # more than 300 redraws
    view.close()
    term = screen(out)
    lines = shown(term)
    assert max(written_widths(out)) <= 80  # nothing written wraps
    assert not term.history.top  # nothing scrolled off
    assert len(lines) == 17 and all(line.startswith("h:") for line in lines[:16])  # no wrapped line's tail
    copies = {d: 20 * (d + 1) for d in range(16)}
    copies.update({5: 60, 7: 72})  # 5's end says 60; 7 crashed after its progress at 9 * 8
    assert {d: int(row_of(lines, d).split()[2]) for d in range(16)} == copies
    assert row_of(lines, 3).endswith("FAIL [data_mismatch] 2 b…")
    assert row_of(lines, 5).endswith("done (completed)")
    assert row_of(lines, 7).endswith("CRASHED [crashed] the wo…")
    assert sum("device(s) ended" in line for line in lines) == 1
    assert after_time(lines[16]).startswith("2/16 device(s) ended, 2 failed so far, ")


def test_more_devices_than_lines_are_summed_up_with_the_unhealthy_ones_failed_first(monkeypatch):
    monkeypatch.setattr(progress, "REDRAW", 0)
    view, fleet, out = tty(40)
    for d in range(40):
        fleet.send(d, _started(d), _progress(d))
    for d in range(10, 40, 3):  # 10 crash
        fleet.send(d, ev.Crashed(message=f"the worker died by SIGKILL ({d})", signal="SIGKILL"))
    for d in range(11, 40, 3):  # 10 FAIL
        fleet.send(d, API_ERROR)
    fleet.send(0, ended(outcome="stopped"))  # ABORTED: not healthy, but not failed: after the failed ones
    for d in range(12, 40, 3):  # 10 FAIL, with their ends
        fleet.send(d, MISMATCH, ended(outcome="error"))
    for d in range(1, 4):
        fleet.send(d, ended(copies=d))
    view.close()
    term = screen(out)
    lines = shown(term)
    assert max(written_widths(out)) <= 80 and not term.history.top
    assert len(lines) == 23  # the terminal's 24 lines, less the one the cursor rests on
    assert lines[0] == "40 device(s): 6 running, 3 done, 20 FAIL, 10 CRASHED, 1 ABORTED"
    assert sum(counted(lines[0]).values()) == 40  # every device shown or counted
    failed = [line.split()[0] for line in lines[1:21]]
    assert failed == [f"h:{d}" for d in range(10, 30)]  # the failed ones, as many as fit, in device order
    assert lines[21] == "... and 11 more"  # 10 failed and the aborted one
    assert after_time(lines[22]) == "24/40 device(s) ended, 30 failed so far, 483.4 GiB moved"
    assert row_of(lines, 10).endswith("CRASHED [crashed] the work…")
    assert row_of(lines, 11).endswith("FAIL [api_error] acl.rt.me…")


def test_a_fault_shows_fail_and_its_cause_at_the_next_redraw_in_both_forms(monkeypatch):
    monkeypatch.setattr(progress, "REDRAW", 3600)  # no drawing is due: only the fault brings one
    view, fleet, out = tty(4)
    for d in range(4):
        fleet.send(d, _started(d), _progress(3))
    assert out.getvalue() == ""
    fleet.send(2, MISMATCH)
    lines = shown(screen(out))
    assert row_of(lines, 2) == "h:2  copies 3  2.8 GiB  H2D  7.50 D2H  8.25 GB/s  FAIL [data_mismatch] 2 bad by…"
    assert [row_of(lines, d).endswith("  running") for d in (0, 1, 3)] == [True] * 3

    view, fleet, out = tty(40)
    for d in range(30):  # 10 devices not heard of yet
        fleet.send(d, _started(d))
    fleet.send(17, MISMATCH)
    lines = shown(screen(out))
    assert lines[:2] == [
        "40 device(s): 10 waiting, 29 running, 1 FAIL",
        "h:17  cycle 0  copies 0  0 B  FAIL [data_mismatch] 2 bad bytes from offset 3785…",
    ]
    assert after_time(lines[2]) == "0/40 device(s) ended, 1 failed so far, 0 B moved" and len(lines) == 3


def test_a_narrow_terminal_drops_figures_and_cuts_rows_but_never_wraps(monkeypatch):
    monkeypatch.setattr(progress, "REDRAW", 0)
    expected = {
        (40, 24): ["h:3   copies  80  FAIL [data_mismatch] …", "h:7   copies  72  CRASHED [crashed] the…"],
        (40, 8): ["h:3  copies 80  FAIL [data_mismatch] 2 …", "h:7  copies 72  CRASHED [crashed] the w…"],
    }
    for size, failed in expected.items():
        view, fleet, out = tty(16, size)
        _busy_run(fleet, 16, 20)
        view.close()
        term = screen(out, size)
        lines = shown(term)
        assert max(written_widths(out)) <= 40 and not term.history.top
        assert "GB/s" not in out.getvalue() and "GiB" not in out.getvalue()  # the rate went first, then the bytes
        assert [row_of(lines, 3), row_of(lines, 7)] == failed
        assert after_time(lines[-1]).startswith("2/16 device(s) ended, 2 f") and len(lines[-1]) == 40
    assert lines[0] == "16 device(s): 13 running, 1 done, 1 FAI…"  # the 8-line terminal: the summary
    assert len(lines) == 4


def test_a_terminal_that_cannot_move_its_cursor_gets_the_plain_lines(monkeypatch):
    monkeypatch.setenv("TERM", "dumb")
    view, fleet, out = tty(2)
    fleet.send(1, _started(1), MISMATCH)
    view.close()
    assert not view.tty
    assert lines(out) == [
        "h:1 FAULT [data_mismatch] 2 bad bytes from offset 3785679 (random pattern) (cycle 1, copy 3)"
    ]


def test_disabled_view_prints_nothing():
    out = Tty()
    feed(ProgressView(2, enabled=False, stream=out))
    assert out.getvalue() == ""


def test_a_disabled_plain_view_prints_no_fault_nor_end():
    out = io.StringIO()
    view = ProgressView(1, enabled=False, stream=out)
    Fleet(view, 1).send(0, _started(0), MISMATCH, ended(outcome="error"))
    assert out.getvalue() == ""


def test_a_redraw_after_close_draws_nothing(monkeypatch):
    """The status timer may tick once more while the run ends: the closed view is not started again."""
    monkeypatch.setattr(progress, "REDRAW", 0)
    stream = Tty()
    view = ProgressView(2, stream=stream, size=(80, 24))
    fleet = Fleet(view, 2)
    fleet.send(0, _started(0), _progress(3))
    view.close()
    drawn = stream.getvalue()
    view.tick()
    fleet.send(1, _started(1), _progress(5))
    assert stream.getvalue() == drawn and not view.live.is_started
