"""``dvpp-fleet run --level``: the shipped levels run to PASS on the simulator at reduced length
(``--devices``, ``--duration``), a level of several steps runs each into its own run directory and
ends with its own rows, and what cannot be done is refused before anything runs."""

from __future__ import annotations

import json
import time

import pytest

from orchestrator.levels.catalog import LEVELS
from tests.helpers.cli import cli, press, start_cli
from tests.helpers.specs import write_spec

SHORT = ("--devices", "0-1", "--duration", "2s", "--no-progress")


def summary(run_dir):
    return json.loads((run_dir / "summary.json").read_text())


def statuses(run_dir):
    return [d["status"] for d in summary(run_dir)["devices"]]


def header(run_dir):
    return json.loads((run_dir / "events.jsonl").read_text().splitlines()[0])


@pytest.mark.slow
def test_run_without_a_spec_is_the_quick_level_as_one_plain_run(tmp_path):
    out = tmp_path / "run"
    r = cli("run", "--out", str(out), *SHORT, "--quiet", timeout=180)
    assert (r.returncode, r.stdout) == (0, "PASS 2/2 (simulated)\n"), r.stderr
    assert statuses(out) == ["PASS", "PASS"] and not (out / "level.json").exists()
    resolved = header(out)["resolved"]
    assert resolved["level"] == {"name": "quick", "step": "quick", "number": 1, "of": 1}
    assert resolved["thresholds"]["min_h2d_fraction"] == 0.4 and resolved["defaults"]["duration"] == 2.0


@pytest.mark.slow
@pytest.mark.parametrize("name", ["standard", "long"])
def test_a_level_of_several_steps_runs_each_to_pass_in_its_own_directory(tmp_path, name):
    level = LEVELS[name]
    out = tmp_path / "level"
    r = cli("run", "--level", name, "--out", str(out), *SHORT, timeout=600)
    assert r.returncode == 0, r.stderr[-3000:]
    dirs = [out / f"{n}-{step.name}" for n, step in enumerate(level.steps, 1)]
    for step_dir in dirs:
        assert statuses(step_dir) == ["PASS", "PASS"], step_dir
    record = json.loads((out / "level.json").read_text())
    assert (record["level"], record["state"], record["exit_code"]) == (name, "finished", 0)
    assert [s["result"] for s in record["steps"]] == ["PASS 2/2 (simulated)"] * len(level.steps)
    tail = r.stdout.splitlines()
    assert tail[-1] == f"level {name}: PASS 2/2 (simulated)"
    rows = [line for line in tail if line.startswith(f"  1/{len(level.steps)} ") or line.startswith("  2/")]
    assert rows[0].startswith(f"  1/{len(level.steps)} quick") and str(dirs[0]) in rows[0]
    if name == "long":
        assert any(line.startswith("  shared link: ") for line in tail), tail[-12:]
    capacity = summary(out / f"{[s.name for s in level.steps].index('capacity') + 1}-capacity")
    for device in capacity["devices"]:  # filled to the end and judged a pass, or cut off by the 2 s
        assert (device["outcome"], bool(device["capacity"] and device["capacity"]["expected"])) in (
            ("capacity", True),
            ("duration", False),
        ), device
    sweep = header(out / "2-sweep")["resolved"]
    assert sweep["level"]["step"] == "sweep" and sweep["defaults"]["host_memory"] == "both"


@pytest.mark.slow
def test_burn_in_runs_until_the_duration_with_its_prometheus_file(tmp_path):
    out, prom = tmp_path / "run", tmp_path / "dvpp.prom"
    r = cli("run", "-r", "4", "--out", str(out), "--prom", str(prom), *SHORT, timeout=180)
    assert r.returncode == 0, r.stderr
    assert {d["outcome"] for d in summary(out)["devices"]} == {"duration"}
    assert "dvpp_fleet_device_status{" in prom.read_text() and "dvpp_fleet_run_in_progress 0.0" in prom.read_text()


@pytest.mark.slow
def test_a_level_quiet_and_as_json(tmp_path):
    r = cli("run", "-r", "2", "--out", str(tmp_path / "q"), *SHORT, "--quiet", "--memory-size", "1MiB", timeout=300)
    assert (r.returncode, r.stdout, r.stderr) == (0, "PASS 2/2 (simulated)\n", "")
    r = cli(
        "run", "-r", "2", "--out", str(tmp_path / "j"), *SHORT, "--format", "json", "--memory-size", "1MiB", timeout=300
    )
    data = json.loads(r.stdout)
    assert (data["level"], data["exit_code"], [s["name"] for s in data["steps"]]) == (
        "standard",
        0,
        ["quick", "sweep", "async", "capacity"],
    )


@pytest.mark.slow
def test_a_stop_ends_the_level_and_the_steps_not_run_are_said(tmp_path):
    out = tmp_path / "level"
    proc = start_cli("run", "-r", "2", "--out", str(out), "--devices", "0-1", "--duration", "30s", "--cycles", "-1")
    try:
        deadline = time.monotonic() + 120
        while not (out / "2-sweep" / "events.jsonl").exists() or not (out / "2-sweep" / "status.json").exists():
            assert time.monotonic() < deadline and proc.poll() is None
            time.sleep(0.2)
        press(proc, 1)
        stdout, stderr = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 130, stderr[-2000:]
    record = json.loads((out / "level.json").read_text())
    assert [s["exit_code"] for s in record["steps"]] == [0, 130, None, None]
    assert record["state"] == "finished" and record["exit_code"] == 130
    last = stdout.splitlines()[-1]
    assert last.startswith("level standard: INTERRUPTED 2/2 (simulated): localhost:0 aborted (sweep), "), last
    assert last.endswith("(1 of 4 steps did not pass); 2 step(s) not run")
    assert not (out / "3-async").exists()


def test_a_file_output_of_one_run_is_refused_for_a_level_of_several_steps(tmp_path):
    out = tmp_path / "level"
    r = cli("run", "-r", "standard", "--out", str(out), "--junit", str(tmp_path / "j.xml"))
    assert r.returncode == 2
    assert "--junit: level standard runs 4 steps, each its own run with its own results" in r.stderr
    assert "dvpp-fleet report DIR/<n>-<step> --junit FILE" in r.stderr and not out.exists()


def test_a_bad_key_over_a_level_names_the_step_and_nothing_runs(tmp_path):
    path = write_spec(tmp_path, {"version": 1, "level": "standard", "defaults": {"release_cycle": 0}})
    out = tmp_path / "level"
    r = cli("run", str(path), "--out", str(out))
    assert r.returncode == 2 and not out.exists()
    assert (
        "dvpp-fleet: error: level standard, step 1/4 quick: defaults.release_cycle: must be -1 (unbounded) or >= 1"
        in r.stderr
    )


def test_validate_a_level_shows_every_steps_plan(tmp_path):
    r = cli("validate", "--level", "long", "--devices", "0-3")
    assert r.returncode == 0, r.stderr
    heads = [line for line in r.stdout.splitlines() if line.startswith("== level long")]
    assert [h.split(":")[0] for h in heads] == [
        f"== level long, step {n}/7 {s.name}" for n, s in enumerate(LEVELS["long"].steps, 1)
    ]
    assert r.stdout.count("level: long, step ") == 7 and "concurrency: serial" in r.stdout


@pytest.mark.slow
def test_a_step_that_cannot_run_ends_the_level_with_what_ran_said(tmp_path):
    out = tmp_path / "level"
    (out / "2-sweep").mkdir(parents=True)
    (out / "2-sweep" / "events.jsonl").write_text("")  # its directory is taken: step 2 cannot start
    r = cli("run", "-r", "2", "--out", str(out), *SHORT, timeout=300)
    assert r.returncode == 2, r.stderr[-2000:]
    assert "dvpp-fleet: error: level standard, step 2/4 sweep: --out: " in r.stderr
    record = json.loads((out / "level.json").read_text())
    assert [s["exit_code"] for s in record["steps"]] == [0, 2, None, None] and record["state"] == "finished"
    assert record["steps"][1]["result"].startswith("could not run: --out: ")
    assert r.stdout.splitlines()[-1] == (
        "level standard: PASS 2/2 (simulated); step sweep could not run (1 of 4 steps did not pass); 2 step(s) not run"
    )


@pytest.mark.slow
@pytest.mark.parametrize(
    "fault, state, code", [(RuntimeError("a bug"), "failed", 4), (KeyboardInterrupt(), "interrupted", 130)]
)
def test_an_error_while_a_step_is_set_up_leaves_a_record_that_says_so(tmp_path, monkeypatch, fault, state, code):
    """A bug (or a Ctrl-C before the step's stop flag is armed) while step 2 is being set up: the
    command ends as it always does, and level.json says how, with step 1's result kept."""
    from orchestrator import cli as command_line
    from orchestrator.launch import budget

    calls = []
    real = budget.check_disk

    def check_disk(run_dir, plan):
        calls.append(run_dir)
        if len(calls) == 2:
            raise fault
        return real(run_dir, plan)

    monkeypatch.setattr(budget, "check_disk", check_disk)
    out = tmp_path / "level"
    with pytest.raises(SystemExit) as ended:
        command_line.main(["run", "-r", "2", "--out", str(out), *SHORT, "--quiet"])
    assert ended.value.code == code
    record = json.loads((out / "level.json").read_text())
    assert (record["state"], record["exit_code"]) == (state, code)
    assert [s["exit_code"] for s in record["steps"]] == [0, code, None, None]
    if state == "failed":
        assert record["steps"][1]["result"] == "could not run: internal error: RuntimeError: a bug"
