"""How every output writes a cause: exact strings for rates, where and which call a
cause happened, the wrong bytes of a mismatch, a whole cause on one line, and shortening."""

from __future__ import annotations

import pytest

from orchestrator.report import fmt
from orchestrator.results.records import cause
from tests.helpers.fleet_runs import mismatch, stats

OPEN = cause(
    "open_failed",
    "acl.rt.set_device failed 3 time(s)",
    api="acl.rt.set_device",
    code=507033,
    name="ACL_ERROR_RT_DEV_SETUP_ERROR",
)


@pytest.mark.parametrize("value, text", [(None, "-"), (0.0, "0.00"), (24, "24.00"), (9.876, "9.88"), (123.4, "123.40")])
def test_gbps(value, text):
    assert fmt.gbps(value) == text


@pytest.mark.parametrize(
    "value, text",
    [
        (None, "-"),
        ({}, "-"),
        ({"median": None, "min": None}, "-"),
        (stats(24.0), "24.00 / 19.20"),
        ({"median": 9.5, "min": None}, "9.50 / -"),
    ],
)
def test_rate_cell(value, text):
    assert fmt.rate_cell(value) == text


@pytest.mark.parametrize(
    "c, text",
    [
        (mismatch(cycle=2, copy=11), "cycle 2, copy 11"),
        (cause("x", "m", cycle=3), "cycle 3"),
        (cause("x", "m", copy=0), "copy 0"),
        (cause("x", "m"), ""),
    ],
)
def test_where(c, text):
    assert fmt.where(c) == text


@pytest.mark.parametrize(
    "c, text",
    [
        (OPEN, "acl.rt.set_device 507033 ACL_ERROR_RT_DEV_SETUP_ERROR"),
        (cause("x", "m", api="acl.rt.memcpy"), "acl.rt.memcpy"),
        (cause("x", "m", code=0), "0"),
        (cause("x", "m"), ""),
    ],
)
def test_call(c, text):
    assert fmt.call(c) == text


def test_samples_lists_the_first_wrong_bytes():
    assert fmt.samples(mismatch()) == "expected/actual at offset: 4096: 255/254"
    many = cause(
        "data_mismatch",
        "m",
        detail={"samples": [{"offset": o, "expected": 7, "actual": 6} for o in range(10, 16)] + ["junk"]},
    )
    assert fmt.samples(many) == "expected/actual at offset: 10: 7/6, 11: 7/6, 12: 7/6, 13: 7/6"
    assert fmt.samples(many, limit=2) == "expected/actual at offset: 10: 7/6, 11: 7/6"


@pytest.mark.parametrize(
    "detail", [{}, {"samples": []}, {"samples": None}, {"samples": ["not a sample"]}, {"bad_bytes": 3}]
)
def test_samples_is_empty_without_samples(detail):
    assert fmt.samples(cause("data_mismatch", "m", detail=detail)) == ""


def test_describe_puts_one_cause_on_one_line():
    assert fmt.describe(mismatch()) == (
        "[data_mismatch] 3 byte(s) differ after D2H (cycle 2, copy 11); expected/actual at offset: 4096: 255/254"
    )
    assert fmt.describe(OPEN) == (
        "[open_failed] acl.rt.set_device failed 3 time(s) <acl.rt.set_device 507033 ACL_ERROR_RT_DEV_SETUP_ERROR>"
    )
    assert fmt.describe(cause("leak", "8 bytes below the baseline")) == "[leak] 8 bytes below the baseline"
    assert fmt.describe(cause("api_error", "failed", api="acl.rt.memcpy", code=1, cycle=1, copy=2)) == (
        "[api_error] failed (cycle 1, copy 2) <acl.rt.memcpy 1>"
    )


@pytest.mark.parametrize(
    "text, width, out",
    [
        ("short", 60, "short"),
        ("  two\n lines\tand   tabs ", 60, "two lines and tabs"),
        ("x" * 60, 60, "x" * 60),
        ("x" * 61, 60, "x" * 57 + "..."),
        ("abcdefghij", 8, "abcde..."),
        (507033, 60, "507033"),
    ],
)
def test_short(text, width, out):
    assert fmt.short(text, width) == out
    assert len(fmt.short(text, width)) <= width


def test_banners_wording():
    assert fmt.SIMULATED == (
        "SIMULATED: these devices are the built-in simulator, not real NPUs; "
        "no hardware was tested. Use `backend: acl` on an NPU server."
    )
    assert fmt.INTERRUPTED == "INTERRUPTED: the run was stopped before every device finished."


def test_a_cause_whose_message_already_names_its_call_or_place_says_it_once():
    said = cause(
        "open_failed",
        "acl.rt.set_device failed: 507033 ACL_ERROR_RT_DEV_SETUP_ERROR (after 1 attempt)",
        api="acl.rt.set_device",
        code=507033,
        name="ACL_ERROR_RT_DEV_SETUP_ERROR",
    )
    assert fmt.describe(said) == f"[open_failed] {said.message}"
    died = cause("crashed", "worker died from signal SIGSEGV during cycle 5, copy 40", cycle=5, copy=40)
    assert fmt.describe(died) == "[crashed] worker died from signal SIGSEGV during cycle 5, copy 40"
