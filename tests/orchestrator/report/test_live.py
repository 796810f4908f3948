"""The live status file of a run in progress: ``status.json`` written at most every interval (or
when forced), hooks given the same verdicts and data, and the run's own live judgement: a device
still running shows RUNNING, one that recorded a fault FAIL, an ended one its final status."""

from __future__ import annotations

import functools
import json
import time

from orchestrator.report.live import LiveStatus
from orchestrator.results.collect import Collector
from orchestrator.results.verdict import judge_all
from orchestrator.spec.schema import Thresholds
from tests.helpers.fleet_runs import copies, mismatch

FACTS = {"run_id": "run-1", "backend": "sim", "simulated": True, "finished": None, "interrupted": False}


def fleet():
    """Three devices mid-run: h:0 finished, h:1 copying, h:2 copying after a data mismatch."""
    collector = Collector([("h", 0, {}), ("h", 1, {}), ("h", 2, {})])
    for e in copies(0):
        collector.fold("h", 0, e)
    for e in copies(1)[:2]:
        collector.fold("h", 1, e)
    for e in copies(2)[:2] + [mismatch(cycle=1, copy=3)]:
        collector.fold("h", 2, e)
    return collector


class Counted:
    """The run's live judgement, counting how often the status asked for it."""

    def __init__(self, collector):
        self.calls = 0
        self.judge = functools.partial(judge_all, collector, {}, Thresholds(max_leak=0), live=True)

    def __call__(self):
        self.calls += 1
        return self.judge()


def read(tmp_path):
    return json.loads((tmp_path / "status.json").read_text())


def test_the_status_file_holds_the_live_verdicts(tmp_path):
    status = LiveStatus(tmp_path, 60.0, Counted(fleet()), FACTS)
    before = time.time()
    status.refresh(force=True)
    data = read(tmp_path)
    assert [(d["host"], d["device"], d["status"]) for d in data["devices"]] == [
        ("h", 0, "PASS"),
        ("h", 1, "RUNNING"),
        ("h", 2, "FAIL"),
    ]
    assert data["counts"] == {"PASS": 1, "FAIL": 1, "RUNNING": 1}
    assert [f["kind"] for f in data["devices"][2]["faults"]] == ["data_mismatch"]
    assert data["exit_code"] == -1  # not decided while running
    assert data["run_id"] == "run-1" and before <= data["updated"] <= time.time()
    assert "updated" not in FACTS  # the facts given are not changed


def test_a_device_not_started_yet_shows_running_until_it_records_a_fault(tmp_path):
    collector = Collector([("h", 0, {})])
    judge = Counted(collector)
    status = LiveStatus(tmp_path, 0.0, judge, FACTS)
    status.refresh()
    assert read(tmp_path)["devices"][0]["status"] == "RUNNING"
    collector.fold("h", 0, mismatch())
    status.refresh()
    assert read(tmp_path)["devices"][0]["status"] == "FAIL"
    for e in copies(0):
        collector.fold("h", 0, e)
    status.refresh()
    assert read(tmp_path)["devices"][0]["status"] == "FAIL"  # ended, and judged as such
    assert judge.calls == 3


def test_refresh_writes_at_most_every_interval(tmp_path):
    judge = Counted(fleet())
    status = LiveStatus(tmp_path, 3600.0, judge, FACTS)
    status.refresh(force=True)
    first = (tmp_path / "status.json").read_text()
    for _ in range(5):
        status.refresh()  # within the hour: cheap, nothing judged or written
    assert judge.calls == 1
    assert (tmp_path / "status.json").read_text() == first


def test_force_writes_at_once(tmp_path):
    judge = Counted(fleet())
    status = LiveStatus(tmp_path, 3600.0, judge, FACTS)
    status.refresh(force=True)
    (tmp_path / "status.json").unlink()
    status.refresh(force=True)
    assert judge.calls == 2 and (tmp_path / "status.json").is_file()


def test_a_short_interval_writes_again_once_it_passed(tmp_path):
    judge = Counted(fleet())
    status = LiveStatus(tmp_path, 0.01, judge, FACTS)
    status.refresh(force=True)
    first = status.written
    deadline = time.monotonic() + 5.0
    while judge.calls < 2 and time.monotonic() < deadline:
        status.refresh()
    assert judge.calls == 2
    assert status.written - first >= 0.01


def test_hooks_receive_the_verdicts_and_the_data_written(tmp_path):
    seen = []
    status = LiveStatus(
        tmp_path, 0.0, Counted(fleet()), FACTS, hooks=[lambda v, d: seen.append((v, d)), lambda v, d: seen.append(1)]
    )
    status.refresh()
    (verdicts, data), second = seen
    assert second == 1  # every hook, in order
    assert [(v.name, v.status.value) for v in verdicts] == [("h:0", "PASS"), ("h:1", "RUNNING"), ("h:2", "FAIL")]
    assert json.loads(json.dumps(data, default=str)) == read(tmp_path)


def test_no_hook_is_called_when_nothing_is_written(tmp_path):
    seen = []
    status = LiveStatus(tmp_path, 3600.0, Counted(fleet()), FACTS, hooks=[lambda v, d: seen.append(d)])
    status.refresh(force=True)
    status.refresh()
    assert len(seen) == 1
