"""The run directory: fresh names, a directory made ready (or refused with a usage error), and the
paths of the files in it."""

from __future__ import annotations

import errno
import os
import re
from datetime import datetime, timezone
from pathlib import Path

import pytest

from orchestrator import rundir
from orchestrator.errors import SpecError
from orchestrator.results.journal import Journal
from orchestrator.rundir import (
    DEFAULT_BASE,
    JOURNAL,
    clobbers,
    foreign_files,
    is_run_dir,
    link_state_path,
    log_name,
    log_path,
    new_run_dir,
    position_path,
    prepare_run_dir,
)

NAME = re.compile(r"(\d{8}T\d{6}Z)-[0-9a-f]{6}")


def test_new_run_dir_is_utc_time_and_an_id(tmp_path):
    before = datetime.now(timezone.utc).replace(microsecond=0)
    made = new_run_dir(tmp_path)
    after = datetime.now(timezone.utc)
    assert made.parent == tmp_path
    match = NAME.fullmatch(made.name)
    assert match is not None, made.name
    stamp = datetime.strptime(match.group(1), "%Y%m%dT%H%M%SZ").replace(tzinfo=timezone.utc)
    assert before <= stamp <= after
    assert not made.exists()  # only a name; prepare_run_dir makes it


def test_new_run_dirs_differ_and_default_under_runs():
    assert DEFAULT_BASE == Path("runs")
    names = {new_run_dir() for _ in range(5)}
    assert len(names) == 5 and {p.parent for p in names} == {Path("runs")}


def test_prepare_makes_the_directory_and_its_logs(tmp_path):
    run_dir = tmp_path / "a" / "b" / "run"
    prepare_run_dir(run_dir)
    assert sorted(p.name for p in run_dir.iterdir()) == ["events.jsonl", "logs"]
    assert (run_dir / "logs").is_dir()
    assert (run_dir / JOURNAL).stat().st_size == 0  # the claim: empty, made exclusively


def test_prepare_accepts_an_existing_directory_without_a_run(tmp_path):
    (tmp_path / "notes.txt").write_text("mine")
    prepare_run_dir(tmp_path)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["events.jsonl", "logs", "notes.txt"]


def test_prepare_refuses_a_directory_holding_a_run(tmp_path):
    (tmp_path / JOURNAL).write_text("{}\n")
    with pytest.raises(SpecError) as info:
        prepare_run_dir(tmp_path)
    assert info.value.problems == [
        f"--out: {tmp_path} already holds a run (events.jsonl, finished or in progress); choose a new directory"
    ]
    assert not (tmp_path / "logs").exists()


def test_of_two_runs_given_the_same_directory_only_one_gets_it(tmp_path):
    prepare_run_dir(tmp_path / "run")  # the first claims it (its journal is still empty)
    with pytest.raises(SpecError, match="already holds a run"):
        prepare_run_dir(tmp_path / "run")


def test_the_journal_opens_only_its_own_empty_claim(tmp_path):
    prepare_run_dir(tmp_path)
    with Journal(tmp_path) as journal:
        journal.write({"kind": "header"})
    with pytest.raises(FileExistsError):
        Journal(tmp_path).__enter__()  # never appended to a journal that holds a run


@pytest.mark.parametrize(
    "name, allowed, clobbered",
    [
        ("events.jsonl", "", True),
        ("summary.json", "", True),
        ("status.json", "", True),
        ("report.txt", "", True),
        ("report.html", "", True),
        ("report.html", "report.html", False),  # --html may name the run's own HTML report
        ("sim-link-localhost.state", "", True),
        ("logs/localhost-0.log", "", True),
        ("fleet.xml", "", True),  # nothing but the run's own files lives in a run directory
    ],
)
def test_outputs_never_write_into_a_run_directory_but_its_own_report(tmp_path, name, allowed, clobbered):
    prepare_run_dir(tmp_path / "run")
    assert (clobbers(tmp_path / "run" / name, tmp_path / "run", allowed) is not None) == clobbered
    # the run about to be made counts as a run directory before it exists
    assert (clobbers(tmp_path / "new" / name, tmp_path / "new", allowed) is not None) == clobbered
    assert clobbers(tmp_path / name, None, allowed) is None  # no run there


def test_another_runs_html_report_is_not_ours_to_replace(tmp_path):
    prepare_run_dir(tmp_path / "old")
    why = clobbers(tmp_path / "old" / "report.html", tmp_path / "new", "report.html")
    assert why == f"{tmp_path / 'old' / 'report.html'} is the report.html of the run in {tmp_path / 'old'}"
    assert clobbers(tmp_path / "old" / "fleet.xml", None) == (
        f"{tmp_path / 'old' / 'fleet.xml'} is inside the run directory {tmp_path / 'old'}, "
        "which holds only the run's own files"
    )


def test_prepare_refuses_a_place_it_cannot_write(tmp_path):
    (tmp_path / "plain-file").write_text("")
    run_dir = tmp_path / "plain-file" / "run"
    with pytest.raises(SpecError) as info:
        prepare_run_dir(run_dir)
    assert info.value.problems == [f"--out: cannot write to {run_dir} ({os.strerror(errno.ENOTDIR)})"]


def test_paths_in_the_run_directory(tmp_path):
    assert log_name("node-a", 3) == "logs/node-a-3.log"
    assert log_path(tmp_path, "node-a", 3) == tmp_path / "logs" / "node-a-3.log"
    assert log_path(tmp_path, "node-a", 3).relative_to(tmp_path).as_posix() == log_name("node-a", 3)
    assert position_path(tmp_path, "node-a", 3) == tmp_path / "logs" / ".node-a-3.position"
    assert link_state_path(tmp_path, "node-a") == tmp_path / "sim-link-node-a.state"


def test_a_run_directory_is_a_real_directory_holding_a_plain_journal(tmp_path):
    prepare_run_dir(tmp_path / "run")
    assert is_run_dir(tmp_path / "run")
    assert not is_run_dir(tmp_path)  # no journal of its own
    assert not is_run_dir(tmp_path / "missing")
    (tmp_path / "link").symlink_to(tmp_path / "run", target_is_directory=True)
    assert not is_run_dir(tmp_path / "link")
    (tmp_path / "odd" / JOURNAL).mkdir(parents=True)  # a folder named like a journal
    assert not is_run_dir(tmp_path / "odd")
    (tmp_path / "linked").mkdir()
    (tmp_path / "linked" / JOURNAL).symlink_to(tmp_path / "run" / JOURNAL)
    assert not is_run_dir(tmp_path / "linked")


def test_foreign_files_are_what_no_run_writes(tmp_path):
    run_dir = tmp_path / "run"
    prepare_run_dir(run_dir)
    for name in ("summary.json", "status.json", "report.txt", "report.html", "sim-link-node-a.state"):
        (run_dir / name).write_text("")
    (run_dir / ".status.json.k3j2x9").write_text("")  # an atomic write cut short
    (run_dir / "logs" / "node-a-0.log").write_text("")
    (run_dir / "logs" / ".node-a-0.position").write_text("")
    assert foreign_files(run_dir) == []
    (run_dir / "notes.txt").write_text("")
    (run_dir / ".hidden").write_text("")
    (run_dir / "logs" / "core.1234").write_text("")
    (run_dir / "logs" / "sub").mkdir()
    (run_dir / "outside").symlink_to(tmp_path)
    assert foreign_files(run_dir) == [".hidden", "notes.txt", "outside", "logs/core.1234", "logs/sub"]


def test_a_levels_folder_is_claimed_once_and_named_with_its_steps_where_a_run_is_wanted(tmp_path):
    folder = tmp_path / "level"
    rundir.claim_level_dir(folder)
    assert rundir.is_level_dir(folder) and not rundir.is_run_dir(folder)
    with pytest.raises(SpecError, match="already holds a run or a level"):
        rundir.claim_level_dir(folder)
    assert rundir.not_a_run(folder).endswith("and none of them has a run directory yet")
    rundir.prepare_run_dir(folder / "1-quick")
    rundir.prepare_run_dir(folder / "2-sweep")
    assert rundir.not_a_run(folder).endswith(f"give one of {folder / '1-quick'}, {folder / '2-sweep'}")
    assert rundir.not_a_run(tmp_path) == f"{tmp_path} holds no events.jsonl; is it a run directory?"
    taken = tmp_path / "taken"
    rundir.prepare_run_dir(taken)
    with pytest.raises(SpecError, match="already holds a run or a level"):
        rundir.claim_level_dir(taken)
