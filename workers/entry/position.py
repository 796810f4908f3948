"""Where a worker is: the last completed (cycle, copy), in a small file next to its log.

The worker writes it on every copy and release (it is a ``cycles.Watch``); the controller reads the
same file when it needs to, so it can place a hang or crash exactly although progress events are rate-limited. A
file rather than multiprocessing shared memory: it also tells a post-mortem reader (a task on a
Ray node whose actor died) where the worker was.
"""

from __future__ import annotations

import mmap
import struct
from typing import Any, Optional, Tuple

LAYOUT = "2q"  # cycle, copy: two signed 64-bit integers
SIZE = struct.calcsize(LAYOUT)


class Position:
    """The position file, mapped; ``cycle``/``copies`` read it, ``copied``/``released`` write it."""

    def __init__(self, path: str) -> None:
        self.path = path
        with open(path, "r+b") as fh:
            self._map = mmap.mmap(fh.fileno(), SIZE)
        self.view = memoryview(self._map).cast("q")

    @classmethod
    def create(cls, path: str) -> Position:
        with open(path, "wb") as fh:
            fh.write(bytes(SIZE))
        return cls(path)

    @property
    def cycle(self) -> int:
        return int(self.view[0])

    @property
    def copies(self) -> int:
        return int(self.view[1])

    def close(self) -> None:
        self.view.release()
        self._map.close()

    def copied(self, cycle: int, copy: int, *rest: Any) -> None:
        self.view[0], self.view[1] = cycle, copy

    def released(self, cycle: int, memory: Any) -> None:
        self.view[0] = cycle

    def opened(self) -> None:
        """The device is open and the first cycle begins: a reader now places the worker in cycle 1."""
        self.view[0] = max(self.view[0], 1)


def read_position(path: str) -> Optional[Tuple[int, int]]:
    """(cycle, copy) from a position file without mapping it; None when it cannot be read."""
    try:
        with open(path, "rb") as fh:
            cycle, copy = struct.unpack(LAYOUT, fh.read(SIZE))
    except (OSError, struct.error):
        return None
    return cycle, copy
