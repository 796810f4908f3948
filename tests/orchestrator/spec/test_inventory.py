"""Device discovery as the controller sees it: ``python -m workers.discover`` in its own process
on the simulator, and each way it can fail as an ``EnvironmentProblem`` saying what to do."""

from __future__ import annotations

import importlib.util

import pytest

from orchestrator.errors import EnvironmentProblem
from orchestrator.spec.inventory import discover

MiB = 2**20
NO_ACL = importlib.util.find_spec("acl") is None
SMALL = {"device_count": 2, "memory": {"hbm": MiB}}


@pytest.fixture(autouse=True)
def plain_environment(monkeypatch):
    """The discovery process inherits the environment: no device masking, no simulator config file."""
    monkeypatch.delenv("ASCEND_RT_VISIBLE_DEVICES", raising=False)
    monkeypatch.delenv("ACL_SIM_CONFIG", raising=False)


def device(i: int) -> dict:
    return {
        "id": i,
        "logical_id": i,
        "chip": "Ascend910B1",
        "memory": {
            "ddr": {"free": 0, "total": 0},
            "hbm": {"free": MiB, "total": MiB},
            "ddr_huge": {"free": 0, "total": 0},
            "hbm_huge": {"free": int(MiB * 0.9), "total": int(MiB * 0.9)},  # the 910B's huge-page share
        },
    }


def test_simulated_devices():
    assert discover("sim", SMALL) == {
        "backend": "sim",
        "simulated": True,
        "device_count": 2,
        "devices": [device(0), device(1)],
        "error": None,
    }


@pytest.mark.skipif(not NO_ACL, reason="the real acl module is importable here")
def test_auto_falls_back_to_the_simulator_without_acl():
    found = discover("auto", SMALL)
    assert (found["backend"], found["simulated"], [d["id"] for d in found["devices"]]) == ("sim", True, [0, 1])


def test_a_device_that_will_not_open_is_listed_not_raised():
    found = discover("sim", dict(SMALL, faults=[{"kind": "init_fail", "device": 0}]))
    first, second = found["devices"]
    assert (first["id"], first["chip"], first["memory"]) == (0, None, None)
    assert first["error"].startswith("acl.rt.set_device failed: 507033 ACL_ERROR_RT_DEV_SETUP_ERROR")
    assert second == device(1) and found["error"] is None


@pytest.mark.skipif(not NO_ACL, reason="the real acl module is importable here")
def test_real_backend_missing_says_to_source_set_env():
    with pytest.raises(EnvironmentProblem) as info:
        discover("acl")
    assert str(info.value) == (  # discovery's own words: what is missing and what to do
        "backend acl: the real acl module (Huawei CANN) is not importable here; source CANN's set_env.sh first "
        "(e.g. `source /usr/local/Ascend/ascend-toolkit/set_env.sh`) so that `import acl` finds the real runtime"
    )


def test_discovery_error_names_the_backend():
    with pytest.raises(EnvironmentProblem) as info:
        discover("sim", {"chip": "nope"})
    assert str(info.value) == (
        "device discovery on backend sim: chip: unknown chip 'nope' "
        "(known: Ascend310, Ascend310P3, Ascend910, Ascend910B, Ascend910B4)"
    )
