"""The fleet spec: safe YAML, every default, and one full message per kind of mistake."""

from __future__ import annotations

import pydantic
import pytest

from orchestrator.errors import SpecError
from orchestrator.spec.schema import DEVICE_THRESHOLDS, WORKER_KEYS, FleetSpec, load_spec, parse_spec
from workers.params import PATTERNS

MiB = 2**20
TOP_KEYS = (
    "version, backend, launcher, unattended, concurrency, status_interval, keep, defaults, timeouts, thresholds, "
    "hosts, sim, ray, expect"
)
OVERRIDE_KEYS = ", ".join([*WORKER_KEYS, *DEVICE_THRESHOLDS])
FAULT_KINDS = "bitflip, alloc_fail, crash, hang, leak, slow, init_fail"


def problems(data: object) -> list:
    with pytest.raises(SpecError) as info:
        parse_spec(data, "fleet.yaml")
    return info.value.problems


def problems_in_file(tmp_path, text: str) -> list:
    path = tmp_path / "fleet.yaml"
    path.write_text(text)
    with pytest.raises(SpecError) as info:
        load_spec(path)
    return [line.replace(str(path), "fleet.yaml") for line in info.value.problems]


# --- YAML -----------------------------------------------------------------------------------


def test_malformed_yaml_names_line_and_column(tmp_path):
    text = "version: 1\nhosts:\n  - name: a\n   devices: all\n"
    assert problems_in_file(tmp_path, text) == [
        "fleet.yaml:4:4: expected <block end>, but found '<block mapping start>' (while parsing a block collection)"
    ]


def test_unclosed_list(tmp_path):
    assert problems_in_file(tmp_path, "version: 1\nhosts: [a, b\n") == [
        "fleet.yaml:3:1: expected ',' or ']', but got '<stream end>' (while parsing a flow sequence)"
    ]


def test_python_object_tag_is_refused(tmp_path):
    text = 'version: 1\nbackend: !!python/object/apply:os.system ["echo pwned"]\n'
    assert problems_in_file(tmp_path, text) == [
        "fleet.yaml:2:10: could not determine a constructor for the tag "
        "'tag:yaml.org,2002:python/object/apply:os.system'; only plain data is allowed "
        "(tags that build objects are refused)"
    ]


def test_empty_file(tmp_path):
    assert problems_in_file(tmp_path, "# nothing but a comment\n") == ["fleet.yaml: spec is empty"]


def test_missing_file(tmp_path):
    with pytest.raises(SpecError) as info:
        load_spec(tmp_path / "nope.yaml")
    assert info.value.problems == [f"{tmp_path / 'nope.yaml'}: no such file"]


def test_directory_instead_of_file(tmp_path):
    with pytest.raises(SpecError) as info:
        load_spec(tmp_path)
    assert info.value.problems == [f"{tmp_path}: is a directory, not a spec file"]


def test_duplicate_key_at_the_top_is_refused_not_overwritten(tmp_path):
    assert problems_in_file(tmp_path, "version: 2\nbackend: sim\nversion: 1\n") == [
        "fleet.yaml:3:1: duplicate key version (first at line 1)"
    ]


def test_duplicate_key_in_sim_keeps_no_fault_silently(tmp_path):
    text = "version: 1\nsim:\n  faults:\n    - {device: 0, kind: hang}\n  faults: []\n"
    assert problems_in_file(tmp_path, text) == ["fleet.yaml:5:3: sim: duplicate key faults (first at line 3)"]


def test_override_of_one_device_written_twice(tmp_path):
    text = (
        "version: 1\nhosts:\n  - name: localhost\n    overrides:\n"
        "      1: {memory_size: 1MiB}\n      0: {seed: 3}\n      1: {memory_size: 2MiB}\n"
    )
    assert problems_in_file(tmp_path, text) == ["fleet.yaml:7:7: hosts[0].overrides: duplicate key 1 (first at line 5)"]


def test_infinite_fault_factor_in_a_file(tmp_path):
    text = "version: 1\nsim:\n  faults:\n    - device: 0\n      kind: slow\n      factor: .inf\n"
    assert problems_in_file(tmp_path, text) == [
        "fleet.yaml:6:15: sim.faults[0].factor: must be a finite number (got .inf)"
    ]


def test_huge_integer_in_a_file(tmp_path):
    text = "version: 1\ndefaults:\n  seed: " + "1" * 5000 + "\n"
    assert problems_in_file(tmp_path, text) == [
        "fleet.yaml:3:9: defaults.seed: integer too long: 5000 digits (at most 30)"
    ]


def test_alias_bomb_in_a_file(tmp_path):
    lines = ['a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]']
    lines += [f"{c}: &{c} [{','.join([f'*{p}'] * 9)}]" for p, c in zip("abcdefgh", "bcdefghi")]
    assert problems_in_file(tmp_path, "\n".join(lines) + "\n") == [
        "fleet.yaml:6:4: f: more than 100000 values once aliases are expanded"
    ]


@pytest.mark.parametrize("written", ["true", "false", "1.0", "yes"])
def test_a_version_is_an_integer(tmp_path, written):
    got = {"yes": "true", "1.0": "1.0"}.get(written, written)
    assert problems_in_file(tmp_path, f"version: {written}\n") == [f"version: must be 1 (got {got})"]


def test_not_a_mapping():
    assert problems([1, 2]) == ["fleet.yaml: must be a mapping of keys such as version, defaults, hosts (got [1, 2])"]


# --- defaults -------------------------------------------------------------------------------


def test_minimal_spec_takes_every_default():
    spec = parse_spec({"version": 1})
    assert (spec.backend, spec.launcher, spec.unattended) == ("auto", "local", False)
    assert spec.defaults.model_dump() == {
        "memory_size": 10 * MiB,
        "release_cycle": 10,
        "number_of_cycles": 1,
        "memory_reuse": True,
        "memory_kind": "dvpp",
        "patterns": list(PATTERNS),
        "verify": True,
        "interval": 0.0,
        "duration": None,
        "seed": 0,
        "open_retries": 2,
        "open_retry_delay": 1.0,
        "host_memory": "pinned",
        "copy_mode": "sync",
        "bidirectional": False,
        "warmup": 1,
        "pipeline": "auto",
    }
    assert (spec.timeouts.init, spec.timeouts.copy) == (60.0, 30.0)
    assert spec.thresholds.model_dump() == {
        "min_h2d_gbps": None,
        "min_d2h_gbps": None,
        "min_h2d_fraction": None,
        "min_d2h_fraction": None,
        "chips": {},
        "max_leak": 512 * 1024,
        "max_below_fleet": 0.25,
        "outlier": "warn",
        "min_duty_cycle": None,
    }
    assert [(h.name, h.devices) for h in spec.hosts] == [("localhost", "all")]
    assert (spec.sim.chip, spec.sim.device_count, spec.sim.faults) == ("Ascend910B", 8, [])
    assert spec.ray.address == "auto" and spec.expect is None


def test_units_are_parsed():
    spec = parse_spec(
        {
            "version": 1,
            "defaults": {"memory_size": "4 KiB", "duration": "1h30m", "interval": "500ms"},
            "timeouts": {"init": "2m"},
            "hosts": [{"name": "localhost", "devices": "0-3,6"}],
        }
    )
    assert (spec.defaults.memory_size, spec.defaults.duration, spec.defaults.interval) == (4096, 5400.0, 0.5)
    assert spec.timeouts.init == 120.0 and spec.hosts[0].devices == (0, 1, 2, 3, 6)


def test_spec_is_frozen():
    spec = parse_spec({"version": 1})
    with pytest.raises(pydantic.ValidationError):
        spec.backend = "acl"  # type: ignore[misc]


def test_override_keeps_only_what_it_sets():
    spec = parse_spec({"version": 1, "hosts": [{"name": "localhost", "overrides": {3: {"duration": None, "seed": 4}}}]})
    assert spec.hosts[0].overrides[3].model_fields_set == {"duration", "seed"}


# --- one message per mistake ----------------------------------------------------------------


def test_top_level_mistakes():
    assert problems({"version": 2, "backend": "foo", "launcher": "ssh", "unattended": "yes", "hsots": []}) == [
        "version: must be 1 (got 2)",
        "backend: must be one of acl, sim, auto (got 'foo')",
        "launcher: must be one of local, ray (got 'ssh')",
        "unattended: must be true or false (got 'yes')",
        "hsots: unknown key (did you mean hosts?)",
    ]


def test_missing_version():
    assert problems({"backend": "sim"}) == ["version: required key is missing"]


def test_unknown_key_lists_the_valid_ones():
    assert problems({"version": 1, "colour": "blue"}) == [f"colour: unknown key (valid keys: {TOP_KEYS})"]
    assert problems({"version": 1, 7: "x"}) == [f"7: unknown key (valid keys: {TOP_KEYS})"]


def test_defaults_mistakes():
    assert problems(
        {
            "version": 1,
            "defaults": {
                "memroy_size": 5,
                "memory_size": -5,
                "release_cycle": 0,
                "number_of_cycles": -2,
                "memory_reuse": "no",
                "memory_kind": "hbm",
                "patterns": [],
                "interval": "soon",
                "duration": 0,
                "seed": 1.5,
                "open_retries": 11,
                "open_retry_delay": -1,
            },
        }
    ) == [
        "defaults.memory_size: must be > 0 (got -5)",
        "defaults.release_cycle: must be -1 (unbounded) or >= 1 (got 0)",
        "defaults.number_of_cycles: must be -1 (unbounded) or >= 1 (got -2)",
        "defaults.memory_reuse: must be true or false (got 'no')",
        "defaults.memory_kind: must be one of dvpp, device (got 'hbm')",
        "defaults.patterns: must not be empty (got [])",
        "defaults.interval: not a duration: use seconds or a duration such as 30s, 5m, 2h, 1h30m, 500ms (got 'soon')",
        "defaults.duration: must be > 0 (got 0)",
        "defaults.seed: must be an integer (got 1.5)",
        "defaults.open_retries: must be <= 10 (got 11)",
        "defaults.open_retry_delay: must be >= 0 (got -1)",
        "defaults.memroy_size: unknown key (did you mean memory_size?)",
    ]


def test_wrong_types():
    assert problems(
        {
            "version": 1,
            "defaults": 5,
            "hosts": "localhost",
            "timeouts": [],
            "sim": {"device_count": "8", "faults": {"device": 1}},
        }
    ) == [
        "defaults: must be a mapping (got 5)",
        "timeouts: must be a mapping (got [])",
        "hosts: must be a list (got 'localhost')",
        "sim.device_count: must be an integer (got '8')",
        "sim.faults: must be a list (got {'device': 1})",
    ]


def test_bad_pattern_and_absurd_size():
    assert problems({"version": 1, "defaults": {"patterns": ["constant", "zebra"], "memory_size": "10 XB"}}) == [
        "defaults.memory_size: not a size: use a number of bytes or a number with a unit: "
        "B, KB, MB, GB, TB, KiB, MiB, GiB, TiB (got '10 XB')",
        "defaults.patterns[1]: must be one of constant, walking_ones, random, address (got 'zebra')",
    ]


def test_host_mistakes():
    assert problems(
        {
            "version": 1,
            "hosts": [
                {"name": "a", "overrides": {3: {"memory_size": -5, "bogus": 1}, "4": {}}},
                {"devices": [1, 1]},
                {"name": "", "devices": "7-0", "expect": {"devices": 0}},
                {"name": "b", "devices": [0, 5000], "nmae": "x"},
            ],
        }
    ) == [
        "hosts[0].overrides.3.memory_size: must be > 0 (got -5)",
        f"hosts[0].overrides.3.bogus: unknown key (valid keys: {OVERRIDE_KEYS})",
        "hosts[0].overrides.4: device ids must be integers (got '4')",
        "hosts[1].name: required key is missing",
        "hosts[1].devices: device 1 is listed twice (got [1, 1])",
        "hosts[2].name: must not be empty (got '')",
        "hosts[2].devices: range 7-0 runs backwards (write 0-7) (got '7-0')",
        "hosts[2].expect.devices: must be >= 1 (got 0)",
        "hosts[3].devices: device ids must be 0..1023 (got [0, 5000])",
        "hosts[3].nmae: unknown key (did you mean name?)",
    ]


def test_device_ids_out_of_range():
    assert problems(
        {
            "version": 1,
            "defaults": {"seed": -1},
            "hosts": [{"name": "localhost", "overrides": {-1: {}, 2000: {}}}],
            "sim": {"faults": [{"device": 10**9, "kind": "hang"}, {"device": 0, "kind": "init_fail", "code": 2**40}]},
        }
    ) == [
        "defaults.seed: must be >= 0 (got -1)",
        "hosts[0].overrides.-1: must be >= 0 (got -1)",
        "hosts[0].overrides.2000: must be <= 1023 (got 2000)",
        "sim.faults[0].device: must be <= 1023 (got 1000000000)",
        "sim.faults[1].code: must be <= 2147483647 (got 1099511627776)",
    ]


def test_empty_hosts():
    assert problems({"version": 1, "hosts": []}) == ["hosts: must not be empty (got [])"]


def test_duplicate_host_names():
    assert problems({"version": 1, "launcher": "ray", "hosts": [{"name": "n1"}, {"name": "n2"}, {"name": "n1"}]}) == [
        "hosts[2].name: host 'n1' is listed twice (also hosts[0])"
    ]


def test_sections_mistakes():
    assert problems(
        {
            "version": 1,
            "timeouts": {"init": 0, "copy": "5x", "hang": 1},
            "thresholds": {"min_h2d_gbps": -1, "min_d2h_gbps": "fast", "max_leak": -1},
            "ray": {"address": "bad address"},
            "expect": {"devices": 0},
        }
    ) == [
        "timeouts.init: must be > 0 (got 0)",
        "timeouts.copy: not a duration: use seconds or a duration such as 30s, 5m, 2h, 1h30m, 500ms (got '5x')",
        "timeouts.hang: unknown key (valid keys: init, copy)",
        "thresholds.min_h2d_gbps: must be > 0 (got -1)",
        "thresholds.min_d2h_gbps: must be a number (got 'fast')",
        "thresholds.max_leak: must be >= 0 (got -1)",
        'ray.address: must be auto, local, "host:port" or "ray://host:port" (got \'bad address\')',
        "expect.devices: must be >= 1 (got 0)",
    ]


@pytest.mark.parametrize("address", ["auto", "local", "10.0.0.1:6379", "head-node:6379", "ray://head:10001"])
def test_ray_addresses(address):
    assert parse_spec({"version": 1, "ray": {"address": address}}).ray.address == address


def test_sim_mistakes():
    assert problems(
        {
            "version": 1,
            "sim": {"chip": "Ascend950", "device_count": 0, "memory": {"hbm": "1XB", "ssd": 1}, "link_gbps": 0},
        }
    ) == [
        "sim.chip: must be one of Ascend310, Ascend310P3, Ascend910, Ascend910B, Ascend910B4 (got 'Ascend950')",
        "sim.device_count: must be >= 1 (got 0)",
        "sim.memory.hbm: not a size: use a number of bytes or a number with a unit: "
        "B, KB, MB, GB, TB, KiB, MiB, GiB, TiB (got '1XB')",
        "sim.memory.ssd: unknown key (valid keys: hbm, ddr)",
        "sim.link_gbps: must be > 0 (got 0)",
    ]


def test_sim_runtime_mistakes():
    assert problems(
        {
            "version": 1,
            "sim": {"huge_share": 1.5, "driver_cache": -1, "memory_noise": "1XB", "run_mode": "host"},
        }
    ) == [
        "sim.huge_share: must be <= 1 (got 1.5)",
        "sim.driver_cache: must be >= 0 (got -1)",
        "sim.memory_noise: not a size: use a number of bytes or a number with a unit: "
        "B, KB, MB, GB, TB, KiB, MiB, GiB, TiB (got '1XB')",
        "sim.run_mode: must be one of ep, rc (got 'host')",
    ]
    assert problems({"version": 1, "sim": {"huge_share": "90%"}}) == ["sim.huge_share: must be a number (got '90%')"]
    assert problems({"version": 1, "sim": {"huge_share": -0.1}}) == ["sim.huge_share: must be >= 0 (got -0.1)"]


def test_sim_runtime_defaults():
    sim = parse_spec({"version": 1}).sim
    assert (sim.huge_share, sim.driver_cache, sim.memory_noise, sim.run_mode) == (None, 128 * MiB, 0, "ep")


def test_sim_config_passes_the_runtime_keys_the_spec_sets():
    spec = parse_spec(
        {
            "version": 1,
            "sim": {"huge_share": 0.5, "driver_cache": 0, "memory_noise": "1MiB", "run_mode": "rc"},
        }
    )
    config = spec.sim_config("localhost")
    assert (config["huge_share"], config["driver_cache"], config["memory_noise"], config["run_mode"]) == (
        0.5,
        0,
        MiB,
        "rc",
    )
    assert parse_spec({"version": 1, "sim": {"huge_share": 1}}).sim_config()["huge_share"] == 1.0
    unset = parse_spec({"version": 1}).sim_config()
    assert not {"huge_share", "driver_cache", "memory_noise", "run_mode"} & set(unset)  # the same defaults there


def test_fault_mistakes():
    faults = [
        {"device": 1},
        {"device": 1, "kind": "boom"},
        {"device": 1, "kind": "bitflip", "bytes": 5, "at_copy": 0},
        {"device": -1, "kind": "leak"},
        {"device": 1, "kind": "slow", "factor": 1},
        {"device": 1, "kind": "crash", "signal": "SIGNOPE"},
        {"device": 1, "kind": "init_fail", "times": 0},
        "crash",
    ]
    assert problems({"version": 1, "sim": {"faults": faults}}) == [
        f"sim.faults[0].kind: required key is missing (one of {FAULT_KINDS})",
        f"sim.faults[1].kind: must be one of {FAULT_KINDS} (got 'boom')",
        "sim.faults[2].at_copy: must be >= 1 (got 0)",
        "sim.faults[2].bytes: not a setting of a bitflip fault (it takes: host, device, kind, at_copy, bits)",
        "sim.faults[3].device: must be >= 0 (got -1)",
        "sim.faults[3].bytes: required key is missing",
        "sim.faults[4].factor: must be > 1 (got 1)",
        "sim.faults[5].signal: must be a signal name such as SIGSEGV or KILL, or its number (got 'SIGNOPE')",
        "sim.faults[6].times: must be -1 (unbounded) or >= 1 (got 0)",
        "sim.faults[7]: must be a mapping (got 'crash')",
    ]


def test_every_fault_kind_with_its_defaults():
    kinds = [
        {"device": 0, "kind": "bitflip"},
        {"device": 1, "kind": "alloc_fail"},
        {"device": 2, "kind": "crash"},
        {"device": 3, "kind": "hang", "host": "localhost"},
        {"device": 4, "kind": "leak", "bytes": "1MiB"},
        {"device": 5, "kind": "slow", "factor": 4},
        {"device": 6, "kind": "init_fail"},
    ]
    spec = parse_spec({"version": 1, "sim": {"faults": kinds}})
    assert spec.sim_config("localhost")["faults"] == [
        {"device": 0, "kind": "bitflip", "at_copy": 1, "bits": 1},
        {"device": 1, "kind": "alloc_fail", "at_alloc": 1},
        {"device": 2, "kind": "crash", "at_copy": 1, "signal": "SIGSEGV"},
        {"device": 3, "kind": "hang", "at_copy": 1},
        {"device": 4, "kind": "leak", "bytes": MiB},
        {"device": 5, "kind": "slow", "factor": 4.0},
        {"device": 6, "kind": "init_fail", "code": 507033, "times": -1},
    ]


def test_sim_config_for_one_host():
    spec = parse_spec(
        {
            "version": 1,
            "launcher": "ray",
            "hosts": [{"name": "n1"}, {"name": "n2"}],
            "sim": {
                "memory": {"hbm": "4GiB"},
                "faults": [{"device": 1, "kind": "hang"}, {"host": "n2", "device": 2, "kind": "crash"}],
            },
        }
    )
    assert spec.sim_config("n1") == {
        "chip": "Ascend910B",
        "device_count": 8,
        "memory": {"hbm": 4 * 2**30},
        "link_gbps": None,
        "faults": [{"device": 1, "kind": "hang", "at_copy": 1}],
    }
    assert [f["host"] for f in spec.sim_config()["faults"]] == ["n1", "n2"]


def test_every_problem_at_once_from_a_file(tmp_path):
    text = "version: 1\ndefaults:\n  memory_size: -5\nhosts:\n  - name: localhost\n    devices: [1, 1]\n"
    assert problems_in_file(tmp_path, text) == [
        "defaults.memory_size: must be > 0 (got -5)",
        "hosts[0].devices: device 1 is listed twice (got [1, 1])",
    ]


def test_fleet_spec_is_the_model():
    assert isinstance(parse_spec({"version": 1}), FleetSpec)


def test_keep_is_a_number_of_runs_from_one():
    assert parse_spec({"version": 1}).keep is None
    assert parse_spec({"version": 1, "keep": 30}).keep == 30
    assert problems({"version": 1, "keep": 0}) == ["keep: must be >= 1 (got 0)"]
    assert problems({"version": 1, "keep": "30"}) == ["keep: must be an integer (got '30')"]
    assert problems({"version": 1, "keep": True}) == ["keep: must be an integer (got true)"]
    assert problems({"version": 1, "kept": 3}) == ["kept: unknown key (did you mean keep?)"]


def test_concurrency_and_status_interval():
    assert parse_spec({"version": 1}).concurrency == "all"
    assert parse_spec({"version": 1, "concurrency": 4, "status_interval": "5s"}).status_interval == 5.0
    assert problems({"version": 1, "concurrency": "fast"}) == [
        "concurrency: must be all, serial or a number of devices from 1 to 1024 (got 'fast')"
    ]
    assert problems({"version": 1, "concurrency": 0, "status_interval": 0}) == [
        "concurrency: must be all, serial or a number of devices from 1 to 1024 (got 0)",
        "status_interval: must be > 0 (got 0)",
    ]
