"""The run directory: every file name in it, and making a new one.

runs/<UTC time>-<id>/
  events.jsonl      the journal (results/journal.py)
  status.json       the summary so far, refreshed during the run (report/live.py)
  summary.json      the final summary (report/summary.py)
  report.txt        the table and failure summary as printed
  report.html       the plots (report/html.py)
  logs/<host>-<device>.log        each worker's stdout and stderr
  logs/.<host>-<device>.position  where each local worker is (workers/entry/position.py)
  logs/ray.log                    what Ray's driver printed of the cluster (Ray launcher)
  logs/forkserver.log             what the server local workers are forked from said, and why workers
                                  were spawned instead, if anything (launch/local.py)
  sim-link-<host>.state           the simulated host link of one host (simulator only)
  .<name>.<random>                a result being written atomically (left behind only by a killed run)

A level of several steps (``run --level standard``) is a folder of run directories, one per step:

runs/<UTC time>-<id>/
  level.json        the level's record (report/levels.py); the folder is flocked while it runs
  1-quick/, 2-sweep/, ...         each step's run directory, as above
"""

from __future__ import annotations

import os
import stat
import uuid
from datetime import datetime, timezone
from pathlib import Path
from typing import Callable, List, Optional

from orchestrator.errors import SpecError
from workers.job import LOG_SUFFIX, POSITION_SUFFIX, worker_name

JOURNAL = "events.jsonl"
STATUS = "status.json"
SUMMARY = "summary.json"
REPORT_TEXT = "report.txt"
REPORT_HTML = "report.html"
LOGS = "logs"
RESULTS = (SUMMARY, STATUS, REPORT_TEXT, REPORT_HTML)
"""What a run writes into its directory when it ends (``report`` writes them again for a run whose
controller died, and any that are missing)."""
DEFAULT_BASE = Path("runs")


def new_run_dir(base: Path = DEFAULT_BASE) -> Path:
    """A fresh name under ``base``: ``<UTC time>-<6 hex digits>``."""
    stamp = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%SZ")
    return base / f"{stamp}-{uuid.uuid4().hex[:6]}"


def prepare_run_dir(run_dir: Path) -> None:
    """Create the run directory and claim it: its journal is created empty and exclusively, so of
    two runs given the same ``--out`` at once exactly one gets it. Refuse one that already holds a
    journal (a finished run, or one in progress) or cannot be written."""
    taken = SpecError(
        [f"--out: {run_dir} already holds a run ({JOURNAL}, finished or in progress); choose a new directory"]
    )
    if (run_dir / JOURNAL).exists():
        raise taken
    if (run_dir / LEVEL).exists():
        raise SpecError([f"--out: {run_dir} is the folder of a level's steps; choose a new directory"])
    try:
        (run_dir / LOGS).mkdir(parents=True, exist_ok=True)
        fd = os.open(run_dir / JOURNAL, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o666)
        os.close(fd)
    except FileExistsError:
        raise taken from None
    except OSError as exc:
        raise SpecError([f"--out: cannot write to {run_dir} ({exc.strerror or exc})"]) from None


LEVEL = "level.json"
"""The record of a level of several steps, in the folder that holds the steps' run directories."""


def claim_level_dir(folder: Path) -> None:
    """Create the folder of a level's steps and claim it (its ``LEVEL`` record, created empty and
    exclusively); refuse one that holds a run or a level already."""
    if (folder / JOURNAL).exists() or (folder / LEVEL).exists():
        raise SpecError([f"--out: {folder} already holds a run or a level; choose a new directory"])
    try:
        folder.mkdir(parents=True, exist_ok=True)
        os.close(os.open(folder / LEVEL, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o666))
    except FileExistsError:
        raise SpecError([f"--out: {folder} already holds a level; choose a new directory"]) from None
    except OSError as exc:
        raise SpecError([f"--out: cannot write to {folder} ({exc.strerror or exc})"]) from None


OWN_FILES = frozenset({JOURNAL, *RESULTS}) - {REPORT_HTML}
"""Files a run directory holds that no ``--junit``/``--prom``/``--html`` may replace."""


def clobbers(path: Path, run_dir: Optional[Path] = None, allowed: str = "") -> Optional[str]:
    """Why ``path`` must not be written by an output option, or None. A run directory is any folder
    holding a journal, and ``run_dir`` (the run at hand, which may not exist yet). Nothing is
    written inside a run directory but its own documented outputs: ``allowed`` is the one name this
    option may write, and only in ``run_dir`` itself (``report.html`` for ``--html``)."""
    target = path.resolve()
    folder = target.parent
    own = run_dir.resolve() if run_dir is not None else None

    def is_run(d: Path) -> bool:
        return (d / JOURNAL).exists() or d == own

    if folder.name == LOGS and is_run(folder.parent):
        return f"{path} is inside the logs of the run in {folder.parent}"
    if not is_run(folder) or (allowed and target.name == allowed and folder == own):
        return None
    if target.name in OWN_FILES | {REPORT_HTML} or target.name.startswith("sim-link-") or target.name == LOGS:
        return f"{path} is the {target.name} of the run in {folder}"
    return f"{path} is inside the run directory {folder}, which holds only the run's own files"


def is_run_dir(path: Path) -> bool:
    """``path`` is a directory (not a link to one) holding a journal that is a plain file."""
    try:
        return stat.S_ISDIR(path.lstat().st_mode) and stat.S_ISREG((path / JOURNAL).lstat().st_mode)
    except OSError:
        return False


def is_level_dir(path: Path) -> bool:
    """``path`` is a directory (not a link to one) holding a level's record that is a plain file."""
    try:
        return stat.S_ISDIR(path.lstat().st_mode) and stat.S_ISREG((path / LEVEL).lstat().st_mode)
    except OSError:
        return False


def not_a_run(path: Path) -> str:
    """Why ``path`` is no run directory, in words: for a level's folder, its steps' run directories
    (``1-quick, 2-sweep``: give one of those), else that it holds no journal."""
    if not is_level_dir(path):
        return f"{path} holds no {JOURNAL}; is it a run directory?"
    try:
        steps = sorted(p.name for p in path.iterdir() if is_run_dir(p))
    except OSError as exc:
        return f"{path} is the folder of a level's steps, which cannot be read ({exc.strerror or exc})"
    if not steps:
        return f"{path} is the folder of a level's steps, and none of them has a run directory yet"
    listed = ", ".join(str(path / name) for name in steps)
    return f"{path} is the folder of a level's steps, each its own run directory: give one of {listed}"


def foreign_files(run_dir: Path) -> List[str]:
    """What ``run_dir`` holds that no run writes (``name``, or ``logs/name``; a link counts as
    foreign wherever it is): a directory is removed as a run's only when this is empty."""
    found = _foreign(run_dir, _run_file)
    logs = run_dir / LOGS
    if LOGS not in found and logs.is_dir():
        found += [f"{LOGS}/{name}" for name in _foreign(logs, _log_file)]
    return found


def _foreign(folder: Path, known: Callable[[str, bool], bool]) -> List[str]:
    try:
        entries = sorted(os.scandir(folder), key=lambda e: e.name)
    except OSError:
        return ["(unreadable)"]
    return [e.name for e in entries if e.is_symlink() or not known(e.name, e.is_dir(follow_symlinks=False))]


def _run_file(name: str, is_dir: bool) -> bool:
    if is_dir:
        return name == LOGS
    temporary = any(name.startswith(f".{own}.") for own in RESULTS)
    return name in (JOURNAL, *RESULTS) or temporary or (name.startswith("sim-link-") and name.endswith(".state"))


def _log_file(name: str, is_dir: bool) -> bool:
    return not is_dir and (name.endswith(LOG_SUFFIX) or (name.startswith(".") and name.endswith(POSITION_SUFFIX)))


def log_name(host: str, device: int) -> str:
    """A worker's log, relative to the run directory (how reports name it)."""
    return f"{LOGS}/{worker_name(host, device)}{LOG_SUFFIX}"


def log_path(run_dir: Path, host: str, device: int) -> Path:
    return run_dir / log_name(host, device)


FORKSERVER_LOG = "forkserver.log"
"""In ``LOGS``: the stderr of the server this run's local workers are forked from, and why the run
spawned workers instead (a server that could not start or died); absent when there was nothing to say."""


def forkserver_log_path(run_dir: Path) -> Path:
    return run_dir / LOGS / FORKSERVER_LOG


RAY_LOG = "ray.log"
"""In ``LOGS``: what Ray's driver printed of the cluster during a Ray run (``(raylet) A worker died
...``), kept off stdout (``launch/ray/cluster.py``); absent when Ray said nothing."""


def ray_log_path(run_dir: Path) -> Path:
    return run_dir / LOGS / RAY_LOG


def position_path(run_dir: Path, host: str, device: int) -> Path:
    return run_dir / LOGS / f".{worker_name(host, device)}{POSITION_SUFFIX}"


def link_state_path(run_dir: Path, host: str) -> Path:
    """The simulated shared link of ``host``: shared by this run's workers of that host only."""
    return run_dir / f"sim-link-{host}.state"
