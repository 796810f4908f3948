"""Retention (``orchestrator/retention.py``): which run directories beside a run go, which stay and
why, in what order; on run directories written by the controller's own journal writer."""

from __future__ import annotations

import os
import shutil

import pytest

from orchestrator import retention
from orchestrator.results.journal import Journal, holding
from orchestrator.rundir import prepare_run_dir


def make_run(parent, name, started="2027-01-15T08:00:00+00:00", mtime=None, header=True):
    """A finished run directory as the controller leaves it: journal (header first), summary, a log."""
    run_dir = parent / name
    prepare_run_dir(run_dir)
    with Journal(run_dir) as journal:
        journal.write({"kind": "header", "started": started} if header else {"kind": "progress"})
        journal.write({"kind": "run_end", "finished": started, "interrupted": False})
    (run_dir / "summary.json").write_text("{}\n")
    (run_dir / "logs" / "localhost-0.log").write_text("worker\n")
    if mtime is not None:
        os.utime(run_dir, (mtime, mtime))
    return run_dir


def day(n):
    return f"2027-01-{n:02d}T08:00:00+00:00"


def names(paths):
    return sorted(p.name for p in paths)


def test_the_oldest_beyond_keep_go_this_run_counted(tmp_path):
    for n in (1, 2, 3, 4):
        make_run(tmp_path, f"run-{n}", day(n))
    now = make_run(tmp_path, "now", day(5))
    done = retention.prune(now, 3)
    assert names(done.removed) == ["run-1", "run-2"]
    assert (done.kept, done.failed) == ([], [])
    assert sorted(p.name for p in tmp_path.iterdir()) == ["now", "run-3", "run-4"]


def test_order_is_the_headers_start_not_the_name_or_the_directory_time(tmp_path):
    make_run(tmp_path, "a", day(9), mtime=1_000_000)  # the newest run, though its directory is old
    make_run(tmp_path, "z", day(2), mtime=2_000_000_000)
    now = make_run(tmp_path, "now", day(10))
    assert names(retention.prune(now, 2).removed) == ["z"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a", "now"]


def test_a_journal_without_a_header_is_ordered_by_the_directory_time(tmp_path):
    old = make_run(tmp_path, "old", header=False, mtime=1_000_000)
    assert retention.started(old) == 1_000_000
    make_run(tmp_path, "dated", day(3))
    (tmp_path / "garbled").mkdir()
    (tmp_path / "garbled" / "events.jsonl").write_text("not json\n")
    os.utime(tmp_path / "garbled", (2_000_000_000, 2_000_000_000))  # the newest of all
    now = make_run(tmp_path, "now", day(4))
    assert names(retention.prune(now, 3).removed) == ["old"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["dated", "garbled", "now"]


def test_the_run_just_written_stays_even_when_it_looks_oldest(tmp_path):
    make_run(tmp_path, "newer", day(20))
    now = make_run(tmp_path, "now", day(1))
    done = retention.prune(now, 1)
    assert names(done.removed) == ["newer"] and now.is_dir()


def test_only_run_directories_are_touched(tmp_path):
    (tmp_path / "notes.txt").write_text("mine")
    (tmp_path / "other").mkdir()
    (tmp_path / "other" / "data.csv").write_text("1,2\n")
    (tmp_path / "events.jsonl").write_text("{}\n")  # a journal lying loose in the parent folder
    target = make_run(tmp_path / "elsewhere", "run-0", day(1))
    (tmp_path / "link").symlink_to(target, target_is_directory=True)  # a link to a run is not a run here
    now = make_run(tmp_path, "now", day(2))
    done = retention.prune(now, 1)
    assert done == retention.Pruned([], [], [])
    assert target.is_dir() and (tmp_path / "other" / "data.csv").is_file() and (tmp_path / "notes.txt").is_file()


def test_a_run_in_progress_stays_and_is_said(tmp_path):
    old = make_run(tmp_path, "old", day(1))
    running = tmp_path / "running"
    prepare_run_dir(running)
    with Journal(running) as journal:  # its controller holds the journal while it writes
        journal.write({"kind": "header", "started": day(2)})
        now = make_run(tmp_path, "now", day(3))
        done = retention.prune(now, 1)
    assert names(done.removed) == ["old"] and not old.exists()
    assert done.kept == [(running, "in progress")]
    assert running.is_dir()


def test_a_run_whose_holder_cannot_be_told_stays(tmp_path, monkeypatch):
    make_run(tmp_path, "old", day(1))
    now = make_run(tmp_path, "now", day(2))
    monkeypatch.setattr(retention, "held", lambda path: None)  # a file system without flock (NFS nolock)
    done = retention.prune(now, 1)
    assert done.removed == [] and done.kept == [(tmp_path / "old", "whether it is in progress cannot be told")]


def test_a_freshly_claimed_run_stays(tmp_path):
    prepare_run_dir(tmp_path / "starting")  # claimed, its journal still empty and not yet locked
    now = make_run(tmp_path, "now", day(2))
    done = retention.prune(now, 1)
    assert done.kept == [(tmp_path / "starting", "its journal is empty (a run may be starting)")]


def test_a_run_directory_holding_other_files_stays(tmp_path):
    old = make_run(tmp_path, "old", day(1))
    (old / "notes.txt").write_text("the operator's own notes")
    (old / "logs" / "dmesg.txt").write_text("")
    leftover = make_run(tmp_path, "leftover", day(2))
    (leftover / ".summary.json.x1y2").write_text("")  # a write a killed controller never finished
    (leftover / "sim-link-localhost.state").write_text("")
    now = make_run(tmp_path, "now", day(3))
    done = retention.prune(now, 1)
    assert names(done.removed) == ["leftover"]
    assert done.kept == [(old, "it holds files no run writes (notes.txt, logs/dmesg.txt)")]


def test_a_directory_that_cannot_be_removed_is_reported(tmp_path, monkeypatch):
    make_run(tmp_path, "old", day(1))
    now = make_run(tmp_path, "now", day(2))

    def refuse(path, *args, **kwargs):
        raise PermissionError(13, "Permission denied", str(path))

    monkeypatch.setattr(shutil, "rmtree", refuse)
    done = retention.prune(now, 1)
    assert (done.removed, done.failed) == ([], [(tmp_path / "old", "Permission denied")])
    assert retention.summary_lines(done, 1) == ([], [f"keep 1: could not remove {tmp_path / 'old'}: Permission denied"])


def test_summary_lines_say_what_was_removed_and_kept_in_one_line(tmp_path):
    done = retention.Pruned([tmp_path / "a", tmp_path / "b"], [(tmp_path / "c", "in progress")], [])
    assert retention.summary_lines(done, 2) == (
        [
            f"keep 2: removed 2 old run directory(ies): {tmp_path / 'a'}, {tmp_path / 'b'}; "
            f"kept 1 older one(s): {tmp_path / 'c'} (in progress)"
        ],
        [],
    )
    assert retention.summary_lines(retention.Pruned([], [], []), 2) == ([], [])


def test_keep_below_one_is_refused(tmp_path):
    with pytest.raises(ValueError, match="keep must be >= 1"):
        retention.prune(make_run(tmp_path, "now"), 0)


def test_the_start_comes_from_the_header_line(tmp_path):
    run_dir = make_run(tmp_path, "r", "2027-01-15T08:00:00+00:00", mtime=5)
    assert retention.started(run_dir) == 1_800_000_000.0  # that time in Unix seconds, not the directory's 5


def make_level(parent, name, started, steps=("1-quick", "2-sweep")):
    """A finished level as ``run --level`` leaves it: its record and one run directory per step."""
    folder = parent / name
    folder.mkdir(parents=True)
    (folder / "level.json").write_text(f'{{"level": "standard", "started": "{started}", "state": "finished"}}\n')
    for step in steps:
        make_run(folder, step, started)
    return folder


def test_a_levels_folder_is_one_run_ordered_by_its_record_and_removed_whole(tmp_path):
    make_level(tmp_path, "level-old", day(1))
    make_run(tmp_path, "run-2", day(2))
    newer = make_level(tmp_path, "level-3", day(3))
    now = make_run(tmp_path, "now", day(4))
    assert retention.started(newer) == retention.started(make_run(tmp_path / "x", "same", day(3)))
    done = retention.prune(now, 3)
    assert names(done.removed) == ["level-old"] and (done.kept, done.failed) == ([], [])
    assert sorted(p.name for p in tmp_path.iterdir()) == ["level-3", "now", "run-2", "x"]


def test_a_level_with_a_step_in_progress_or_a_file_of_ones_own_stays(tmp_path):
    busy = make_level(tmp_path, "busy", day(1), steps=("1-quick",))
    mine = make_level(tmp_path, "mine", day(2))
    (mine / "notes.txt").write_text("mine")
    starting = tmp_path / "starting"
    starting.mkdir()
    (starting / "level.json").write_text("")  # claimed, its first step not yet begun
    running = busy / "2-sweep"
    prepare_run_dir(running)
    with Journal(running) as journal:
        journal.write({"kind": "header", "started": day(1)})
        now = make_run(tmp_path, "now", day(3))
        done = retention.prune(now, 1)
    assert done.removed == []
    assert sorted((p.name, why) for p, why in done.kept) == [
        ("busy", "step 2-sweep: in progress"),
        ("mine", "it holds files no run writes (notes.txt)"),
        ("starting", "its level record is empty (a level may be starting)"),
    ]


def test_a_level_between_two_steps_stays_while_its_controller_holds_it(tmp_path):
    """Between steps no journal is held; the level's own hold on its folder keeps it."""
    level = make_level(tmp_path, "level", day(1))
    now = make_run(tmp_path, "now", day(2))
    with holding(level):
        assert retention.prune(now, 1).kept == [(level, "in progress")]
    assert names(retention.prune(now, 1).removed) == ["level"]
