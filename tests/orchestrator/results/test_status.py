"""The status vocabulary: every status is its own word and has a one-line meaning for the outputs."""

from __future__ import annotations

import pytest

from orchestrator.results.status import MEANINGS, Status


@pytest.mark.parametrize("status", list(Status))
def test_every_status_has_a_one_line_meaning(status):
    meaning = status.meaning
    assert meaning == MEANINGS[status]
    assert meaning.strip() == meaning and meaning
    assert "\n" not in meaning and len(meaning) <= 100


def test_meanings_cover_exactly_the_statuses_and_differ():
    assert set(MEANINGS) == set(Status)
    assert len(set(MEANINGS.values())) == len(Status)


def test_the_value_is_the_word_shown():
    assert [s.value for s in Status] == [
        "PASS",
        "FAIL",
        "CRASHED",
        "HUNG",
        "UNAVAILABLE",
        "BUSY",
        "HOST_ERROR",
        "ABORTED",
        "SKIPPED",
        "INCOMPLETE",
        "RUNNING",
    ]
    assert all(s.value == s.name for s in Status)
    assert Status("HUNG") is Status.HUNG and Status.FAIL == "FAIL"


@pytest.mark.parametrize(
    "status, meaning",
    [
        (Status.PASS, "every copy verified, no fault recorded, thresholds met"),
        (Status.CRASHED, "the worker process died"),
        (Status.RUNNING, "still running (only in the live status file of a run in progress)"),
    ],
)
def test_meaning_wording(status, meaning):
    assert status.meaning == meaning
