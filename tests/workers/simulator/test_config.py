"""Config validation (errors name the key path), load() and ACL_SIM_CONFIG."""

from __future__ import annotations

import subprocess

import pytest

from workers.simulator import SIM_PATH, load
from workers.simulator.acl import _config, _state
from workers.simulator.acl._faults import KINDS

from .conftest import RUNNER, run_program, write_config


def test_defaults():
    config = _config.parse(None)
    assert config.profile.name == "Ascend910B" and config.device_count == 8
    assert config.totals == {"hbm": 61 << 30, "ddr": 0}
    assert config.huge == {"hbm": int((61 << 30) * 0.9), "ddr": 0}
    assert (config.driver_cache, config.memory_noise, config.run_mode) == (128 << 20, 0, "ep")
    assert config.faults == ()


def test_runtime_keys():
    config = _config.parse(
        {"memory": {"hbm": 1 << 30}, "huge_share": 0.5, "driver_cache": 0, "memory_noise": 4096, "run_mode": "rc"}
    )
    assert config.huge == {"hbm": 1 << 29, "ddr": 0}
    assert (config.driver_cache, config.memory_noise, config.run_mode) == (0, 4096, "rc")
    assert _config.parse({"huge_share": None}).huge == _config.parse(None).huge  # null: the chip's share
    assert _config.parse({"chip": "Ascend310", "huge_share": 1}).huge == {"hbm": 0, "ddr": 7 << 30}


def test_full_example_parses():
    config = _config.parse(
        {
            "chip": "Ascend310P3",
            "device_count": 8,
            "memory": {"ddr": 1 << 30},
            "huge_share": 0.5,
            "driver_cache": 64 << 20,
            "memory_noise": 4096,
            "run_mode": "rc",
            "link_gbps": 24,
            "faults": [
                {"device": 3, "kind": "bitflip", "at_copy": 5, "bits": 1},
                {"device": 2, "kind": "alloc_fail", "at_alloc": 3},
                {"device": 1, "kind": "crash", "at_copy": 4, "signal": "SIGKILL", "host": "node-a"},
                {"device": 4, "kind": "hang", "at_copy": 2},
                {"device": 5, "kind": "leak", "bytes": 4096},
                {"device": 6, "kind": "slow", "factor": 5},
                {"device": 7, "kind": "init_fail", "code": 507033, "times": -1},
            ],
        }
    )
    assert [f.kind for f in config.faults] == list(KINDS)
    assert config.faults[2].params["signal"] == 9
    assert config.faults_for(6)[0].params == {"factor": 5.0}


@pytest.mark.parametrize(
    "raw,message",
    [
        (
            {"chips": "x"},
            "chips: unknown key (known: chip, device_count, memory, huge_share, driver_cache, memory_noise, "
            "run_mode, faults, link_gbps, link_state)",
        ),
        ({"chip": "Ascend999"}, "chip: unknown chip 'Ascend999'"),
        ({"device_count": -1}, "device_count: must be an integer >= 0, got -1"),
        ({"device_count": True}, "device_count: must be an integer >= 0, got True"),
        ({"memory": {"sram": 1}}, "memory.sram: unknown key (known: hbm, ddr)"),
        ({"memory": {"hbm": "1G"}}, "memory.hbm: must be an integer >= 0, got '1G'"),
        ({"link_gbps": 0}, "link_gbps: must be a number > 0, got 0"),
        ({"huge_share": 1.5}, "huge_share: must be a number from 0 to 1, got 1.5"),
        ({"huge_share": "90%"}, "huge_share: must be a number from 0 to 1, got '90%'"),
        ({"huge_share": True}, "huge_share: must be a number from 0 to 1, got True"),
        ({"driver_cache": -1}, "driver_cache: must be an integer >= 0, got -1"),
        ({"driver_cache": "128MiB"}, "driver_cache: must be an integer >= 0, got '128MiB'"),
        ({"memory_noise": 1.5}, "memory_noise: must be an integer >= 0, got 1.5"),
        ({"run_mode": "host"}, "run_mode: unknown run mode 'host' (known: ep, rc)"),
        ({"faults": {}}, "faults: must be a list"),
        ({"faults": [{"device": 1, "kind": "melt"}]}, "faults[0].kind: unknown fault kind 'melt'"),
        ({"faults": [{"kind": "hang", "at_copy": 1}]}, "faults[0].device: required"),
        ({"faults": [{"device": 8, "kind": "hang", "at_copy": 1}]}, "faults[0].device: no physical device 8"),
        ({"faults": [{"device": 0, "kind": "leak"}]}, "faults[0].bytes: required for kind leak"),
        (
            {"faults": [{"device": 0, "kind": "hang", "at_copy": 0}]},
            "faults[0].at_copy: must be an integer >= 1, got 0",
        ),
        ({"faults": [{"device": 0, "kind": "hang", "at_copy": 1, "bits": 2}]}, "faults[0].bits: unknown key"),
        ({"faults": [{"device": 0, "kind": "slow", "factor": 0.5}]}, "faults[0].factor: must be a number > 1, got 0.5"),
        (
            {"faults": [{"device": 0, "kind": "init_fail", "times": 0}]},
            "faults[0].times: must be an integer >= 1, got 0",
        ),
        (
            {"faults": [{"device": 0, "kind": "crash", "at_copy": 1, "signal": "SIGFOO"}]},
            "faults[0].signal: must be a signal name",
        ),
    ],
)
def test_errors_name_the_key_path(raw, message):
    with pytest.raises(ValueError) as info:
        _config.parse(raw)
    assert str(info.value).startswith(message)


def test_load_reconfigures_only_outside_init(sim):
    acl = sim({"device_count": 2})
    assert acl.rt.get_device_count() == (2, 0)
    assert load({"device_count": 3}).rt.get_device_count() == (3, 0)
    acl.init()
    with pytest.raises(RuntimeError):
        load({"device_count": 4})
    assert load() is acl and acl.rt.get_device_count() == (3, 0)
    acl.finalize()
    assert load({"device_count": 4}).rt.get_device_count() == (4, 0)


def test_load_reads_acl_sim_config(sim, tmp_path, monkeypatch):
    sim()
    monkeypatch.setenv("ACL_SIM_CONFIG", write_config(tmp_path, "chip: Ascend310\ndevice_count: 2\n"))
    acl = load()
    assert acl.get_soc_name() == "Ascend310" and acl.rt.get_device_count() == (2, 0)


def test_bad_yaml_file_names_the_file(sim, tmp_path):
    path = write_config(tmp_path, "device_count: many\n")
    with pytest.raises(ValueError, match="sim.yaml: device_count: must be an integer"):
        _config.load_file(path)


def test_reset_forgets_everything(sim):
    acl = sim()
    acl.init()
    _state.reset(_config.parse(None))
    assert acl.init() == 0


def test_sim_path_makes_acl_importable(tmp_path):
    config = write_config(tmp_path, "chip: Ascend310P3\ndevice_count: 3\n")
    code = "import acl; print(acl.__file__.startswith({!r}), acl.get_soc_name(), acl.rt.get_device_count())"
    result = run_program(["-c", code.format(SIM_PATH)], config)
    assert result.stdout.strip() == "True Ascend310P3 (3, 0)"


def test_runner_usage_without_command():
    result = subprocess.run([str(RUNNER)], capture_output=True, text=True)
    assert result.returncode == 2 and "usage" in result.stderr
