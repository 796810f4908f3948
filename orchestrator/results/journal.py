"""The run's journal, ``events.jsonl``: a header line, then every event in arrival order.

Each line is flushed as it is written, so a controller killed at any moment leaves every event it
had received on disk (the OS keeps written data of a killed process); an ``fsync`` at most once per
``SYNC_PERIOD`` also covers a power cut. Reading checks every line against the event schema
(``validate.py``): a torn last line (the controller died mid-write), a garbled one or a record of
the wrong shape is skipped, and said with its line number and why. An existing journal is never
overwritten: ``rundir.prepare_run_dir`` claims the file (created empty, exclusively) and only that
empty claim is opened for writing.

A write that fails (a full disk, a quota) is not raised into the run: ``error`` holds it, later
writes are dropped, and the run loop stops the run cleanly (``fleet.py``).

The writing controller holds an exclusive ``flock`` on the journal for as long as it runs, so a
reader tells a run in progress from one whose controller died (``held``): the kernel drops the lock
with the last descriptor of a killed process.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import time
from pathlib import Path
from typing import IO, Any, Dict, Iterator, List, NamedTuple, Optional, Sequence, Tuple

from orchestrator.results import validate
from orchestrator.rundir import JOURNAL
from orchestrator.spec import messages

SYNC_PERIOD = 1.0

Record = Dict[str, Any]


class Journal:
    """Append-only writer; use as a context manager."""

    def __init__(self, run_dir: Path) -> None:
        self.path = run_dir / JOURNAL
        self._file: Optional[IO[str]] = None
        self._synced = 0.0
        self.error: Optional[OSError] = None

    def __enter__(self) -> Journal:
        try:  # "x": refuse to touch a journal that is already there, unless it is our empty claim
            self._file = open(self.path, "x", encoding="utf-8")
        except FileExistsError:
            if self.path.stat().st_size:
                raise
            self._file = open(self.path, "a", encoding="utf-8")
        try:
            fcntl.flock(self._file.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:  # another controller on the same claim (not possible through prepare_run_dir), or no locks
            pass
        return self

    def __exit__(self, *exc: object) -> None:
        if self._file is not None:
            file, self._file = self._file, None
            try:
                if self.error is None:
                    file.flush()
                    os.fsync(file.fileno())
                file.close()
            except OSError as err:
                self.error = self.error or err

    def write(self, record: Record) -> None:
        """Append one record as one line and flush it; a failure is kept in ``error``."""
        if self._file is None or self.error is not None:
            return
        try:
            self._file.write(json.dumps(record, separators=(",", ":"), default=str) + "\n")
            self._file.flush()
            if time.monotonic() - self._synced > SYNC_PERIOD:
                self._sync()
        except OSError as err:
            self.error = err

    def _sync(self) -> None:
        assert self._file is not None
        self._file.flush()
        os.fsync(self._file.fileno())
        self._synced = time.monotonic()


@contextlib.contextmanager
def holding(path: Path) -> Iterator[None]:
    """Hold an exclusive ``flock`` on ``path`` (a level's folder, which outlives each of its steps'
    journals) while inside, so that ``held(path)`` is True for a reader such as ``--keep``. A file
    system without ``flock`` leaves it unheld: ``held`` then says None, and the folder is kept."""
    fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            pass
        yield
    finally:
        os.close(fd)


def held(path: Path) -> Optional[bool]:
    """Whether a controller holds ``path`` open for writing now (its run is in progress): True, or
    False when nobody does; None when this cannot be told (a file system without ``flock``, such as
    NFS mounted ``nolock``, or a journal that cannot be opened), and a reader must then assume the
    run may be going on."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
    except OSError:
        return None
    try:
        fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
    except BlockingIOError:
        return True
    except OSError:
        return None
    finally:
        os.close(fd)  # also drops the shared lock it took
    return False


class Skipped(NamedTuple):
    """A journal line left out of the report, or (``header``) a part of the header line that was
    left out or replaced."""

    line: int  # counted from 1
    why: str
    header: bool = False

    def __str__(self) -> str:
        return f"line {self.line}: {'header: ' if self.header else ''}{self.why}"


class JournalRead(NamedTuple):
    """What a journal holds that can be used, and what cannot."""

    header: Record  # the usable part of the header line (``validate.check_header``); {} when none
    records: List[Record]  # every other record that passed ``validate.check_record``, in order
    skipped: List[Skipped]  # in line order


def read_journal(path: Path) -> JournalRead:
    """Read and check a journal; nothing it holds raises (``OSError`` when it cannot be read)."""
    parsed, skipped = _parse(path)
    at, head = next(((n, rec) for n, rec, _ in parsed if rec.get("kind") == "header"), (0, {}))
    checked = validate.check_header(head) if at else validate.CheckedHeader({}, [])
    skipped += [Skipped(at, note, header=True) for note in checked.notes]
    jobs = {(job["host"], job["device"]) for job in checked.header.get("jobs", [])}
    records: List[Record] = []
    for n, record, plain in parsed:
        if n != at:
            why = SECOND_HEADER if record.get("kind") == "header" else validate.check_record(record, jobs, plain)
            if why is None:
                records.append(record)
            else:
                skipped.append(Skipped(n, why))
    return JournalRead(checked.header, records, sorted(skipped, key=lambda s: s.line))


SECOND_HEADER = "a second header line (the first one counts)"
SHOWN = 5
"""Skipped lines ``summarize`` names one by one."""


def summarize(path: Path, skipped: Sequence[Skipped], shown: int = SHOWN) -> List[str]:
    """What was skipped, for stderr: how many, the first ``shown`` with why, and how many more."""
    if not skipped:
        return []
    lines = sum(not s.header for s in skipped)
    parts = len(skipped) - lines
    counts = [f"{lines} unreadable journal line(s)"] * bool(lines) + [f"{parts} part(s) of the header"] * bool(parts)
    more = [f"  and {len(skipped) - shown} more"] if len(skipped) > shown else []
    return [f"skipped {' and '.join(counts)} of {path}:"] + [f"  {s}" for s in skipped[:shown]] + more


def _parse(path: Path) -> Tuple[List[Tuple[int, Record, bool]], List[Skipped]]:
    """Each line that is a JSON object, with ``validate.plain_text`` of it; and those that are not."""
    parsed: List[Tuple[int, Record, bool]] = []
    skipped: List[Skipped] = []
    n, torn = 0, False
    with open(path, encoding="utf-8", errors="replace") as fh:
        for n, line in enumerate(fh, start=1):
            record, why = _decode(line)
            if why is None:
                parsed.append((n, record, validate.plain_text(line)))
            else:
                skipped.append(Skipped(n, why))
            torn = why is not None and why.startswith("not JSON") and not line.endswith("\n")
    if torn:  # the last line, cut short: the controller died while writing it
        skipped[-1] = Skipped(n, "not JSON (a torn last write)")
    return parsed, skipped


def _decode(line: str) -> Tuple[Record, Optional[str]]:
    """The JSON object on a line, or why there is none."""
    if not line.strip():
        return {}, "an empty line"
    try:
        record = json.loads(line)
    except RecursionError:
        return {}, "not JSON (nested too deeply)"
    except json.JSONDecodeError as exc:
        return {}, f"not JSON ({exc.msg}: column {exc.colno})"
    except ValueError as exc:  # an integer with more digits than Python converts
        return {}, f"not JSON ({exc})"
    if not isinstance(record, dict):
        return {}, f"not a JSON object (got {messages.shown(record)})"
    return record, None
