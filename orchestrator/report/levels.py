"""What a level of several steps says at its end: one row per step (its verdict in one line, its
run directory), the shared-link finding of ``long`` (each device's rate with every device copying
against its rate alone), the level's own one line (``--quiet``) and its record, ``rundir.LEVEL`` in
the level's directory (also what ``--format json`` prints). Each step's own outputs are its run's.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence

from orchestrator import rundir
from orchestrator.errors import EXIT_INTERRUPTED, EXIT_PASS
from orchestrator.report.oneline import first_cause, one_line
from orchestrator.report.summary import write_atomic
from orchestrator.report.table import devices
from orchestrator.results.records import Verdict
from orchestrator.results.status import Status
from orchestrator.results.verdict import exit_code as run_exit_code

SHARED_BELOW = 0.75
"""A device whose median with every device copying is under this share of its median alone shares
its host link (or a PCIe switch) with others."""


RUNNING = "running"
STATES = (RUNNING, "finished", "interrupted", "failed")
"""A level's state in its record: running; ended as planned (each step run, or the level stopped by
a step that could not run or by a stop it took in its stride); interrupted while a step was being
set up; failed (an internal error of dvpp-fleet)."""


@dataclass
class StepRun:
    """A step as it ran: its number and name, its run directory, exit code and verdicts (code None:
    not run, because an earlier step was stopped or could not run); ``unwritten``: files of it that
    could not be written; ``error``: why it could not run at all (its code then 2 or 3)."""

    number: int
    name: str
    checks: str
    run_dir: Path
    code: Optional[int] = None
    verdicts: List[Verdict] = field(default_factory=list)
    facts: Dict[str, Any] = field(default_factory=dict)
    unwritten: int = 0
    error: str = ""

    @property
    def line(self) -> str:
        """The step's verdict in one line (``oneline.py``), ``could not run: ...`` or ``not run``."""
        if self.error:
            return f"could not run: {self.error}"
        if self.code is None:
            return "not run"
        unwritten = f"; {self.unwritten} file(s) not written" if self.unwritten else ""
        return one_line(self.verdicts, self.facts) + unwritten


def exit_code(steps: Sequence[StepRun]) -> int:
    """The level's exit code: that of one run holding every step's verdicts (``verdict.exit_code``:
    a file not written, then a stop, then a device that did not pass); else that of a step that could
    not run (2, 3); else 0."""
    ran = [s for s in steps if s.code is not None and not s.error]
    verdicts = [v for s in ran for v in s.verdicts]
    interrupted = any(s.code == EXIT_INTERRUPTED for s in ran)
    code = run_exit_code(verdicts, interrupted, write_failed=any(s.unwritten for s in ran)) if ran else EXIT_PASS
    errors = [s.code for s in steps if s.error and s.code is not None]
    return code if code != EXIT_PASS else next(iter(errors), EXIT_PASS)


def record(
    level: str, steps: Sequence[StepRun], started: datetime, state: str = RUNNING, shared: Sequence[str] = ()
) -> Dict[str, Any]:
    """``level.json``: the level, when it started (ISO 8601, as a journal's header), its ``state``
    (``STATES``; once it has ended, its exit code, line and shared-link finding), and per step its
    run directory, exit code and one line."""
    return {
        "level": level,
        "started": started.isoformat(timespec="seconds"),
        "updated": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "state": state,
        "exit_code": None if state == RUNNING else exit_code(steps),
        "result": None if state == RUNNING else one_level_line(steps),
        "shared_link": [line.strip() for line in shared],
        "steps": [
            {"number": s.number, "name": s.name, "checks": s.checks, "run_dir": str(s.run_dir), "exit_code": s.code,
             "result": s.line}
            for s in steps
        ],
    }  # fmt: skip


def write_record(folder: Path, data: Dict[str, Any]) -> None:
    write_atomic(folder / rundir.LEVEL, json.dumps(data, indent=2) + "\n")


def summary_lines(level: str, steps: Sequence[StepRun], shared: Optional[Sequence[str]] = None) -> List[str]:
    """The level's end: a row per step, the shared-link lines, then the level's verdict."""
    width = max(len(f"{s.number}/{len(steps)} {s.name}") for s in steps)
    lines = [f"level {level}: {len(steps)} steps"]
    lines += [f"  {f'{s.number}/{len(steps)} {s.name}':<{width}}  {s.line}  ({s.run_dir})" for s in steps]
    lines += list(shared or [])
    failed = [s for s in steps if s.code not in (None, EXIT_PASS)]
    skipped = sum(s.code is None for s in steps)
    verdict = one_level_line(steps) + (f" ({len(failed)} of {len(steps)} steps did not pass)" if failed else "")
    return lines + ["", f"level {level}: {verdict}" + (f"; {skipped} step(s) not run" if skipped else "")]


def one_level_line(steps: Sequence[StepRun]) -> str:
    """``PASS 8/8``, or ``FAIL 1/8: localhost:3 data_mismatch (sweep)``: every device that did not
    pass a step, once, with the first step it did not pass and that step's first cause; a stopped
    level says ``INTERRUPTED`` and still names them (a stop never hides a fault); then the files not
    written and the step that could not run, if any."""
    ran = [s for s in steps if s.code is not None and not s.error]
    bad: Dict[str, str] = {}
    for s in ran:
        for v in s.verdicts:
            if v.status is not Status.PASS and v.name not in bad:
                bad[v.name] = f"{v.name} {first_cause(v)} ({s.name})"
    total = len({v.name for s in ran for v in s.verdicts})
    interrupted = any(s.code == EXIT_INTERRUPTED for s in ran)
    word = "INTERRUPTED" if interrupted else "FAIL" if bad or not ran else "PASS"
    simulated = " (simulated)" if any(s.facts.get("simulated") for s in ran) else ""
    line = f"{word} {len(bad) if bad or interrupted else total}/{total}{simulated}"
    line += (": " + ", ".join(bad.values())) if bad else ""
    unwritten = sum(s.unwritten for s in ran)
    line += f"; {unwritten} file(s) not written" if unwritten else ""
    return line + "".join(f"; step {s.name} could not run" for s in steps if s.error)


def shared_link_lines(together: StepRun, alone: StepRun, below: float = SHARED_BELOW) -> List[str]:
    """Each device's median with every device copying (``together``) against alone: the devices
    under ``below`` of their own rate alone share a link; none found is said too."""
    if together.code is None or alone.code is None:
        return []
    solo = {v.name: v.result for v in alone.verdicts}
    shares: Dict[str, List[float]] = {}
    for v in together.verdicts:
        mine = solo.get(v.name)
        for direction in ("h2d", "d2h"):
            both, one = _median(getattr(v.result, direction)), _median(getattr(mine, direction, None))
            if both and one:
                shares.setdefault(v.name, []).append(both / one)
    if not shares:
        return [f"  shared link: not judged ({together.name} and {alone.name} measured no common device)"]
    slow = {name: min(found) for name, found in shares.items() if min(found) < below}
    if not slow:
        low = min(min(found) for found in shares.values())
        return [f"  shared link: none; every device kept {low:.0%} or more of its rate alone with all copying at once"]
    names = devices([v for v in together.verdicts if v.name in slow])
    worst = min(slow.values())
    return [
        f"  shared link: {names} copy at {worst:.0%} to {max(slow.values()):.0%} of their rate alone when all copy "
        f"at once (under {below:.0%}): they share a host link or a PCIe switch (a finding, not a device fault)"
    ]


def _median(stats: Optional[Dict[str, Any]]) -> Optional[float]:
    value = (stats or {}).get("median")
    return float(value) if value else None
