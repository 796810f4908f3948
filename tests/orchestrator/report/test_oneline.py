"""``--quiet``'s one line, from recorded runs judged by the controller's own code: the word, the
count, each device that did not pass with its first cause (or its status), and SIMULATED said."""

from __future__ import annotations

import fcntl

from orchestrator.report.oneline import first_cause, one_line
from orchestrator.results.replay import replay
from orchestrator.results.status import Status
from tests.helpers.fleet_runs import copies, mismatch, mixed_run, record_run


def test_every_device_that_did_not_pass_is_named_with_its_first_cause_or_status(tmp_path):
    run = mixed_run(tmp_path)
    assert one_line(run.verdicts, run.data) == (
        "FAIL 8/12 (simulated): node-a:3 data_mismatch, node-a:4 crashed, node-a:5 leak, node-b:1 hung, "
        "node-b:2 open_failed, node-b:3 skipped, node-b:4 aborted, node-b:5 incomplete"
    )


def test_a_fleet_that_passed_counts_every_device(tmp_path):
    run = record_run(tmp_path, {("localhost", d): copies(d) for d in range(3)})
    assert one_line(run.verdicts, run.data) == "PASS 3/3 (simulated)"


def test_real_hardware_is_not_called_simulated(tmp_path):
    devices = {("localhost", 0): copies(0), ("localhost", 1): copies(1, faults=[mismatch()])}
    run = record_run(tmp_path, devices, simulated=False)
    assert one_line(run.verdicts, run.data) == "FAIL 1/2: localhost:1 data_mismatch"


def test_an_interrupted_run_says_so_and_names_what_it_cut_short(tmp_path):
    devices = {
        ("localhost", 0): copies(0),
        ("localhost", 1): copies(1, cycles=2, outcome="stopped"),
        ("localhost", 2): [],
    }
    run = record_run(tmp_path, devices, interrupted=True)
    assert [v.status for v in run.verdicts] == [Status.PASS, Status.ABORTED, Status.SKIPPED]
    assert one_line(run.verdicts, run.data) == "INTERRUPTED 2/3 (simulated): localhost:1 aborted, localhost:2 skipped"


def test_a_run_in_progress_is_running(tmp_path):
    run = record_run(tmp_path, {("localhost", 0): copies(0), ("localhost", 1): copies(1)[:3]})
    journal = run.run_dir / "events.jsonl"
    journal.write_text("".join(journal.read_text().splitlines(keepends=True)[:-1]))  # no run end yet
    with open(journal) as held:
        fcntl.flock(held.fileno(), fcntl.LOCK_EX)  # what a controller still writing it holds
        live = replay(run.run_dir)
    assert live.facts["state"] == "running"
    assert one_line(live.verdicts, live.facts) == "RUNNING 1/2 (simulated): localhost:1 running"


def test_first_cause_is_the_first_of_several(tmp_path):
    faults = [mismatch(cycle=1, copy=2), mismatch(cycle=3, copy=5)]
    run = record_run(tmp_path, {("localhost", 0): copies(0, leak=2 << 20, faults=faults)})
    (verdict,) = run.verdicts
    assert [c.fault for c in verdict.causes][:2] == ["data_mismatch", "data_mismatch"]
    assert first_cause(verdict) == "data_mismatch"
    assert one_line(run.verdicts, run.data) == "FAIL 1/1 (simulated): localhost:0 data_mismatch"


def test_no_device_at_all_is_no_pass(tmp_path):
    assert one_line([], {"simulated": False}) == "FAIL 0/0"
