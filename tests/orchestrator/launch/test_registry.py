"""The launcher registry (orchestrator/launch/registry.py): one list of names for the spec, the
command line and the run loop, each launcher's module imported only when it is chosen."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from orchestrator.cli import build_parser
from orchestrator.errors import SpecError
from orchestrator.launch.local import LocalLauncher
from orchestrator.launch.registry import LAUNCHER_NAMES, LAUNCHERS, get_launcher
from orchestrator.spec.plan import resolve
from orchestrator.spec.schema import parse_spec
from tests.helpers.cli import ROOT
from tests.helpers.specs import HOST, inventory


def test_the_names_are_the_registry_keys():
    assert LAUNCHER_NAMES == tuple(LAUNCHERS) == ("local", "ray")


def test_local_builds_a_local_launcher():
    assert isinstance(get_launcher("local", {}), LocalLauncher)


def test_ray_builds_its_launcher_from_the_spec_options():
    launcher = get_launcher("ray", {"address": "10.0.0.5:6379"})
    assert type(launcher).__name__ == "RayLauncher"
    assert launcher.address == "10.0.0.5:6379"
    assert get_launcher("ray", {}).address == "auto"


def test_an_unknown_name_is_not_a_launcher():
    with pytest.raises(KeyError):
        get_launcher("slurm", {})


@pytest.mark.parametrize("name", LAUNCHER_NAMES)
def test_the_spec_takes_every_registered_name(name):
    assert parse_spec({"version": 1, "launcher": name}).launcher == name


def test_the_spec_refuses_a_name_not_in_the_registry_and_lists_the_names():
    with pytest.raises(SpecError) as info:
        parse_spec({"version": 1, "launcher": "slurm"})
    assert info.value.problems == [f"launcher: must be one of {', '.join(LAUNCHER_NAMES)} (got 'slurm')"]


def test_the_plan_refuses_a_launcher_override_not_in_the_registry():
    spec = parse_spec({"version": 1, "backend": "sim"})
    with pytest.raises(SpecError) as info:
        resolve(spec, inventory(2), hostname=HOST, launcher="slurm")
    assert info.value.problems == [f"--launcher: must be one of {', '.join(LAUNCHER_NAMES)} (got 'slurm')"]


@pytest.mark.parametrize("name", LAUNCHER_NAMES)
def test_the_command_line_offers_every_registered_name(name):
    assert build_parser().parse_args(["validate", "fleet.yaml", "--launcher", name]).launcher == name


def test_the_command_line_refuses_another_name(capsys):
    with pytest.raises(SystemExit) as info:
        build_parser().parse_args(["validate", "fleet.yaml", "--launcher", "slurm"])
    assert info.value.code == 2
    assert "invalid choice: 'slurm'" in capsys.readouterr().err


IMPORTS = """
import json, sys
from orchestrator.launch.registry import get_launcher
get_launcher(sys.argv[1], {})
print(json.dumps({m: m in sys.modules for m in ("ray", "orchestrator.launch.ray.launcher")}))
"""


def _imported(name: str) -> dict:
    proc = subprocess.run(
        [sys.executable, "-c", IMPORTS, name], cwd=str(ROOT), capture_output=True, text=True, timeout=120
    )
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout)


def test_choosing_local_imports_neither_ray_nor_its_launcher():
    assert _imported("local") == {"ray": False, "orchestrator.launch.ray.launcher": False}


def test_choosing_ray_imports_its_launcher_but_not_ray_until_it_runs():
    assert _imported("ray") == {"ray": False, "orchestrator.launch.ray.launcher": True}
