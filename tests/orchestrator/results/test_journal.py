"""The journal: written line by line, never overwritten; read back with every line checked, the
ones that cannot be used (torn, garbled, of the wrong shape, of an unknown device) skipped with their
line number and why, and what was left out of the header said too."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Dict

import pytest

from orchestrator.results.journal import JOURNAL, Journal, Skipped, held, read_journal, summarize
from tests.helpers.fleet_runs import copies

HEADER = {"kind": "header", "run_id": "r1", "jobs": [{"host": "h", "device": 0, "params": {}, "thresholds": {}}]}
PROGRESS = {"t": 1.0, "host": "h", "device": 0, **copies(0)[1].to_dict()}
END = {"kind": "run_end", "finished": "2027-01-15T08:01:30+00:00", "interrupted": False}


def write_lines(tmp_path, *lines: str) -> Path:
    path = tmp_path / JOURNAL
    path.write_text("".join(lines))
    return path


def line(record: Dict[str, Any]) -> str:
    return json.dumps(record) + "\n"


def test_records_round_trip_and_torn_last_line_is_skipped(tmp_path):
    with Journal(tmp_path) as j:
        j.write(HEADER)
        j.write(PROGRESS)
    with open(tmp_path / JOURNAL, "a") as fh:
        fh.write('{"kind": "finished", "cop')  # the controller died mid-write
    header, records, skipped = read_journal(tmp_path / JOURNAL)
    assert header == HEADER
    assert records == [PROGRESS]
    assert skipped == [Skipped(3, "not JSON (a torn last write)")]
    assert [str(s) for s in skipped] == ["line 3: not JSON (a torn last write)"]


def test_a_garbled_line_in_the_middle_is_not_blamed_on_a_torn_write(tmp_path):
    path = write_lines(
        tmp_path, line(HEADER), '{"t": 1.0, "host": "h", "dev\n', line(PROGRESS), "[1, 2]\n", "\n", line(END)
    )
    read = read_journal(path)
    assert read.records == [PROGRESS, END]
    assert [str(s) for s in read.skipped] == [
        "line 2: not JSON (Invalid control character at: column 29)",
        "line 4: not a JSON object (got [1, 2])",
        "line 5: an empty line",
    ]


def test_a_garbled_last_line_that_was_written_whole_is_not_a_torn_write(tmp_path):
    path = write_lines(tmp_path, line(HEADER), line(PROGRESS), "{oops}\n")
    assert [str(s) for s in read_journal(path).skipped] == [
        "line 3: not JSON (Expecting property name enclosed in double quotes: column 2)"
    ]


def test_records_that_fail_the_schema_are_skipped_with_why_and_the_rest_kept_in_order(tmp_path):
    bad_cycle = dict(PROGRESS, cycle="x")
    stranger = dict(PROGRESS, device=9)
    path = write_lines(
        tmp_path,
        line(PROGRESS),  # before the header: still checked against it
        line(HEADER),
        line(bad_cycle),
        line(dict(PROGRESS, kind="bogus")),
        line(dict(PROGRESS, device="0")),
        line(stranger),
        line(dict(HEADER, run_id="r2")),
        line(dict(PROGRESS, copies=9)),
        line(END),
    )
    read = read_journal(path)
    assert read.header == HEADER
    assert read.records == [PROGRESS, dict(PROGRESS, copies=9), END]
    assert [str(s) for s in read.skipped] == [
        "line 3: progress: cycle must be an integer (got 'x')",
        "line 4: unknown kind 'bogus'",
        "line 5: device '0' is not an integer",
        "line 6: device h:9 is not in the header's jobs",
        "line 7: a second header line (the first one counts)",
    ]


def test_the_header_is_checked_and_what_was_left_out_of_it_is_said(tmp_path):
    jobs = [{"host": "h", "device": 0, "params": {}}, {"host": "h", "device": "1", "params": {}}]
    path = write_lines(tmp_path, "\n", line(dict(HEADER, jobs=jobs, warnings="x")), line(PROGRESS))
    read = read_journal(path)
    assert read.header == dict(HEADER, jobs=[jobs[0]])
    assert read.records == [PROGRESS]
    assert read.skipped == [
        Skipped(1, "an empty line"),
        Skipped(2, "jobs[0] (h:0) has no thresholds; it is judged by the fleet's", header=True),
        Skipped(2, "jobs[1].device must be an integer (got '1'); the job is left out", header=True),
        Skipped(2, "warnings must be a list (got 'x'); left out", header=True),
    ]
    assert str(read.skipped[1]) == "line 2: header: jobs[0] (h:0) has no thresholds; it is judged by the fleet's"


def test_an_unusable_header_leaves_no_header_and_says_why(tmp_path):
    read = read_journal(write_lines(tmp_path, line(dict(HEADER, jobs="h:0")), line(PROGRESS)))
    assert read.header == {}
    assert read.skipped == [
        Skipped(1, "jobs must be a list of jobs (got 'h:0')", header=True),
        Skipped(2, "device h:0 is not in the header's jobs"),
    ]


def test_json_nested_too_deeply_or_with_a_huge_number_is_skipped(tmp_path):
    huge = '{"t": 1.0, "host": "h", "device": 0, "kind": "progress", "cycle": 1' + "0" * 5000 + "}\n"
    path = write_lines(tmp_path, line(HEADER), "[" * 100_000 + "\n", huge, line(PROGRESS))
    read = read_journal(path)
    assert read.records == [PROGRESS]
    assert str(read.skipped[0]) == "line 2: not JSON (nested too deeply)"
    # Python 3.11 refuses to convert so many digits; 3.9 converts them and the range check refuses
    assert str(read.skipped[1]).startswith(
        ("line 3: not JSON (Exceeds the limit", "line 3: progress: cycle is out of range")
    )


def test_summarize_says_how_many_and_the_first_few_with_why():
    skipped = [Skipped(1, "jobs[0] (h:0) has no thresholds; it is judged by the fleet's", header=True)] + [
        Skipped(n, "unknown kind 'bogus'") for n in range(2, 9)
    ]
    assert summarize(Path("run/events.jsonl"), skipped) == [
        "skipped 7 unreadable journal line(s) and 1 part(s) of the header of run/events.jsonl:",
        "  line 1: header: jobs[0] (h:0) has no thresholds; it is judged by the fleet's",
        "  line 2: unknown kind 'bogus'",
        "  line 3: unknown kind 'bogus'",
        "  line 4: unknown kind 'bogus'",
        "  line 5: unknown kind 'bogus'",
        "  and 3 more",
    ]
    assert summarize(Path("j"), skipped[:1]) == [
        "skipped 1 part(s) of the header of j:",
        "  line 1: header: jobs[0] (h:0) has no thresholds; it is judged by the fleet's",
    ]
    assert summarize(Path("j"), skipped[1:2]) == [
        "skipped 1 unreadable journal line(s) of j:",
        "  line 2: unknown kind 'bogus'",
    ]
    assert summarize(Path("j"), []) == []


def test_each_record_is_on_disk_before_the_next_write(tmp_path):
    with Journal(tmp_path) as j:
        j.write({"kind": "header"})
        lines = (tmp_path / JOURNAL).read_text().splitlines()
        assert [json.loads(x) for x in lines] == [{"kind": "header"}]


def test_an_existing_journal_is_never_overwritten(tmp_path):
    (tmp_path / JOURNAL).write_text('{"kind": "header"}\n')
    with pytest.raises(FileExistsError):
        with Journal(tmp_path):
            pass
    assert (tmp_path / JOURNAL).read_text() == '{"kind": "header"}\n'


def test_a_journal_is_held_while_its_writer_has_it_open_and_free_after(tmp_path):
    assert held(tmp_path / JOURNAL) is None  # no journal to ask: nobody can tell
    with Journal(tmp_path) as journal:
        journal.write(HEADER)
        assert held(journal.path) is True  # a reader in this or another process sees the run in progress
    assert held(tmp_path / JOURNAL) is False
