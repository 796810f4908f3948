"""The table's columns for the deeper transfer modes, from recorded ``Finished.curve``: each column
appears only when some device ran that mode (a size sweep, bidirectional, host_memory both), and
the sweep's peak is the highest median with its block size. They are in the wide table only; the
100-column one names them in a line under it."""

from __future__ import annotations

import dataclasses
from typing import Any, Dict, List, Optional

from orchestrator.report import sweep
from orchestrator.report.table import table
from tests.helpers.fleet_runs import copies, record_run, stats
from workers import events as ev

MIB = 1 << 20
PEAK = "sweep peak GB/s\nH2D / D2H"
SUM = "bidir sum\nGB/s"
RATIO = "pinned/pageable\nH2D / D2H"


def point(size: int, h2d: Optional[float], d2h: Optional[float], **extra: Any) -> Dict[str, Any]:
    return {
        "size": size,
        "h2d": None if h2d is None else stats(h2d),
        "d2h": None if d2h is None else stats(d2h),
        **extra,
    }


def with_curve(device: int, curve: Optional[List[Dict[str, Any]]]) -> List[ev.Event]:
    events = copies(device)
    return events[:-1] + [dataclasses.replace(events[-1], curve=curve)]


SWEEP = [point(1 * MIB, 12.0, 13.0), point(4 * MIB, 26.5, 24.0), point(8 * MIB, 24.0, 25.0)]
BIDIR = [point(8 * MIB, 20.0, 21.0, sum=stats(38.5))]
BOTH = [point(8 * MIB, 24.0, 25.0, pageable={"h2d": stats(16.0), "d2h": stats(20.0)}, ratio={"h2d": 1.5, "d2h": 1.25})]


def results(tmp_path, curves):
    run = record_run(tmp_path, {("h", d): with_curve(d, c) for d, c in enumerate(curves)})
    return [v.result for v in run.verdicts], run


def test_no_column_when_no_device_ran_a_deeper_mode(tmp_path):
    found, _ = results(tmp_path, [None, [point(8 * MIB, 24.0, 25.0)]])
    assert sweep.columns(found) == ([], [[], []])


def test_a_sweep_adds_its_peak_and_the_size_it_was_reached_at(tmp_path):
    found, _ = results(tmp_path, [SWEEP, None, [point(8 * MIB, 24.0, 25.0)]])
    assert sweep.columns(found) == ([PEAK], [["26.50@4MiB / 25.00@8MiB"], ["-"], ["24.00@8MiB / 25.00@8MiB"]])


def test_bidirectional_adds_the_summed_median(tmp_path):
    found, _ = results(tmp_path, [BIDIR, None])
    assert sweep.columns(found) == ([SUM], [["38.50"], ["-"]])


def test_host_memory_both_adds_the_pinned_over_pageable_ratio(tmp_path):
    missing = [point(8 * MIB, 24.0, 25.0, ratio={"h2d": 1.5, "d2h": None})]
    found, _ = results(tmp_path, [BOTH, missing, None])
    assert sweep.columns(found) == ([RATIO], [["1.50 / 1.25"], ["-"], ["-"]])


def test_every_mode_at_once_keeps_the_columns_order(tmp_path):
    found, _ = results(tmp_path, [SWEEP, BIDIR, BOTH])
    heads, cells = sweep.columns(found)
    assert heads == [PEAK, SUM, RATIO]
    assert cells == [
        ["26.50@4MiB / 25.00@8MiB", "-", "-"],
        ["20.00@8MiB / 21.00@8MiB", "38.50", "-"],
        ["24.00@8MiB / 25.00@8MiB", "-", "1.50 / 1.25"],
    ]


def test_the_wide_table_shows_the_columns_before_verify_errors(tmp_path):
    _, run = results(tmp_path, [SWEEP, None])
    header = table(run.verdicts, wide=True).splitlines()[0]
    assert header.index("D2H GB/s") < header.index("sweep peak GB/s") < header.index("verify")
    assert "26.50@4MiB / 25.00@8MiB" in table(run.verdicts, wide=True)


def test_the_100_column_table_leaves_them_to_wide_and_says_so_under_it(tmp_path):
    _, run = results(tmp_path, [SWEEP, BIDIR, BOTH])
    lines = table(run.verdicts).splitlines()
    assert "sweep" not in "\n".join(lines[:-1]) and "26.50@4MiB" not in "\n".join(lines)
    assert lines[-1] == "(--wide also shows sweep peak GB/s, bidir sum, pinned/pageable)"
    assert max(len(line) for line in lines) <= 100
    (tmp_path / "plain").mkdir()
    _, plain = results(tmp_path / "plain", [None])
    assert "--wide" not in table(plain.verdicts)


def test_peak_is_the_highest_median_with_its_size():
    assert sweep.peak(SWEEP, "h2d") == (26.5, 4 * MIB)
    assert sweep.peak(SWEEP, "d2h") == (25.0, 8 * MIB)


def test_peak_skips_sizes_without_a_measurement():
    curve = [point(1 * MIB, None, 5.0), point(2 * MIB, 3.0, None), point(4 * MIB, 2.0, 4.0)]
    assert sweep.peak(curve, "h2d") == (3.0, 2 * MIB)
    assert sweep.peak(curve, "d2h") == (5.0, 1 * MIB)
    assert sweep.peak([point(1 * MIB, None, None)], "h2d") is None
    assert sweep.peak([], "h2d") is None


def test_a_sweep_with_one_direction_unmeasured_shows_no_peak(tmp_path):
    found, _ = results(tmp_path, [[point(1 * MIB, None, 5.0), point(2 * MIB, None, 6.0)]])
    assert sweep.columns(found) == ([PEAK], [["-"]])
