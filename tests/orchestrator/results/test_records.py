"""The judged records: ``cause`` builds a worker-shaped ``Fault`` from the judgement's own findings,
and a ``Verdict`` names its device ``host:device``."""

from __future__ import annotations

import dataclasses

import pytest

from orchestrator.results.collect import DeviceResult
from orchestrator.results.records import Cause, Verdict, cause
from orchestrator.results.status import Status
from tests.helpers.fleet_runs import mixed_run
from workers import events as ev

FIELDS = {"api": "acl.rt.malloc", "code": 207001, "name": "ACL_ERROR_RT_MEMORY_ALLOCATION", "cycle": 3, "copy": 17}


def test_cause_is_a_fault_with_the_given_fields():
    c = cause("alloc_failed", "device memory full", detail={"blocks": 12}, **FIELDS)
    assert Cause is ev.Fault and isinstance(c, ev.Fault)
    assert c == ev.Fault(fault="alloc_failed", message="device memory full", detail={"blocks": 12}, **FIELDS)
    assert c.to_dict()["kind"] == "fault"


def test_cause_leaves_the_other_fields_unknown():
    c = cause("leak", "free memory is 8 bytes below the baseline")
    assert (c.fault, c.message) == ("leak", "free memory is 8 bytes below the baseline")
    assert (c.api, c.code, c.name, c.cycle, c.copy, c.detail) == (None, None, None, None, None, {})


def test_cause_refuses_a_field_a_fault_does_not_have():
    with pytest.raises(TypeError):
        cause("leak", "x", severity="high")


@pytest.mark.parametrize("host, device, name", [("localhost", 0, "localhost:0"), ("node-b", 13, "node-b:13")])
def test_verdict_name_is_host_colon_device(host, device, name):
    v = Verdict(result=DeviceResult(host=host, device=device), status=Status.PASS, causes=())
    assert v.name == name
    assert v.warnings == ()


def test_verdict_is_frozen():
    v = Verdict(result=DeviceResult(host="h", device=0), status=Status.PASS, causes=())
    with pytest.raises(dataclasses.FrozenInstanceError):
        v.status = Status.FAIL  # type: ignore[misc]


def test_recorded_verdicts_are_named_after_their_results(tmp_path):
    run = mixed_run(tmp_path)
    assert [v.name for v in run.verdicts] == [f"{v.result.host}:{v.result.device}" for v in run.verdicts]
    assert run.by_name()["node-a:3"].causes[0].fault == "data_mismatch"
