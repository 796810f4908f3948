"""Retention (``run --keep N``, or ``keep:`` in the spec): once a run has written its outputs, the
oldest run directories beside it are removed, so that N are left, this run counted.

Only a run directory is ever removed (``rundir.is_run_dir``: a real directory holding a journal; or
a level's folder of them, ``rundir.is_level_dir``, as a whole, when each of its steps may go),
and of those never the run just written, never one whose journal a controller holds (a run in
progress) or whose holder cannot be told (``journal.held`` is not False), never one with an empty
journal (a run that has claimed it and is starting), and never one holding files no run writes
(``rundir.foreign_files``): those are kept and said. Runs are ordered by the ``started`` time of
their journal's header (to the second; then the directory's modification time), or by the directory's
modification time alone when the header cannot be read.
"""

from __future__ import annotations

import json
import shutil
from datetime import datetime
from pathlib import Path
from typing import List, NamedTuple, Optional, Tuple

from orchestrator import rundir
from orchestrator.results.journal import held

HEADER_LIMIT = 64 << 20
"""The most of a journal's first line read for its ``started`` time (a header line is far smaller)."""


class Pruned(NamedTuple):
    """What ``prune`` did beyond the newest ``keep`` runs."""

    removed: List[Path]
    kept: List[Tuple[Path, str]]  # old enough to go, but kept: why
    failed: List[Tuple[Path, str]]  # tried and not removed: why


def prune(run_dir: Path, keep: int) -> Pruned:
    """Remove the run directories beside ``run_dir`` beyond the newest ``keep`` (``run_dir`` counted)."""
    if keep < 1:
        raise ValueError(f"keep must be >= 1 (got {keep})")
    others = sorted(siblings(run_dir), key=lambda p: (started(p), _mtime(p), p.name), reverse=True)
    done = Pruned([], [], [])
    for path in others[keep - 1 :]:
        why = _kept_because(path)
        if why:
            done.kept.append((path, why))
            continue
        try:
            shutil.rmtree(path)
        except OSError as exc:
            done.failed.append((path, exc.strerror or str(exc)))
        else:
            done.removed.append(path)
    return done


def siblings(run_dir: Path) -> List[Path]:
    """The run directories in ``run_dir``'s parent folder, ``run_dir`` itself left out."""
    own = run_dir.resolve()
    try:
        entries = list(run_dir.parent.iterdir())
    except OSError:
        return []
    return [p for p in entries if (rundir.is_run_dir(p) or rundir.is_level_dir(p)) and p.resolve() != own]


def started(path: Path) -> float:
    """When the run in ``path`` started (Unix time): its journal header's ``started`` (a level's:
    its record's), else the directory's modification time (0 when even that cannot be read)."""
    return _header_start(path / rundir.JOURNAL) or _level_start(path / rundir.LEVEL) or _mtime(path)


def _level_start(record: Path) -> Optional[float]:
    try:
        with open(record, encoding="utf-8", errors="replace") as fh:
            return datetime.fromisoformat(json.loads(fh.read(HEADER_LIMIT))["started"]).timestamp()
    except (OSError, ValueError, TypeError, KeyError, AttributeError, RecursionError):
        return None


def _header_start(journal: Path) -> Optional[float]:
    try:
        with open(journal, encoding="utf-8", errors="replace") as fh:
            header = json.loads(fh.readline(HEADER_LIMIT))
        return datetime.fromisoformat(header["started"]).timestamp() if header.get("kind") == "header" else None
    except (OSError, ValueError, TypeError, KeyError, AttributeError, RecursionError):
        return None


def _mtime(path: Path) -> float:
    try:
        return path.stat().st_mtime
    except OSError:
        return 0.0


def _kept_because(path: Path) -> str:
    """Why the run directory ``path`` must stay, or "" when it may be removed."""
    if rundir.is_level_dir(path):
        return _level_kept_because(path)
    journal = path / rundir.JOURNAL
    state = held(journal)
    if state:
        return "in progress"
    if state is None:
        return "whether it is in progress cannot be told"
    try:
        if journal.stat().st_size == 0:
            return "its journal is empty (a run may be starting)"
    except OSError:
        return "its journal cannot be read"
    foreign = rundir.foreign_files(path)
    if foreign:
        return f"it holds files no run writes ({', '.join(foreign[:3])}{', ...' if len(foreign) > 3 else ''})"
    return ""


def _level_kept_because(path: Path) -> str:
    """A level's folder goes only as a whole: when no level holds it (``journal.holding``: between
    two steps too), each of its steps' run directories may go, and it holds nothing but its record."""
    state = held(path)
    if state:
        return "in progress"
    if state is None:
        return "whether it is in progress cannot be told"
    try:
        if (path / rundir.LEVEL).stat().st_size == 0:
            return "its level record is empty (a level may be starting)"
        entries = sorted(path.iterdir())
    except OSError:
        return "it cannot be read"
    foreign = []
    for entry in entries:
        if entry.name == rundir.LEVEL or entry.name.startswith(f".{rundir.LEVEL}."):
            continue
        if not rundir.is_run_dir(entry):
            foreign.append(entry.name)
        elif _kept_because(entry):
            return f"step {entry.name}: {_kept_because(entry)}"
    if foreign:
        return f"it holds files no run writes ({', '.join(foreign[:3])}{', ...' if len(foreign) > 3 else ''})"
    return ""


def summary_lines(pruned: Pruned, keep: int) -> Tuple[List[str], List[str]]:
    """(what was done, in one line or none; one warning per directory that could not be removed)."""
    parts = []
    if pruned.removed:
        parts.append(f"removed {len(pruned.removed)} old run directory(ies): {', '.join(map(str, pruned.removed))}")
    if pruned.kept:
        kept = ", ".join(f"{path} ({why})" for path, why in pruned.kept)
        parts.append(f"kept {len(pruned.kept)} older one(s): {kept}")
    done = [f"keep {keep}: " + "; ".join(parts)] if parts else []
    return done, [f"keep {keep}: could not remove {path}: {why}" for path, why in pruned.failed]
