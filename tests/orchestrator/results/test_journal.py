from __future__ import annotations

import json

import pytest

from orchestrator.results.journal import JOURNAL, Journal, read_journal


def test_records_round_trip_and_torn_last_line_is_skipped(tmp_path):
    with Journal(tmp_path) as j:
        j.write({"kind": "header", "run_id": "r1"})
        j.write({"kind": "progress", "copies": 3})
    with open(tmp_path / JOURNAL, "a") as fh:
        fh.write('{"kind": "finished", "cop')  # the controller died mid-write
    header, records, skipped = read_journal(tmp_path / JOURNAL)
    assert header == {"kind": "header", "run_id": "r1"}
    assert records == [{"kind": "progress", "copies": 3}]
    assert skipped == 1


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
