"""``--quiet``: the whole run in one line, for scripts and cron mail.

``PASS 8/8``, or ``FAIL 2/8: localhost:1 data_mismatch, localhost:5 leak`` (how many devices did
not pass, of how many, then each of them with the kind of its first cause, or its status word in
lower case when it has none); ``INTERRUPTED`` for a run that was stopped, ``RUNNING`` for one in
progress (``report`` of a live run); `` (simulated)`` after the count when the simulator ran.
``publish.py`` adds the files that could not be written; ``levels.py`` makes a level's line of its steps'.
"""

from __future__ import annotations

from typing import Any, Dict, Sequence

from orchestrator.results.records import Verdict
from orchestrator.results.status import RunState, Status


def one_line(verdicts: Sequence[Verdict], facts: Dict[str, Any]) -> str:
    """The run's verdict in one line (see the module docstring)."""
    bad = [v for v in verdicts if v.status is not Status.PASS]
    word = _word(verdicts, bad, facts)
    count = len(verdicts) if word == "PASS" else len(bad)
    head = f"{word} {count}/{len(verdicts)}" + (" (simulated)" if facts.get("simulated") else "")
    return head + (": " + ", ".join(f"{v.name} {first_cause(v)}" for v in bad) if bad else "")


def first_cause(v: Verdict) -> str:
    """The kind of the device's first cause, else its status word in lower case."""
    return v.causes[0].fault if v.causes else v.status.value.lower()


def _word(verdicts: Sequence[Verdict], bad: Sequence[Verdict], facts: Dict[str, Any]) -> str:
    if facts.get("interrupted"):
        return "INTERRUPTED"
    if facts.get("state") == RunState.RUNNING.value:
        return "RUNNING"
    return "PASS" if verdicts and not bad else "FAIL"
