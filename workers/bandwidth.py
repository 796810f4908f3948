"""Streaming bandwidth statistics: constant memory however many copies a run makes.

The median comes from a histogram of logarithmic buckets (each ``RATIO`` wide, so the median is
exact to within about half a percent), clamped to the observed min and max.
"""
from __future__ import annotations

import math
from typing import Dict, Optional

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
                return min(max(RATIO ** (k + 0.5), self.min), self.max)
        return self.max  # pragma: no cover - the loop always reaches rank

    def as_dict(self) -> Optional[Dict[str, float]]:
        """The stats dict of ``workers.events`` (count, min, max, median, mean), None when empty."""
        if not self.count:
            return None
        return {"count": self.count, "min": self.min, "max": self.max,
                "median": self.median(), "mean": self.total / self.count}
