"""pydantic's errors in our words: real validation errors of ``FleetSpec`` turned into
``path: what is wrong (got X)`` lines, with ``[i]`` and ``.key`` paths, did-you-mean, the fault
kinds' own wording, and values shown as YAML would write them, shortened."""

from __future__ import annotations

from typing import Any, List, Mapping, Sequence

import pytest
from pydantic import ValidationError

from orchestrator.spec.messages import problems, shown
from orchestrator.spec.schema import SCHEMA, FleetSpec

FAULT_KINDS = "bitflip, alloc_fail, crash, hang, leak, slow, init_fail"


def errors(data: Any) -> Sequence[Mapping[str, Any]]:
    with pytest.raises(ValidationError) as info:
        FleetSpec.model_validate(data)
    return info.value.errors()


def words(data: Any) -> List[str]:
    return problems(errors(data), SCHEMA)


# --- paths ----------------------------------------------------------------------------------


def test_a_spec_that_is_not_a_mapping_is_blamed_on_the_spec():
    assert words(5) == ["spec: must be a mapping (got 5)"]


def test_list_items_read_index_and_mapping_keys_read_dot_key():
    data = {"version": 1, "hosts": [{"name": "a"}, {"name": "b", "overrides": {3: {"memory_size": -5}}}]}
    assert words(data) == ["hosts[1].overrides.3.memory_size: must be > 0 (got -5)"]


def test_item_of_a_list_inside_a_section():
    data = {"version": 1, "defaults": {"patterns": ["constant", "random", "zebra"]}}
    assert words(data) == ["defaults.patterns[2]: must be one of constant, walking_ones, random, address (got 'zebra')"]


def test_mapping_key_that_is_not_a_device_id():
    data = {"version": 1, "hosts": [{"name": "a", "overrides": {"x": {}}}]}
    assert words(data) == ["hosts[0].overrides.x: device ids must be integers (got 'x')"]


def test_fault_settings_are_reached_through_their_kind_without_naming_it():
    data = {
        "version": 1,
        "sim": {"faults": [{"device": 0, "kind": "hang"}, {"device": 0, "kind": "slow", "factor": 1}]},
    }
    assert words(data) == ["sim.faults[1].factor: must be > 1 (got 1)"]


# --- unknown keys ---------------------------------------------------------------------------


def test_did_you_mean_at_the_top_and_deep_inside():
    data = {"version": 1, "hsots": [], "hosts": [{"name": "a", "overrides": {3: {"memroy_size": 5}}}]}
    assert words(data) == [
        "hosts[0].overrides.3.memroy_size: unknown key (did you mean memory_size?)",
        "hsots: unknown key (did you mean hosts?)",
    ]


def test_no_close_key_lists_the_valid_ones():
    assert words({"version": 1, "timeouts": {"hang": 1}}) == ["timeouts.hang: unknown key (valid keys: init, copy)"]


def test_unknown_setting_of_a_fault_lists_what_its_kind_takes():
    data = {"version": 1, "sim": {"faults": [{"device": 0, "kind": "crash", "at_cpy": 2}]}}
    assert words(data) == [
        "sim.faults[0].at_cpy: not a setting of a crash fault (it takes: host, device, kind, at_copy, signal)"
    ]


# --- the fault kind (the tag of the union) --------------------------------------------------


def test_unknown_fault_kind():
    data = {"version": 1, "sim": {"faults": [{"device": 0, "kind": "boom"}]}}
    assert words(data) == [f"sim.faults[0].kind: must be one of {FAULT_KINDS} (got 'boom')"]


def test_missing_fault_kind():
    data = {"version": 1, "sim": {"faults": [{"device": 0}]}}
    assert words(data) == [f"sim.faults[0].kind: required key is missing (one of {FAULT_KINDS})"]


# --- what is wrong --------------------------------------------------------------------------


def test_bounds_are_written_as_whole_numbers_when_they_are():
    data = {"version": 1, "thresholds": {"max_below_fleet": 1}, "defaults": {"seed": 2**64}}
    assert words(data) == [
        "defaults.seed: must be <= 18446744073709551615 (got 18446744073709551616)",
        "thresholds.max_below_fleet: must be < 1 (got 1)",
    ]


def test_one_allowed_value_and_several():
    assert words({"version": 2, "thresholds": {"outlier": "x"}}) == [
        "version: must be 1 (got 2)",
        "thresholds.outlier: must be one of warn, fail (got 'x')",
    ]


def test_our_own_checks_speak_for_themselves():
    assert words({"version": 1, "concurrency": 0}) == [
        "concurrency: must be all, serial or a number of devices from 1 to 1024 (got 0)"
    ]


def test_type_words_and_missing_keys():
    data = {"version": 1, "ray": {"address": 5}, "defaults": {"warmup": 1.0}, "expect": {}}
    assert words(data) == [
        "defaults.warmup: must be an integer (got 1.0)",
        "ray.address: must be a string (got 5)",
        "expect.devices: required key is missing",
    ]


def test_infinite_factor():
    data = {"version": 1, "sim": {"faults": [{"device": 0, "kind": "slow", "factor": float("inf")}]}}
    assert words(data) == ["sim.faults[0].factor: must be a finite number (got inf)"]


def test_values_are_shown_as_yaml_writes_them():
    data = {"version": 1, "timeouts": {"copy": True}, "sim": {"memory": None}}
    assert words(data) == [
        "timeouts.copy: must be a duration: seconds or a duration such as 30s, 5m, 2h, 1h30m, 500ms (got true)",
        "sim.memory: must be a mapping (got null)",
    ]


def test_a_long_value_is_shortened():
    assert words({"version": 1, "hosts": [{"name": "a", "devices": "x" * 100}]}) == [
        'hosts[0].devices: must be all, a list of ids, or ranges such as "0-7" or "0-3,6" (got '
        + "'"
        + "x" * 56
        + "...)"
    ]


def test_duplicates_are_dropped_in_order():
    found = errors({"version": 2, "backend": "foo"})
    assert problems(list(found) + list(found), SCHEMA) == [
        "version: must be 1 (got 2)",
        "backend: must be one of acl, sim, auto (got 'foo')",
    ]


# --- shown ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "value, text",
    [(True, "true"), (False, "false"), (None, "null"), ("x", "'x'"), (3, "3"), (1.5, "1.5"), ([1, "a"], "[1, 'a']")],
)
def test_shown(value, text):
    assert shown(value) == text


def test_shown_keeps_sixty_characters_and_shortens_beyond():
    assert shown("y" * 58) == "'" + "y" * 58 + "'"
    assert shown("y" * 59) == "'" + "y" * 56 + "..."
    assert len(shown(list(range(100)))) == 60


class Unseen:
    """A value ``shown`` must not look at: it lies beyond what a message keeps."""

    def __repr__(self) -> str:
        raise AssertionError("shown() looked further than it shows")


@pytest.mark.parametrize(
    "value, text",
    [
        ([1] * 100 + [Unseen()], "[" + "1, " * 18 + "1,..."),
        ({**{i: i for i in range(100)}, "x": Unseen()}, "{0: 0, 1: 1, 2: 2, 3: 3, 4: 4, 5: 5, 6: 6, 7: 7, 8: 8, 9:..."),
        ([[0] * 29, [0] * 29, [Unseen()]], "[[" + "0, " * 18 + "0..."),  # beyond the values shown in all
        (["x" * 10**6, Unseen()], "['" + "x" * 55 + "..."),
    ],
)
def test_shown_reads_no_further_than_it_shows(value, text):
    assert shown(value) == text


def test_shown_keeps_the_order_of_a_mapping():
    assert shown({"b": 1, "a": [1, 2]}) == "{'b': 1, 'a': [1, 2]}"


def test_shown_of_a_value_that_repeats_itself_billions_of_times():
    shared: List[Any] = ["lol"]
    for _ in range(30):  # 2**30 strings to a plain repr()
        shared = [shared, shared]
    assert shown(shared) == "[" * 31 + "'lol'], ['lol']], [['lol']..."


def test_shown_of_an_enormous_integer_says_its_size():
    assert shown(10**5000) == "<an integer of about 5001 digits>"  # repr() would refuse it on Python >= 3.11
    assert shown(-(10**100)) == "<a negative integer of about 101 digits>"
    assert shown(10**50) == "1" + "0" * 50
