"""Free device memory against the baseline: the leak after a cycle, the trend over cycles, and the
pool a full device ran out of. Memory samples are ``events.Memory`` (bytes per memory kind)."""

from __future__ import annotations

import collections
from typing import Deque, List, Optional

from workers.acl_codes import HUGE_SUFFIX
from workers.events import Memory

LEAK_TREND_CYCLES = 5
"""Cycles whose losses, each larger than the one before by ``LEAK_TREND_STEP``, make a leak trend."""
LEAK_TREND_STEP = 64 * 1024
"""The growth per cycle a trend needs: smaller moves of free memory count as sampling noise (a
smaller leak still adds up past ``max_leak`` in a long run)."""


def leak_of(baseline: Memory, now: Memory) -> int:
    """Bytes by which free memory is below the baseline, worst memory kind; 0 when none."""
    return max([0] + [baseline[k]["free"] - now[k]["free"] for k in now if k in baseline])


def filled_pool(memory: Memory, huge: bool) -> Optional[str]:
    """The memory kind an allocation found full: of the pools (or, for DVPP, their huge pages) the
    sample has, the one with the smallest share free; None when the sample has none."""
    kinds = [k for k, v in memory.items() if v["total"] and k.endswith(HUGE_SUFFIX) == huge]
    return min(kinds, key=lambda k: memory[k]["free"] / memory[k]["total"], default=None)


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
