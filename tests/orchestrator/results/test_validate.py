"""The schema check of what a journal holds (orchestrator/results/validate.py): every event a fleet
writes passes, every kind with all or only its required fields passes; each wrong value is named by
its field path and value (int is not bool, float takes int, Optional, Dict, List, the TypedDicts,
Any); the journal's own fields; ``run_end``; text and nesting; and the header's jobs, thresholds and
run facts, each left out with a note."""

from __future__ import annotations

import json
from typing import Any, Dict

import pytest

from orchestrator.results import validate
from orchestrator.results.replay import collector_for
from orchestrator.results.validate import check_header, check_record, plain_text
from orchestrator.results.verdict import not_visible
from orchestrator.spec.schema import Thresholds
from tests.helpers.fleet_runs import copies, ended, mismatch, started, stats
from tests.helpers.journals import example_record
from workers import events as ev

JOBS = {("h", 0)}
DROP = object()
PROGRESS, CYCLE_END, FINISHED = copies(0)[1], copies(0)[2], copies(0)[-1]
STARTED, MISMATCH = started(0), mismatch()
PLACE = {"cycle": 5, "copy": 40, "cycles": 4, "copies": 39, "bytes": 39 * 2 * 4096}
CRASHED = ev.Crashed(message="worker died from signal SIGSEGV", exitcode=-11, signal="SIGSEGV", **PLACE)
HUNG = ev.Hung(message="no progress for 30s", timeout=30.0, stack="File x", **PLACE)


def record(event: ev.Event, **changes: Any) -> Dict[str, Any]:
    """``event`` as the journal holds it, with ``changes`` (``DROP`` removes a key)."""
    rec = {"t": 1_800_000_000.0, "host": "h", "device": 0, **event.to_dict(), **changes}
    return {k: v for k, v in rec.items() if v is not DROP}


def test_every_event_a_fleet_writes_passes():
    events = copies(0, faults=[mismatch()]) + [
        ended("error", elapsed=3.0),
        ev.Crashed(message="worker died from signal SIGSEGV", exitcode=-11, signal="SIGSEGV"),
        ev.Hung(message="no progress for 30s", timeout=30.0, stack="File x"),
        ev.Capacity(cycle=1, copy=2, blocks=3, bytes=4, api="acl.rt.malloc", code=207001, name="E", expected=True),
        not_visible("h", 0, 3),
    ]
    assert [check_record(record(e), JOBS) for e in events] == [None] * len(events)


@pytest.mark.parametrize("kind", sorted(ev.EVENT_TYPES))
def test_every_kind_passes_with_all_its_fields_and_with_only_the_required_ones(kind):
    assert check_record(example_record(kind), JOBS) is None
    assert check_record(example_record(kind, required_only=True), JOBS) is None
    assert ev.from_dict(example_record(kind)).kind == kind  # what passes can be rebuilt


@pytest.mark.parametrize(
    "event, changes, why",
    [
        (PROGRESS, {"cycle": "x"}, "progress: cycle must be an integer (got 'x')"),
        (PROGRESS, {"copies": True}, "progress: copies must be an integer (got true)"),
        (PROGRESS, {"copies": 3.0}, "progress: copies must be an integer (got 3.0)"),
        (PROGRESS, {"elapsed": 3}, None),
        (PROGRESS, {"elapsed": "3"}, "progress: elapsed must be a number (got '3')"),
        (PROGRESS, {"elapsed": False}, "progress: elapsed must be a number (got false)"),
        (PROGRESS, {"h2d_gbps": None}, None),
        (PROGRESS, {"h2d_gbps": "fast"}, "progress: h2d_gbps must be a number or null (got 'fast')"),
        (PROGRESS, {"copies": DROP}, "progress: copies is missing"),
        (
            PROGRESS,
            {"memory": {"hbm": {"free": "x", "total": 1}}},
            "progress: memory.hbm.free must be an integer (got 'x')",
        ),
        (PROGRESS, {"memory": {"hbm": {"free": 1}}}, "progress: memory.hbm.total is missing"),
        (PROGRESS, {"memory": []}, "progress: memory must be an object (got [])"),
        (PROGRESS, {"bytes": 2**63}, "progress: bytes is out of range (got 9223372036854775808)"),
        (PROGRESS, {"elapsed": float("nan")}, "progress: elapsed is out of range (got nan)"),
        (PROGRESS, {"elapsed": float("-inf")}, "progress: elapsed is out of range (got -inf)"),
        (PROGRESS, {"extra": [1]}, None),  # a key the schema does not know is ignored, as from_dict does
        (CYCLE_END, {"h2d": {"count": 1}}, "cycle_end: h2d.min is missing"),
        (CYCLE_END, {"h2d": dict(stats(2.0), median="x")}, "cycle_end: h2d.median must be a number (got 'x')"),
        (CYCLE_END, {"h2d": "x"}, "cycle_end: h2d must be an object or null (got 'x')"),
        (CYCLE_END, {"lowest_free": {"hbm": None}}, "cycle_end: lowest_free.hbm must be an integer (got null)"),
        (CYCLE_END, {"link": None}, None),
        (CYCLE_END, {"link": DROP}, None),  # schema 6
        (CYCLE_END, {"link": {"busy": 1.0, "wall": 2.0}}, "cycle_end: link.verified is missing"),
        (
            FINISHED,
            {"link": {"busy": "1", "wall": 2.0, "verified": 0}},
            "finished: link.busy must be a number (got '1')",
        ),
        (FINISHED, {"leak_trend": [1, "a"]}, "finished: leak_trend[1] must be an integer (got 'a')"),
        (FINISHED, {"curve": {"size": 1}}, "finished: curve must be a list or null (got {'size': 1})"),
        (
            FINISHED,
            {"curve": [{"size": "8MiB", "h2d": None, "d2h": None}]},
            "finished: curve[0].size must be an integer (got '8MiB')",
        ),
        (
            FINISHED,
            {"curve": [{"size": 1, "h2d": None, "d2h": None, "ratio": {"h2d": []}}]},
            "finished: curve[0].ratio.h2d must be a number or null (got [])",
        ),
        (MISMATCH, {"detail": [1, 2]}, "fault: detail must be an object (got [1, 2])"),
        (MISMATCH, {"detail": {"samples": 3}}, "fault: detail.samples must be a list or null (got 3)"),
        (MISMATCH, {"detail": {"anything": {"else": [1]}}}, None),
        (MISMATCH, {"code": 1.5}, "fault: code must be an integer or null (got 1.5)"),
        (MISMATCH, {"message": "\ud800"}, "fault: message is not valid text (a lone surrogate)"),
        (MISMATCH, {"detail": {"\udfff": 1}}, "fault: detail has a key that is not valid text (a lone surrogate)"),
        (STARTED, {"params": {"nested": {"ok": [1, None]}}}, None),
        (STARTED, {"chip": None}, None),
        (STARTED, {"chip": 910}, "started: chip must be a string or null (got 910)"),
        (STARTED, {"simulated": 1}, "started: simulated must be true or false (got 1)"),
        (STARTED, {"attempts": DROP, "node": DROP, "run_mode": DROP, "memory_at_open": DROP}, None),
        (
            STARTED,
            {"memory_at_open": {"hbm": {"free": 1, "total": "x"}}},
            "started: memory_at_open.hbm.total must be an integer (got 'x')",
        ),
        (CRASHED, {k: DROP for k in ("cycle", "copy", "cycles", "copies", "bytes")}, None),  # schema 5
        (HUNG, {k: DROP for k in ("cycle", "copy", "cycles", "copies", "bytes")}, None),
        (CRASHED, {"copies": "39"}, "crashed: copies must be an integer or null (got '39')"),
        (HUNG, {"bytes": 1.5}, "hung: bytes must be an integer or null (got 1.5)"),
        (PROGRESS, {"t": DROP}, "progress: t is missing"),
        (PROGRESS, {"t": "now"}, "progress: t must be a number (got 'now')"),
        (PROGRESS, {"device": "0"}, "device '0' is not an integer"),
        (PROGRESS, {"device": True}, "device true is not an integer"),
        (PROGRESS, {"device": DROP}, "no device"),
        (PROGRESS, {"host": 3}, "host 3 is not a string"),
        (PROGRESS, {"host": DROP}, "no host"),
        (PROGRESS, {"device": 9}, "device h:9 is not in the header's jobs"),
        (PROGRESS, {"kind": "bogus"}, "unknown kind 'bogus'"),
        (PROGRESS, {"kind": ["progress"]}, "unknown kind ['progress']"),
        (PROGRESS, {"kind": DROP}, "no kind"),
    ],
)
def test_a_wrong_value_is_named_by_its_field_and_value(event, changes, why):
    assert check_record(record(event, **changes), JOBS) == why


def test_the_run_end_is_checked_without_a_device():
    end = {"kind": "run_end", "finished": "2027-01-15T08:01:30+00:00", "interrupted": False}
    assert check_record(end, set()) is None
    assert check_record(dict(end, finished=None), set()) is None
    assert check_record(dict(end, interrupted="no"), set()) == "run_end: interrupted must be true or false (got 'no')"
    assert check_record({"kind": "run_end"}, set()) == "run_end: finished is missing"


def test_nesting_deeper_than_the_limit_is_refused_with_where_it_is():
    deep: Any = 1
    for _ in range(validate.MAX_DEPTH):
        deep = {"x": deep}
    why = check_record(record(MISMATCH, detail=deep), JOBS)
    assert why == f"fault: detail{'.x' * (validate.MAX_DEPTH - 1)} is nested more than {validate.MAX_DEPTH} deep"
    assert check_record(record(MISMATCH, detail=deep["x"]), JOBS) is None


def test_plain_text_tells_when_the_walk_for_bad_text_and_nesting_can_be_skipped():
    line = json.dumps(record(copies(0)[-1]))
    assert plain_text(line)
    assert not plain_text(json.dumps(record(MISMATCH, message="\ud800")))  # written as \ud800
    assert not plain_text('{"message": "\\uD800"}')
    assert not plain_text("[" * (validate.MAX_DEPTH + 1))
    assert plain_text('{"message": "\\ud83d\\ude00"}') is False  # a valid pair is looked at too, and passes
    assert check_record(record(MISMATCH, message="\U0001f600"), JOBS) is None
    # the caller vouches for plain text: the walk is skipped
    assert check_record(record(MISMATCH, message="\ud800"), JOBS, plain=True) is None


# the header


def job(host: str = "h", device: int = 0, **extra: Any) -> Dict[str, Any]:
    return {
        "host": host,
        "device": device,
        "params": {"memory_size": 1 << 20},
        "thresholds": Thresholds().model_dump(),
        "timeouts": {"init": 60.0, "copy": 30.0},
        **extra,
    }


def header(*jobs: Dict[str, Any], **facts: Any) -> Dict[str, Any]:
    base = {
        "kind": "header",
        "schema_version": ev.SCHEMA_VERSION,
        "run_id": "run-1",
        "started": "2027-01-15T08:00:00+00:00",
        "backend": "sim",
        "simulated": True,
        "launcher": "local",
        "concurrency": "all",
        "environment": {"python": "3.9.18"},
        "warnings": ["a doubt"],
        "resolved": {"version": 1},
        "jobs": list(jobs) or [job()],
    }
    return {**base, **facts}


def test_a_header_as_the_fleet_writes_it_is_kept_whole():
    head = header(job("h", 0), job("h", 1), job("g", 0, missing=True))
    assert check_header(head) == (head, [])


@pytest.mark.parametrize(
    "jobs, why",
    [
        ("h:0", "jobs must be a list of jobs (got 'h:0')"),
        ({"host": "h"}, "jobs must be a list of jobs (got {'host': 'h'})"),
        ([], "jobs is empty"),
        (DROP, "jobs is missing"),
        (
            [{"host": "h", "device": "0", "params": {}}],
            "no usable job: jobs[0].device must be an integer (got '0'); the job is left out",
        ),
    ],
)
def test_a_header_without_a_usable_job_is_unusable(jobs, why):
    head = {k: v for k, v in header(jobs=jobs).items() if v is not DROP}
    assert check_header(head) == ({}, [why])


def test_a_job_that_cannot_be_used_is_left_out_and_the_others_kept():
    head = header("h:0", job("h", "1"), job("h", 2, params=DROP), job("\ud800", 3), job("h", 4), job("h", 4, run=2))
    head["jobs"][2] = {k: v for k, v in head["jobs"][2].items() if v is not DROP}
    checked = check_header(head)
    assert checked.header["jobs"] == [job("h", 4)]
    assert checked.notes == [
        "jobs[0] must be an object (got 'h:0'); the job is left out",
        "jobs[1].device must be an integer (got '1'); the job is left out",
        "jobs[2].params is missing; the job is left out",
        "jobs[3].host is not valid text (a lone surrogate); the job is left out",
        "jobs[5] (h:4) repeats an earlier job; left out",
    ]


def test_missing_or_invalid_thresholds_give_way_to_the_fleets():
    own = job("h", 0, thresholds=dict(Thresholds().model_dump(), min_h2d_gbps=20.0))
    bad = job("h", 1, thresholds=dict(Thresholds().model_dump(), max_below_fleet=2, outlier="loud"))
    head = header(own, bad, job("h", 2, thresholds=DROP), job("h", 3, thresholds="strict"))
    head["jobs"][2].pop("thresholds")
    checked = check_header(head)
    assert checked.notes == [
        "jobs[1] (h:1) has invalid thresholds (max_below_fleet: must be < 1 (got 2); outlier: must be one of warn, "
        "fail (got 'loud')); it is judged by the fleet's",
        "jobs[2] (h:2) has no thresholds; it is judged by the fleet's",
        "jobs[3] (h:3) thresholds must be an object (got 'strict'); it is judged by the fleet's",
    ]
    assert [set(j) >= {"thresholds"} for j in checked.header["jobs"]] == [True, False, False, False]
    _, limits, fleet = collector_for(checked.header)
    assert list(limits) == [("h", 0)] and fleet == Thresholds(min_h2d_gbps=20.0)


def test_a_run_fact_of_the_wrong_type_is_left_out():
    head = header(warnings="x", run_id=3, simulated="yes", concurrency=2.5, environment=[], started=None)
    checked = check_header(head)
    assert checked.notes == [
        "run_id must be a string or null (got 3); left out",
        "simulated must be true or false or null (got 'yes'); left out",
        "concurrency must be a string or an integer (got 2.5); left out",
        "environment must be an object or null (got []); left out",
        "warnings must be a list (got 'x'); left out",
    ]
    assert not {"warnings", "run_id", "simulated", "concurrency", "environment"} & set(checked.header)
    assert checked.header["started"] is None and checked.header["launcher"] == "local"
    assert check_header(header(concurrency=2)).notes == []
    assert check_header(header(warnings=["a", 1])).notes == ["warnings[1] must be a string (got 1); left out"]
