"""Free device memory against the baseline: the leak after a cycle, the trend over cycles, and the
pool a full device ran out of. Memory samples are ``events.Memory`` (bytes per memory kind)."""

from __future__ import annotations

import collections
from typing import Deque, List, Optional

from workers.acl_codes import HUGE_SUFFIX
from workers.events import Memory

NORMAL_SUFFIX = "_normal"
"""The key of a pool's normal pages (the pool less its huge pages) in ``filled_pool``'s answer."""

LEAK_TREND_CYCLES = 5
"""Cycles whose losses, each larger than the one before by ``LEAK_TREND_STEP``, make a leak trend."""
LEAK_TREND_STEP = 64 * 1024
"""The growth per cycle a trend needs: smaller moves of free memory count as sampling noise (a
smaller leak still adds up past ``max_leak`` in a long run)."""


def leak_of(baseline: Memory, now: Memory) -> int:
    """Bytes by which free memory is below the baseline, worst memory kind; 0 when none."""
    return max([0] + [baseline[k]["free"] - now[k]["free"] for k in now if k in baseline])


def filled_pool(memory: Memory, huge: bool) -> Optional[str]:
    """The memory an allocation found full, of those the sample tells apart: for DVPP (``huge``)
    a pool's huge pages, else a pool's huge or normal pages (normal = the pool less its huge pages;
    the whole pool where the sample has no huge-page figure); the one with the smallest share free.
    None when the sample has no such memory."""
    parts = {}
    for kind, pool in memory.items():
        if kind.endswith(HUGE_SUFFIX) or not pool["total"]:
            continue
        big = memory.get(kind + HUGE_SUFFIX)
        if big and big["total"]:
            parts[kind + HUGE_SUFFIX] = (big["free"], big["total"])
            if not huge and pool["total"] > big["total"]:
                parts[kind + NORMAL_SUFFIX] = (pool["free"] - big["free"], pool["total"] - big["total"])
        elif not huge:
            parts[kind] = (pool["free"], pool["total"])
    return min(parts, key=lambda k: parts[k][0] / parts[k][1], default=None)


class LossTrend:
    """The losses after the last ``LEAK_TREND_CYCLES`` cycles; ``trend`` says whether each grew."""

    def __init__(self) -> None:
        self.losses: Deque[int] = collections.deque(maxlen=LEAK_TREND_CYCLES)

    def add(self, loss: int) -> None:
        self.losses.append(loss)

    def trend(self) -> Optional[List[int]]:
        """The losses when each grew on the one before by ``LEAK_TREND_STEP`` or more (a leak that
        grows every cycle, whatever ``max_leak`` tolerates), else None."""
        losses = list(self.losses)
        grows = all(b - a >= LEAK_TREND_STEP for a, b in zip(losses, losses[1:]))
        return losses if len(losses) == LEAK_TREND_CYCLES and grows else None
