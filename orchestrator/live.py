"""The live status of a long run: ``status.json`` (the summary so far) refreshed every
``status_interval`` seconds, plus any extra writers (the Prometheus file when ``--prom`` is given),
so a monitor sees a burn-in's progress and a device that went bad hours before the end.

Devices still running show ``RUNNING``, or ``FAIL`` once they recorded a fault; ended ones show
their final status.
"""
from __future__ import annotations

import dataclasses
import time
from pathlib import Path
from typing import Any, Callable, Dict, List, Sequence

from orchestrator import report
from orchestrator.status import Status

STATUS_FILE = "status.json"

Hook = Callable[[Sequence[report.Verdict], Dict[str, Any]], None]
"""Called as ``hook(verdicts, summary_so_far)`` at every refresh."""


class LiveStatus:
    """Writes the run's state at most every ``interval`` seconds; ``refresh`` is cheap otherwise.
    ``judge`` gives the verdicts of the results so far (the run's own judgement, outliers included)."""

    def __init__(self, run_dir: Path, interval: float, judge: Callable[[], List[report.Verdict]],
                 facts: Dict[str, Any], hooks: Sequence[Hook] = ()) -> None:
        self.path = run_dir / STATUS_FILE
        self.interval, self.judge, self.facts, self.hooks = interval, judge, facts, list(hooks)
        self.written = 0.0

    def refresh(self, force: bool = False) -> None:
        now = time.monotonic()
        if not force and now - self.written < self.interval:
            return
        self.written = now
        verdicts = self.verdicts()
        data = report.summary(verdicts, dict(self.facts, updated=time.time()), code=-1)
        report.write_summary(self.path, data)
        for hook in self.hooks:
            hook(verdicts, data)

    def verdicts(self) -> List[report.Verdict]:
        """A device still running is RUNNING, or FAIL as soon as it has recorded a fault (a monitor
        must see a device go bad hours before the end); ended devices keep their final status."""
        out = []
        for v in self.judge():
            if v.result.ended_by is None and v.status in (Status.INCOMPLETE, Status.SKIPPED):
                v = dataclasses.replace(v, status=Status.FAIL if v.causes else Status.RUNNING)
            out.append(v)
        return out
