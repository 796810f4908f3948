"""ASCEND_RT_VISIBLE_DEVICES parsed exactly as the CANN runtime parses it."""

from __future__ import annotations

import pytest

from workers.visibility import visible_devices


@pytest.mark.parametrize(
    "value,expected",
    [
        (None, None),
        ("", []),
        ("0,1,2", [0, 1, 2]),
        ("1, 2,3", [1]),
        ("3,1", []),
        ("1,1", []),
        ("2,x,4", [2]),
        ("1,3,8", [1, 3, 8]),
    ],
)
def test_visible_devices_parse_like_the_runtime(value, expected):
    assert visible_devices(value) == expected


def test_visible_devices_stop_at_the_physical_count():
    assert visible_devices("1,3,8", count=8) == [1, 3]
