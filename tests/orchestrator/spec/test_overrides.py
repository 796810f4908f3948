"""The command line's spec overrides (orchestrator/spec/overrides.py): each option sets exactly its key in
the YAML data, the schema checks the value, and a problem with it names the option and the key."""

from __future__ import annotations

import argparse
import copy

import pytest

from orchestrator.errors import SpecError
from orchestrator.spec import overrides
from orchestrator.spec.overrides import OVERRIDES
from orchestrator.spec.plan import resolve
from orchestrator.spec.schema import parse_spec
from tests.helpers.specs import inventory, spec


def parsed(data, *argv):
    """``data`` with the overrides of ``argv`` (as the run and validate parsers read them) applied."""
    parser = argparse.ArgumentParser()
    overrides.add_override_arguments(parser)
    given = overrides.given(parser.parse_args(list(argv)))
    with overrides.blaming(given):
        return parse_spec(overrides.apply(data, given))


def test_the_table_names_each_option_once_with_its_key():
    assert [(o.option, o.key, o.dest) for o in OVERRIDES] == [
        ("--devices", "hosts[*].devices", "spec_devices"),
        ("--duration", "defaults.duration", "spec_duration"),
        ("--cycles", "defaults.number_of_cycles", "spec_cycles"),
        ("--memory-size", "defaults.memory_size", "spec_memory_size"),
        ("--concurrency", "concurrency", "spec_concurrency"),
        ("--expect", "expect.devices", "spec_expect"),
    ]


def test_devices_sets_every_host():
    data = spec(hosts=[{"name": "a", "devices": "all"}, {"name": "b", "devices": [7]}])
    result = parsed(data, "--devices", "0-3,6")
    assert [(h.name, h.devices) for h in result.hosts] == [("a", (0, 1, 2, 3, 6)), ("b", (0, 1, 2, 3, 6))]


def test_devices_makes_the_default_and_all_hosts_explicit():
    data = spec()
    del data["hosts"]
    assert [(h.name, h.devices) for h in parsed(data, "--devices", "1").hosts] == [("localhost", (1,))]
    data["hosts"] = "all"
    assert [(h.name, h.devices) for h in parsed(data, "--devices", "2-3").hosts] == [("all", (2, 3))]


def test_duration_sets_only_the_duration():
    result = parsed(spec(), "--duration", "10m")
    assert (result.defaults.duration, result.defaults.number_of_cycles) == (600.0, 2)
    assert parsed(spec(), "--duration", "90").defaults.duration == 90.0


def test_duration_none_lifts_a_limit_the_spec_sets():
    data = spec()
    data["defaults"]["duration"] = "12h"
    assert parsed(data, "--duration", "none").defaults.duration is None
    with pytest.raises(SpecError) as err:
        parsed(spec(), "--cycles", "none")  # only a key that may be null takes none
    assert err.value.problems[0].startswith("--cycles (defaults.number_of_cycles): ")


def test_cycles_is_an_integer_and_may_be_unbounded():
    assert parsed(spec(), "--cycles", "5").defaults.number_of_cycles == 5
    assert parsed(spec(), "--cycles", "-1").defaults.number_of_cycles == -1


def test_memory_size_takes_units_and_sweeps():
    assert parsed(spec(), "--memory-size", "64MiB").defaults.memory_size == 64 * 2**20
    assert parsed(spec(), "--memory-size", "4KiB..16KiB").defaults.memory_size == (4096, 8192, 16384)


@pytest.mark.parametrize("text, value", [("serial", "serial"), ("all", "all"), ("4", 4)])
def test_concurrency_is_a_word_or_a_number(text, value):
    assert parsed(spec(), "--concurrency", text).concurrency == value


def test_expect_sets_the_fleet_count():
    result = parsed(spec(expect={"devices": 2}), "--expect", "8")
    assert result.expect is not None and result.expect.devices == 8
    assert parsed(spec(), "--expect", "3").expect.devices == 3


def test_the_spec_data_itself_is_left_unchanged():
    data = spec()
    before = copy.deepcopy(data)
    parsed(data, "--devices", "0", "--cycles", "9", "--expect", "1")
    assert data == before


def test_a_device_override_in_the_spec_still_wins():
    data = spec(devices=2)
    data["hosts"][0]["overrides"] = {1: {"memory_size": "4KiB"}}
    plan = resolve(parsed(data, "--memory-size", "1MiB"), inventory(2), hostname="h")
    assert [j.params.memory_size for j in plan.jobs] == [2**20, 4096]


@pytest.mark.parametrize(
    "argv, problem",
    [
        (
            ["--duration", "10x"],
            "--duration (defaults.duration): not a duration: use seconds or a duration such as 30s, 5m, 2h, 1h30m, "
            "500ms (got '10x')",
        ),
        (["--cycles", "0"], "--cycles (defaults.number_of_cycles): must be -1 (unbounded) or >= 1 (got 0)"),
        (["--cycles", "2.5"], "--cycles (defaults.number_of_cycles): must be an integer (got '2.5')"),
        (["--expect", "0"], "--expect (expect.devices): must be >= 1 (got 0)"),
        (
            ["--concurrency", "some"],
            "--concurrency (concurrency): must be all, serial or a number of devices from 1 to 1024 (got 'some')",
        ),
    ],
)
def test_a_bad_value_names_the_option_and_the_key(argv, problem):
    with pytest.raises(SpecError) as caught:
        parsed(spec(), *argv)
    assert caught.value.problems == [problem]


def test_a_bad_devices_value_is_one_problem_for_every_host():
    with pytest.raises(SpecError) as caught:
        parsed(spec(hosts=[{"name": "a"}, {"name": "b"}]), "--devices", "3-x")
    assert caught.value.problems == [
        '--devices (hosts[*].devices): must be all, a list of ids, or ranges such as "0-7" or "0-3,6" (got \'3-x\')'
    ]


def test_problems_elsewhere_keep_their_own_key():
    data = spec()
    data["defaults"]["interval"] = "soon"
    with pytest.raises(SpecError) as caught:
        parsed(data, "--duration", "1m")
    assert [p.split(":")[0] for p in caught.value.problems] == ["defaults.interval"]


def test_no_mapping_is_left_for_the_schema_to_refuse():
    given = [(OVERRIDES[1], "1m")]
    assert overrides.apply(["not", "a", "spec"], given) == ["not", "a", "spec"]
    assert overrides.apply({"defaults": [1]}, given) == {"defaults": [1]}


def test_the_record_and_its_description():
    given = [(OVERRIDES[1], "10m"), (OVERRIDES[0], "0-3")]
    assert overrides.record(given) == {"--duration": "10m", "--devices": "0-3"}
    assert overrides.described(overrides.record(given)) == "--duration 10m (defaults.duration), --devices 0-3 " + (
        "(hosts[*].devices)"
    )
    assert overrides.described({}) == "none"
