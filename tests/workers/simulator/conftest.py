"""Fixtures: a freshly configured simulator per test, and a helper to run programs under it."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any, Dict, List, Optional

import pytest

from workers.simulator import load
from workers.simulator.acl import _config, _state

ROOT = Path(__file__).resolve().parents[3]
RUNNER = ROOT / "scripts" / "acl-sim-run"
PROGRAMS = Path(__file__).resolve().parent / "programs"
BLOCK = {"memory": {"hbm": 1 << 30}, "driver_cache": 0}
"""The tests' default simulator: 1 GiB HBM per device, no driver cache (free figures are exact)."""


@pytest.fixture
def sim(monkeypatch):
    """``sim(config)`` -> the acl module, reset and configured (default: ``BLOCK``)."""
    monkeypatch.delenv("ACL_SIM_CONFIG", raising=False)
    monkeypatch.delenv("ASCEND_RT_VISIBLE_DEVICES", raising=False)

    def make(config: Optional[Dict[str, Any]] = None):
        _state.reset(_config.parse(None))
        return load(BLOCK if config is None else config)

    yield make
    _state.reset(_config.parse(None))


@pytest.fixture
def acl(sim):
    """The simulator, initialised, with device 0 set (its default context current)."""
    module = sim()
    assert module.init() == 0
    assert module.rt.set_device(0) == 0
    return module


def clean_env(**extra: str) -> Dict[str, str]:
    """This process's environment without simulator settings, plus ``extra``."""
    environ = {k: v for k, v in os.environ.items() if k not in ("ACL_SIM_CONFIG", "ASCEND_RT_VISIBLE_DEVICES")}
    environ.update(extra)
    return environ


def run_program(
    args: List[str], config: Optional[str] = None, timeout: float = 20, **env: str
) -> subprocess.CompletedProcess:
    """Run ``args`` under scripts/acl-sim-run from a neutral cwd; ``config`` is YAML text."""
    environ = clean_env(**env)
    cwd = Path("/") if config is None else Path(config).parent
    if config is not None:
        environ["ACL_SIM_CONFIG"] = config
    return subprocess.run(
        [str(RUNNER), sys.executable, *args], cwd=str(cwd), env=environ, capture_output=True, text=True, timeout=timeout
    )


def write_config(tmp_path: Path, text: str) -> str:
    """Write a YAML simulator config and return its path."""
    path = tmp_path / "sim.yaml"
    path.write_text(text)
    return str(path)
