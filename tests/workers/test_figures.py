"""The one formatter of figures every output uses (inside workers too): exact strings for amounts,
rates, spans of time and the values of a fault's detail."""

from __future__ import annotations

import pytest

from workers import figures


@pytest.mark.parametrize(
    "n, text",
    [
        (None, "-"),
        (0, "0 B"),
        (1023, "1023 B"),
        (1024, "1.0 KiB"),
        (1536, "1.5 KiB"),
        (1 << 20, "1.0 MiB"),
        (int(371.4 * (1 << 20)), "371.4 MiB"),
        (64 << 30, "64.0 GiB"),
        (3 << 40, "3.0 TiB"),
        (-(8 << 20), "-8.0 MiB"),
        (-5, "-5 B"),
    ],
)
def test_amount(n, text):
    assert figures.amount(n) == text


@pytest.mark.parametrize(
    "value, text",
    [(None, "-"), (0.04, "0.0s"), (0.84, "0.8s"), (59.94, "59.9s"), (125, "2m05s"), (3720, "1h02m"), (273600, "3d04h")],
)
def test_seconds(value, text):
    assert figures.seconds(value) == text


def test_rates_have_two_decimals_and_say_their_unit_when_asked():
    assert (figures.gbps(14.316), figures.rate(14.316), figures.rate(None)) == ("14.32", "14.32 GB/s", "-")


def test_a_fault_detail_reads_in_units_and_short_floats():
    assert figures.detail("leak", 4 << 20) == "4.0 MiB"
    assert figures.detail("bytes", 371195904) == "354.0 MiB"
    assert figures.detail("bytes", 3785679) == "3.6 MiB (3785679 bytes)"  # not round: the exact count kept
    assert figures.detail("min", 0.3986609612403482) == "0.3987"
    assert figures.detail("lowest_free", {"ddr": 0, "hbm": 4 << 30}) == "ddr 0 B, hbm 4.0 GiB"
    assert figures.detail("trend", [1 << 20, 2 << 20]) == "[1048576, 2097152]"  # not a byte key: as is
    assert figures.detail("verify", False) == "false" and figures.detail("api", None) == "null"
    assert figures.detail("samples", [{"offset": 3, "expected": 7}]) == "[{offset: 3, expected: 7}]"


def test_the_unit_a_chart_counts_in_is_the_one_amounts_use():
    assert [figures.binary_unit(n) for n in (0, 1023, 4 << 30, -(3 << 20))] == [
        ("B", 1),
        ("B", 1),
        ("GiB", 1 << 30),
        ("MiB", 1 << 20),
    ]
