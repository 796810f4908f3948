"""``dvpp-fleet compare`` (orchestrator/commands/compare.py) through the real CLI, on real small
simulated runs: no change exits 0, a regression exits 1, a directory that is not a run exits 2."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Dict, List

import pytest

from orchestrator import rundir
from tests.helpers.cli import cli, run_fleet
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
    assert r.returncode == 0, r.stderr
    assert [line.split()[2:5] for line in rows(r.stdout)] == [["PASS", "->", "PASS"], ["FAIL", "->", "FAIL"]]


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
