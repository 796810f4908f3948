from __future__ import annotations

import ctypes

import numpy as np
import pytest

from workers import patterns
from workers.params import PATTERNS


@pytest.mark.parametrize("size", [1, 7, 8, 9, 4096, 100_003])
def test_every_pattern_has_the_right_size(size):
    book = patterns.PatternBook(PATTERNS, size, seed=3)
    for copy in range(1, 9):
        assert book.expected(copy).size == size


def test_constant_is_the_seeds_seven():
    assert set(patterns.make("constant", 1000).tolist()) == {7}


def test_walking_ones():
    data = patterns.make("walking_ones", 20)
    assert data.tolist() == [1 << (i % 8) for i in range(20)]


def test_address_words_hold_their_own_offset():
    data = patterns.make("address", 8 * 1000 + 3)
    words = data[: 8 * 1000].view("<u8")
    assert (words == np.arange(1000, dtype=np.uint64) * 8).all()
    assert data[-3:].tolist() == [64, 31, 0]  # low bytes of 8000 = 0x1f40


def test_random_is_reproducible_and_differs_per_copy_and_seed():
    a = patterns.PatternBook(["random"], 4096, seed=1)
    b = patterns.PatternBook(["random"], 4096, seed=1)
    c = patterns.PatternBook(["random"], 4096, seed=2)
    assert np.array_equal(a.expected(5), b.expected(5))
    assert not np.array_equal(a.expected(1), a.expected(2))
    assert not np.array_equal(a.expected(1), c.expected(1))


def test_patterns_are_used_in_turn():
    book = patterns.PatternBook(["constant", "address"], 16)
    assert [book.name(k) for k in range(1, 5)] == ["constant", "address", "constant", "address"]


def test_patterns_are_read_only_and_precomputed_once():
    book = patterns.PatternBook(["constant"], 64)
    first = book.expected(1)
    assert not first.flags.writeable
    assert np.shares_memory(first, book.expected(2))


def test_fill_writes_through_a_view_over_a_raw_address():
    raw = (ctypes.c_uint8 * 32)()
    host = patterns.view(ctypes.addressof(raw), 32)
    expected = patterns.PatternBook(["walking_ones"], 32).fill(host, 1)
    assert bytes(raw) == expected.tobytes()


def test_unknown_pattern_is_refused():
    with pytest.raises(ValueError, match="unknown pattern 'zebra'"):
        patterns.make("zebra", 8)
    with pytest.raises(ValueError):
        patterns.PatternBook([], 8)
