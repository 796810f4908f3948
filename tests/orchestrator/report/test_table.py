"""The text a person reads, from recorded runs: the table in 100 columns (hosts on their own lines,
the cause's kind) and ``wide`` (every column: a node column on a cluster run), the first fault, the
failure summary grouped by cause with log tails, the capacity reached, and ``report.txt``'s
SIMULATED and INTERRUPTED banners."""

from __future__ import annotations

import dataclasses
from typing import Dict, List, Tuple

from orchestrator.report import fmt, narrow
from orchestrator.report.table import capacity_lines, failure_summary, first_fault, lowest_cell, report_text, table
from orchestrator.results.collect import DeviceResult
from orchestrator.results.records import Verdict
from orchestrator.results.replay import replay
from orchestrator.results.status import Status
from tests.helpers.fleet_runs import (
    BLOCK,
    MIXED_STATUSES,
    copies,
    mismatch,
    mixed_devices,
    mixed_run,
    record_run,
    started,
)
from workers import events as ev

HEADERS = (
    "host|dev|status|cycles|copies|moved|H2D GB/s\nmed / min|D2H GB/s\nmed / min|link\nbusy|verified\nGB/s|"
    "verify\nerrors|"
    "lowest free|leak|time|first fault"
)
HEADERS = HEADERS.split("|")
NARROW = (
    "dev|status|cyc|copies|H2D GB/s\nmed/min|D2H GB/s\nmed/min|link\nbusy|vfy\nerr|lowest\nhbm free|leak|time|cause"
).split("|")


def parse(text: str) -> Tuple[List[str], List[List[str]]]:
    """A ``simple`` tabulate table -> (headers, rows of cells), by the spans of its dashed rule."""
    lines = text.splitlines()
    rule = next(i for i, line in enumerate(lines) if set(line) <= {"-", " "} and line)
    spans, start = [], None
    for i, ch in enumerate(lines[rule] + " "):
        if ch == "-" and start is None:
            start = i
        elif ch != "-" and start is not None:
            spans.append((start, i))
            start = None
    heads = ["\n".join(line[a:b].strip() for line in lines[:rule]).strip("\n") for a, b in spans]
    rows = [[line[a:b].strip() for a, b in spans] for line in lines[rule + 1 :]]
    return heads, rows


def capacity(expected: bool) -> ev.Capacity:
    return ev.Capacity(
        cycle=4,
        copy=30,
        blocks=12,
        bytes=12 * BLOCK,
        api="acl.rt.malloc",
        code=207001,
        name="ACL_ERROR_RT_MEMORY_ALLOCATION",
        expected=expected,
    )


def filled(device: int, expected: bool) -> List[ev.Event]:
    events = copies(device)
    return events[:-1] + [capacity(expected), dataclasses.replace(events[-1], outcome="capacity")]


def test_the_wide_table_has_one_row_per_device_under_every_column(tmp_path):
    run = mixed_run(tmp_path)
    heads, rows = parse(table(run.verdicts, wide=True))
    assert heads == HEADERS
    assert [(r[0] + ":" + r[1], r[2]) for r in rows] == list(MIXED_STATUSES.items())
    by_name = {r[0] + ":" + r[1]: r for r in rows}
    assert by_name["node-a:3"] == [
        "node-a",
        "3",
        "FAIL",
        "4",
        "32",
        "512.0 MiB",
        "24.00 / 19.20",
        "25.00 / 20.00",
        "72%",
        "0.13",  # 4 cycles of 16 x 8 MiB verified in 4 s
        "1",
        "hbm 64.0 GiB",
        "0 B",
        "4.0s",
        "3 byte(s) differ after D2H",
    ]
    assert by_name["node-a:5"][12] == "8.0 MiB"
    assert by_name["node-b:2"][5:] == [
        "0 B",
        "-",
        "-",
        "-",
        "-",
        "0",
        "-",
        "0 B",
        "3.0s",
        "acl.rt.set_device failed 3 time(s)",
    ]
    assert by_name["node-b:3"][-1] == ""


def test_a_cluster_run_adds_the_node_column_to_the_wide_table_only(tmp_path):
    placed = [dataclasses.replace(started(0), node="worker-1")] + copies(0)[1:]
    run = record_run(tmp_path, {("h", 0): placed, ("h", 1): copies(1)})
    heads, rows = parse(table(run.verdicts, wide=True))
    assert heads == HEADERS[:2] + ["node"] + HEADERS[2:]
    assert [r[:4] for r in rows] == [["h", "0", "worker-1", "PASS"], ["h", "1", "-", "PASS"]]
    narrow_heads, _ = parse(table(run.verdicts))
    assert narrow_heads == NARROW
    assert table(run.verdicts).splitlines()[-1] == "(--wide also shows node)"


def test_a_local_run_has_no_node_column(tmp_path):
    run = record_run(tmp_path, {("h", 0): copies(0)})
    assert "node" not in parse(table(run.verdicts))[0]


def narrow_rows(text: str) -> Dict[str, List[str]]:
    """The 100-column table's rows by device name: each under its host's line (``node-a:``)."""
    lines = text.splitlines()
    rule = next(i for i, line in enumerate(lines) if line and set(line) <= {"-", " "})
    _, cells = parse("\n".join(lines[: rule + 1] + [" " * 200] + lines[rule + 1 :]))
    out, host = {}, ""
    for line, row in zip(lines[rule + 1 :], cells[1:]):
        if line.endswith(":") and not line.startswith(" "):
            host = line[:-1]
        elif not line.startswith("("):
            out[f"{host}:{row[0]}"] = row
    return out


def test_the_table_fits_100_columns_with_every_figure_and_the_cause_kind(tmp_path):
    run = mixed_run(tmp_path)
    text = table(run.verdicts)
    assert max(len(line) for line in text.splitlines()) <= narrow.WIDTH == 100
    assert parse(text)[0] == NARROW
    assert [line for line in text.splitlines() if line.endswith(":")] == ["node-a:", "node-b:"]
    rows = narrow_rows(text)
    assert {name: row[1] for name, row in rows.items()} == MIXED_STATUSES
    assert rows["node-a:3"] == [
        "3",
        "FAIL",
        "4",
        "32",
        "24.00/19.20",
        "25.00/20.00",
        "72%",
        "1",
        "64.0 GiB",
        "0 B",
        "4.0s",
        "data_mismatch",
    ]
    assert rows["node-a:5"][9:] == ["8.0 MiB", "4.0s", "leak"]
    assert rows["node-b:2"][4:] == ["-", "-", "-", "0", "-", "0 B", "3.0s", "open_failed"]
    assert [rows[n][-1] for n in ("node-a:2", "node-a:4", "node-b:1", "node-b:3")] == [
        "WARN outlier",
        "crashed",
        "hung",
        "",
    ]
    assert "(--wide" not in text  # no column was left out


def test_a_30_character_host_name_leaves_the_rows_as_they_were(tmp_path):
    long = "gpu-node-017.rack3.example.net"
    assert len(long) == 30
    devices = {(long if host == "node-a" else host, d): events for (host, d), events in mixed_devices().items()}
    (tmp_path / "long").mkdir()
    text = table(record_run(tmp_path / "long", devices).verdicts)
    assert max(len(line) for line in text.splitlines()) <= 100
    assert f"{long}:" in text.splitlines()
    short = table(mixed_run(tmp_path).verdicts)
    assert text.replace(long, "node-a") == short  # the name widens no row


def test_the_cause_shows_its_message_where_the_figures_leave_room(tmp_path):
    run = mixed_run(tmp_path)
    by_name = run.by_name()
    mismatch_row = next(line for line in table(run.verdicts, wide=False).splitlines() if "data_mismatch" in line)
    assert mismatch_row.endswith(" data_mismatch")
    roomy = narrow.table(run.verdicts, width=140)
    assert "  3 FAIL" in roomy and " data_mismatch: 3 byte(s) differ after D2H\n" in roomy
    assert max(len(line) for line in roomy.splitlines()) <= 140
    leak = by_name["node-a:5"]
    assert narrow.cause(leak, 40) == "leak: free device memory after releas..."
    assert narrow.cause(leak, 24) == "leak"  # under MIN_DETAIL characters of the message: the kind alone
    assert narrow.cause(by_name["node-b:2"], 8) == "open_..."
    assert narrow.cause(by_name["node-a:2"], 30) == "WARN outlier"
    assert narrow.cause(by_name["node-a:2"], 40) == "WARN outlier: H2D median 9.00 GB/s is..."
    assert narrow.cause(by_name["node-a:0"], 30) == ""


def test_lowest_free_names_its_memory_kind_in_the_header_when_every_device_has_that_one():
    hbm = DeviceResult(host="h", device=0, baseline={"hbm": {"free": 8, "total": 8}}, lowest_free={"hbm": 1 << 30})
    both = DeviceResult(
        host="h",
        device=1,
        baseline={"hbm": {"free": 8, "total": 8}, "ddr": {"free": 8, "total": 8}},
        lowest_free={"hbm": 2 << 30, "ddr": 3 << 30},
    )
    assert narrow.single_pool([hbm, DeviceResult(host="h", device=2)]) == "hbm"
    assert narrow.single_pool([hbm, both]) is None
    verdicts = [Verdict(r, Status.PASS, ()) for r in (hbm, both)]
    heads, rows = parse(table(verdicts))
    assert heads[8] == "lowest\nfree"
    assert [r[8] for r in rows[1:]] == ["hbm 1.0 GiB", "hbm 2.0 GiB, ddr 3.0 GiB"]
    assert parse(table(verdicts[:1]))[0][8] == "lowest\nhbm free" and parse(table(verdicts[:1]))[1][1][8] == "1.0 GiB"


def test_lowest_free_shows_only_the_memory_kinds_the_device_has(tmp_path):
    by_name = mixed_run(tmp_path).by_name()
    assert lowest_cell(by_name["node-a:5"].result) == "hbm 64.0 GiB"  # ddr has no total: not shown
    assert lowest_cell(by_name["node-b:3"].result) == "-"  # never started: no baseline


def test_first_fault_is_the_first_cause_else_the_first_warning(tmp_path):
    by_name = mixed_run(tmp_path).by_name()
    assert first_fault(by_name["node-a:3"]) == "3 byte(s) differ after D2H"
    assert first_fault(by_name["node-a:0"]) == ""
    warned = by_name["node-a:2"]
    full = "WARNING: " + warned.warnings[0].message
    assert first_fault(warned, width=None) == full
    assert first_fault(warned) == full[:57] + "..." and len(full) > 60
    leak = by_name["node-a:5"]
    assert first_fault(leak, width=30) == "free device memory after re..."


def test_all_passed_says_so_with_its_warnings(tmp_path):
    run = record_run(tmp_path, {("h", d): copies(d, h2d=24.0 if d else 9.0) for d in range(4)})
    assert failure_summary(run.verdicts) == (
        "All 4 device(s) passed.\n"
        "\n"
        "1 warning(s):\n"
        "  h:0 PASS: [outlier] H2D median 9.00 GB/s is 62% below the fleet median 24.00 GB/s of 4 "
        "Ascend910B1 device(s) (max_below_fleet 0.25)"
    )


def test_all_passed_without_warnings_is_one_line(tmp_path):
    run = record_run(tmp_path, {("h", d): copies(d) for d in range(3)})
    assert failure_summary(run.verdicts) == "All 3 device(s) passed."


def test_failures_are_grouped_by_cause_then_each_status_says_what_it_means_once(tmp_path):
    lines = failure_summary(mixed_run(tmp_path).verdicts).splitlines()
    assert lines[:10] == [
        "8 of 12 device(s) did not pass:",
        "  data_mismatch on 1 device(s): node-a:3",
        "  crashed on 1 device(s): node-a:4",
        "  leak on 1 device(s): node-a:5",
        "  hung on 1 device(s): node-b:1",
        "  open_failed <acl.rt.set_device 507033 ACL_ERROR_RT_DEV_SETUP_ERROR> on 1 device(s): node-b:2",
        "  SKIPPED on 1 device(s): node-b:3; the device was never started (the run ended before its turn)",
        "  ABORTED on 1 device(s): node-b:4; the run was interrupted before the device finished",
        "  INCOMPLETE on 1 device(s): node-b:5; the journal ends before the device finished "
        "(the controller died after starting it)",
        "",
    ]
    assert lines[10:13] == [
        "FAIL: a fault was recorded: data mismatch, API error, leak, or a threshold not met",
        "  node-a:3  [data_mismatch] 3 byte(s) differ after D2H (cycle 2, copy 11); expected/actual at offset: "
        "4096: 255/254",
        "  node-a:5  [leak] free device memory after release is 8.0 MiB below the baseline (max_leak 0B)",
    ]
    assert lines.count(lines[10]) == 1 and sum(Status.FAIL.meaning in line for line in lines) == 1
    assert "  node-b:2  [open_failed] acl.rt.set_device failed 3 time(s) " in "\n".join(lines)
    assert lines[-2:] == [
        "1 warning(s):",
        "  node-a:2 PASS: [outlier] H2D median 9.00 GB/s is 62% below the fleet median 24.00 GB/s of 6 "
        "Ascend910B1 device(s) (max_below_fleet 0.25)",
    ]


def test_identical_causes_on_many_devices_are_one_line_naming_them_all(tmp_path):
    stopped = {("h", d): copies(d)[:3] for d in range(8)}
    lines = failure_summary(record_run(tmp_path, stopped, interrupted=True).verdicts).splitlines()
    assert lines == ["8 of 8 device(s) did not pass:", "  ABORTED on 8 device(s): h:0-7; " + Status.ABORTED.meaning]
    same = {("h", d): copies(d, faults=[mismatch()]) for d in (0, 1, 2, 5)}
    (tmp_path / "same").mkdir()
    lines = failure_summary(record_run(tmp_path / "same", same).verdicts).splitlines()
    assert [line for line in lines if "[data_mismatch]" in line] == [
        "  h:0-2,5  [data_mismatch] 3 byte(s) differ after D2H (cycle 2, copy 11); expected/actual at offset: "
        "4096: 255/254"
    ]


def test_devices_with_the_same_cause_share_one_group_line(tmp_path):
    devices = {
        ("h", 0): copies(0),
        ("h", 1): copies(1, faults=[mismatch()]),
        ("h", 2): copies(2, faults=[mismatch(cycle=1, copy=3), mismatch(cycle=3, copy=20)], leak=1 << 20),
    }
    lines = failure_summary(record_run(tmp_path, devices).verdicts).splitlines()
    assert lines[:4] == [
        "2 of 3 device(s) did not pass:",
        "  data_mismatch on 2 device(s): h:1-2",  # h:2 named once despite two mismatches
        "  leak on 1 device(s): h:2",
        "",
    ]


def test_log_tails_follow_the_statuses_where_the_worker_said_why(tmp_path):
    run = mixed_run(tmp_path)
    logs = run.run_dir / "logs"
    logs.mkdir()
    words = [f"crash line {n}" for n in range(1, 13)]
    (logs / "node-a-4.log").write_text("\n".join(words[:6] + ["", "   "] + words[6:]) + "\n")
    (logs / "node-a-3.log").write_text("a FAIL has its causes; no tail\n")
    text = failure_summary(replay(run.run_dir).verdicts)
    lines = text.splitlines()
    at = lines.index("CRASHED: the worker process died")
    tail = [f"    | crash line {n}" for n in range(5, 13)]  # the last 8 lines that say something
    assert lines[at + 1 : at + 11] == [
        "  node-a:4  [crashed] worker died from signal SIGSEGV in cycle 1, copy 4",
        "  node-a:4: worker log logs/node-a-4.log:",
        *tail,
    ]
    assert lines[at + 11 : at + 13] == ["", "HUNG: " + Status.HUNG.meaning]
    assert "no tail" not in text and "logs/node-a-3.log" not in text


def test_capacity_lines_name_the_expected_fills_only(tmp_path):
    run = record_run(tmp_path, {("h", 0): filled(0, True), ("h", 1): filled(1, False), ("h", 2): copies(2)})
    assert capacity_lines(run.verdicts) == (
        "Capacity reached (device memory full: the expected end of a fill run):\n"
        "  h:0: 12 block(s), 96.0 MiB held when acl.rt.malloc returned 207001 ACL_ERROR_RT_MEMORY_ALLOCATION"
    )
    by_name = run.by_name()
    assert by_name["h:0"].status.value == "PASS"
    assert [c.fault for c in by_name["h:1"].causes] == ["alloc_failed"]  # an unexpected fill is a failure


def test_no_capacity_lines_without_a_fill(tmp_path):
    assert capacity_lines(mixed_run(tmp_path).verdicts) == ""


def test_report_text_of_a_simulated_run_opens_and_closes_with_the_banner(tmp_path):
    run = mixed_run(tmp_path)
    text = report_text(run.verdicts, run.data)
    assert text == "\n".join(
        [fmt.SIMULATED, "", table(run.verdicts), "", failure_summary(run.verdicts, simulated=True), "", fmt.SIMULATED]
    )
    assert fmt.INTERRUPTED not in text


def test_report_text_of_real_hardware_has_no_banner(tmp_path):
    run = record_run(tmp_path, {("h", 0): copies(0)}, simulated=False)
    text = report_text(run.verdicts, run.data)
    assert text == table(run.verdicts) + "\n\nAll 1 device(s) passed."
    assert "SIMULATED" not in text


def test_report_text_of_an_interrupted_run_says_so_first(tmp_path):
    run = record_run(tmp_path, {("h", 0): copies(0)}, simulated=False)
    text = report_text(run.verdicts, dict(run.data, interrupted=True))
    assert text.splitlines()[:2] == [fmt.INTERRUPTED, ""]
    sim = report_text(run.verdicts, dict(run.data, interrupted=True, simulated=True))
    assert sim.splitlines()[:4] == [fmt.SIMULATED, "", fmt.INTERRUPTED, ""]
    assert sim.splitlines()[-1] == fmt.SIMULATED


def test_report_text_puts_the_capacity_between_table_and_summary(tmp_path):
    run = record_run(tmp_path, {("h", 0): filled(0, True)}, simulated=False)
    assert report_text(run.verdicts, run.data) == "\n".join(
        [table(run.verdicts), "", capacity_lines(run.verdicts), "", "All 1 device(s) passed."]
    )
