"""The spec's ``expect``: devices expected but not visible (named by the lowest absent ids), and
more devices than expected (a note, not a failure)."""

from __future__ import annotations

from typing import Any

from orchestrator.spec.expect import missing, surplus
from orchestrator.spec.schema import FleetSpec, parse_spec


def fleet(**top: Any) -> FleetSpec:
    return parse_spec({"version": 1, **top})


def one_host(expected: int) -> FleetSpec:
    return fleet(hosts=[{"name": "localhost", "expect": {"devices": expected}}])


def two_hosts(**top: Any) -> FleetSpec:
    return fleet(launcher="ray", hosts=[{"name": "n1"}, {"name": "n2"}], **top)


# --- missing --------------------------------------------------------------------------------


def test_host_short_of_devices_misses_the_next_ids():
    assert missing(one_host(8), {0: (0, 1, 2, 3, 4, 5)}) == (("localhost", 6), ("localhost", 7))


def test_missing_ids_fill_the_gaps_first():
    assert missing(one_host(5), {0: (0, 2, 5)}) == (("localhost", 1), ("localhost", 3))


def test_nothing_missing_when_enough_are_visible():
    assert missing(one_host(2), {0: (0, 1)}) == ()
    assert missing(one_host(2), {0: (0, 1, 2)}) == ()
    assert missing(fleet(), {0: (0,)}) == ()


def test_fleet_shortfall_is_counted_against_the_first_host():
    assert missing(two_hosts(expect={"devices": 8}), {0: (0, 1, 2), 1: (0, 1, 2)}) == (("n1", 3), ("n1", 4))


def test_fleet_shortfall_counts_what_the_hosts_already_miss():
    spec = fleet(
        launcher="ray",
        hosts=[{"name": "n1", "expect": {"devices": 4}}, {"name": "n2"}],
        expect={"devices": 8},
    )
    assert missing(spec, {0: (0, 1), 1: (0, 1, 2)}) == (("n1", 2), ("n1", 3), ("n1", 4))


def test_fleet_shortfall_goes_to_the_first_host_that_was_selected():
    assert missing(two_hosts(expect={"devices": 2}), {1: (4,)}) == (("n2", 0),)


def test_nothing_visible_means_no_fleet_shortfall_to_name():
    assert missing(two_hosts(expect={"devices": 4}), {}) == ()


# --- surplus --------------------------------------------------------------------------------


def test_more_devices_on_a_host_than_expected():
    assert surplus(one_host(2), {0: (0, 1, 2, 3)}) == [
        "hosts[0].expect.devices: 2 expected on localhost, 4 visible (0-3)"
    ]


def test_more_devices_in_the_fleet_than_expected():
    assert surplus(two_hosts(expect={"devices": 3}), {0: (0, 1), 1: (0, 5)}) == [
        "expect.devices: 3 expected in the fleet, 4 visible"
    ]


def test_host_and_fleet_surplus_together():
    spec = fleet(
        launcher="ray",
        hosts=[{"name": "n1"}, {"name": "n2", "expect": {"devices": 1}}],
        expect={"devices": 2},
    )
    assert surplus(spec, {0: (0,), 1: (0, 2, 3)}) == [
        "hosts[1].expect.devices: 1 expected on n2, 3 visible (0,2-3)",
        "expect.devices: 2 expected in the fleet, 4 visible",
    ]


def test_no_surplus_when_as_expected_or_fewer():
    assert surplus(one_host(4), {0: (0, 1, 2, 3)}) == []
    assert surplus(one_host(4), {0: (0,)}) == []
    assert surplus(two_hosts(expect={"devices": 4}), {0: (0, 1), 1: (0,)}) == []
    assert surplus(fleet(), {0: (0, 1)}) == []
