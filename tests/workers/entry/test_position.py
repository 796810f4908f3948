"""The position file (workers/entry/position.py): written through one mapping, seen through
another and by a plain read, as the worker and the controller each see it."""

from __future__ import annotations

import sys

from workers.entry.position import SIZE, Position, read_position


def test_create_makes_a_zeroed_file_of_two_64_bit_integers(tmp_path):
    path = tmp_path / "w.position"
    pos = Position.create(str(path))
    try:
        assert SIZE == 16
        assert path.read_bytes() == bytes(16)
        assert (pos.path, pos.cycle, pos.copies) == (str(path), 0, 0)
    finally:
        pos.close()


def test_create_resets_an_existing_file(tmp_path):
    path = tmp_path / "w.position"
    path.write_bytes(b"\xff" * 32)
    pos = Position.create(str(path))
    try:
        assert (pos.cycle, pos.copies) == (0, 0)
        assert path.stat().st_size == SIZE
    finally:
        pos.close()


def test_copied_and_released_are_seen_through_a_second_mapping(tmp_path):
    path = str(tmp_path / "w.position")
    worker = Position.create(path)
    controller = Position(path)
    try:
        worker.copied(1, 3, "random", b"sent", b"received", {})  # the rest of a Watch's call: ignored
        assert (controller.cycle, controller.copies) == (1, 3)
        worker.released(2, {"hbm": {"free": 1, "total": 2}})
        assert (controller.cycle, controller.copies) == (2, 3)  # the copy count stays
        worker.copied(2, 2**40)
        assert (controller.cycle, controller.copies) == (2, 2**40)
    finally:
        worker.close()
        controller.close()


def test_read_position_reads_the_file_without_mapping_it(tmp_path):
    path = str(tmp_path / "w.position")
    worker = Position.create(path)
    try:
        assert read_position(path) == (0, 0)
        worker.copied(3, 17)
        assert read_position(path) == (3, 17)
    finally:
        worker.close()
    assert read_position(path) == (3, 17)  # what a post-mortem reader finds after the worker is gone


def test_read_position_of_a_missing_file_is_none(tmp_path):
    assert read_position(str(tmp_path / "never-written.position")) is None


def test_read_position_of_a_short_file_is_none(tmp_path):
    path = tmp_path / "short.position"
    for content in (b"", bytes(8), bytes(SIZE - 1)):
        path.write_bytes(content)
        assert read_position(str(path)) is None


def test_a_longer_file_is_read_from_its_start(tmp_path):
    path = tmp_path / "long.position"
    path.write_bytes((5).to_bytes(8, sys.byteorder) + (9).to_bytes(8, sys.byteorder) + b"trailing")
    assert read_position(str(path)) == (5, 9)


def test_opened_places_the_worker_in_cycle_1_and_never_moves_it_back(tmp_path):
    path = str(tmp_path / "p.position")
    position = Position.create(path)
    position.opened()
    assert read_position(path) == (1, 0)
    position.copied(3, 17)
    position.opened()
    assert read_position(path) == (3, 17)
    position.close()
