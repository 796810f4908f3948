"""ASCEND_RT_VISIBLE_DEVICES: parsing like the runtime, renumbering from 0, exact codes."""

from __future__ import annotations

import pytest

from .conftest import PROGRAMS, run_program, write_config


@pytest.mark.parametrize(
    "text,count",
    [
        ("0,1,2,3,4,5,6,7", 8),
        ("2,5", 2),
        ("1, 2,3", 1),  # parsing stops at the first token that is not all digits
        ("1,3,8", 2),  # ... or is not below the physical count
        ("7", 1),
    ],
)
def test_visible_count(sim, monkeypatch, text, count):
    monkeypatch.setenv("ASCEND_RT_VISIBLE_DEVICES", text)
    assert sim().rt.get_device_count() == (count, 0)


@pytest.mark.parametrize("text", ["", "3,1", "1,1", "x", "8", "-1"])
def test_invalid_or_empty_list_means_no_device(sim, monkeypatch, text):
    monkeypatch.setenv("ASCEND_RT_VISIBLE_DEVICES", text)
    acl = sim()
    assert acl.rt.get_device_count() == (0, 207004)
    acl.init()
    assert acl.rt.set_device(0) == 107001


def test_logical_ids_map_to_physical(sim, monkeypatch):
    monkeypatch.setenv("ASCEND_RT_VISIBLE_DEVICES", "2,5")
    acl = sim({"faults": [{"device": 5, "kind": "alloc_fail", "at_alloc": 1}]})
    acl.init()
    assert acl.rt.set_device(0) == 0
    assert acl.media.dvpp_malloc(64)[1] == 0  # logical 0 is physical 2
    assert acl.rt.set_device(1) == 0
    assert acl.rt.get_device() == (1, 0)
    assert acl.media.dvpp_malloc(64) == (0, 207001)  # logical 1 is physical 5


def test_out_of_range_logical_id(sim, monkeypatch):
    monkeypatch.setenv("ASCEND_RT_VISIBLE_DEVICES", "1,3")
    acl = sim()
    acl.init()
    assert acl.rt.set_device(2) == 107001
    message = acl.get_recent_err_msg()
    assert "invalid device=2" in message and "input visible devices:1,3" in message


def test_read_once_like_the_runtime(sim, monkeypatch):
    acl = sim()
    assert acl.rt.get_device_count() == (8, 0)
    monkeypatch.setenv("ASCEND_RT_VISIBLE_DEVICES", "0")
    assert acl.rt.get_device_count() == (8, 0)


def test_visibility_in_a_program(tmp_path):
    config = write_config(tmp_path, "device_count: 4\nfaults:\n  - {device: 3, kind: bitflip, at_copy: 1}\n")
    result = run_program([str(PROGRAMS / "copy_loop.py"), "1", "1", "64"], config, ASCEND_RT_VISIBLE_DEVICES="0,3")
    assert "copy 1 ret 0 bad bytes 1" in result.stdout
