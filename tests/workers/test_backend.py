"""Which acl module a worker gets: the simulator when asked, the real one only when it is there."""

from __future__ import annotations

import pytest

from tests.helpers.server import unsourced_npu_server
from tests.helpers.workers import sim
from workers.backend import BackendMissing, acl_available, ascend_signs, load_acl, resolve_backend


def test_load_acl_backends():
    module, name = load_acl("sim", sim())
    assert name == "sim" and module.SIMULATED
    if not acl_available():
        assert load_acl("auto", sim())[1] == "sim"
        with pytest.raises(BackendMissing):
            load_acl("acl")
    with pytest.raises(ValueError, match="unknown backend"):
        load_acl("gpu")


def test_the_simulator_on_sys_path_is_not_the_real_acl(monkeypatch):
    from workers import simulator

    monkeypatch.syspath_prepend(simulator.SIM_PATH)
    assert not acl_available()


@pytest.fixture
def no_signs(tmp_path, monkeypatch):
    """A machine with no npu-smi on PATH (the device nodes and the driver folder are this machine's)."""
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))
    if ascend_signs():
        pytest.skip("this machine shows Ascend hardware")


@pytest.mark.skipif(acl_available(), reason="the real acl is installed here")
def test_auto_is_the_simulator_only_where_nothing_shows_ascend_hardware(no_signs):
    assert ascend_signs() == [] and resolve_backend("auto") == "sim"


@pytest.mark.skipif(acl_available(), reason="the real acl is installed here")
def test_auto_on_an_npu_server_without_acl_refuses_to_simulate(no_signs, tmp_path, monkeypatch):
    env = unsourced_npu_server(tmp_path)
    monkeypatch.setenv("PATH", env["PATH"])
    tool = str(tmp_path / "npu-bin" / "npu-smi")
    assert ascend_signs() == [f"npu-smi at {tool}"]
    with pytest.raises(BackendMissing) as info:
        resolve_backend("auto")
    assert str(info.value) == (
        f"backend auto: this machine has Ascend hardware (npu-smi at {tool}) but no importable acl module, so it "
        "would run on the simulator and test nothing; source CANN's set_env.sh first (e.g. `source "
        "/usr/local/Ascend/ascend-toolkit/set_env.sh`) so that `import acl` finds the real runtime, or use "
        "--backend sim (backend: sim) to run the simulator anyway"
    )
    assert resolve_backend("sim") == "sim"  # asked for by name, the simulator is still there
    with pytest.raises(BackendMissing, match="^backend acl: the real acl module"):
        resolve_backend("acl")
