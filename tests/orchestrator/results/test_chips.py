"""The chip of a device before it opens, from the journal header's inventory: this machine's or
another host's (Ray), a device's ``started`` chip taking precedence, and a damaged header that
never raises."""

from __future__ import annotations

import pytest

from orchestrator.results.chips import inventory_chips
from orchestrator.results.replay import collector_for
from tests.helpers.fleet_runs import started
from tests.helpers.specs import inventory


def head(inv, jobs=(("localhost", 0), ("localhost", 1))):
    return {"inventory": inv, "jobs": [{"host": h, "device": d, "params": {}} for h, d in jobs]}


def test_every_job_gets_the_chip_discovery_saw_on_this_machine():
    inv = inventory(count=2)
    inv["devices"][1]["chip"] = "Ascend310P3"
    assert inventory_chips(head(inv)) == {("localhost", 0): "Ascend910B", ("localhost", 1): "Ascend310P3"}


def test_other_hosts_come_from_their_own_inventory():
    here, there = inventory(count=1), inventory(count=2)
    there["devices"][1]["chip"] = "Ascend910B4"
    inv = dict(here, hosts={"node-b": there})
    jobs = (("localhost", 0), ("node-b", 1), ("node-b", 5))
    assert inventory_chips(head(inv, jobs)) == {("localhost", 0): "Ascend910B", ("node-b", 1): "Ascend910B4"}


def test_a_device_not_listed_or_listed_without_a_chip_has_none():
    inv = inventory(count=1)
    inv["devices"][0]["chip"] = None  # discovery could not read the SoC name
    assert inventory_chips(head(inv, (("localhost", 0), ("localhost", 7)))) == {}
    assert inventory_chips({"jobs": head(inv)["jobs"]}) == {}  # an old journal: no inventory


@pytest.mark.parametrize(
    "inv",
    [[], "x", {"devices": "all"}, {"devices": [3, None, {"id": "0", "chip": "A"}]}, {"hosts": [1], "devices": None}],
)
def test_a_damaged_inventory_gives_no_chip_and_never_raises(inv):
    assert inventory_chips(head(inv)) == {}


def test_the_collector_starts_with_the_inventory_chip_and_the_device_s_own_wins():
    inv = inventory(count=2)
    collector, _, _ = collector_for(head(inv))
    assert [r.chip for r in collector.results.values()] == ["Ascend910B", "Ascend910B"]
    collector.fold("localhost", 1, started(1))
    assert [r.chip for r in collector.results.values()] == ["Ascend910B", "Ascend910B1"]
