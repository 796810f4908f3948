"""``compare`` between two recorded runs: which per-device changes are regressions (status, bandwidth
beyond the tolerance, capacity, new fault kinds, a device missing or new), the table and exit code,
and a run without ``summary.json`` rebuilt from its journal."""

from __future__ import annotations

import copy
import dataclasses
import json
import re
from typing import Any, Dict, List

import pytest

from orchestrator.report import compare as cmp
from orchestrator.report.summary import write_summary
from tests.helpers.fleet_runs import BLOCK, Run, copies, mismatch, record_run
from workers import events as ev


def recorded(tmp_path, name: str, devices) -> Run:
    folder = tmp_path / name
    folder.mkdir()
    return record_run(folder, devices)


def by_name(run: Run) -> Dict[str, Dict[str, Any]]:
    return {f"{d['host']}:{d['device']}": d for d in run.data["devices"]}


def filled(device: int, blocks: int) -> List[ev.Event]:
    events = copies(device)
    cap = ev.Capacity(
        cycle=4,
        copy=30,
        blocks=blocks,
        bytes=blocks * BLOCK,
        api="acl.rt.malloc",
        code=207001,
        name="ACL_ERROR_RT_MEMORY_ALLOCATION",
        expected=True,
    )
    return events[:-1] + [cap, dataclasses.replace(events[-1], outcome="capacity")]


@pytest.fixture
def devices(tmp_path) -> Dict[str, Dict[str, Any]]:
    """Device records of one recorded run: a pass, a mismatch, a mismatch with a leak, slower ones,
    and two fill runs."""
    run = recorded(
        tmp_path,
        "base",
        {
            ("h", 0): copies(0),
            ("h", 1): copies(1, faults=[mismatch()]),
            ("h", 2): copies(2, faults=[mismatch()], leak=1 << 20),
            ("h", 3): copies(3, h2d=21.7),
            ("h", 4): copies(4, h2d=21.5, d2h=20.0),
            ("h", 5): filled(5, 12),
            ("h", 6): filled(6, 10),
        },
    )
    return by_name(run)


def test_the_same_device_has_no_change(devices):
    assert cmp.changes(devices["h:0"], devices["h:0"], 0.10) == []
    assert cmp.changes(devices["h:1"], devices["h:1"], 0.10) == []


def test_a_device_that_no_longer_passes_regressed(devices):
    assert cmp.changes(devices["h:0"], devices["h:1"], 0.10) == [
        "status PASS -> FAIL",
        "new fault kinds: data_mismatch",
    ]


def test_a_device_that_now_passes_did_not_regress(devices):
    assert cmp.changes(devices["h:1"], devices["h:0"], 0.10) == []


def test_a_bandwidth_drop_beyond_the_tolerance_regressed(devices):
    assert cmp.changes(devices["h:0"], devices["h:3"], 0.10) == []  # 24.0 -> 21.7: 9.6%
    assert cmp.changes(devices["h:0"], devices["h:4"], 0.10) == ["H2D median -10%", "D2H median -20%"]
    assert cmp.changes(devices["h:0"], devices["h:3"], 0.05) == ["H2D median -10%"]
    assert cmp.changes(devices["h:4"], devices["h:0"], 0.10) == []  # faster is no regression


def test_a_bandwidth_that_is_no_longer_measured_is_not_a_bandwidth_drop(devices):
    gone = copy.deepcopy(devices["h:0"])
    gone["h2d_gbps"] = None
    assert cmp.changes(devices["h:0"], gone, 0.10) == []


def test_a_capacity_that_shrank_regressed(devices):
    assert cmp.changes(devices["h:5"], devices["h:6"], 0.10) == ["capacity shrank"]
    assert cmp.changes(devices["h:6"], devices["h:5"], 0.10) == []
    assert cmp.changes(devices["h:5"], devices["h:0"], 0.10) == []  # no fill in the new run: unknown
    assert cmp.changes(devices["h:0"], devices["h:5"], 0.10) == []


def test_a_new_fault_kind_regressed_even_on_a_failed_device(devices):
    assert cmp.changes(devices["h:1"], devices["h:2"], 0.10) == ["new fault kinds: leak"]
    assert cmp.changes(devices["h:2"], devices["h:1"], 0.10) == []


def test_a_missing_or_new_device(devices):
    assert cmp.changes(devices["h:0"], None, 0.10) == ["missing from the new run"]
    assert cmp.changes(None, devices["h:0"], 0.10) == []
    assert cmp.changes(None, devices["h:1"], 0.10) == ["new device, FAIL"]


def cells(text: str) -> List[List[str]]:
    return [re.split(r"\s{2,}", line.strip()) for line in text.split("\n\n")[0].splitlines()[2:]]


def test_compare_two_recorded_runs(tmp_path):
    old = recorded(tmp_path, "old", {("h", 0): copies(0), ("h", 1): copies(1), ("h", 2): copies(2)})
    new = recorded(
        tmp_path,
        "new",
        {("h", 0): copies(0, h2d=20.0), ("h", 1): copies(1, faults=[mismatch()]), ("h", 3): copies(3)},
    )
    text, code = cmp.compare(old.run_dir, new.run_dir)
    assert code == 1
    assert text.splitlines()[0].split() == "host dev status H2D median GB/s D2H median GB/s capacity verdict".split()
    assert cells(text) == [
        [
            "h",
            "0",
            "PASS -> PASS",
            "24.00 -> 20.00 (-17%)",
            "25.00 -> 25.00 (+0%)",
            "- -> -",
            "REGRESSED: H2D median -17%",
        ],
        [
            "h",
            "1",
            "PASS -> FAIL",
            "24.00 -> 24.00 (+0%)",
            "25.00 -> 25.00 (+0%)",
            "- -> -",
            "REGRESSED: status PASS -> FAIL; new fault kinds: data_mismatch",
        ],
        ["h", "2", "PASS -> -", "24.00 -> -", "25.00 -> -", "- -> -", "REGRESSED: missing from the new run"],
        ["h", "3", "- -> PASS", "- -> 24.00", "- -> 25.00", "- -> -", "ok"],
    ]
    assert text.endswith("\n\n3 of 4 device(s) regressed (bandwidth tolerance 10%).")


def test_compare_of_a_run_with_itself_is_ok_with_exit_0(tmp_path):
    run = recorded(tmp_path, "old", {("h", d): copies(d) for d in range(2)})
    text, code = cmp.compare(run.run_dir, run.run_dir, tolerance=0.05)
    assert code == 0
    assert [row[-1] for row in cells(text)] == ["ok", "ok"]
    assert text.endswith("\n\n0 of 2 device(s) regressed (bandwidth tolerance 5%).")


def test_compare_shows_the_capacities(tmp_path):
    old = recorded(tmp_path, "old", {("h", 0): filled(0, 12)})
    new = recorded(tmp_path, "new", {("h", 0): filled(0, 10)})
    text, code = cmp.compare(old.run_dir, new.run_dir)
    assert cells(text)[0][5:] == ["96.0 MiB -> 80.0 MiB", "REGRESSED: capacity shrank"]
    assert code == 1


def test_a_run_without_summary_is_rebuilt_from_its_journal(tmp_path):
    run = recorded(tmp_path, "old", {("h", 0): copies(0), ("h", 1): copies(1, faults=[mismatch()])})
    assert not (run.run_dir / "summary.json").exists()
    assert cmp.load_summary(run.run_dir) == json.loads(json.dumps(run.data, default=str))


def test_a_finished_runs_summary_is_read_as_written(tmp_path):
    run = recorded(tmp_path, "old", {("h", 0): copies(0)})
    data = copy.deepcopy(run.data)
    data["devices"][0]["h2d_gbps"]["median"] = 30.0
    write_summary(run.run_dir / "summary.json", data)
    (run.run_dir / "events.jsonl").unlink()  # the summary alone is enough
    assert cmp.load_summary(run.run_dir)["devices"][0]["h2d_gbps"]["median"] == 30.0
    new = recorded(tmp_path, "new", {("h", 0): copies(0)})
    text, code = cmp.compare(run.run_dir, new.run_dir)
    assert (cells(text)[0][3], code) == ("30.00 -> 24.00 (-20%)", 1)


@pytest.mark.parametrize(
    "text, value", [("10%", 0.10), ("0.1", 0.10), (" 25 % ".strip(), 0.25), ("0", 0.0), ("100%", 1.0)]
)
def test_a_tolerance_is_a_fraction_or_a_percentage(text, value):
    assert cmp.parse_tolerance(text) == pytest.approx(value)


def test_a_device_that_fails_in_both_runs_is_never_ok(tmp_path):
    run = recorded(tmp_path, "old", {("h", 0): copies(0), ("h", 1): copies(1, faults=[mismatch()])})
    text, code = cmp.compare(run.run_dir, run.run_dir)
    assert code == 1
    assert [row[-1] for row in cells(text)] == ["ok", "NOT PASSING: FAIL"]
