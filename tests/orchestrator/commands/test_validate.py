"""``dvpp-fleet validate`` (orchestrator/commands/validate.py) through the real CLI on the simulator:
the resolved plan, one row per device, its warnings, and every problem with exit 2."""

from __future__ import annotations

from typing import List

from tests.helpers.cli import cli
from tests.helpers.specs import spec, write_spec


def rows(stdout: str) -> List[List[str]]:
    return [line.split() for line in stdout.splitlines() if line.startswith("localhost")]


def test_each_row_shows_the_parameters_the_device_runs_with(tmp_path):
    data = spec(
        devices=2, faults=[{"device": 1, "kind": "leak", "bytes": 64}, {"device": 1, "kind": "slow", "factor": 2}]
    )
    data["defaults"].update(memory_kind="device", patterns=["constant", "random"], release_cycle=3, number_of_cycles=5)
    data["hosts"][0]["overrides"] = {1: {"duration": "30s", "memory_reuse": False, "number_of_cycles": -1}}
    r = cli("validate", str(write_spec(tmp_path, data)))
    assert r.returncode == 0, r.stderr
    assert rows(r.stdout) == [
        ["localhost", "0", "64KiB", "3", "5", "True", "device", "constant,random", "-"],
        ["localhost", "1", "64KiB", "3", "-1", "False", "device", "constant,random", "30.0", "leak,slow"],
    ]


def test_a_size_sweep_shows_its_largest_block(tmp_path):
    data = spec(devices=1)
    data["defaults"]["memory_size"] = ["4KiB", "1MiB", "64KiB"]
    r = cli("validate", str(write_spec(tmp_path, data)))
    assert r.returncode == 0, r.stderr
    assert [row[:3] for row in rows(r.stdout)] == [["localhost", "0", "1MiB"]]


def test_warnings_follow_the_plan_and_the_spec_is_still_valid(tmp_path):
    data = spec(devices=3, unattended=True, ray={"address": "auto"})
    data["defaults"]["number_of_cycles"] = -1
    data["hosts"][0]["overrides"] = {2: {"duration": "1h"}}
    r = cli("validate", str(write_spec(tmp_path, data)))
    assert r.returncode == 0, r.stderr
    tail = r.stdout.splitlines()[-3:]
    assert tail == [
        "backend sim (SIMULATED), launcher local, 3 device(s): the spec is valid",
        "warning: unattended: number_of_cycles is -1 and no duration is set (localhost, devices 0-1): this run "
        "never ends on its own (set defaults.duration, e.g. 12h)",
        "warning: ray: ignored: the launcher is local (set launcher: ray or pass --launcher ray)",
    ]


def test_the_backend_option_overrides_the_spec(tmp_path):
    r = cli("validate", str(write_spec(tmp_path, spec(devices=2, backend="acl"))), "--backend", "sim")
    assert r.returncode == 0, r.stderr
    assert len(rows(r.stdout)) == 2
    assert "backend sim (SIMULATED), launcher local, 2 device(s): the spec is valid" in r.stdout


def test_a_block_larger_than_the_device_is_refused(tmp_path):
    data = spec(devices=2)
    data["sim"]["memory"] = {"hbm": "1MiB"}
    data["defaults"]["memory_size"] = "2MiB"
    r = cli("validate", str(write_spec(tmp_path, data)))
    assert (r.returncode, r.stdout) == (2, "")
    assert r.stderr.splitlines() == [
        "dvpp-fleet: error: defaults.memory_size: 2MiB does not fit in devices 0-1 of localhost "
        "(921.6KiB of DVPP memory (huge pages) each)"  # DVPP blocks come from the huge pages (90% here)
    ]


def test_keys_that_cannot_run_together_are_each_named(tmp_path):
    data = spec(devices=2)
    data["defaults"].update(memory_size=["64KiB", "1MiB"], release_cycle=-1)
    data["hosts"][0]["overrides"] = {0: {"bidirectional": True}}
    r = cli("validate", str(write_spec(tmp_path, data)))
    assert (r.returncode, r.stdout) == (2, "")
    assert r.stderr.splitlines() == [
        "dvpp-fleet: error: defaults.memory_size: a size sweep needs release_cycle >= 1, the copies made at each "
        "size in every cycle (got memory_size: [64KiB, 1MiB] with release_cycle: -1)",
        "dvpp-fleet: error: hosts[0].overrides.0.bidirectional: needs copy_mode: async, since H2D and D2H overlap "
        "on two streams (got bidirectional: true with copy_mode: 'sync')",
    ]


def test_a_missing_spec_file_is_a_usage_error(tmp_path):
    missing = tmp_path / "nope.yaml"
    r = cli("validate", str(missing))
    assert r.returncode == 2
    assert r.stderr.splitlines() == [f"dvpp-fleet: error: {missing}: no such file"]
