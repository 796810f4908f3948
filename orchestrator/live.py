"""The live status of a long run: ``status.json`` (the summary so far) refreshed every
``status_interval`` seconds, plus any extra writers (the Prometheus file when ``--prom`` is given),
so a monitor sees a burn-in's progress and a device that went bad hours before the end.

Devices still running show ``RUNNING``; ended ones show their final status.
"""
from __future__ import annotations

import time
from pathlib import Path
from typing import Any, Callable, Dict, List, Sequence, Tuple

from orchestrator import report
from orchestrator.collect import Collector
from orchestrator.plan import Thresholds
from orchestrator.status import Status
from orchestrator.verdict import judge

STATUS_FILE = "status.json"

Hook = Callable[[Sequence[report.Verdict], Dict[str, Any]], None]
"""Called as ``hook(verdicts, summary_so_far)`` at every refresh."""


class LiveStatus:
    """Writes the run's state at most every ``interval`` seconds; ``refresh`` is cheap otherwise."""

    def __init__(self, run_dir: Path, interval: float, collector: Collector,
                 thresholds: Dict[Tuple[str, int], Thresholds], facts: Dict[str, Any], hooks: Sequence[Hook] = ()) -> None:
        self.path = run_dir / STATUS_FILE
        self.interval, self.collector, self.thresholds = interval, collector, thresholds
        self.facts, self.hooks = facts, list(hooks)
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
        out = []
        for key, result in self.collector.results.items():
            status, causes = judge(result, self.thresholds[key])
            if result.ended_by is None:
                status = Status.RUNNING
            out.append(report.Verdict(result=result, status=status, causes=tuple(causes)))
        return out
