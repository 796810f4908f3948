"""The live status of a long run: ``status.json`` (the summary so far) refreshed every
``status_interval`` seconds, plus any extra writers (the Prometheus file when ``--prom`` is given),
so a monitor sees a burn-in's progress and a device that went bad hours before the end.

The verdicts come from the run's own judgement (``judge_all(..., live=True)``): devices still
running show ``RUNNING``, or ``FAIL`` once they recorded a fault; ended ones their final status.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any, Callable, Dict, List, Optional, Sequence

from orchestrator import rundir
from orchestrator.errors import WriteErrors
from orchestrator.report.summary import LIVE_EXIT_CODE, summary, write_summary
from orchestrator.results.records import Verdict

Hook = Callable[[Sequence[Verdict], Dict[str, Any]], None]
"""Called as ``hook(verdicts, summary_so_far)`` at every refresh."""


class LiveStatus:
    """Writes the run's state at most every ``interval`` seconds; ``refresh`` is cheap otherwise.
    ``judge`` gives the verdicts of the results so far."""

    def __init__(
        self,
        run_dir: Path,
        interval: float,
        judge: Callable[[], List[Verdict]],
        facts: Dict[str, Any],
        hooks: Sequence[Hook] = (),
        errors: Optional[WriteErrors] = None,
    ) -> None:
        self.path = run_dir / rundir.STATUS
        self.interval, self.judge, self.facts, self.hooks = interval, judge, facts, list(hooks)
        self.errors = errors if errors is not None else WriteErrors()
        self.written = 0.0

    def refresh(self, force: bool = False) -> None:
        now = time.monotonic()
        if not force and now - self.written < self.interval:
            return
        self.written = now
        verdicts = self.judge()
        data = summary(verdicts, dict(self.facts, updated=time.time()), code=LIVE_EXIT_CODE)
        self.errors.attempt(str(self.path), lambda: write_summary(self.path, data))  # a full disk: noted, run goes on
        for hook in self.hooks:
            hook(verdicts, data)
