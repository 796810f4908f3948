from __future__ import annotations

import json
import subprocess
import sys

import pytest

from tests.helpers.workers import ROOT, sim
from workers.backend import acl_available
from workers.discover import discover, main


def test_discover_lists_every_simulated_device():
    report = discover("sim", sim(hbm=1 << 30))
    assert (report["backend"], report["simulated"], report["device_count"], report["error"]) == ("sim", True, 2, None)
    assert [d["id"] for d in report["devices"]] == [0, 1]
    first = report["devices"][0]
    assert first["logical_id"] == 0 and first["chip"] == "Ascend910B1"
    assert first["memory"]["hbm"] == {"free": 1 << 30, "total": 1 << 30}


def test_discover_reports_physical_ids_under_visible_devices(monkeypatch):
    monkeypatch.setenv("ASCEND_RT_VISIBLE_DEVICES", "1,3")
    report = discover("sim", {"device_count": 4, "memory": {"hbm": 1 << 20}})
    assert [(d["id"], d["logical_id"]) for d in report["devices"]] == [(1, 0), (3, 1)]


def test_the_command_prints_one_json_object(capsys):
    assert main(["--backend", "sim", "--sim-config", json.dumps(sim())]) == 0
    assert json.loads(capsys.readouterr().out)["device_count"] == 2


@pytest.mark.skipif(acl_available(), reason="the real acl is installed here")
def test_missing_real_backend_exits_3():
    proc = subprocess.run(
        [sys.executable, "-m", "workers.discover", "--backend", "acl"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 3
    report = json.loads(proc.stdout)
    assert report["device_count"] == 0 and "not importable" in report["error"]


def test_a_device_that_will_not_open_is_listed_with_its_error_and_the_others_follow():
    report = discover("sim", {"device_count": 4, "faults": [{"device": 1, "kind": "init_fail"}]})
    assert report["error"] is None
    assert [d["id"] for d in report["devices"]] == [0, 1, 2, 3]
    bad = report["devices"][1]
    assert bad["memory"] is None and "507033" in bad["error"]
    assert report["devices"][2]["memory"]["hbm"]["total"] > 0
