"""``python -m workers.doctor`` (workers/doctor/) on the simulator: every check passes on the defaults,
each behaviour the simulator can be set to break shows in the matching check, every allocation is
given back whatever failed, and the progress lines say the same as the report."""

from __future__ import annotations

import json
import subprocess
import sys
from typing import Any, Dict, List, Optional, Tuple

import pytest

from tests.helpers.workers import ROOT
from workers import simulator
from workers.backend import acl_available
from workers.doctor.__main__ import main
from workers.doctor.device import STEPS
from workers.doctor.machine import UTIL_TYPES, _worker_logical
from workers.doctor.memory import ALIGN_SIZES
from workers.doctor.records import FAIL, PASS, PROGRESS, WARN, Check, counts, read_progress, worst
from workers.doctor.session import doctor
from workers.simulator import catalog
from workers.simulator.acl import _config, _memory, _state

TOLERANCE = 512 * 1024
MIB = 1 << 20
MACHINE = ["acl_origin", "acl_util_calls", "acl_util_types", "init", "visibility", "run_mode", "finalize"]
DEVICE = ["open"] + [name for name, _ in STEPS] + ["error_double_reset"]
Key = Tuple[Optional[int], str]


@pytest.fixture(autouse=True)
def fresh_simulator():
    """Each test starts from a simulator nobody initialised, and leaves none behind."""
    _state.reset(_config.parse(None))
    yield
    _state.reset(_config.parse(None))


def run(config: Optional[Dict[str, Any]], devices: Optional[List[int]] = None, tolerance: int = TOLERANCE):
    lines: List[Dict[str, Any]] = []
    report = doctor("sim", config, tolerance, devices, progress=lines.append)
    return report, lines


def statuses(report: Dict[str, Any]) -> Dict[Key, str]:
    return {(c["device"], c["name"]): c["status"] for c in report["checks"]}


def not_passing(report: Dict[str, Any]) -> Dict[Key, str]:
    return {key: status for key, status in statuses(report).items() if status != PASS}


def seen(report: Dict[str, Any], device: Optional[int], name: str) -> str:
    return next(c["seen"] for c in report["checks"] if (c["device"], c["name"]) == (device, name))


def test_the_default_simulator_passes_every_check_in_order():
    report, _ = run({"device_count": 2})
    names = [(c["device"], c["name"]) for c in report["checks"]]
    assert names == (
        [(None, n) for n in MACHINE[:-1]] + [(d, n) for d in (0, 1) for n in DEVICE] + [(None, "finalize")]
    )
    assert not_passing(report) == {}
    assert (report["backend"], report["simulated"], report["device_count"]) == ("sim", True, 2)
    assert report["devices"] == [0, 1]
    assert report["acl_origin"] == str(ROOT / "workers/simulator/acl/__init__.py")
    assert seen(report, None, "acl_origin").startswith("the simulator, ")
    assert "first use took 128.0 MiB" in seen(report, 0, "warm_up_drop")  # the default driver_cache
    assert "returned 207001 ACL_ERROR_RT_MEMORY_ALLOCATION" in seen(report, 1, "error_out_of_memory")
    for check in report["checks"]:
        assert check["seen"] and check["assumed"]


@pytest.mark.parametrize("chip", catalog.CHIPS)
def test_every_chip_profile_passes(chip):
    report, _ = run({"chip": chip, "device_count": 1})
    assert not_passing(report) == {}
    pools = seen(report, 0, "memory_pools")
    profile = catalog.PROFILES[chip]
    layout = "HBM reported as DDR" if profile.hbm_maps_to_ddr else "HBM" if profile.hbm else "DDR"
    assert pools.startswith(profile.soc_name) and pools.endswith(f"({layout})")


def test_another_huge_page_share_still_adds_up_and_no_cache_is_no_drop():
    report, _ = run({"device_count": 1, "huge_share": 0.5, "driver_cache": 0, "memory": {"hbm": 8 << 30}})
    assert not_passing(report) == {}
    assert seen(report, 0, "memory_arithmetic") == "DDR none (0 B); HBM 4.0 GiB huge + 4.0 GiB normal = 8.0 GiB"
    assert seen(report, 0, "warm_up_drop").endswith("first use took 0 B")


def test_rc_mode_warns_that_no_pcie_reference_applies():
    report, _ = run({"device_count": 2, "run_mode": "rc"})
    assert not_passing(report) == {(None, "run_mode"): WARN}
    assert "no PCIe bandwidth reference applies" in seen(report, None, "run_mode")


def test_large_memory_noise_warns_on_the_jitter_of_every_device_and_fails_nothing():
    report, _ = run({"device_count": 4, "memory_noise": 64 * MIB})
    found = not_passing(report)
    assert {key for key, status in found.items() if key[1] == "free_jitter"} == {(d, "free_jitter") for d in range(4)}
    assert set(found.values()) == {WARN}
    assert set(name for _, name in found) <= {"free_jitter", "dvpp_alloc_free"}  # a leak cannot be told from noise
    assert "more than the tolerance 512.0 KiB" in seen(report, 2, "free_jitter")


def test_small_noise_within_the_tolerance_passes():
    report, _ = run({"device_count": 2, "memory_noise": 64 * 1024})
    assert not_passing(report) == {}


def test_a_leak_fails_the_allocate_free_check_of_that_device_only():
    report, _ = run({"device_count": 3, "faults": [{"device": 1, "kind": "leak", "bytes": 2 * MIB}]})
    assert not_passing(report) == {(1, "dvpp_alloc_free"): FAIL}
    assert "free HBM is 2.0 MiB below the post-warm-up baseline" in seen(report, 1, "dvpp_alloc_free")


def test_a_leak_below_the_tolerance_passes():
    report, _ = run({"device_count": 1, "faults": [{"device": 0, "kind": "leak", "bytes": 4096}]})
    assert not_passing(report) == {}


def test_a_dropped_visible_id_warns_naming_it(monkeypatch):
    monkeypatch.setenv("ASCEND_RT_VISIBLE_DEVICES", "0,1,8")
    report, _ = run({"device_count": 8})
    assert not_passing(report) == {(None, "visibility"): WARN}
    assert seen(report, None, "visibility") == (
        "ASCEND_RT_VISIBLE_DEVICES='0,1,8': the runtime kept device(s) 0,1 and dropped 8"
    )
    assert report["devices"] == [0, 1]
    assert report["visibility"] == {
        "variable": "ASCEND_RT_VISIBLE_DEVICES",
        "value": "0,1,8",
        "kept": [0, 1],
        "dropped": ["8"],
    }


def test_ids_dropped_out_of_order_are_checked_against_the_workers_own_reading(monkeypatch):
    # the runtime cuts "0,2,9,3" at 9 and keeps 0,2 (ascending); the worker's logical_id must agree
    monkeypatch.setenv("ASCEND_RT_VISIBLE_DEVICES", "0,2,9,3")
    report, _ = run({"device_count": 4})
    assert report["devices"] == [0, 2] and report["visibility"]["dropped"] == ["9", "3"]
    agrees = [_worker_logical(p, 2) for p in (0, 2)] == [0, 1]
    expected = {(None, "visibility"): WARN if agrees else FAIL}
    assert not_passing(report) == expected
    assert ("dropped 9, 3" if agrees else "does not find 0, 2 there") in seen(report, None, "visibility")


def test_visible_devices_that_all_fit_pass(monkeypatch):
    monkeypatch.setenv("ASCEND_RT_VISIBLE_DEVICES", "1,3")
    report, _ = run({"device_count": 4})
    assert not_passing(report) == {}
    assert report["devices"] == [1, 3]
    assert "opened" in seen(report, 3, "open") and "logical id 1" in seen(report, 3, "open")


@pytest.mark.parametrize("value", ["", "3,1"])
def test_visible_devices_that_leave_none_fail_and_nothing_else_runs(monkeypatch, value):
    monkeypatch.setenv("ASCEND_RT_VISIBLE_DEVICES", value)
    report, _ = run({"device_count": 4})
    assert not_passing(report) == {(None, "visibility"): FAIL}
    assert "207004 ACL_ERROR_RT_NO_DEVICE" in seen(report, None, "visibility")
    assert report["devices"] == [] and report["checks"][-1]["name"] == "finalize"


def test_chosen_devices_only_and_one_not_visible_fails_to_open(monkeypatch):
    report, _ = run({"device_count": 4}, devices=[2])
    assert {c["device"] for c in report["checks"]} == {None, 2} and not_passing(report) == {}
    monkeypatch.setenv("ASCEND_RT_VISIBLE_DEVICES", "0,1")
    report, _ = run({"device_count": 4}, devices=[1, 3])
    assert not_passing(report) == {(3, "open"): FAIL}
    assert seen(report, 3, "open") == (
        "device 3 is not visible: the runtime shows device(s) 0,1 (ASCEND_RT_VISIBLE_DEVICES='0,1')"
    )


def test_a_device_that_will_not_open_fails_and_the_others_are_checked():
    report, _ = run({"device_count": 3, "faults": [{"device": 1, "kind": "init_fail"}]})
    assert not_passing(report) == {(1, "open"): FAIL}
    assert [c["name"] for c in report["checks"] if c["device"] == 1] == ["open"]
    assert "507033" in seen(report, 1, "open")
    assert [c["name"] for c in report["checks"] if c["device"] == 2] == DEVICE


OUT_OF_MEMORY_PROBE = 1 + 1 + len(ALIGN_SIZES) + 1 + 1
DEVICE_ALLOCATIONS = OUT_OF_MEMORY_PROBE + 1
"""The doctor's device allocations of one device, in order: warm-up, allocate/free, alignment,
memcpy past dest_max, out of memory, unaligned async (``alloc_fail`` does not count malloc_host)."""


@pytest.mark.parametrize("at_alloc", range(1, DEVICE_ALLOCATIONS + 1))
def test_every_allocation_is_given_back_whichever_fails(at_alloc):
    fault = {"device": 0, "kind": "alloc_fail", "at_alloc": at_alloc}
    acl = simulator.load({"device_count": 1, "driver_cache": 0, "faults": [fault]})
    assert acl.init() == 0
    context, ret = acl.rt.create_context(0)  # holds the device open past the doctor's resets
    assert ret == 0
    try:
        before = [acl.rt.get_mem_info(attr)[:2] for attr in range(6)]
        report, _ = run(None)  # None: the simulator as it is (initialised here)
        assert acl.rt.set_context(context) == 0
        after = [acl.rt.get_mem_info(attr)[:2] for attr in range(6)]
        host_buffers = _state.driver().memory.of_kind(_memory.HOST)  # before finalize frees them anyway
    finally:
        acl.rt.destroy_context(context)
        acl.finalize()
    failed = not_passing(report)
    if at_alloc != OUT_OF_MEMORY_PROBE:  # that one fails with 207001 anyway
        assert list(failed.values()) == [FAIL] and "(injected)" in seen(report, 0, next(iter(failed))[1])
    assert after == before
    assert statuses(report)[(0, "error_double_reset")] == PASS and statuses(report)[(None, "init")] == PASS
    assert host_buffers == []


def test_the_command_prints_one_object_and_its_progress_says_the_same(capsys):
    config = {"device_count": 2, "run_mode": "rc"}
    assert main(["--backend", "sim", "--sim-config", json.dumps(config), "--tolerance", str(TOLERANCE)]) == 0
    out, err = capsys.readouterr()
    report = json.loads(out)
    assert report["tolerance"] == TOLERANCE and report["error"] is None
    progress = read_progress(err)
    assert progress.started == {"backend": "sim", "simulated": True}
    assert [c.to_dict() for c in progress.checks] == report["checks"]
    assert progress.running == {"running": "finalize", "device": None}
    assert all(line.startswith(PROGRESS) for line in err.splitlines())


def test_progress_that_breaks_off_keeps_what_completed():
    _, lines = run({"device_count": 1})
    text = "".join(PROGRESS + json.dumps(line) + "\n" for line in lines[:20]) + "runtime noise\n" + PROGRESS + '{"che'
    progress = read_progress(text)
    assert progress.other == ["runtime noise"]
    assert len(progress.checks) == sum("check" in line for line in lines[:20])
    assert progress.running == next(line for line in reversed(lines[:20]) if "running" in line)


def test_the_device_ids_and_a_bad_simulator_config(capsys):
    assert main(["--backend", "sim", "--sim-config", '{"device_count": 3}', "--devices", "2"]) == 0
    assert json.loads(capsys.readouterr().out)["devices"] == [2]
    assert main(["--backend", "sim", "--sim-config", '{"chip": "Ascend999"}']) == 2
    report = json.loads(capsys.readouterr().out)
    assert report["checks"] == [] and "chip: unknown chip 'Ascend999'" in report["error"]
    with pytest.raises(SystemExit) as stop:
        main(["--backend", "sim", "--devices", "1,1"])
    assert stop.value.code == 2


@pytest.mark.skipif(acl_available(), reason="the real acl is installed here")
def test_missing_real_backend_exits_3():
    command = [sys.executable, "-m", "workers.doctor", "--backend", "acl"]
    proc = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert proc.returncode == 3
    report = json.loads(proc.stdout)
    assert report["checks"] == [] and "not importable" in report["error"]


def test_the_util_assumptions_are_the_simulators_behaviour():
    report, _ = run({"device_count": 1})
    text = seen(report, None, "acl_util_types")
    for (fn, kind), outcome in UTIL_TYPES.items():
        assert f"{kind} {outcome}" in text.split(f"{fn}: ")[1].split(";")[0]


def test_records():
    checks = [Check("a", None, PASS, "s", "x"), Check("b", 1, WARN, "s", "x")]
    assert counts(checks) == {PASS: 1, WARN: 1, FAIL: 0} and worst(c.status for c in checks) == WARN
    assert Check.from_dict(checks[1].to_dict()) == checks[1]
    with pytest.raises(ValueError):
        Check("c", None, "OK", "s", "x")


def test_a_context_the_worker_cannot_use_fails_that_open_and_the_others_are_checked(monkeypatch):
    from workers.simulator.acl import rt

    real = rt.create_context
    monkeypatch.setattr(rt, "create_context", lambda device: ("ctx", 0) if device == 1 else real(device))
    report, _ = run({"device_count": 2})
    assert not_passing(report) == {(1, "open"): FAIL}
    assert "stopped: ValueError" in seen(report, 1, "open")
    assert [c["name"] for c in report["checks"] if c["device"] == 0] == DEVICE
    assert _state.driver().init_count == 0  # finalize still ran


def test_a_value_error_from_a_check_is_not_called_a_bad_config(monkeypatch):
    from workers.simulator.acl import rt

    def refuses() -> Tuple[int, int]:
        raise ValueError("an answer no runtime gives")

    monkeypatch.setattr(rt, "get_run_mode", refuses)
    with pytest.raises(ValueError, match="no runtime gives"):
        main(["--backend", "sim", "--sim-config", '{"device_count": 1}'])
