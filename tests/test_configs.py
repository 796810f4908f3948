"""Every shipped spec loads and resolves against an 8-device inventory, as its comments promise."""

from __future__ import annotations

from pathlib import Path

import pytest

from orchestrator.levels.compose import parts
from orchestrator.spec.plan import resolve
from orchestrator.spec.schema import load_spec, parse_spec
from tests.helpers.specs import inventory

GiB = 2**30
CONFIGS = sorted((Path(__file__).resolve().parents[1] / "configs").glob("*.yaml"))
SHIPPED = {"demo-sim.yaml", "server-8npu.yaml", "burn-in.yaml", "capacity-probe.yaml", "demo-faults.yaml"}


def test_every_promised_config_ships():
    assert SHIPPED <= {path.name for path in CONFIGS}


def load(path: Path):
    """A shipped spec as ``run`` reads it: one that starts from a level is laid over its one step."""
    [part] = parts(path, None)
    return parse_spec(part.data, str(path))


@pytest.mark.parametrize("path", CONFIGS, ids=lambda p: p.name)
def test_config_resolves_without_warnings(path):
    spec = load(path)
    backend = "acl" if spec.backend == "acl" else "sim"
    result = resolve(spec, inventory(8, hbm=4 * GiB, backend=backend), hostname="npu-server-01", host_memory=64 * GiB)
    assert result.jobs and result.warnings == ()
    assert all(job.sim is None for job in result.jobs) == (backend == "acl")


def test_demo_is_eight_small_bounded_simulated_devices():
    result = resolve(load_spec(CONFIGS[0].parent / "demo-sim.yaml"), inventory(8, hbm=4 * GiB), hostname="h")
    assert (result.backend, len(result.jobs)) == ("sim", 8)
    assert all(j.params.number_of_cycles > 0 and j.params.release_cycle > 0 for j in result.jobs)
    assert result.jobs[0].sim["memory"] == {"hbm": 4 * GiB}


def test_fault_demo_injects_four_kinds_on_four_devices():
    result = resolve(load_spec(CONFIGS[0].parent / "demo-faults.yaml"), inventory(8, hbm=4 * GiB), hostname="h")
    faults = result.jobs[0].sim["faults"]
    assert sorted(f["kind"] for f in faults) == ["alloc_fail", "bitflip", "leak", "slow"]
    assert len({f["device"] for f in faults}) == 4
    assert result.jobs[0].thresholds.min_h2d_gbps is not None


def test_burn_in_starts_from_the_level_and_changes_what_its_server_needs():
    spec = load(CONFIGS[0].parent / "burn-in.yaml")
    assert spec.unattended and spec.defaults.number_of_cycles == -1 and spec.defaults.duration == 12 * 3600
    assert (spec.backend, spec.defaults.seed, spec.defaults.release_cycle) == ("acl", 1, 64)  # its own, the level's
    assert spec.thresholds.min_h2d_fraction == 0.4 and spec.hosts[0].expect.devices == 8
    result = resolve(spec, inventory(8, backend="acl"), hostname="h", host_memory=64 * GiB)
    assert (result.jobs[0].thresholds.min_h2d_fraction, result.jobs[1].thresholds.min_h2d_fraction) == (0.3, 0.4)


def test_capacity_probe_fills_the_device():
    spec = load_spec(CONFIGS[0].parent / "capacity-probe.yaml")
    assert (spec.defaults.release_cycle, spec.defaults.memory_reuse, spec.backend) == (-1, False, "sim")
    assert spec.sim.memory.hbm is not None and spec.sim.memory.hbm <= GiB


def test_readme_example_is_a_valid_spec(tmp_path):
    readme = (CONFIGS[0].parents[1] / "README.md").read_text()
    section = readme.split("<!-- section:spec -->")[1].split("<!-- /section:spec -->")[0]
    example = section.split("```yaml\n")[1].split("```")[0]
    (tmp_path / "example.yaml").write_text(example)
    [part] = parts(tmp_path / "example.yaml", None)  # as run reads it: its level: null is no level
    spec = parse_spec(part.data, "README.md")
    result = resolve(spec, inventory(8), hostname="h")
    assert len(result.jobs) == 8 and len(result.jobs[0].sim["faults"]) == 7
