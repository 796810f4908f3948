"""``WorkerParams`` (workers/params.py): the size sweep it derives, its plain-data form, and the
combinations of keys that cannot run together (``RULES``, ``conflicts``)."""

from __future__ import annotations

import dataclasses
import json

import pytest

from workers.params import RULES, WorkerParams, conflicts

KiB, MiB = 1 << 10, 1 << 20


def test_the_defaults_are_the_seed_samples():
    p = WorkerParams()
    assert (p.memory_size, p.release_cycle, p.number_of_cycles, p.memory_reuse) == (10 * MiB, -1, 1, False)
    assert (p.sizes, p.sweep) == ((), (10 * MiB,))


def test_a_sequence_of_sizes_is_a_sweep_sorted_without_repeats():
    p = WorkerParams(memory_size=[MiB, 4 * KiB, 64 * KiB, 4 * KiB])
    assert p.memory_size == MiB
    assert p.sizes == p.sweep == (4 * KiB, 64 * KiB, MiB)


def test_one_size_in_a_sequence_is_no_sweep():
    for given in ([64 * KiB], (64 * KiB, 64 * KiB)):
        p = WorkerParams(memory_size=given)
        assert (p.memory_size, p.sizes, p.sweep) == (64 * KiB, (), (64 * KiB,))


def test_sizes_given_beside_an_int_block_are_sorted_and_deduplicated():
    p = WorkerParams(memory_size=MiB, sizes=(MiB, 4 * KiB, MiB))
    assert (p.memory_size, p.sizes) == (MiB, (4 * KiB, MiB))


def test_equal_sweeps_given_differently_are_equal():
    assert WorkerParams(memory_size=[MiB, 4 * KiB]) == WorkerParams(memory_size=(4 * KiB, MiB, MiB))


def test_to_dict_is_plain_data_with_lists():
    data = WorkerParams(device_id=5, memory_size=[4 * KiB, MiB], patterns=("random", "address")).to_dict()
    assert (data["device_id"], data["memory_size"], data["sizes"]) == (5, MiB, [4 * KiB, MiB])
    assert data["patterns"] == ["random", "address"]
    assert set(data) == {f.name for f in dataclasses.fields(WorkerParams)}
    assert json.loads(json.dumps(data)) == data


def test_from_dict_inverts_to_dict_through_json():
    p = WorkerParams(
        device_id=2,
        memory_size=[4 * KiB, 64 * KiB],
        release_cycle=3,
        patterns=("walking_ones",),
        duration=12.5,
        copy_mode="async",
        bidirectional=True,
        warmup=2,
    )
    back = WorkerParams.from_dict(json.loads(json.dumps(p.to_dict())))
    assert back == p
    assert isinstance(back.patterns, tuple) and isinstance(back.sizes, tuple)


def test_from_dict_ignores_unknown_keys_and_defaults_the_missing_ones():
    p = WorkerParams.from_dict({"device_id": 4, "memory_size": 8 * KiB, "added_later": True})
    assert p == WorkerParams(device_id=4, memory_size=8 * KiB)


def test_the_defaults_break_no_rule():
    assert conflicts(WorkerParams().to_dict()) == []


def rule(key: str):
    (found,) = [r for r in RULES if r[0] == key]
    return found


@pytest.mark.parametrize(
    "values, broken",
    [
        ({"bidirectional": True, "copy_mode": "sync"}, True),
        ({"bidirectional": True}, True),
        ({"bidirectional": True, "copy_mode": "async"}, False),
        ({"bidirectional": False, "copy_mode": "sync"}, False),
    ],
)
def test_bidirectional_needs_async_copies(values, broken):
    assert conflicts(values) == ([rule("bidirectional")] if broken else [])


@pytest.mark.parametrize(
    "host_memory, copy_mode, broken",
    [
        ("pageable", "async", True),
        ("both", "async", True),
        ("pinned", "async", False),
        ("pageable", "sync", False),
        ("both", "sync", False),
    ],
)
def test_pageable_host_memory_needs_sync_copies(host_memory, copy_mode, broken):
    assert conflicts({"host_memory": host_memory, "copy_mode": copy_mode}) == ([rule("host_memory")] if broken else [])


@pytest.mark.parametrize(
    "memory_size, release_cycle, broken",
    [
        ((4 * KiB, MiB), -1, True),
        ([4 * KiB, MiB], -1, True),
        ((4 * KiB, MiB), 1, False),
        ((MiB, MiB), -1, False),  # one size: no sweep
        (MiB, -1, False),
    ],
)
def test_a_size_sweep_needs_bounded_release_cycles(memory_size, release_cycle, broken):
    values = {"memory_size": memory_size, "release_cycle": release_cycle}
    assert conflicts(values) == ([rule("memory_size")] if broken else [])


def test_every_rule_broken_at_once_is_reported_in_rule_order():
    values = {
        "bidirectional": True,
        "host_memory": "both",
        "copy_mode": "async",
        "memory_size": (4 * KiB, MiB),
        "release_cycle": -1,
    }
    assert conflicts(values) == [rule("host_memory"), rule("memory_size")]
    assert conflicts(dict(values, copy_mode="sync")) == [rule("bidirectional"), rule("memory_size")]


def test_every_rule_names_two_worker_keys_and_why():
    names = {f.name for f in dataclasses.fields(WorkerParams)}
    for key, other, why in RULES:
        assert {key, other} <= names and key != other and why
