"""The run's journal, ``events.jsonl``: a header line, then every event in arrival order.

Each line is flushed as it is written, so a controller killed at any moment leaves every event it
had received on disk (the OS keeps written data of a killed process); an ``fsync`` at most once per
``SYNC_PERIOD`` also covers a power cut. A torn last line (the controller died mid-write) is
skipped when reading. An existing journal is never overwritten.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import IO, Any, Dict, List, Optional, Tuple

from orchestrator.rundir import JOURNAL

SYNC_PERIOD = 1.0

Record = Dict[str, Any]


class Journal:
    """Append-only writer; use as a context manager."""

    def __init__(self, run_dir: Path) -> None:
        self.path = run_dir / JOURNAL
        self._file: Optional[IO[str]] = None
        self._synced = 0.0

    def __enter__(self) -> Journal:
        # "x": refuse to touch a journal that is already there
        self._file = open(self.path, "x", encoding="utf-8")
        return self

    def __exit__(self, *exc: object) -> None:
        if self._file is not None:
            self._sync()
            self._file.close()
            self._file = None

    def write(self, record: Record) -> None:
        """Append one record as one line and flush it."""
        assert self._file is not None, "journal is not open"
        self._file.write(json.dumps(record, separators=(",", ":"), default=str) + "\n")
        self._file.flush()
        if time.monotonic() - self._synced > SYNC_PERIOD:
            self._sync()

    def _sync(self) -> None:
        assert self._file is not None
        self._file.flush()
        os.fsync(self._file.fileno())
        self._synced = time.monotonic()


def read_journal(path: Path) -> Tuple[Record, List[Record], int]:
    """Return (header, records, skipped lines). A torn or garbled line is skipped and counted."""
    header: Record = {}
    records: List[Record] = []
    skipped = 0
    with open(path, encoding="utf-8", errors="replace") as fh:
        for line in fh:
            try:
                record = json.loads(line)
            except ValueError:
                skipped += 1
                continue
            if not isinstance(record, dict):
                skipped += 1
            elif record.get("kind") == "header" and not header:
                header = record
            else:
                records.append(record)
    return header, records, skipped
