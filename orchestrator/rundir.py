"""The run directory: every file name in it, and making a new one.

runs/<UTC time>-<id>/
  events.jsonl      the journal (results/journal.py)
  status.json       the summary so far, refreshed during the run (report/live.py)
  summary.json      the final summary (report/summary.py)
  report.txt        the table and failure summary as printed
  report.html       the plots (report/html.py)
  logs/<host>-<device>.log        each worker's stdout and stderr
  logs/.<host>-<device>.position  where each local worker is (workers/entry/position.py)
  sim-link-<host>.state           the simulated host link of one host (simulator only)
"""

from __future__ import annotations

import uuid
from datetime import datetime, timezone
from pathlib import Path

from orchestrator.errors import SpecError
from workers.job import LOG_SUFFIX, POSITION_SUFFIX, worker_name

JOURNAL = "events.jsonl"
STATUS = "status.json"
SUMMARY = "summary.json"
REPORT_TEXT = "report.txt"
REPORT_HTML = "report.html"
LOGS = "logs"
DEFAULT_BASE = Path("runs")


def new_run_dir(base: Path = DEFAULT_BASE) -> Path:
    """A fresh name under ``base``: ``<UTC time>-<6 hex digits>``."""
    stamp = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%SZ")
    return base / f"{stamp}-{uuid.uuid4().hex[:6]}"


def prepare_run_dir(run_dir: Path) -> None:
    """Create the run directory; refuse one that already holds a journal or cannot be written."""
    if (run_dir / JOURNAL).exists():
        raise SpecError([f"--out: {run_dir} already holds a run ({JOURNAL}); choose a new directory"])
    try:
        (run_dir / LOGS).mkdir(parents=True, exist_ok=True)
        probe = run_dir / ".write-test"
        probe.write_text("")
        probe.unlink()
    except OSError as exc:
        raise SpecError([f"--out: cannot write to {run_dir} ({exc.strerror or exc})"]) from None


def log_name(host: str, device: int) -> str:
    """A worker's log, relative to the run directory (how reports name it)."""
    return f"{LOGS}/{worker_name(host, device)}{LOG_SUFFIX}"


def log_path(run_dir: Path, host: str, device: int) -> Path:
    return run_dir / log_name(host, device)


def position_path(run_dir: Path, host: str, device: int) -> Path:
    return run_dir / LOGS / f".{worker_name(host, device)}{POSITION_SUFFIX}"


def link_state_path(run_dir: Path, host: str) -> Path:
    """The simulated shared link of ``host``: shared by this run's workers of that host only."""
    return run_dir / f"sim-link-{host}.state"
