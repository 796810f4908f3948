from __future__ import annotations

import numpy as np

from workers import verify


def test_equal_buffers_pass():
    a = np.arange(10_000, dtype=np.uint32).view(np.uint8)
    assert verify.compare(a, a.copy()) is None


def test_mismatch_reports_first_offset_count_and_samples():
    expected = np.full(100_000, 7, dtype=np.uint8)
    actual = expected.copy()
    bad = [5, 99, 4096] + list(range(50_000, 50_010))
    actual[bad] = 0xFF
    report = verify.compare(actual, expected)
    assert report["first_bad_offset"] == 5
    assert report["bad_bytes"] == len(bad)
    assert len(report["samples"]) == verify.MAX_SAMPLES
    assert report["samples"][0] == {"offset": 5, "expected": 7, "actual": 255}


def test_a_single_flipped_bit_is_caught():
    expected = np.zeros(1 << 20, dtype=np.uint8)
    actual = expected.copy()
    actual[-1] ^= 0x10
    assert verify.compare(actual, expected)["first_bad_offset"] == (1 << 20) - 1


def test_sizes_must_match():
    assert not verify.equal(np.zeros(4, np.uint8), np.zeros(5, np.uint8))


def test_poison_makes_stale_data_fail():
    expected = np.full(10_000, 7, dtype=np.uint8)
    stale = expected.copy()
    verify.poison(stale, expected)
    report = verify.compare(stale, expected)
    assert report["first_bad_offset"] == 0
    assert stale[-1] != 7
