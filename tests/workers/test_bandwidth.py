from __future__ import annotations

import math
import random
import statistics

import pytest

from workers.bandwidth import RATIO, Stats, gbps


def test_empty_stats_are_none():
    assert Stats().as_dict() is None
    assert Stats().median() is None


def test_gbps_is_decimal_and_survives_zero_time():
    assert gbps(10**9, 1.0) == pytest.approx(1.0)
    assert math.isfinite(gbps(4096, 0.0))


def test_exact_figures_and_close_median():
    rng = random.Random(1)
    values = [rng.uniform(1.0, 30.0) for _ in range(5001)]
    stats = Stats()
    for v in values:
        stats.add(v)
    d = stats.as_dict()
    assert d["count"] == 5001
    assert d["min"] == min(values) and d["max"] == max(values)
    assert d["mean"] == pytest.approx(statistics.fmean(values))
    assert d["median"] == pytest.approx(statistics.median(values), rel=RATIO - 1)


def test_memory_stays_bounded_however_many_figures():
    stats = Stats()
    for i in range(200_000):
        stats.add(5.0 + (i % 1000) * 0.01)
    assert len(stats._buckets) <= math.log(15 / 5) / math.log(RATIO) + 2
    assert stats.count == 200_000


def test_single_value_median_is_that_value():
    stats = Stats()
    stats.add(12.5)
    assert stats.as_dict() == {"count": 1, "min": 12.5, "max": 12.5, "median": 12.5, "mean": 12.5}


def test_extreme_values_are_clamped_into_the_histogram():
    stats = Stats()
    for v in (0.0, 1e-12, 1e12):
        stats.add(v)
    assert stats.min == 0.0 and stats.max == 1e12
    assert stats.median() is not None
