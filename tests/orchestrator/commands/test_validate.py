"""``dvpp-fleet validate`` (orchestrator/commands/validate.py) through the real CLI on the simulator:
the resolved plan (run-level lines, devices with equal settings sharing a row, or JSON), expected
devices that are missing (exit 1), its warnings, and every problem with exit 2."""

from __future__ import annotations

import json
from typing import Any, Dict, List

import pytest

from orchestrator.errors import EXIT_DEVICE_FAILURE
from tests.helpers.cli import cli
from tests.helpers.specs import spec, write_spec

ALL_PATTERNS = "all"  # constant,walking_ones,random,address: every pattern, in turn
WORKER_HEAD = [
    "devices          size        cycles  copies  warm  reuse  memory  host    copy   bidir  pipe  verify  interval  "
    "duration  seed  patterns",
    "                                     /cycle  up                   memory  mode          line",
]


def rows(stdout: str) -> List[List[str]]:
    return [line.split() for line in stdout.splitlines() if line.startswith("localhost")]


def block(stdout: str, first: str) -> List[str]:
    """The lines of ``stdout`` from the one starting with ``first`` to the next blank line."""
    lines = stdout.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith(first))
    return lines[start : lines.index("", start)]


def override_spec() -> Dict[str, Any]:
    data = spec(devices=4, concurrency=2, status_interval="2m")
    data["defaults"].update(duration="1h30m", interval="500ms")
    data["thresholds"] = {"max_leak": "1MiB", "min_h2d_gbps": 2}
    data["timeouts"] = {"init": "90s"}
    data["hosts"][0]["overrides"] = {
        2: {"memory_size": ["4KiB", "64KiB"], "memory_reuse": False, "copy_mode": "async", "bidirectional": True}
    }
    return data


def test_the_plan_is_a_run_level_block_then_grouped_rows(tmp_path):
    r = cli("validate", str(write_spec(tmp_path, override_spec())))
    assert r.returncode == 0, r.stderr
    assert block(r.stdout, "backend") == [
        "backend: sim (SIMULATED)",
        "launcher: local",
        "concurrency: 2 (2 device(s) copying at a time)",
        "status_interval: 2m",
        "unattended: false",
        "keep: every run directory",
        "expect: none",
        "devices: localhost:0-3 (4 device(s))",
        "overrides: none",
        "level: none",
        "sim: Ascend910B x 4, memory hbm 1GiB, run_mode ep, link_gbps of the chip",
        "sim memory: huge_share of the chip, driver_cache 128MiB, memory_noise 0B",
    ]
    assert block(r.stdout, "devices  ") == WORKER_HEAD + [
        "---------------  ----------  ------  ------  ----  -----  ------  ------  -----  -----  ----  ------  "
        "--------  --------  ----  --------",
        f"localhost:0-1,3  64KiB       2       4       1     yes    dvpp    pinned  sync   no     auto  yes     "
        f"500ms     1h30m     0     {ALL_PATTERNS}",
        f"localhost:2      4KiB,64KiB  2       4       1     no     dvpp    pinned  async  yes    auto  yes     "
        f"500ms     1h30m     0     {ALL_PATTERNS}",
    ]
    assert block(r.stdout, "devices        min H2D") == [
        "devices        min H2D    min D2H  max leak  max below  outlier  init     copy     open retries",
        "                                             fleet               timeout  timeout",
        "-------------  ---------  -------  --------  ---------  -------  -------  -------  ------------",
        "localhost:0-3  2.00 GB/s  -        1MiB      25%        warn     1m30s    30s      2, 1s apart",
    ]
    assert r.stdout.splitlines()[-1] == "4 device(s): the spec is valid"


def test_durations_and_sizes_carry_their_units(tmp_path):
    data = spec(devices=1)
    data["defaults"].update(duration=60, interval=0.25, memory_size=3 * 2**20 // 2)
    data["thresholds"] = {"max_leak": 0}
    data["timeouts"] = {"init": "2h", "copy": "10m"}
    r = cli("validate", str(write_spec(tmp_path, data)))
    assert r.returncode == 0, r.stderr
    worker, limits = rows(r.stdout)
    assert (worker[1], worker[12], worker[13]) == ("1.5MiB", "250ms", "1m")
    assert limits[3:4] + limits[6:8] == ["0B", "2h", "10m"]


def test_simulated_faults_get_their_own_column(tmp_path):
    data = spec(
        devices=3, faults=[{"device": 1, "kind": "leak", "bytes": 64}, {"device": 1, "kind": "slow", "factor": 2}]
    )
    r = cli("validate", str(write_spec(tmp_path, data)))
    assert r.returncode == 0, r.stderr
    assert [(row[0], row[-1]) for row in rows(r.stdout)][:2] == [
        ("localhost:0,2", ALL_PATTERNS),
        ("localhost:1", "leak,slow"),
    ]


def test_a_long_size_sweep_is_a_range(tmp_path):
    data = spec(devices=1)
    data["defaults"]["memory_size"] = "4KiB..1MiB x4"
    r = cli("validate", str(write_spec(tmp_path, data)))
    assert r.returncode == 0, r.stderr
    assert rows(r.stdout)[0][1:3] == ["4KiB..1MiB", "(5"]


def test_json_is_the_same_plan_in_bytes_and_seconds(tmp_path):
    r = cli("validate", str(write_spec(tmp_path, override_spec())), "--format", "json")
    assert r.returncode == 0, r.stderr
    plan = json.loads(r.stdout)
    assert sorted(plan) == [
        "backend", "concurrency", "devices", "exit_code", "expect", "keep", "launcher", "missing", "overrides", "ray",
        "runtime", "shortfall", "sim", "simulated", "slots", "status_interval", "unattended", "visible", "warnings",
    ]  # fmt: skip
    assert (plan["status_interval"], plan["concurrency"], plan["slots"], plan["exit_code"]) == (120.0, 2, 2, 0)
    assert [(d["host"], d["device"]) for d in plan["devices"]] == [("localhost", i) for i in range(4)]
    two = plan["devices"][2]
    assert sorted(two) == ["device", "faults", "host", "params", "thresholds", "timeouts"]
    assert (two["params"]["memory_size"], two["params"]["sizes"]) == (65536, [4096, 65536])
    assert (two["params"]["duration"], two["params"]["interval"], two["params"]["bidirectional"]) == (5400.0, 0.5, True)
    assert two["thresholds"] == {
        "min_h2d_gbps": 2.0, "min_d2h_gbps": None, "min_h2d_fraction": None, "min_d2h_fraction": None,
        "max_leak": 2**20, "max_below_fleet": 0.25, "outlier": "warn", "min_duty_cycle": None, "chips": {},
    }  # fmt: skip
    assert two["timeouts"] == {"init": 90.0, "copy": 30.0}
    assert plan["devices"][0]["params"]["memory_reuse"] is True and plan["devices"][0]["params"]["sizes"] == []
    assert (plan["sim"]["device_count"], plan["sim"]["memory"]["hbm"]) == (4, 2**30)


@pytest.mark.parametrize(
    "where, line",
    [
        ("fleet", "expect: 8 device(s) in the fleet, 6 visible: localhost:6-7 missing"),
        ("host", "expect: 8 device(s) on localhost, 6 visible: localhost:6-7 missing"),
    ],
)
def test_expected_devices_that_are_not_visible_exit_1(tmp_path, where, line):
    data = spec(devices=6, expect={"devices": 8}) if where == "fleet" else spec(devices=6)
    if where == "host":
        data["hosts"][0]["expect"] = {"devices": 8}
    path = str(write_spec(tmp_path, data))
    r = cli("validate", path)
    assert r.returncode == EXIT_DEVICE_FAILURE, r.stderr
    assert r.stdout.splitlines()[-2:] == [
        line,
        "6 device(s) to run, 2 expected device(s) missing: run would report them UNAVAILABLE and exit 1",
    ]
    assert [row[0] for row in rows(r.stdout)] == ["localhost:0-5", "localhost:0-5"]  # the plan is still printed
    as_json = cli("validate", path, "--format", "json")
    assert as_json.returncode == EXIT_DEVICE_FAILURE
    plan = json.loads(as_json.stdout)
    assert plan["missing"] == [{"host": "localhost", "device": 6}, {"host": "localhost", "device": 7}]
    assert (plan["shortfall"], plan["exit_code"], plan["visible"]) == ([line], 1, {"localhost": 6})


def test_a_loop_that_never_ends_is_a_warning_and_still_valid(tmp_path):
    data = spec(devices=3, ray={"address": "auto"})
    data["defaults"]["number_of_cycles"] = -1
    data["hosts"][0]["overrides"] = {2: {"duration": "1h"}}
    r = cli("validate", str(write_spec(tmp_path, data)))
    assert r.returncode == 0, r.stderr
    assert r.stdout.splitlines()[-3:] == [
        "3 device(s): the spec is valid",
        "warning: localhost:0-1 never end: number_of_cycles -1 and no duration (add duration: 12h, or a number of "
        "cycles)",
        "warning: ray: ignored: the launcher is local (set launcher: ray or pass --launcher ray)",
    ]


def test_the_backend_option_overrides_the_spec(tmp_path):
    r = cli("validate", str(write_spec(tmp_path, spec(devices=2, backend="acl"))), "--backend", "sim")
    assert r.returncode == 0, r.stderr
    assert rows(r.stdout)[0][0] == "localhost:0-1"
    assert r.stdout.splitlines()[0] == "backend: sim (SIMULATED)"


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


def test_command_line_overrides_are_named_and_change_the_plan(tmp_path):
    path = str(write_spec(tmp_path, spec(devices=4)))
    r = cli("validate", path, "--duration", "10m", "--devices", "0-1", "--concurrency", "serial")
    assert r.returncode == 0, r.stderr
    assert block(r.stdout, "concurrency")[0] == "concurrency: serial (1 device(s) copying at a time)"
    assert "devices: localhost:0-1 (2 device(s))" in r.stdout.splitlines()
    assert (
        "overrides: --devices 0-1 (hosts[*].devices), --duration 10m (defaults.duration), --concurrency serial "
        "(concurrency)"
    ) in r.stdout.splitlines()
    worker, limits = rows(r.stdout)
    assert (worker[0], worker[13], limits[0]) == ("localhost:0-1", "10m", "localhost:0-1")
    assert r.stdout.splitlines()[-1] == "2 device(s): the spec is valid"
    plan = json.loads(cli("validate", path, "--devices", "0-1", "--format", "json").stdout)
    assert [d["device"] for d in plan["devices"]] == [0, 1]
    assert plan["overrides"] == {"--devices": "0-1"}


def test_a_bad_override_exits_2_naming_the_option_and_the_key(tmp_path):
    r = cli("validate", str(write_spec(tmp_path, spec(devices=4))), "--duration", "10x")
    assert (r.returncode, r.stdout) == (2, "")
    assert r.stderr.splitlines() == [
        "dvpp-fleet: error: --duration (defaults.duration): not a duration: use seconds or a duration such as 30s, "
        "5m, 2h, 1h30m, 500ms (got '10x')"
    ]


def test_devices_beyond_the_machine_are_blamed_on_the_option(tmp_path):
    r = cli("validate", str(write_spec(tmp_path, spec(devices=2))), "--devices", "1-2")
    assert (r.returncode, r.stdout) == (2, "")
    assert r.stderr.splitlines() == [
        "dvpp-fleet: error: --devices (hosts[*].devices): device 2 does not exist on this host (2 visible: 0-1)"
    ]


def test_per_chip_and_per_device_thresholds_are_shown_with_their_units(tmp_path):
    data = spec(devices=3)
    data["thresholds"] = {"min_h2d_fraction": 0.7, "chips": {"Ascend910B": {"min_d2h_gbps": 12, "max_leak": "2MiB"}}}
    data["hosts"][0]["overrides"] = {1: {"min_h2d_gbps": 20, "max_leak": 0}}
    r = cli("validate", str(write_spec(tmp_path, data)))
    assert r.returncode == 0, r.stderr
    assert block(r.stdout, "thresholds.chips") == [
        "thresholds.chips (applied once a device reports its chip; a device's own overrides win):",
        "  Ascend910B: min_d2h_gbps 12.00 GB/s, max_leak 2MiB",
        "devices        min H2D                 min D2H  max leak  max below  outlier  init     copy     open retries",
        "                                                          fleet               timeout  timeout",
        "-------------  ----------------------  -------  --------  ---------  -------  -------  -------  ------------",
        "localhost:0,2  70% of ref              -        512KiB    25%        warn     1m       30s      2, 1s apart",
        "localhost:1    20.00 GB/s, 70% of ref  -        0B        25%        warn     1m       30s      2, 1s apart",
    ]
