"""The CLI's non-running commands and its error boundary (real subprocesses, the simulator)."""

from __future__ import annotations

import pytest

from tests.helpers.cli import cli
from tests.helpers.server import unsourced_npu_server
from tests.helpers.specs import spec, write_spec
from workers.backend import acl_available


def test_validate_prints_one_row_per_device_and_launches_nothing(tmp_path):
    data = spec(devices=3, faults=[{"device": 2, "kind": "leak", "bytes": 64}])
    data["hosts"][0]["overrides"] = {1: {"memory_size": "1MiB"}}
    r = cli("validate", str(write_spec(tmp_path, data)))
    assert r.returncode == 0, r.stderr
    rows = [line.split() for line in r.stdout.splitlines() if line.startswith("localhost")]
    assert [(row[1], row[2]) for row in rows] == [("0", "64KiB"), ("1", "1MiB"), ("2", "64KiB")]
    assert rows[2][-1] == "leak" and rows[0][-1] != "leak" and rows[1][-1] != "leak"
    assert "backend sim (SIMULATED), launcher local, 3 device(s): the spec is valid" in r.stdout
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
    r = cli("run")
    assert r.returncode == 2 and "the following arguments are required: spec" in r.stderr
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
    assert "backend sim (SIMULATED)" in r.stdout
