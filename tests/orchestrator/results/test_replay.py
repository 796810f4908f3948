"""A run rebuilt from its directory alone: a recorded journal folded again into the same verdicts
and facts, torn lines and records that fail the schema skipped (and said), worker log tails
attached, each job judged by its own thresholds (or the fleet's), and a clear environment error for
a directory that is not a run, a journal that cannot be read, or a header that cannot be used."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from orchestrator.errors import EnvironmentProblem
from orchestrator.results import replay as replay_module
from orchestrator.results.collect import Collector
from orchestrator.results.journal import Skipped
from orchestrator.results.logtail import LOG_TAIL_LINES
from orchestrator.results.replay import attach_logs, collector_for, replay
from orchestrator.results.status import Status
from orchestrator.spec.schema import Thresholds
from tests.helpers.fleet_runs import MIXED_STATUSES, copies, mixed_devices, mixed_run, record_run
from workers import events as ev


def journal_lines(run_dir):
    return (run_dir / "events.jsonl").read_text().splitlines()


def rewrite(run_dir, lines):
    (run_dir / "events.jsonl").write_text("".join(line + "\n" for line in lines))


def test_replay_of_a_recorded_journal_gives_every_status(tmp_path):
    run = mixed_run(tmp_path)
    again = replay(run.run_dir)
    assert {v.name: v.status.value for v in again.verdicts} == MIXED_STATUSES
    assert [v.name for v in again.verdicts] == list(MIXED_STATUSES)  # the header's job order
    assert again.skipped == []
    assert [c.fault for c in again.verdicts[3].causes] == ["data_mismatch"]
    assert [w.fault for w in again.verdicts[2].warnings] == ["outlier"]


def test_replay_facts_come_from_the_header_and_the_run_end(tmp_path):
    facts = replay(mixed_run(tmp_path).run_dir).facts
    assert facts == {
        "state": "finished",
        "run_id": "run-1",
        "backend": "sim",
        "simulated": True,
        "launcher": "local",
        "concurrency": "all",
        "started": "2027-01-15T08:00:00+00:00",
        "finished": "2027-01-15T08:01:30+00:00",
        "interrupted": False,
        "environment": {},
        "warnings": [],
    }


def test_replay_keeps_the_header_and_every_record(tmp_path):
    run = mixed_run(tmp_path)
    again = replay(run.run_dir)
    assert again.header["kind"] == "header" and again.header["run_id"] == "run-1"
    assert [(j["host"], j["device"]) for j in again.header["jobs"]] == list(mixed_devices())
    events = sum(len(e) for e in mixed_devices().values())
    assert len(again.records) == events + 1 and again.records[-1]["kind"] == "run_end"
    assert again.records[0] == {"t": 1_800_000_000.0, "host": "node-a", "device": 0, **copies(0)[0].to_dict()}


def test_a_torn_last_line_is_skipped_and_counted(tmp_path):
    run = mixed_run(tmp_path)
    count = len(journal_lines(run.run_dir))
    with open(run.run_dir / "events.jsonl", "a") as fh:
        fh.write('{"t": 1800000099.0, "host": "node-a", "device": 0, "kind": "prog')
    again = replay(run.run_dir)
    assert again.skipped == [Skipped(count + 1, "not JSON (a torn last write)")]
    assert {v.name: v.status.value for v in again.verdicts} == MIXED_STATUSES


def test_records_of_a_device_the_header_does_not_list_are_ignored(tmp_path):
    run = record_run(tmp_path, {("h", 0): copies(0)})
    stray = {"t": 1.0, "host": "h", "device": 9, **copies(9)[0].to_dict()}
    rewrite(run.run_dir, journal_lines(run.run_dir) + [json.dumps(stray)])
    again = replay(run.run_dir)
    assert [(v.name, v.status) for v in again.verdicts] == [("h:0", Status.PASS)]
    lines = journal_lines(run.run_dir)
    assert again.skipped == [Skipped(len(lines), "device h:9 is not in the header's jobs")]
    assert stray not in again.records


def test_an_interrupted_run_end_aborts_the_unfinished_devices(tmp_path):
    run = mixed_run(tmp_path)
    lines = journal_lines(run.run_dir)
    end = json.loads(lines[-1])
    rewrite(run.run_dir, lines[:-1] + [json.dumps(dict(end, interrupted=True))])
    again = replay(run.run_dir)
    statuses = {v.name: v.status.value for v in again.verdicts}
    assert again.facts["interrupted"] is True
    assert statuses == dict(MIXED_STATUSES, **{"node-b:5": "ABORTED"})  # was INCOMPLETE; SKIPPED stays


def test_a_journal_without_run_end_has_no_finish_time(tmp_path):
    run = mixed_run(tmp_path)
    rewrite(run.run_dir, journal_lines(run.run_dir)[:-1])
    again = replay(run.run_dir)
    assert (again.facts["finished"], again.facts["interrupted"]) == (None, False)
    assert {v.name: v.status.value for v in again.verdicts} == MIXED_STATUSES


def test_replay_attaches_the_tail_of_each_workers_log(tmp_path):
    run = mixed_run(tmp_path)
    lines = [f"line {n}" for n in range(1, 31)]
    (run.run_dir / "logs").mkdir()
    (run.run_dir / "logs" / "node-a-4.log").write_text("\n".join(lines) + "\n")
    (run.run_dir / "logs" / "node-b-1.log").write_text("only line")
    by_name = {v.name: v for v in replay(run.run_dir).verdicts}
    assert LOG_TAIL_LINES == 20
    assert by_name["node-a:4"].result.log == {"path": "logs/node-a-4.log", "tail": lines[-20:]}
    assert by_name["node-b:1"].result.log == {"path": "logs/node-b-1.log", "tail": ["only line"]}
    assert by_name["node-a:0"].result.log is None  # an absent log (an old run) is no error


def test_attach_logs_fills_a_collectors_results(tmp_path):
    c = Collector([("h", 0, {}), ("h", 1, {})])
    (tmp_path / "logs").mkdir()
    (tmp_path / "logs" / "h-1.log").write_bytes(b"ok\n\xffbad byte\n")
    attach_logs(c, tmp_path)
    assert c.results[("h", 0)].log is None
    assert c.results[("h", 1)].log == {"path": "logs/h-1.log", "tail": ["ok", "\ufffdbad byte"]}


def test_attach_logs_shows_where_a_crashed_or_hung_worker_was(tmp_path):
    c = Collector([("h", 0, {}), ("h", 1, {})])
    frames = [f'  File "/srv/workers/runtime.py", line {n} in call' for n in range(1, 10)]
    dump = ["Fatal Python error: Segmentation fault", "Current thread 0x7 (most recent call first):"] + frames
    (tmp_path / "logs").mkdir()
    (tmp_path / "logs" / "h-0.log").write_text("\n".join(["worker pid 5"] + dump + ["", "Extension modules: x"]))
    (tmp_path / "logs" / "h-1.log").write_text("worker pid 6 on node-a: h:1\n")  # a Ray node's log: no dump
    stack = "\n".join(dump[1:])
    c.fold("h", 1, ev.Hung(message="no progress for 3s", timeout=3.0, stack=stack))
    attach_logs(c, tmp_path)
    assert c.results[("h", 0)].log == {"path": "logs/h-0.log", "tail": dump[:8]}
    assert c.results[("h", 1)].log == {"path": "logs/h-1.log", "tail": dump[1:9]}


def test_collector_for_gives_every_job_its_thresholds_and_the_fleets():
    head = {
        "jobs": [
            {"host": "h", "device": 0, "params": {"memory_size": 8}, "thresholds": {"min_h2d_gbps": 20.0}},
            {"host": "h", "device": 1, "params": {}, "thresholds": {"min_h2d_gbps": 5.0, "max_leak": 4096}},
            {"host": "g", "device": 0, "params": {}},
        ]
    }
    collector, limits, fleet = collector_for(head)
    assert list(collector.results) == [("h", 0), ("h", 1), ("g", 0)]
    assert collector.results[("h", 0)].params == {"memory_size": 8}
    assert limits == {("h", 0): Thresholds(min_h2d_gbps=20.0), ("h", 1): Thresholds(min_h2d_gbps=5.0, max_leak=4096)}
    assert fleet == Thresholds(min_h2d_gbps=20.0)  # the first job's


def test_collector_for_without_any_thresholds_uses_the_defaults():
    _, limits, fleet = collector_for({"jobs": [{"host": "h", "device": 0, "params": {}}]})
    assert (limits, fleet) == ({}, Thresholds())


def test_a_job_without_thresholds_is_judged_by_the_fleets(tmp_path):
    devices = {("h", 0): copies(0), ("h", 1): copies(1, h2d=10.0), ("h", 2): copies(2, h2d=10.0)}
    run = record_run(tmp_path, devices, {"min_h2d_gbps": 20.0})
    lines = journal_lines(run.run_dir)
    head = json.loads(lines[0])
    head["jobs"][1]["thresholds"] = dict(head["jobs"][1]["thresholds"], min_h2d_gbps=5.0)
    del head["jobs"][2]["thresholds"]
    rewrite(run.run_dir, [json.dumps(head)] + lines[1:])
    by_name = {v.name: v for v in replay(run.run_dir).verdicts}
    assert by_name["h:1"].status is Status.PASS  # its own floor, 5 GB/s
    assert by_name["h:2"].status is Status.FAIL  # the fleet's floor, 20 GB/s
    assert [c.message for c in by_name["h:2"].causes] == ["H2D median 10.00 GB/s is below the threshold 20 GB/s"]


def test_a_directory_without_a_journal_is_an_environment_problem(tmp_path):
    with pytest.raises(EnvironmentProblem) as err:
        replay(tmp_path)
    assert str(err.value) == f"{tmp_path} holds no events.jsonl; is it a run directory?"


def test_a_journal_without_a_header_is_an_environment_problem(tmp_path):
    run = mixed_run(tmp_path)
    rewrite(run.run_dir, journal_lines(run.run_dir)[1:])
    with pytest.raises(EnvironmentProblem) as err:
        replay(run.run_dir)
    assert str(err.value) == f"{run.run_dir / 'events.jsonl'} has no header line; it is not a dvpp-fleet journal"


def test_only_records_that_pass_the_schema_are_folded_and_handed_on(tmp_path):
    run = mixed_run(tmp_path)
    lines = journal_lines(run.run_dir)
    at = next(n for n, text in enumerate(lines) if '"finished"' in text and '"device":0' in text and "node-a" in text)
    finished = json.loads(lines[at])
    lines[at] = json.dumps(dict(finished, cycles="4"))
    rewrite(run.run_dir, lines)
    again = replay(run.run_dir)
    assert again.skipped == [Skipped(at + 1, "finished: cycles must be an integer (got '4')")]
    assert finished not in again.records and dict(finished, cycles="4") not in again.records
    assert len(again.records) == len(lines) - 2  # all but the header and the bad line
    assert {v.name: v.status.value for v in again.verdicts} == dict(MIXED_STATUSES, **{"node-a:0": "INCOMPLETE"})


@pytest.mark.parametrize(
    "jobs, why",
    [
        ("node-a:0", "jobs must be a list of jobs (got 'node-a:0')"),
        (None, "jobs is missing"),
        (
            [{"host": "h", "device": "0"}],
            "no usable job: jobs[0].device must be an integer (got '0'); the job is left out",
        ),
    ],
)
def test_a_header_that_cannot_be_used_is_an_environment_problem(tmp_path, jobs, why):
    run = mixed_run(tmp_path)
    lines = journal_lines(run.run_dir)
    head = {k: v for k, v in json.loads(lines[0]).items() if k != "jobs"}
    rewrite(run.run_dir, [json.dumps(head if jobs is None else dict(head, jobs=jobs))] + lines[1:])
    with pytest.raises(EnvironmentProblem) as err:
        replay(run.run_dir)
    assert str(err.value) == f"{run.run_dir / 'events.jsonl'} has no usable header line (line 1: {why})"


def test_a_job_with_invalid_thresholds_is_judged_by_the_fleets_and_said(tmp_path):
    devices = {("h", 0): copies(0), ("h", 1): copies(1, h2d=10.0)}
    run = record_run(tmp_path, devices, {"min_h2d_gbps": 20.0})
    lines = journal_lines(run.run_dir)
    head = json.loads(lines[0])
    head["jobs"][1]["thresholds"] = dict(head["jobs"][1]["thresholds"], min_h2d_gbps="slow")
    rewrite(run.run_dir, [json.dumps(head)] + lines[1:])
    again = replay(run.run_dir)
    assert [str(s) for s in again.skipped] == [
        "line 1: header: jobs[1] (h:1) has invalid thresholds (min_h2d_gbps: must be a number (got 'slow')); "
        "it is judged by the fleet's"
    ]
    assert [c.message for c in again.verdicts[1].causes] == ["H2D median 10.00 GB/s is below the threshold 20 GB/s"]
    assert "thresholds" not in again.header["jobs"][1]


def test_a_journal_that_cannot_be_read_is_an_environment_problem(tmp_path, monkeypatch):
    run = mixed_run(tmp_path)

    def refused(path):
        raise PermissionError(13, "Permission denied", str(path))

    monkeypatch.setattr(replay_module, "read_journal", refused)
    with pytest.raises(EnvironmentProblem) as err:
        replay(run.run_dir)
    assert str(err.value) == f"cannot read {run.run_dir / 'events.jsonl'} (Permission denied)"
    monkeypatch.setattr(Path, "is_file", refused)  # a run directory that may not be searched
    with pytest.raises(EnvironmentProblem) as err:
        replay(run.run_dir)
    assert str(err.value) == f"cannot read {run.run_dir / 'events.jsonl'} (Permission denied)"


def test_a_host_name_holding_a_nul_byte_has_no_log_and_no_error(tmp_path):
    run = record_run(tmp_path, {("a\u0000b", 0): copies(0)})
    (run.run_dir / "logs").mkdir()
    again = replay(run.run_dir)
    assert [(v.name, v.status, v.result.log) for v in again.verdicts] == [("a\x00b:0", Status.PASS, None)]
