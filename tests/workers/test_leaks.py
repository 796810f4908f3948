"""Free memory against the baseline: a cycle's leak, the trend over cycles, the pool that filled."""

from __future__ import annotations

from workers.leaks import LEAK_TREND_CYCLES, LEAK_TREND_STEP, LossTrend, filled_pool, leak_of


def pool(free: int, total: int):
    return {"free": free, "total": total}


def test_the_leak_is_the_worst_kind_below_the_baseline_never_negative():
    base = {"hbm": pool(100, 100), "hbm_huge": pool(90, 90)}
    assert leak_of(base, {"hbm": pool(97, 100), "hbm_huge": pool(80, 90)}) == 10
    assert leak_of(base, {"hbm": pool(120, 100), "hbm_huge": pool(95, 90)}) == 0


def test_a_trend_needs_every_one_of_the_last_cycles_to_grow_by_a_step():
    growing = LossTrend()
    for n in range(1, LEAK_TREND_CYCLES + 1):
        assert growing.trend() is None  # not enough cycles yet
        growing.add(n * LEAK_TREND_STEP)
    assert growing.trend() == [n * LEAK_TREND_STEP for n in range(1, LEAK_TREND_CYCLES + 1)]
    noisy = LossTrend()
    for loss in [0, 5000, 1000, 70000, 200000, 300000]:  # grows, but not by a step every cycle
        noisy.add(loss)
    assert noisy.trend() is None
    flat = LossTrend()
    for _ in range(10):
        flat.add(4 << 20)  # a leak that stopped: max_leak's business, not a trend
    assert flat.trend() is None


def test_the_pool_that_filled_is_the_emptiest_of_its_kind():
    memory = {"hbm": pool(500, 1000), "hbm_huge": pool(10, 900), "ddr": pool(0, 0), "ddr_huge": pool(0, 0)}
    assert filled_pool(memory, huge=True) == "hbm_huge"  # DVPP: huge pages only
    assert filled_pool(memory, huge=False) == "hbm_huge"  # 10 of 900 free: the huge pages filled
    normal_full = {"hbm": pool(895, 1000), "hbm_huge": pool(890, 900)}
    assert filled_pool(normal_full, huge=False) == "hbm_normal"  # 5 of 100 free
    assert filled_pool({"ddr": pool(3, 100)}, huge=False) == "ddr"  # no huge-page figure: the pool
    assert filled_pool({}, huge=True) is None
