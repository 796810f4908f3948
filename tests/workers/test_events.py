from __future__ import annotations

import json

import pytest

from workers import events


def test_every_event_round_trips_through_json():
    samples = [
        events.Started(
            physical_id=3,
            logical_id=0,
            chip="Ascend910B1",
            backend="sim",
            simulated=True,
            pid=42,
            params={"memory_size": 1},
            memory={"ddr": {"free": 1, "total": 2}},
        ),
        events.Fault(fault="api_error", message="boom", api="acl.rt.memcpy", code=507899, cycle=2, copy=7),
        events.Crashed(message="died", exitcode=-11, signal="SIGSEGV"),
        events.Hung(message="no progress", timeout=30.0, stack="File x"),
    ]
    for ev in samples:
        back = events.from_dict(json.loads(json.dumps(ev.to_dict())))
        assert back == ev
        assert back.to_dict()["kind"] == ev.kind


def test_unknown_kind_is_refused():
    with pytest.raises(ValueError, match="unknown event kind 'nope'"):
        events.from_dict({"kind": "nope"})


def test_kinds_are_unique_and_complete():
    assert sorted(events.EVENT_TYPES) == sorted(
        ["launched", "started", "progress", "cycle_end", "capacity", "fault", "finished", "crashed", "hung"]
    )
