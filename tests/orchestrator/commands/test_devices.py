"""``dvpp-fleet devices`` (orchestrator/commands/devices.py) through the real CLI on the simulator,
configured as an operator would: a YAML file named by ``ACL_SIM_CONFIG``."""

from __future__ import annotations

import importlib.util
import json
import socket
from typing import Any, Dict, List

import pytest
import yaml

from tests.helpers.cli import cli

GiB = 1 << 30
needs_no_acl = pytest.mark.skipif(importlib.util.find_spec("acl") is not None, reason="the real acl is importable")


@pytest.fixture
def simulate(tmp_path, monkeypatch):
    """Point the simulator of every process started from here at a config file."""

    def configure(config: Dict[str, Any]) -> None:
        path = tmp_path / "sim.yaml"
        path.write_text(yaml.safe_dump(config))
        monkeypatch.setenv("ACL_SIM_CONFIG", str(path))

    return configure


def rows(stdout: str) -> List[List[str]]:
    """The table's rows, split on blanks: the lines between the rule under the header and the first blank line."""
    lines = stdout.splitlines()
    body = lines[lines.index(next(line for line in lines if line.startswith("---"))) + 1 :]
    return [line.split() for line in body[: body.index("")]]


def test_one_row_per_simulated_device_with_its_chip_and_memory(simulate):
    simulate({"chip": "Ascend910B4", "device_count": 3, "memory": {"hbm": 3 * GiB}})
    r = cli("devices", "--backend", "sim")
    assert r.returncode == 0, r.stderr
    assert rows(r.stdout) == [[str(i), str(i), "Ascend910B4", "3.0", "GiB", "0", "B"] for i in range(3)]
    assert r.stdout.rstrip().endswith("3 device(s), backend sim (SIMULATED)")


def test_a_chip_without_hbm_shows_its_ddr(simulate):
    # the 310P3 answers HBM queries with its DDR figures (24 GiB less 3 GiB reserved)
    simulate({"chip": "Ascend310P3", "device_count": 2})
    r = cli("devices", "--backend", "sim")
    assert r.returncode == 0, r.stderr
    assert rows(r.stdout) == [[str(i), str(i), "Ascend310P3", "21.0", "GiB", "21.0", "GiB"] for i in range(2)]


def test_a_device_that_will_not_open_is_listed_without_chip_or_memory(simulate):
    simulate({"device_count": 3, "memory": {"hbm": GiB}, "faults": [{"device": 1, "kind": "init_fail"}]})
    r = cli("devices", "--backend", "sim")
    assert r.returncode == 0, r.stderr
    assert rows(r.stdout) == [
        ["0", "0", "Ascend910B1", "1.0", "GiB", "0", "B"],
        ["1", "1", "-", "-", "-"],
        ["2", "2", "Ascend910B1", "1.0", "GiB", "0", "B"],
    ]
    assert "3 device(s), backend sim (SIMULATED)" in r.stdout


def test_a_broken_simulator_config_is_an_environment_error(simulate):
    simulate({"chip": "Ascend999"})
    r = cli("devices", "--backend", "sim")
    assert r.returncode == 3
    assert r.stderr.startswith("dvpp-fleet: environment error: device discovery on backend sim: ")
    assert "chip: unknown chip 'Ascend999'" in r.stderr and "Traceback" not in r.stderr


@needs_no_acl
def test_auto_falls_back_to_the_simulator(simulate):
    simulate({"device_count": 2, "memory": {"hbm": GiB}})
    r = cli("devices")
    assert r.returncode == 0, r.stderr
    assert len(rows(r.stdout)) == 2 and "2 device(s), backend sim (SIMULATED)" in r.stdout


@needs_no_acl
def test_the_real_backend_missing_is_an_environment_error():
    r = cli("devices", "--backend", "acl")
    assert (r.returncode, r.stdout) == (3, "")
    assert r.stderr.startswith("dvpp-fleet: environment error: backend acl: the real acl module (Huawei CANN)")


def test_an_unknown_backend_is_a_usage_error():
    r = cli("devices", "--backend", "cuda")
    assert r.returncode == 2 and "invalid choice: 'cuda'" in r.stderr


def test_json_holds_every_device_with_stable_keys(simulate):
    simulate(
        {
            "chip": "Ascend910B4",
            "device_count": 3,
            "memory": {"hbm": 3 * GiB},
            "faults": [{"device": 2, "kind": "init_fail"}],
        }
    )
    r = cli("devices", "--backend", "sim", "--format", "json")
    assert (r.returncode, r.stderr) == (0, "")
    data = json.loads(r.stdout)
    host = socket.gethostname()
    assert {k: data[k] for k in ("host", "backend", "simulated", "device_count")} == {
        "host": host,
        "backend": "sim",
        "simulated": True,
        "device_count": 3,
    }
    first, _, broken = data["devices"]
    assert list(first) == ["host", "id", "logical_id", "chip", "memory", "error"] == list(broken)
    assert (first["host"], first["id"], first["logical_id"], first["chip"], first["error"]) == (
        host,
        0,
        0,
        "Ascend910B4",
        None,
    )
    assert list(first["memory"]) == ["hbm", "ddr", "hbm_huge", "ddr_huge"]
    assert first["memory"]["hbm"]["total"] == 3 * GiB and first["memory"]["ddr"] == {"total": 0, "free": 0}
    assert 0 < first["memory"]["hbm_huge"]["total"] < 3 * GiB
    assert (broken["id"], broken["chip"], broken["memory"]) == (2, None, None)
    assert broken["error"] == (
        "acl.rt.set_device failed: 507033 ACL_ERROR_RT_DEV_SETUP_ERROR (open device 2 failed (drvDeviceOpen))"
    )


def test_json_and_the_table_list_the_same_devices(simulate):
    simulate({"device_count": 4, "memory": {"hbm": GiB}})
    table = rows(cli("devices", "--backend", "sim").stdout)
    data = json.loads(cli("devices", "--backend", "sim", "--format", "json").stdout)
    assert [[str(d["id"]), str(d["logical_id"]), d["chip"]] for d in data["devices"]] == [row[:3] for row in table]
    assert [d["memory"]["hbm"]["total"] for d in data["devices"]] == [GiB] * 4
