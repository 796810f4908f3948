"""Sizes, durations and device selections as people write them."""

from __future__ import annotations

import pytest

from orchestrator.spec.units import format_ids, format_size, parse_devices, parse_duration, parse_size, parse_sizes

SIZE_HINT = "a number of bytes or a number with a unit: B, KB, MB, GB, TB, KiB, MiB, GiB, TiB"
DURATION_HINT = "seconds or a duration such as 30s, 5m, 2h, 1h30m, 500ms"
DEVICES_HINT = 'must be all, a list of ids, or ranges such as "0-7" or "0-3,6"'


@pytest.mark.parametrize(
    "text, expected",
    [
        (10485760, 10485760),
        ("10485760", 10485760),
        ("10MiB", 10 * 2**20),
        ("4 KiB", 4096),
        ("1GB", 10**9),
        ("1gb", 10**9),
        ("2KB", 2000),
        ("1.5GiB", 3 * 2**29),
        ("512B", 512),
        ("1TiB", 2**40),
        (4096.0, 4096),
    ],
)
def test_sizes(text, expected):
    assert parse_size(text) == expected


@pytest.mark.parametrize(
    "value, message",
    [
        (0, "must be > 0"),
        (-5, "must be > 0"),
        ("-5MiB", "must be > 0"),
        ("10 XB", f"not a size: use {SIZE_HINT}"),
        ("lots", f"not a size: use {SIZE_HINT}"),
        ("1e9", f"not a size: use {SIZE_HINT}"),
        (True, f"must be a size: {SIZE_HINT}"),
        (None, f"must be a size: {SIZE_HINT}"),
        ([1], f"must be a size: {SIZE_HINT}"),
        (float("inf"), f"must be a size: {SIZE_HINT}"),
        (1.5, "must be a whole number of bytes"),
        ("0.3B", "must be a whole number of bytes"),
        ("2PiB", f"not a size: use {SIZE_HINT}"),
        ("2048TiB", "must be at most 1PiB"),
        (10**400, "must be at most 1PiB"),
    ],
)
def test_bad_sizes(value, message):
    with pytest.raises(ValueError) as info:
        parse_size(value)
    assert str(info.value) == message


def test_zero_size_when_allowed():
    assert parse_size(0, allow_zero=True) == 0
    with pytest.raises(ValueError, match="^must be >= 0$"):
        parse_size(-1, allow_zero=True)


@pytest.mark.parametrize(
    "text, expected",
    [
        (30, 30.0),
        (0.5, 0.5),
        ("30", 30.0),
        ("30s", 30.0),
        ("5m", 300.0),
        ("2h", 7200.0),
        ("1h30m", 5400.0),
        ("1h 30m", 5400.0),
        ("500ms", 0.5),
        ("1.5s", 1.5),
        ("1d", 86400.0),
        (0, 0.0),
    ],
)
def test_durations(text, expected):
    assert parse_duration(text) == expected


@pytest.mark.parametrize(
    "value, message",
    [
        (-1, "must be >= 0"),
        ("-5s", "must be >= 0"),
        ("soon", f"not a duration: use {DURATION_HINT}"),
        ("5mx", f"not a duration: use {DURATION_HINT}"),
        ("5 parsecs", f"not a duration: use {DURATION_HINT}"),
        (True, f"must be a duration: {DURATION_HINT}"),
        (float("nan"), f"must be a duration: {DURATION_HINT}"),
        ({}, f"must be a duration: {DURATION_HINT}"),
        ("367d", "must be at most 366d"),
        (10**400, "must be at most 366d"),
        ("9" * 400 + "h", "must be at most 366d"),
    ],
)
def test_bad_durations(value, message):
    with pytest.raises(ValueError) as info:
        parse_duration(value)
    assert str(info.value) == message


def test_positive_duration():
    with pytest.raises(ValueError, match="^must be > 0$"):
        parse_duration("0s", positive=True)


@pytest.mark.parametrize(
    "value, expected",
    [
        ("all", "all"),
        ([0, 1, 3], (0, 1, 3)),
        ([3, 1], (1, 3)),
        ("0-7", tuple(range(8))),
        ("0-3,6", (0, 1, 2, 3, 6)),
        (" 2 - 3 , 5 ", (2, 3, 5)),
        (4, (4,)),
        ("4", (4,)),
    ],
)
def test_device_selections(value, expected):
    assert parse_devices(value) == expected


@pytest.mark.parametrize(
    "value, message",
    [
        ([1, 1], "device 1 is listed twice"),
        ("0-3,2", "device 2 is listed twice"),
        ("7-0", "range 7-0 runs backwards (write 0-7)"),
        ([], "selects no device"),
        ("", DEVICES_HINT),
        ("some", DEVICES_HINT),
        ([True], DEVICES_HINT),
        (-1, "device ids must be 0..1023"),
        ([0, 5000], "device ids must be 0..1023"),
        ("0-99999999", "device ids must be 0..1023"),
        (None, DEVICES_HINT),
    ],
)
def test_bad_device_selections(value, message):
    with pytest.raises(ValueError) as info:
        parse_devices(value)
    assert str(info.value) == message


@pytest.mark.parametrize(
    "size, text",
    [
        (10485760, "10MiB"),
        (3 * 2**29, "1.5GiB"),
        (1000, "1000B"),
        (4096, "4KiB"),
        (0, "0B"),
    ],
)
def test_format_size(size, text):
    assert format_size(size) == text


def test_format_ids():
    assert format_ids([6, 0, 1, 2, 3]) == "0-3,6"
    assert format_ids([]) == ""


@pytest.mark.parametrize(
    "value, expected",
    [
        ("4KiB..64MiB x4", (4096, 16384, 65536, 262144, 2**20, 2**22, 2**24, 2**26)),
        ("4KiB..16KiB", (4096, 8192, 16384)),  # the factor defaults to 2
        ("4 KiB .. 10KiB x 2", (4096, 8192, 10240)),  # the upper bound always ends the sweep
        ("1B..10B x1.5", (1, 2, 3, 4, 7, 10)),  # each size at least one byte above the one before
        ([2**20, "4KiB"], (4096, 2**20)),  # a list comes back ascending
        (["1MiB"], 2**20),
        ("1MiB..1MiB", 2**20),
        ("10MiB", 10 * 2**20),
        (4096, 4096),
    ],
)
def test_size_sweeps(value, expected):
    assert parse_sizes(value) == expected


@pytest.mark.parametrize(
    "value, message",
    [
        ("64MiB..4KiB", "range 64MiB..4KiB runs backwards"),
        ("4KiB..64MiB x1", "the factor after x must be a number > 1 (got 1)"),
        ("4KiB..64MiB xfast", "the factor after x must be a number > 1 (got fast)"),
        (
            "..4KiB",
            'not a size range: use a size, a list of sizes, or a range such as "4KiB..64MiB x2" (from..to x factor)',
        ),
        ("4KiB..lots", f"not a size: use {SIZE_HINT}"),
        ([4096, "4KiB"], "size 4KiB is listed twice"),
        ([], 'must be a size, a list of sizes, or a range such as "4KiB..64MiB x2" (from..to x factor)'),
        ([0], "must be > 0"),
        ("1B..1GiB x1.01", "a sweep holds at most 64 sizes"),
    ],
)
def test_bad_size_sweeps(value, message):
    with pytest.raises(ValueError) as info:
        parse_sizes(value)
    assert str(info.value) == message
