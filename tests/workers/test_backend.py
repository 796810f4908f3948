"""Which acl module a worker gets: the simulator when asked, the real one only when it is there."""

from __future__ import annotations

import pytest

from tests.helpers.workers import sim
from workers.backend import BackendMissing, acl_available, load_acl


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
