"""Where a worker is and what it has done: the last completed (cycle, copy), the cycles completed and
the bytes moved, in a small file next to its log.

The worker writes it on every copy and release (it is a ``cycles.Watch``); the controller reads the
same file when it needs to, so it can place a hang or crash exactly and give the exact totals up to
it although progress events are rate-limited. A file rather than multiprocessing shared memory: it
also tells a post-mortem reader (a task on a Ray node whose actor died) where the worker was.
"""

from __future__ import annotations

import mmap
import struct
from typing import Any, NamedTuple, Optional

from workers.params import WorkerParams

LAYOUT = "4q"  # cycle, copy, cycles completed, bytes moved: signed 64-bit integers
SIZE = struct.calcsize(LAYOUT)


class Where(NamedTuple):
    """What a position file holds. ``cycle`` is the cycle of the last completed copy or release (0
    before any), ``copies`` that copy's number, i.e. the copies completed in the run; ``cycles`` the
    cycles completed (released); ``bytes`` the bytes those copies moved, H2D plus D2H, as
    ``Finished.bytes`` counts them."""

    cycle: int
    copies: int
    cycles: int
    bytes: int


def round_trips(params: WorkerParams) -> int:
    """Round trips one copy makes: one per host memory it is made from (``host_memory: both``: two)."""
    return 2 if params.host_memory == "both" else 1


class Position:
    """The position file, mapped; the properties read it, ``copied``/``released``/``opened`` write it.
    ``trips``: the round trips each copy makes (``round_trips``), so ``bytes`` counts them all."""

    def __init__(self, path: str, trips: int = 1) -> None:
        self.path, self.trips = path, trips
        with open(path, "r+b") as fh:
            self._map = mmap.mmap(fh.fileno(), SIZE)
        self.view = memoryview(self._map).cast("q")

    @classmethod
    def create(cls, path: str, trips: int = 1) -> Position:
        with open(path, "wb") as fh:
            fh.write(bytes(SIZE))
        return cls(path, trips)

    @property
    def cycle(self) -> int:
        return int(self.view[0])

    @property
    def copies(self) -> int:
        return int(self.view[1])

    @property
    def cycles(self) -> int:
        return int(self.view[2])

    @property
    def bytes(self) -> int:
        return int(self.view[3])

    def close(self) -> None:
        self.view.release()
        self._map.close()

    def copied(self, cycle: int, copy: int, pattern: Any = None, sent: Any = None, *rest: Any) -> None:
        """Copy ``copy`` of ``cycle`` completed; ``sent`` is the block it sent (its size is what moved)."""
        moved = 2 * self.trips * memoryview(sent).nbytes if sent is not None else 0
        self.view[3] += moved
        self.view[0], self.view[1] = cycle, copy

    def released(self, cycle: int, memory: Any) -> None:
        self.view[2] += 1
        self.view[0] = cycle

    def opened(self) -> None:
        """The device is open and the first cycle begins: a reader now places the worker in cycle 1."""
        self.view[0] = max(self.view[0], 1)


def read_position(path: str) -> Optional[Where]:
    """What a position file holds, without mapping it; None when it cannot be read."""
    try:
        with open(path, "rb") as fh:
            return Where(*struct.unpack(LAYOUT, fh.read(SIZE)))
    except (OSError, struct.error):
        return None
