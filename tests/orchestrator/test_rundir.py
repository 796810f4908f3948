"""The run directory: fresh names, a directory made ready (or refused with a usage error), and the
paths of the files in it."""

from __future__ import annotations

import errno
import os
import re
from datetime import datetime, timezone
from pathlib import Path

import pytest

from orchestrator.errors import SpecError
from orchestrator.rundir import (
    DEFAULT_BASE,
    JOURNAL,
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
    assert sorted(p.name for p in run_dir.iterdir()) == ["logs"]  # the write probe is gone
    assert (run_dir / "logs").is_dir()


def test_prepare_accepts_an_existing_directory_without_a_run(tmp_path):
    (tmp_path / "notes.txt").write_text("mine")
    prepare_run_dir(tmp_path)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["logs", "notes.txt"]


def test_prepare_refuses_a_directory_holding_a_run(tmp_path):
    (tmp_path / JOURNAL).write_text("{}\n")
    with pytest.raises(SpecError) as info:
        prepare_run_dir(tmp_path)
    assert info.value.problems == [f"--out: {tmp_path} already holds a run (events.jsonl); choose a new directory"]
    assert not (tmp_path / "logs").exists()


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
