"""The CLI's non-running commands and its error boundary (real subprocesses, the simulator)."""

from __future__ import annotations

import argparse
import json
import os
import threading
import time
from pathlib import Path
from typing import Dict, List

import pytest

from orchestrator.cli import build_parser
from orchestrator.commands.planning import make_plan
from tests.helpers.cli import cli, run_fleet
from tests.helpers.server import unsourced_npu_server
from tests.helpers.specs import spec, write_spec
from workers.backend import acl_available
from workers.devlock import DeviceLock


def test_validate_prints_one_row_per_device_and_launches_nothing(tmp_path):
    data = spec(devices=3, faults=[{"device": 2, "kind": "leak", "bytes": 64}])
    data["hosts"][0]["overrides"] = {1: {"memory_size": "1MiB"}}
    r = cli("validate", str(write_spec(tmp_path, data)))
    assert r.returncode == 0, r.stderr
    rows = [line.split() for line in r.stdout.splitlines() if line.startswith("localhost")]
    assert [(row[0], row[1]) for row in rows[:3]] == [
        ("localhost:0", "64KiB"),
        ("localhost:1", "1MiB"),
        ("localhost:2", "64KiB"),
    ]
    assert rows[2][-1] == "leak" and rows[0][-1] != "leak" and rows[1][-1] != "leak"
    assert "backend: sim (SIMULATED)" in r.stdout and "3 device(s): the spec is valid" in r.stdout
    assert not (tmp_path / "runs").exists()


def test_validate_lists_every_problem_with_exit_2(tmp_path):
    data = spec(devices=2)
    data["defaults"]["memory_size"] = -5
    data["hosts"][0]["devices"] = [0, 7]
    r = cli("validate", str(write_spec(tmp_path, data)))
    assert r.returncode == 2
    assert r.stderr.splitlines() == [
        "dvpp-fleet: error: defaults.memory_size: must be > 0 (got -5)",
    ]
    data["defaults"]["memory_size"] = "1MiB"
    r = cli("validate", str(write_spec(tmp_path, data)))
    assert r.returncode == 2
    assert r.stderr.splitlines() == [
        "dvpp-fleet: error: hosts[0].devices: device 7 does not exist on this host (2 visible: 0-1)"
    ]


def test_devices_lists_the_simulated_devices():
    r = cli("devices", "--backend", "sim")
    assert r.returncode == 0, r.stderr
    rows = [line.split() for line in r.stdout.splitlines() if line.strip()[:1].isdigit() and "GiB" in line]
    assert len(rows) == 8 and rows[0][:3] == ["0", "0", "Ascend910B1"]
    assert "8 device(s), backend sim (SIMULATED)" in r.stdout


def test_the_real_backend_missing_is_an_environment_error(tmp_path):
    r = cli("validate", str(write_spec(tmp_path, spec(backend="acl"))))
    assert r.returncode == 3
    assert r.stderr.startswith(
        "dvpp-fleet: environment error: backend acl: the real acl module (Huawei CANN) is not importable"
    )
    assert "Traceback" not in r.stderr


def test_usage_errors_exit_2():
    r = cli("run", "-r", "5")
    assert r.returncode == 2 and "argument -r/--level: not a level: '5' (choose one of quick (1)," in r.stderr
    r = cli("report", "/nonexistent/run")
    assert r.returncode == 3 and "holds no events.jsonl" in r.stderr


@pytest.mark.skipif(acl_available(), reason="the real acl is installed here")
@pytest.mark.parametrize("command", [["run", "--no-progress"], ["validate"], ["devices"]])
def test_auto_on_an_npu_server_without_cann_is_an_environment_error_not_a_simulation(tmp_path, command):
    env = unsourced_npu_server(tmp_path)
    data = spec(devices=2, backend="auto")
    args = (
        [command[0]]
        + (
            [str(write_spec(tmp_path, data)), "--out", str(tmp_path / "run")]
            if command[0] == "run"
            else [str(write_spec(tmp_path, data))]
            if command[0] == "validate"
            else []
        )
        + command[1:]
    )
    r = cli(*args, env=env)
    assert r.returncode == 3, r.stdout + r.stderr
    assert r.stderr.startswith("dvpp-fleet: environment error: backend auto: this machine has Ascend hardware (npu-smi")
    assert "set_env.sh" in r.stderr and "--backend sim" in r.stderr and "Traceback" not in r.stderr
    assert not (tmp_path / "run").exists()  # nothing was run, nothing half-written


@pytest.mark.skipif(acl_available(), reason="the real acl is installed here")
def test_the_simulator_asked_for_by_name_still_runs_on_such_a_server(tmp_path):
    env = unsourced_npu_server(tmp_path)
    r = cli("validate", str(write_spec(tmp_path, spec(devices=2, backend="auto"))), "--backend", "sim", env=env)
    assert r.returncode == 0, r.stderr
    assert "backend: sim (SIMULATED)" in r.stdout


def test_wait_busy_takes_a_duration_on_run_only(capsys):
    parser = build_parser()
    assert parser.parse_args(["run", "f.yaml"]).wait_busy == 0.0
    assert parser.parse_args(["run", "f.yaml", "--wait-busy", "5m"]).wait_busy == 300.0
    assert parser.parse_args(["run", "f.yaml", "--wait-busy", "90"]).wait_busy == 90.0
    with pytest.raises(SystemExit) as bad:
        parser.parse_args(["run", "f.yaml", "--wait-busy", "soon"])
    assert bad.value.code == 2
    assert "argument --wait-busy: not a duration: use seconds or a duration such as 30s" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        parser.parse_args(["validate", "f.yaml", "--wait-busy", "5m"])


def test_wait_busy_reaches_every_job(tmp_path):
    args = build_parser().parse_args(["run", str(write_spec(tmp_path, spec(devices=3))), "--wait-busy", "2m"])
    plan, _ = make_plan(args)
    assert [j.params.wait_busy for j in plan.jobs] == [120.0, 120.0, 120.0]
    assert plan.jobs[0].to_dict()["params"]["wait_busy"] == 120.0  # in the journal's record of the job
    plan, _ = make_plan(build_parser().parse_args(["validate", str(write_spec(tmp_path, spec(devices=1)))]))
    assert plan.jobs[0].params.wait_busy == 0.0


def _release_once_waited_for(holder: DeviceLock, log: Path) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and ": waiting up to" not in (log.read_text() if log.exists() else ""):
        time.sleep(0.05)
    holder.release()


def test_a_run_waits_for_a_device_another_process_is_testing(tmp_path):
    holder = DeviceLock(0, simulated=True)
    holder.acquire()
    log = tmp_path / "run" / "logs" / "localhost-0.log"
    threading.Thread(target=_release_once_waited_for, args=(holder, log), daemon=True).start()
    done = run_fleet(tmp_path, spec(devices=2), "--wait-busy", "1m")
    assert done.code == 0, done.stderr
    assert set(done.statuses().values()) == {"PASS"}
    text = log.read_text()
    assert f"device 0 is in use by pid {os.getpid()} (since " in text and ": waiting up to 60s for it" in text


def test_without_wait_busy_a_held_device_is_not_tested(tmp_path):
    with DeviceLock(1, simulated=True) as holder:
        holder.acquire()
        done = run_fleet(tmp_path, spec(devices=2))
    assert done.code == 1
    journal = [json.loads(line) for line in (done.run_dir / "events.jsonl").read_text().splitlines()]
    busy = [e for e in journal if e.get("kind") == "fault" and e.get("fault") == "busy"]
    assert len(busy) == 1 and busy[0]["detail"]["holder"]["pid"] == os.getpid()
    assert not [e for e in journal if e.get("kind") == "started" and e.get("physical_id") == 1]
    assert done.statuses()[0] == "PASS"


def _commands(parser: argparse.ArgumentParser) -> Dict[str, argparse.ArgumentParser]:
    """The top-level parser and every command's, by name."""
    sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    return {"dvpp-fleet": parser, **sub.choices}


def _shown(default: object) -> List[str]:
    """The ways a help text may write a default: as it is, or a float as %g writes it."""
    return [str(default)] + ([format(default, "g")] if isinstance(default, float) else [])


def test_every_argument_of_every_command_has_help_showing_its_default():
    parser = build_parser()
    missing, hidden = [], []
    for name, command in _commands(parser).items():
        formatter = command._get_formatter()
        for action in command._actions:
            if action.help == argparse.SUPPRESS:
                continue
            where = f"{name} {'/'.join(action.option_strings) or action.dest}"
            if not action.help:
                missing.append(where)
                continue
            text = formatter._expand_help(action)  # what --help prints for it, %(default)s filled in
            default = action.default
            if default is not None and default is not False and default != argparse.SUPPRESS:
                if not any(shown in text for shown in _shown(default)):
                    hidden.append(f"{where}: default {default!r} not in {text!r}")
    assert (missing, hidden) == ([], [])
    assert set(_commands(parser)) == {"dvpp-fleet", "run", "validate", "report", "compare", "devices", "doctor"}


def test_the_defaults_shown_are_the_ones_used():
    helps = {a.dest: a.help for a in _commands(build_parser())["run"]._actions}
    assert "(default %(default)gs:" in helps["wait_busy"] and "(default: %(default)s)" in helps["format"]
    text = _commands(build_parser())["run"].format_help()
    assert "(default 0s: report the device busy at once)" in " ".join(text.split())


def test_keep_takes_a_whole_number_from_one(capsys):
    parser = build_parser()
    assert parser.parse_args(["run", "f.yaml"]).keep is None
    assert parser.parse_args(["run", "f.yaml", "--keep", "3"]).keep == 3
    for bad in ("0", "-2", "two", "1.5"):
        with pytest.raises(SystemExit) as info:
            parser.parse_args(["run", "f.yaml", "--keep", bad])
        assert info.value.code == 2
        assert f"argument --keep: must be a whole number >= 1 (got {bad!r})" in capsys.readouterr().err


@pytest.mark.parametrize("command", ["run", "report"])
def test_quiet_with_json_is_a_usage_error(tmp_path, command):
    target = write_spec(tmp_path, spec(devices=1)) if command == "run" else tmp_path
    r = cli(command, str(target), "--quiet", "--format", "json")
    assert (r.returncode, r.stdout) == (2, "")
    assert r.stderr == "dvpp-fleet: error: --quiet prints one line, --format json the whole summary: choose one\n"
    assert not (tmp_path / "runs").exists()
