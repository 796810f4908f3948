"""The position file (workers/entry/position.py): written through one mapping, seen through
another and by a plain read, as the worker and the controller each see it; and the totals it keeps
are those the worker's own ``Finished`` counts."""

from __future__ import annotations

import sys

import numpy as np
import pytest

from tests.helpers.workers import finished, params, run
from workers.entry.position import SIZE, Position, Where, read_position, round_trips


def block(size: int) -> np.ndarray:
    return np.zeros(size, dtype=np.uint8)


def test_create_makes_a_zeroed_file_of_four_64_bit_integers(tmp_path):
    path = tmp_path / "w.position"
    pos = Position.create(str(path))
    try:
        assert SIZE == 32
        assert path.read_bytes() == bytes(32)
        assert (pos.path, pos.cycle, pos.copies, pos.cycles, pos.bytes) == (str(path), 0, 0, 0, 0)
    finally:
        pos.close()


def test_create_resets_an_existing_file(tmp_path):
    path = tmp_path / "w.position"
    path.write_bytes(b"\xff" * 64)
    pos = Position.create(str(path))
    try:
        assert (pos.cycle, pos.copies, pos.cycles, pos.bytes) == (0, 0, 0, 0)
        assert path.stat().st_size == SIZE
    finally:
        pos.close()


def test_copied_and_released_are_seen_through_a_second_mapping(tmp_path):
    path = str(tmp_path / "w.position")
    worker = Position.create(path)
    controller = Position(path)
    try:
        worker.copied(1, 3, "random", block(4096), block(4096), {})
        assert (controller.cycle, controller.copies, controller.cycles, controller.bytes) == (1, 3, 0, 2 * 4096)
        worker.released(1, {"hbm": {"free": 1, "total": 2}})
        assert (controller.cycle, controller.copies, controller.cycles) == (1, 3, 1)  # the copy count stays
        worker.copied(2, 2**40, "constant", block(100))
        assert (controller.cycle, controller.copies, controller.bytes) == (2, 2**40, 2 * 4096 + 2 * 100)
    finally:
        worker.close()
        controller.close()


def test_a_copy_from_two_host_memories_counts_both_round_trips(tmp_path):
    path = str(tmp_path / "w.position")
    pos = Position.create(path, trips=2)
    pos.copied(1, 1, "random", block(1000))
    pos.close()
    assert read_position(path) == Where(cycle=1, copies=1, cycles=0, bytes=4000)


def test_round_trips_follow_the_host_memory():
    assert [round_trips(params(host_memory=m)) for m in ("pinned", "pageable", "both")] == [1, 1, 2]


@pytest.mark.parametrize(
    "kw",
    [
        {"release_cycle": 3, "number_of_cycles": 4, "memory_reuse": True},
        {"release_cycle": 2, "number_of_cycles": 3, "host_memory": "both"},
        {
            "release_cycle": 2,
            "number_of_cycles": 2,
            "memory_size": [1024, 4096],
            "copy_mode": "async",
            "bidirectional": True,
        },
    ],
)
def test_the_totals_of_a_whole_run_are_those_of_its_finished_event(tmp_path, kw):
    path = str(tmp_path / "w.position")
    p = params(**kw)
    watch = Position.create(path, round_trips(p))
    end = finished(run(p, watch=watch))
    watch.close()
    assert end.outcome == "completed" and end.copies > 0
    assert read_position(path) == Where(cycle=end.cycles, copies=end.copies, cycles=end.cycles, bytes=end.bytes)


def test_read_position_reads_the_file_without_mapping_it(tmp_path):
    path = str(tmp_path / "w.position")
    worker = Position.create(path)
    try:
        assert read_position(path) == Where(0, 0, 0, 0)
        worker.copied(3, 17, "random", block(8))
        worker.released(3, {})
        assert read_position(path) == Where(cycle=3, copies=17, cycles=1, bytes=16)
    finally:
        worker.close()
    assert read_position(path) == (3, 17, 1, 16)  # what a post-mortem reader finds after the worker is gone


def test_read_position_of_a_missing_file_is_none(tmp_path):
    assert read_position(str(tmp_path / "never-written.position")) is None


def test_read_position_of_a_short_file_is_none(tmp_path):
    path = tmp_path / "short.position"
    for content in (b"", bytes(8), bytes(16), bytes(SIZE - 1)):  # bytes(16): the two-field file of old
        path.write_bytes(content)
        assert read_position(str(path)) is None


def test_a_longer_file_is_read_from_its_start(tmp_path):
    path = tmp_path / "long.position"
    path.write_bytes(b"".join(n.to_bytes(8, sys.byteorder) for n in (5, 9, 4, 72)) + b"trailing")
    assert read_position(str(path)) == Where(cycle=5, copies=9, cycles=4, bytes=72)


def test_opened_places_the_worker_in_cycle_1_and_never_moves_it_back(tmp_path):
    path = str(tmp_path / "p.position")
    position = Position.create(path)
    position.opened()
    assert read_position(path) == (1, 0, 0, 0)
    position.copied(3, 17)
    position.opened()
    assert read_position(path) == (3, 17, 0, 0)
    position.close()
