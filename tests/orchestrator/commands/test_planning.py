"""``make_plan`` (orchestrator/commands/planning.py): a spec file and the command line's choices,
resolved against what device discovery finds on this machine (the simulator here)."""

from __future__ import annotations

import argparse
import importlib.util
import socket
from pathlib import Path
from typing import Any, Dict, Optional

import pytest

from orchestrator.commands.planning import make_plan
from orchestrator.environment import host_memory_available
from orchestrator.errors import SpecError
from tests.helpers.specs import spec, write_spec

TiB = 1 << 40


def args(path: Path, backend: Optional[str] = None, launcher: Optional[str] = None) -> argparse.Namespace:
    return argparse.Namespace(spec=path, backend=backend, launcher=launcher)


def plan_of(tmp_path: Path, data: Dict[str, Any], **options: Any):
    return make_plan(args(write_spec(tmp_path, data), **options))


def test_the_jobs_follow_the_spec(tmp_path):
    data = spec(devices=3, faults=[{"device": 2, "kind": "bitflip", "at_copy": 3}])
    data["hosts"][0]["overrides"] = {1: {"memory_size": "1MiB", "patterns": ["address"]}}
    plan, inventory = plan_of(tmp_path, data)
    assert [(j.host, j.device, j.params.memory_size, j.params.patterns) for j in plan.jobs] == [
        ("localhost", 0, 64 << 10, ("constant", "walking_ones", "random", "address")),
        ("localhost", 1, 1 << 20, ("address",)),
        ("localhost", 2, 64 << 10, ("constant", "walking_ones", "random", "address")),
    ]
    assert all((j.params.release_cycle, j.params.number_of_cycles) == (4, 2) for j in plan.jobs)
    assert {j.worker.backend for j in plan.jobs} == {"sim"}
    assert plan.jobs[0].sim["faults"] == [{"device": 2, "kind": "bitflip", "at_copy": 3, "bits": 1}]
    assert (plan.backend, plan.runtime, plan.launcher) == ("sim", "sim", "local")
    assert (inventory["backend"], inventory["simulated"], inventory["device_count"]) == ("sim", True, 3)


def test_only_the_selected_devices_get_jobs(tmp_path):
    data = spec(devices=4)
    data["hosts"][0]["devices"] = [0, 2]
    plan, _ = plan_of(tmp_path, data)
    assert [j.device for j in plan.jobs] == [0, 2]
    assert plan.visible == {"localhost": 4}


def test_discovery_sees_the_devices_without_their_faults(tmp_path):
    # a device that will never open is still discovered, with its memory, and still gets a job
    plan, inventory = plan_of(tmp_path, spec(devices=2, faults=[{"device": 0, "kind": "init_fail"}]))
    first = inventory["devices"][0]
    assert first["memory"]["hbm"]["total"] == 1 << 30 and "error" not in first
    assert [j.device for j in plan.jobs] == [0, 1]
    assert [f["kind"] for f in plan.jobs[0].sim["faults"]] == ["init_fail"]


def test_the_backend_option_overrides_the_spec(tmp_path):
    plan, inventory = plan_of(tmp_path, spec(devices=2, backend="acl"), backend="sim")
    assert (plan.backend, plan.runtime, inventory["backend"]) == ("sim", "sim", "sim")
    assert {j.worker.backend for j in plan.jobs} == {"sim"}


@pytest.mark.skipif(importlib.util.find_spec("acl") is not None, reason="the real acl is importable")
def test_auto_runs_the_simulator_where_acl_is_missing(tmp_path):
    plan, _ = plan_of(tmp_path, spec(devices=2, backend="auto"))
    assert (plan.backend, plan.runtime) == ("auto", "sim")
    assert {j.worker.backend for j in plan.jobs} == {"sim"}
    assert all(j.sim is not None for j in plan.jobs)


def test_an_unknown_launcher_option_is_refused(tmp_path):
    with pytest.raises(SpecError) as info:
        plan_of(tmp_path, spec(devices=1), launcher="slurm")
    assert info.value.problems == ["--launcher: must be one of local, ray (got 'slurm')"]


def test_a_host_that_is_not_this_machine_is_refused_for_the_local_launcher(tmp_path):
    data = spec(devices=1, hosts=[{"name": "elsewhere.invalid"}])
    with pytest.raises(SpecError) as info:
        plan_of(tmp_path, data)
    assert info.value.problems == [
        f"hosts[0].name: 'elsewhere.invalid' is not this machine ({socket.gethostname()}); the local launcher runs "
        "only here: use the Ray launcher (launcher: ray) for other hosts"
    ]


@pytest.mark.skipif((host_memory_available() or 4 * TiB) >= 3 * TiB, reason="host memory unknown or over 3 TiB")
def test_workers_that_would_not_fit_in_this_hosts_memory_are_refused(tmp_path):
    data = spec(devices=1)
    data["sim"]["memory"] = {"hbm": "2TiB"}
    data["defaults"]["memory_size"] = "1TiB"  # fits the device; three such buffers do not fit this host
    with pytest.raises(SpecError) as info:
        plan_of(tmp_path, data)
    (problem,) = info.value.problems
    assert problem.startswith("hosts[0]: the 1 worker")
    assert "would hold at least 3TiB of host memory" in problem and problem.endswith("available here")
