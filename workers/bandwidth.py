"""Streaming bandwidth statistics: constant memory however many copies a run makes.

The median comes from a histogram of logarithmic buckets (each ``RATIO`` wide, so the median is
exact to within about half a percent), clamped to the observed min and max. ``Point`` keeps the
statistics of one block size of a sweep, with its warm-up copies left out.

Timing: every figure comes from ``time.perf_counter`` (monotonic, the highest-resolution clock
Python has: nanoseconds on Linux) read around the runtime calls alone, never around fills or
verification.
"""

from __future__ import annotations

import math
from typing import Any, Dict, Optional, cast

from workers import events

RATIO = 1.01
"""Width of one histogram bucket: bucket k holds values in [RATIO**k, RATIO**(k+1))."""

_LOG_RATIO = math.log(RATIO)
_LOWEST_BUCKET = int(math.log(1e-6) / _LOG_RATIO)  # everything under 1 kB/s lands here
_HIGHEST_BUCKET = int(math.log(1e6) / _LOG_RATIO)  # everything over 1 PB/s lands here


def gbps(nbytes: int, seconds: float) -> float:
    """Decimal GB/s for ``nbytes`` moved in ``seconds`` (a zero duration counts as 1 ns)."""
    return nbytes / max(seconds, 1e-9) / 1e9


class Stats:
    """count/min/max/mean and a histogram median of positive values (GB/s)."""

    def __init__(self) -> None:
        self.count = 0
        self.total = 0.0
        self.min = math.inf
        self.max = -math.inf
        self._buckets: Dict[int, int] = {}

    def add(self, value: float) -> None:
        """Record one figure; non-positive values are counted in the lowest bucket."""
        self.count += 1
        self.total += value
        self.min = min(self.min, value)
        self.max = max(self.max, value)
        k = int(math.floor(math.log(value) / _LOG_RATIO)) if value > 0 else _LOWEST_BUCKET
        k = min(max(k, _LOWEST_BUCKET), _HIGHEST_BUCKET)
        self._buckets[k] = self._buckets.get(k, 0) + 1

    def median(self) -> Optional[float]:
        """The geometric middle of the bucket holding the middle value; None when empty."""
        if not self.count:
            return None
        rank, seen = (self.count + 1) // 2, 0
        for k in sorted(self._buckets):
            seen += self._buckets[k]
            if seen >= rank:
                middle: float = RATIO ** (k + 0.5)
                return min(max(middle, self.min), self.max)
        return self.max  # pragma: no cover - the loop always reaches rank

    def as_dict(self) -> Optional[events.Stats]:
        """The ``workers.events.Stats`` of these figures, None when empty."""
        if not self.count:
            return None
        median = cast(float, self.median())
        return events.Stats(count=self.count, min=self.min, max=self.max, median=median, mean=self.total / self.count)


def _ratio(pinned: Stats, pageable: Stats) -> Optional[float]:
    a, b = pinned.median(), pageable.median()
    return a / b if a is not None and b else None


class Point:
    """The statistics at one block size: per host memory, H2D and D2H, and the bidirectional sum.

    ``warmup`` copies (counted by ``record``) are left out of every figure.
    """

    def __init__(self, size: int, warmup: int) -> None:
        self.size, self.warmup, self.seen = size, warmup, 0
        self.stats = {"pinned": (Stats(), Stats()), "pageable": (Stats(), Stats())}
        self.sum = Stats()

    def measured(self) -> bool:
        """Count one copy; True when it is past the warm-up (its figures count)."""
        self.seen += 1
        return self.seen > self.warmup

    def add(self, memory: str, h2d: float, d2h: float) -> None:
        """Record one copy's figures (GB/s) from ``memory`` (``pinned`` or ``pageable``)."""
        pair = self.stats[memory]
        pair[0].add(h2d)
        pair[1].add(d2h)

    def entry(self, primary: str, both: bool, bidirectional: bool) -> Dict[str, Any]:
        """This size's ``curve`` entry of ``workers.events.Finished``."""
        h2d, d2h = self.stats[primary]
        entry: Dict[str, Any] = {"size": self.size, "h2d": h2d.as_dict(), "d2h": d2h.as_dict()}
        if bidirectional:
            entry["sum"] = self.sum.as_dict()
        if both:
            p_h2d, p_d2h = self.stats["pageable"]
            entry["pageable"] = {"h2d": p_h2d.as_dict(), "d2h": p_d2h.as_dict()}
            entry["ratio"] = {"h2d": _ratio(h2d, p_h2d), "d2h": _ratio(d2h, p_d2h)}
        return entry
