"""``dvpp-fleet compare`` (orchestrator/commands/compare.py) through the real CLI, on real small
simulated runs: no change exits 0, a regression exits 1, a directory that is not a run exits 2; a
``summary.json`` that cannot be used (not JSON, wrong types, missing keys, unreadable) is rebuilt
from the journal and said, or, with no journal, is a usage error naming the file and why."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any, Dict, List, Tuple

import pytest

from orchestrator import rundir
from orchestrator.report.summary import write_summary
from tests.helpers.cli import cli, run_fleet
from tests.helpers.fleet_runs import copies, mismatch, record_run
from tests.helpers.journals import dvpp
from tests.helpers.specs import spec

TOLERANT = ("--tolerance", "0.9")  # simulated bandwidth varies with the load of this machine


@pytest.fixture(scope="module")
def runs(tmp_path_factory) -> Dict[str, Path]:
    """Two clean runs of the same two-device fleet, and one where device 1 sees a bit flip."""
    made = {}
    for name, faults in (("old", []), ("new", []), ("flipped", [{"device": 1, "kind": "bitflip", "at_copy": 2}])):
        r = run_fleet(tmp_path_factory.mktemp(name), spec(devices=2, faults=faults))
        assert r.code == (1 if faults else 0), r.stderr
        made[name] = r.run_dir
    return made


def rows(stdout: str) -> List[str]:
    return [line for line in stdout.splitlines() if line.startswith("localhost")]


@pytest.mark.slow
def test_two_clean_runs_of_the_same_fleet_exit_0(runs):
    r = cli("compare", str(runs["old"]), str(runs["new"]), *TOLERANT)
    assert r.returncode == 0, r.stderr
    lines = rows(r.stdout)
    assert len(lines) == 2
    assert all("PASS -> PASS" in line and line.endswith(" ok") for line in lines)
    assert r.stdout.rstrip().endswith("0 of 2 device(s) regressed (bandwidth tolerance 90%).")


@pytest.mark.slow
def test_a_run_compared_with_itself_shows_no_change(runs):
    r = cli("compare", str(runs["old"]), str(runs["old"]))
    assert r.returncode == 0, r.stderr
    assert all("(+0%)" in line for line in rows(r.stdout))
    assert "0 of 2 device(s) regressed (bandwidth tolerance 10%)." in r.stdout


@pytest.mark.slow
def test_a_device_that_no_longer_passes_is_a_regression_with_exit_1(runs):
    r = cli("compare", str(runs["old"]), str(runs["flipped"]), *TOLERANT)
    assert r.returncode == 1, r.stderr
    dev0, dev1 = rows(r.stdout)
    assert dev0.split()[:2] == ["localhost", "0"] and dev0.endswith(" ok")
    assert "PASS -> FAIL" in dev1
    assert dev1.endswith("REGRESSED: status PASS -> FAIL; new fault kinds: data_mismatch")
    assert "1 of 2 device(s) regressed" in r.stdout


@pytest.mark.slow
def test_a_run_without_its_summary_is_rebuilt_from_the_journal(runs, tmp_path):
    journal_only = tmp_path / "journal-only"
    journal_only.mkdir()
    shutil.copy(runs["flipped"] / rundir.JOURNAL, journal_only / rundir.JOURNAL)
    r = cli("compare", str(runs["flipped"]), str(journal_only))
    assert r.returncode == 1, r.stderr  # device 1 fails in both: never "ok"
    assert [line.split()[2:5] for line in rows(r.stdout)] == [["PASS", "->", "PASS"], ["FAIL", "->", "FAIL"]]
    assert rows(r.stdout)[1].endswith("NOT PASSING: FAIL")
    assert "0 of 2 device(s) regressed, 1 not passing in either run (bandwidth tolerance 10%)." in r.stdout


@pytest.mark.slow
def test_runs_that_measured_different_block_sizes_are_not_compared_without_force(runs, tmp_path):
    data = spec(devices=2)
    data["defaults"]["memory_size"] = "128KiB"
    bigger = run_fleet(tmp_path, data)
    r = cli("compare", str(runs["old"]), str(bigger.run_dir))
    assert r.returncode == 2 and r.stdout == ""
    assert r.stderr.splitlines() == [
        "dvpp-fleet: error: compare: the runs measured different things, so their bandwidth cannot be compared:",
        "dvpp-fleet: error:   localhost:0: memory_size 65536 -> 131072",
        "dvpp-fleet: error:   localhost:1: memory_size 65536 -> 131072",
        "dvpp-fleet: error:   (--force compares them all the same)",
    ]
    forced = cli("compare", str(runs["old"]), str(bigger.run_dir), "--force", *TOLERANT)
    assert forced.returncode in (0, 1) and len(rows(forced.stdout)) == 2
    assert "Compared with --force although 2 device(s) measured different things." in forced.stdout


@pytest.mark.parametrize(
    "given, problem",
    [
        ("10", "'10' must be between 0 and 1 (or 0% and 100%); for a percentage write 10%"),
        ("150%", "'150%' must be between 0 and 1 (or 0% and 100%)"),
        ("-0.1", "'-0.1' must be between 0 and 1 (or 0% and 100%)"),
        ("nan", "'nan' must be between 0 and 1 (or 0% and 100%)"),
        ("ten", "'ten' is neither a fraction (0.1) nor a percentage (10%)"),
    ],
)
def test_a_tolerance_that_cannot_be_meant_is_refused(tmp_path, given, problem):
    r = cli("compare", str(tmp_path), str(tmp_path), "--tolerance", given)
    assert r.returncode == 2 and f"argument --tolerance: {problem}" in r.stderr


def test_a_directory_that_is_not_a_run_is_a_usage_error(tmp_path):
    empty, other = tmp_path / "empty", tmp_path / "other"
    empty.mkdir()
    other.mkdir()
    r = cli("compare", str(empty), str(other))
    assert (r.returncode, r.stdout) == (2, "")
    assert r.stderr.splitlines() == [
        f"dvpp-fleet: error: compare: {empty} is not a run directory (no summary.json or events.jsonl)"
    ]


@pytest.mark.slow
def test_the_new_run_is_checked_too(runs, tmp_path):
    r = cli("compare", str(runs["old"]), str(tmp_path))
    assert r.returncode == 2
    assert f"compare: {tmp_path} is not a run directory" in r.stderr


# a summary.json that cannot be used: rebuilt from the journal, else a usage error naming the file


@pytest.fixture
def two_runs(tmp_path) -> Tuple[Path, Path]:
    """Two recorded runs of two devices, each with its journal and its summary.json; h:1 fails in the new one."""
    made = []
    for name, faults in (("old", []), ("new", [mismatch()])):
        (tmp_path / name).mkdir()
        run = record_run(tmp_path / name, {("h", 0): copies(0), ("h", 1): copies(1, faults=faults)})
        write_summary(run.run_dir / rundir.SUMMARY, run.data)
        made.append(run.run_dir)
    return made[0], made[1]


EXPECTED_ROWS = [["h", "0", "PASS", "->", "PASS"], ["h", "1", "PASS", "->", "FAIL"]]


def statuses(stdout: str) -> List[List[str]]:
    return [line.split()[:5] for line in stdout.splitlines() if line.startswith("h ")]


@pytest.mark.parametrize(
    "text, why",
    [
        ("{", "not JSON: Expecting property name enclosed in double quotes: line 1 column 2 (char 1)"),
        ("[]", "not a JSON object (got [])"),
        ("{}", "devices is missing"),
        ('{"devices": {"h:0": "PASS"}}', "devices must be a list (got {'h:0': 'PASS'})"),
        ('{"devices": [{"host": "h", "status": "PASS"}]}', "devices[0].device is missing"),
        (
            '{"devices": [{"host": "h", "device": "0", "status": "PASS"}]}',
            "devices[0].device must be an integer (got '0')",
        ),
        (
            '{"devices": [{"host": "h", "device": 0, "status": "PASS", "h2d_gbps": {"median": "fast"}}]}',
            "devices[0].h2d_gbps.median must be a number or null (got 'fast')",
        ),
        (
            '{"devices": [{"host": "h", "device": 0, "status": "PASS", "faults": [{"kind": 3}]}]}',
            "devices[0].faults[0].kind must be a string (got 3)",
        ),
    ],
)
def test_an_unusable_summary_is_rebuilt_from_the_journal(two_runs, capsys, text, why):
    old, new = two_runs
    (new / rundir.SUMMARY).write_text(text)
    said = dvpp(capsys, "compare", old, new, *TOLERANT)
    assert said.code == 1, said.err
    assert said.err == f"dvpp-fleet: {new / rundir.SUMMARY} is unusable ({why}); rebuilt from events.jsonl\n"
    assert statuses(said.out) == EXPECTED_ROWS


def test_an_unusable_summary_without_a_journal_is_a_usage_error_naming_it(two_runs, capsys):
    old, new = two_runs
    (new / rundir.SUMMARY).write_text('{"devices": [{"host": "h", "device": true, "status": "PASS"}]}')
    (new / rundir.JOURNAL).unlink()
    said = dvpp(capsys, "compare", old, new)
    assert (said.code, said.out) == (2, "")
    assert said.err == (
        f"dvpp-fleet: error: compare: {new / rundir.SUMMARY} is unusable (devices[0].device must be an integer "
        f"(got true)) and {new} holds no events.jsonl to rebuild it\n"
    )


def test_an_unusable_summary_and_an_unusable_journal_are_both_named(two_runs, capsys):
    old, new = two_runs
    (new / rundir.SUMMARY).write_text("")
    (new / rundir.JOURNAL).write_text('{"kind": "header", "jobs": "h:0"}\n')
    said = dvpp(capsys, "compare", old, new)
    assert (said.code, said.out) == (2, "")
    assert said.err.splitlines() == [
        f"dvpp-fleet: error: compare: {new / rundir.SUMMARY} is unusable (not JSON: Expecting value: line 1 column 1 "
        "(char 0))",
        f"dvpp-fleet: error: compare: nor can it be rebuilt: {new / rundir.JOURNAL} has no usable header line "
        "(line 1: jobs must be a list of jobs (got 'h:0'))",
    ]


def test_a_summary_that_cannot_be_read_is_rebuilt_from_the_journal(two_runs, capsys, monkeypatch):
    old, new = two_runs
    read_text = Path.read_text

    def guarded(self: Path, *args: Any, **kwargs: Any) -> str:
        if self == new / rundir.SUMMARY:
            raise PermissionError(13, "Permission denied")
        return read_text(self, *args, **kwargs)

    monkeypatch.setattr(Path, "read_text", guarded)
    said = dvpp(capsys, "compare", old, new, *TOLERANT)
    assert said.code == 1
    why = "cannot be read: Permission denied"
    assert said.err == f"dvpp-fleet: {new / rundir.SUMMARY} is unusable ({why}); rebuilt from events.jsonl\n"
    assert statuses(said.out) == EXPECTED_ROWS


def test_a_journal_rebuilt_for_compare_says_what_it_skipped(two_runs, capsys):
    old, new = two_runs
    (new / rundir.SUMMARY).unlink()
    with open(new / rundir.JOURNAL, "a") as fh:
        fh.write('{"t": 1800000099.0, "host": "h", "device": 7, "kind": "crashed", "message": "x"}\n')
    said = dvpp(capsys, "compare", old, new, *TOLERANT)
    assert said.code == 1
    count = len((new / rundir.JOURNAL).read_text().splitlines())
    assert said.err.splitlines() == [
        f"dvpp-fleet: skipped 1 unreadable journal line(s) of {new / rundir.JOURNAL}:",
        f"dvpp-fleet:   line {count}: device h:7 is not in the header's jobs",
    ]


@pytest.mark.slow
def test_a_real_runs_corrupted_summary_gives_the_same_comparison_from_its_journal(runs, tmp_path, capsys):
    broken = tmp_path / "flipped"
    shutil.copytree(runs["flipped"], broken)
    text = (broken / rundir.SUMMARY).read_text()
    (broken / rundir.SUMMARY).write_text(text[: len(text) // 2])  # cut short
    said = dvpp(capsys, "compare", runs["old"], broken, *TOLERANT)
    assert said.code == 1 and "Traceback" not in said.err
    assert said.err.startswith(f"dvpp-fleet: {broken / rundir.SUMMARY} is unusable (not JSON: ")
    assert said.err.rstrip().endswith("rebuilt from events.jsonl")
    whole = dvpp(capsys, "compare", runs["old"], runs["flipped"], *TOLERANT)
    assert [line.split()[:5] for line in rows(said.out)] == [line.split()[:5] for line in rows(whole.out)]
