"""A level's end (``orchestrator/report/levels.py``): its rows, its one line, its exit code and the
shared-link finding, on verdicts judged from real events by the controller's own collector."""

from __future__ import annotations

from datetime import datetime, timezone
from pathlib import Path
from typing import Dict, Optional

from orchestrator.errors import EXIT_DEVICE_FAILURE, EXIT_ENVIRONMENT, EXIT_INTERRUPTED, EXIT_PASS
from orchestrator.report import levels
from orchestrator.report.levels import StepRun
from orchestrator.results.collect import Collector
from orchestrator.results.verdict import judge_all
from orchestrator.spec.schema import Thresholds
from workers import events as ev

MEM = {"hbm": {"free": 1000, "total": 2000}}


def step(number: int, name: str, medians: Dict[int, float], bad: Optional[Dict[int, str]] = None, **facts) -> StepRun:
    """A step whose devices copied at ``medians`` GB/s (device -> median); ``bad``: device -> fault kind."""
    c = Collector([("h", d, {}) for d in medians])
    for d, median in medians.items():
        stats = {"count": 16, "min": median / 2, "max": median, "median": median, "mean": median}
        c.fold("h", d, ev.Started(d, d, "Ascend910B", "sim", True, 1, {}, MEM))
        if bad and d in bad:
            c.fold("h", d, ev.Fault(fault=bad[d], message="it went wrong"))
        c.fold("h", d, ev.Finished("completed", 1, 16, 16, stats, stats, 0, 0, {"hbm": 900}, MEM, 1.0))
    verdicts = judge_all(c, {}, Thresholds(max_below_fleet=None))
    code = EXIT_DEVICE_FAILURE if bad else EXIT_PASS
    return StepRun(number, name, "checks", Path(f"/runs/l/{number}-{name}"), facts.pop("code", code), verdicts, facts)


def test_the_level_line_names_each_device_once_with_the_first_step_it_failed():
    steps = [
        step(1, "quick", {0: 10, 1: 10, 2: 10}),
        step(2, "sweep", {0: 10, 1: 10, 2: 10}, bad={1: "data_mismatch"}),
        step(3, "async", {0: 10, 1: 10, 2: 10}, bad={1: "api_error", 2: "leak"}),
    ]
    assert levels.one_level_line(steps) == "FAIL 2/3: h:1 data_mismatch (sweep), h:2 leak (async)"
    assert levels.one_level_line(steps[:1]) == "PASS 3/3"
    assert levels.exit_code(steps) == EXIT_DEVICE_FAILURE


def test_the_exit_code_is_that_of_one_run_holding_every_steps_verdicts():
    """As for one run (``verdict.exit_code``): a file not written, then a stop, then a device that did
    not pass; a step that could not run counts only when nothing else did."""
    ran = step(1, "quick", {0: 10})
    failed = step(2, "sweep", {0: 10}, bad={0: "leak"})
    unwritten = step(3, "async", {0: 10})
    unwritten.unwritten = 1
    assert levels.exit_code([ran, failed]) == EXIT_DEVICE_FAILURE
    assert levels.exit_code([ran, failed, unwritten]) == EXIT_ENVIRONMENT
    assert levels.one_level_line([ran, unwritten]) == "PASS 1/1; 1 file(s) not written"
    broken = StepRun(2, "sweep", "checks", Path("/runs/l/2-sweep"), EXIT_ENVIRONMENT, error="disk full")
    assert levels.exit_code([ran, broken]) == EXIT_ENVIRONMENT
    assert levels.exit_code([failed, broken]) == EXIT_DEVICE_FAILURE
    assert levels.one_level_line([ran, broken]) == "PASS 1/1; step sweep could not run"
    assert broken.line == "could not run: disk full"


def test_a_stop_ends_the_level_and_never_hides_a_failure_found_before_it():
    failed = step(1, "quick", {0: 10, 1: 10}, bad={1: "data_mismatch"})
    stopped = step(2, "sweep", {0: 10, 1: 10}, code=EXIT_INTERRUPTED, interrupted=True)
    not_run = StepRun(3, "async", "checks", Path("/runs/l/3-async"))
    assert levels.exit_code([failed, stopped, not_run]) == EXIT_INTERRUPTED
    assert levels.one_level_line([failed, stopped, not_run]) == "INTERRUPTED 1/2: h:1 data_mismatch (quick)"
    lines = levels.summary_lines("standard", [failed, stopped, not_run])
    assert lines[0] == "level standard: 3 steps"
    assert lines[1:4] == [
        "  1/3 quick  FAIL 1/2: h:1 data_mismatch  (/runs/l/1-quick)",
        "  2/3 sweep  INTERRUPTED 0/2  (/runs/l/2-sweep)",
        "  3/3 async  not run  (/runs/l/3-async)",
    ]
    assert lines[-1] == (
        "level standard: INTERRUPTED 1/2: h:1 data_mismatch (quick) (2 of 3 steps did not pass); 1 step(s) not run"
    )


def test_devices_that_slow_down_together_share_a_link_and_the_others_do_not():
    together = step(6, "link-all", {0: 5.0, 1: 5.5, 2: 9.5, 3: 10.0})
    alone = step(7, "link-serial", {0: 10.0, 1: 10.0, 2: 10.0, 3: 10.0})
    [line] = levels.shared_link_lines(together, alone)
    assert line.startswith("  shared link: h:0-1 copy at 50% to 55% of their rate alone when all copy at once")
    [none] = levels.shared_link_lines(step(6, "link-all", {0: 9.0, 1: 9.9}), step(7, "link-serial", {0: 10, 1: 10}))
    assert none == "  shared link: none; every device kept 90% or more of its rate alone with all copying at once"
    assert levels.shared_link_lines(together, StepRun(7, "link-serial", "c", Path("x"))) == []  # not run


def test_the_record_is_what_a_script_reads():
    steps = [step(1, "quick", {0: 10}), StepRun(2, "sweep", "sizes", Path("/runs/l/2-sweep"))]
    started = datetime(2027, 1, 15, 8, 0, tzinfo=timezone.utc)
    data = levels.record("standard", steps, started, "finished", shared=["  shared link: none; ..."])
    assert (data["level"], data["started"], data["state"], data["exit_code"]) == (
        "standard",
        "2027-01-15T08:00:00+00:00",
        "finished",
        EXIT_PASS,
    )
    assert (data["result"], data["shared_link"]) == ("PASS 1/1", ["shared link: none; ..."])
    assert [(s["name"], s["exit_code"], s["result"]) for s in data["steps"]] == [
        ("quick", 0, "PASS 1/1"),
        ("sweep", None, "not run"),
    ]
    assert levels.record("standard", steps, started)["exit_code"] is None  # running
