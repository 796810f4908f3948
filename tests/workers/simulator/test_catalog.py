"""The simulator's catalog is the one definition of chips, fault kinds and the runtime's defaults:
the simulator's config and the fleet spec's ``sim:`` section take exactly its names, settings and
defaults."""

from __future__ import annotations

import pytest

from orchestrator.spec.schema import FAULT_MODELS, SETTING_TYPES, SIM_RUNTIME_KEYS, Sim, parse_spec
from workers.simulator import catalog
from workers.simulator.acl import _config
from workers.simulator.acl._faults import CHECKS, KINDS


def test_every_fault_kind_has_its_behaviour_a_spec_model_and_checks():
    assert tuple(KINDS) == tuple(FAULT_MODELS) == catalog.FAULT_KINDS
    assert set(CHECKS) == set(SETTING_TYPES) == set(catalog.VALUE_KINDS)


@pytest.mark.parametrize("kind", catalog.FAULT_KINDS)
def test_spec_and_simulator_take_the_same_settings_with_the_same_defaults(kind):
    settings = catalog.FAULTS[kind].settings
    model = FAULT_MODELS[kind]
    assert set(model.model_fields) == set(catalog.FAULT_COMMON_KEYS) | set(settings)
    required = {k for k, s in settings.items() if s.default is catalog.REQUIRED}
    assert {k for k, f in model.model_fields.items() if f.is_required()} == {"device", "kind"} | required
    given = {k: {"size": 4096, "factor": 3}[s.kind] for k, s in settings.items() if k in required}
    parsed = _config.parse({"device_count": 1, "faults": [{"device": 0, "kind": kind, **given}]}).faults[0]
    for key, setting in settings.items():
        if key not in required:
            assert parsed.params[key] == CHECKS[setting.kind](setting.default)


def test_the_spec_takes_every_chip_and_nothing_else():
    for chip in catalog.CHIPS:
        assert parse_spec({"version": 1, "sim": {"chip": chip}}).sim.chip == chip
    assert parse_spec({"version": 1}).sim.chip == catalog.DEFAULT_CHIP
    assert _config.parse(None).profile.name == catalog.DEFAULT_CHIP


def test_the_spec_and_the_simulator_take_the_same_keys():
    assert set(Sim.model_fields) == set(_config.TOP_KEYS) - {"link_state"}  # a per-host file path
    assert set(SIM_RUNTIME_KEYS) <= set(Sim.model_fields)


def test_the_spec_and_the_simulator_share_the_runtime_defaults():
    spec = parse_spec({"version": 1}).sim
    config = _config.parse(None)
    assert spec.huge_share is catalog.DEFAULT_HUGE_SHARE is None  # the chip's share
    assert config.huge["hbm"] == int(config.totals["hbm"] * config.profile.huge_share)
    assert (spec.driver_cache, spec.memory_noise, spec.run_mode) == (
        config.driver_cache,
        config.memory_noise,
        config.run_mode,
    )
    assert (config.driver_cache, config.memory_noise, config.run_mode) == (
        catalog.DEFAULT_DRIVER_CACHE,
        catalog.DEFAULT_MEMORY_NOISE,
        catalog.DEFAULT_RUN_MODE,
    )
    assert set(catalog.RUN_MODES) == {"ep", "rc"} and catalog.DEFAULT_RUN_MODE in catalog.RUN_MODES


def test_what_the_spec_sets_reaches_the_simulator():
    sim = {"memory": {"hbm": "1GiB"}, "huge_share": 0.5, "driver_cache": "64MiB", "memory_noise": "4KiB"}
    config = _config.parse(parse_spec({"version": 1, "sim": {**sim, "run_mode": "rc"}}).sim_config())
    assert config.huge == {"hbm": 1 << 29, "ddr": 0}
    assert (config.driver_cache, config.memory_noise, config.run_mode) == (64 << 20, 4096, "rc")


@pytest.mark.parametrize("chip", catalog.CHIPS)
def test_every_chip_has_a_huge_page_share(chip):
    assert 0 <= catalog.PROFILES[chip].huge_share <= 1


@pytest.mark.parametrize("value, number", [("SIGKILL", 9), ("kill", 9), (11, 11)])
def test_signals_by_name_or_number(value, number):
    assert catalog.signal_number(value) == number


@pytest.mark.parametrize("value", ["SIGNOPE", True, 1.5, None, 99999])
def test_anything_else_is_not_a_signal(value):
    with pytest.raises(ValueError, match="must be a signal name or number"):
        catalog.signal_number(value)
