""" "Is this normal?": the fleet-relative outlier check, on verdicts judged from real events; the
spec keys that drive it."""

from __future__ import annotations

import dataclasses

import pytest

from orchestrator.results import outliers
from orchestrator.results.status import Status
from orchestrator.spec.plan import resolve
from orchestrator.spec.schema import parse_spec
from tests.helpers.fleet_runs import assert_consistent, copies, mismatch, mixed_run, record_run
from workers import events as ev


def fleet(tmp_path, medians, simulated=False, **thresholds):
    """One host, one device per (h2d, d2h) pair, judged through the journal (real devices unless
    ``simulated``)."""
    devices = {("h", d): copies(d, h2d, d2h) for d, (h2d, d2h) in enumerate(medians)}
    return record_run(tmp_path, devices, thresholds, simulated=simulated)


def test_a_device_far_below_its_fleet_is_warned_and_still_passes(tmp_path):
    run = fleet(tmp_path, [(24, 25), (24.5, 25), (23.8, 25.2), (17.0, 25)])
    v = run.by_name()["h:3"]
    assert v.status is Status.PASS and v.causes == () and run.code == 0
    (w,) = v.warnings
    assert w.fault == "outlier" and w.detail["direction"] == "h2d" and w.detail["peers"] == 4
    assert w.message == (
        "H2D median 17.00 GB/s is 29% below the fleet median 23.90 GB/s of 4 Ascend910B1 "
        "device(s) (max_below_fleet 0.25)"
    )
    assert all(not x.warnings for name, x in run.by_name().items() if name != "h:3")


def test_within_the_fraction_is_normal(tmp_path):
    run = fleet(tmp_path, [(24, 25), (24.5, 25), (23.8, 25.2), (18.5, 19.5)])
    assert not any(v.warnings for v in run.verdicts)


def test_outlier_fail_turns_pass_into_fail_and_the_exit_code(tmp_path):
    run = fleet(tmp_path, [(24, 25), (24, 25), (24, 25), (24, 9.0)], outlier="fail")
    v = run.by_name()["h:3"]
    assert v.status is Status.FAIL and [c.fault for c in v.causes] == ["outlier"] and not v.warnings
    assert run.code == 1
    assert_consistent(run)


def test_a_failed_device_keeps_fail_and_gains_the_outlier_cause(tmp_path):
    devices = {("h", d): copies(d) for d in range(3)}
    devices[("h", 3)] = copies(3, h2d=5.0, faults=[mismatch()])
    run = record_run(tmp_path, devices, {"outlier": "fail"})
    assert [c.fault for c in run.by_name()["h:3"].causes] == ["data_mismatch", "outlier"]


def test_other_statuses_are_never_compared_nor_changed(tmp_path):
    run = mixed_run(tmp_path, outlier="fail", max_below_fleet=0.01)
    for name in ("node-a:4", "node-b:1", "node-b:2", "node-b:3", "node-b:4", "node-b:5"):
        v = run.by_name()[name]
        assert v.status is not Status.FAIL and not any(c.fault == "outlier" for c in v.causes + v.warnings)


def test_too_few_peers_or_a_null_fraction_means_no_comparison(tmp_path):
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    assert not any(v.warnings for v in fleet(tmp_path / "a", [(24, 25), (2, 2)]).verdicts)
    run = fleet(tmp_path / "b", [(24, 25), (24, 25), (24, 25), (2, 2)], max_below_fleet=None)
    assert not any(v.warnings for v in run.verdicts)


def test_chips_are_compared_only_with_their_own_kind(tmp_path):
    devices = {("h", d): copies(d) for d in range(3)}
    other = copies(9, h2d=8.0, d2h=8.0)
    devices[("h", 9)] = [dataclasses.replace(other[0], chip="Ascend310P3")] + other[1:]
    run = record_run(tmp_path, devices)
    assert not any(v.warnings for v in run.verdicts)
    assert set(outliers.fleet_medians(run.verdicts)) == {("Ascend910B1", "h2d"), ("Ascend910B1", "d2h")}


def test_spec_keys_reach_the_plan_and_are_checked():
    spec = parse_spec(
        {
            "version": 1,
            "backend": "sim",
            "thresholds": {"max_below_fleet": 0.4, "outlier": "fail"},
            "sim": {"device_count": 2},
        }
    )
    inventory = {
        "backend": "sim",
        "simulated": True,
        "device_count": 2,
        "devices": [{"id": i, "logical_id": i, "chip": "Ascend910B1", "memory": {}} for i in range(2)],
    }
    plan = resolve(spec, inventory, hostname="localhost")
    assert {(j.thresholds.max_below_fleet, j.thresholds.outlier) for j in plan.jobs} == {(0.4, "fail")}
    with pytest.raises(Exception, match="thresholds.max_below_fleet: must be < 1"):
        parse_spec({"version": 1, "thresholds": {"max_below_fleet": 1}})


def filled(device, blocks):
    """A fill run that ended with memory full after ``blocks`` blocks, as expected of it."""
    run = copies(device, outcome="capacity")
    cap = ev.Capacity(
        cycle=1,
        copy=blocks + 1,
        blocks=blocks,
        bytes=blocks * 2**20,
        api="acl.media.dvpp_malloc",
        code=207001,
        name="ACL_ERROR_RT_MEMORY_ALLOCATION",
        expected=True,
        pool="hbm_huge",
    )
    return run[:-1] + [cap, run[-1]]


def test_a_fill_run_far_below_its_peers_capacity_is_an_outlier(tmp_path):
    # alloc_fail on one device: each alone looks like "memory full, as expected" and passes
    run = record_run(tmp_path, {("h", d): filled(d, 2 if d == 3 else 15) for d in range(4)}, {})
    v = run.by_name()["h:3"]
    assert v.status is Status.PASS and run.code == 0
    (w,) = v.warnings
    assert w.fault == "outlier" and w.detail["measure"] == "capacity" and w.detail["blocks"] == 2
    assert w.message == (
        "memory filled after 2 block(s), 87% fewer than the fleet median of 15 on 4 Ascend910B1 device(s) "
        "(max_below_fleet 0.25)"
    )
    assert all(not x.warnings for name, x in run.by_name().items() if name != "h:3")


def test_a_capacity_outlier_fails_with_outlier_fail(tmp_path):
    run = record_run(tmp_path, {("h", d): filled(d, 2 if d == 3 else 15) for d in range(4)}, {"outlier": "fail"})
    assert run.by_name()["h:3"].status is Status.FAIL and run.code == 1


def test_a_few_slow_devices_of_a_real_fleet_are_each_flagged_by_the_plain_fraction(tmp_path):
    tight = [(24.0, 25.0), (24.4, 25.1), (23.7, 24.9), (24.1, 25.2), (24.2, 24.8), (23.9, 25.0), (17.0, 17.5)]
    run = fleet(tmp_path, tight + [(16.8, 17.0)])
    for name in ("h:6", "h:7"):
        assert [w.detail["direction"] for w in run.by_name()[name].warnings] == ["h2d", "d2h"]
    (tmp_path / "few").mkdir()  # three peers, one far below: no scatter of the others may hide it
    (w,) = fleet(tmp_path / "few", [(25.0, 25.0), (22.0, 25.0), (12.0, 25.0)]).by_name()["h:2"].warnings
    assert w.message.endswith("(max_below_fleet 0.25)")


def test_a_simulated_device_whose_best_copy_reaches_its_fleet_was_only_slowed_by_the_host(tmp_path):
    peers = [(14.3, 14.0), (14.0, 13.9), (14.6, 14.3), (14.2, 14.1), (14.5, 14.2), (14.1, 13.8), (14.4, 14.0)]
    busy = [_best(e, 14.8) for e in copies(7, 6.9, 3.0)]  # 53% and 79% below, yet some copies at full speed
    devices = {("h", d): copies(d, h2d, d2h) for d, (h2d, d2h) in enumerate(peers)}
    run = record_run(tmp_path, {**devices, ("h", 7): busy})
    assert not any(v.warnings for v in run.verdicts)
    (tmp_path / "slow").mkdir()  # the simulator's slow fault, factor 2: every copy at half speed
    run = record_run(tmp_path / "slow", {**devices, ("h", 7): copies(7, 7.0, 14.0)})
    (w,) = run.by_name()["h:7"].warnings
    assert w.detail["direction"] == "h2d" and w.message.endswith("(max_below_fleet 0.25)")
    (tmp_path / "real").mkdir()  # hardware slow at times: its median decides
    run = record_run(tmp_path / "real", {**devices, ("h", 7): busy}, simulated=False)
    assert [w.detail["direction"] for w in run.by_name()["h:7"].warnings] == ["h2d", "d2h"]


def _best(event, fastest):
    """``event`` with its fastest copy at ``fastest`` GB/s in both directions."""
    found = {
        k: dict(getattr(event, k), max=fastest) for k in ("h2d", "d2h") if isinstance(getattr(event, k, None), dict)
    }
    return dataclasses.replace(event, **found) if found else event


def test_a_median_of_too_few_copies_is_not_judged(tmp_path):
    few = {("h", d): copies(d, 24.0, 25.0) for d in range(3)}
    few[("h", 3)] = [_counted(e, outliers.MIN_SAMPLES - 1) for e in copies(3, 9.0, 9.0)]
    run = record_run(tmp_path, few, simulated=False)
    assert run.by_name()["h:3"].result.h2d["count"] == outliers.MIN_SAMPLES - 1
    (w,) = run.by_name()["h:3"].warnings  # not judged, and said so
    assert w.detail["measure"] == "samples" and w.message == (
        "not compared with its fleet: only 7 timed copies (at least 8), while 3 Ascend910B1 peer(s) had enough"
    )
    (tmp_path / "enough").mkdir()
    few[("h", 3)] = [_counted(e, outliers.MIN_SAMPLES) for e in copies(3, 9.0, 9.0)]
    assert record_run(tmp_path / "enough", few, simulated=False).by_name()["h:3"].warnings


def _counted(event, count):
    """``event`` with its bandwidth statistics resting on ``count`` copies."""
    found = {
        k: dict(getattr(event, k), count=count) for k in ("h2d", "d2h") if isinstance(getattr(event, k, None), dict)
    }
    return dataclasses.replace(event, **found) if found else event
