"""``dvpp-fleet doctor`` (orchestrator/commands/doctor.py) through the real CLI on the simulator: the
defaults pass, each behaviour the simulator can be set to break gives the matching WARN or FAIL and
exit code, the table and ``--format json`` hold the same checks, and a worker that hangs still
leaves what it found. The controller's own checks of a real server are judged from facts."""

from __future__ import annotations

import importlib.util
import json
import os
import time
from typing import Any, Dict, List, Optional, Tuple

import pytest
import yaml

from orchestrator.commands.doctor import controller_checks
from tests.helpers.cli import cli
from tests.helpers.server import unsourced_npu_server
from workers.doctor.records import FAIL, PASS, WARN

needs_no_acl = pytest.mark.skipif(importlib.util.find_spec("acl") is not None, reason="the real acl is importable")
MACHINE = ["cann_version", "driver_version", "numpy_version", "device_count", "npu_health", "acl_origin"]
MACHINE += ["acl_util_calls", "acl_util_types", "init", "visibility", "run_mode", "finalize"]
PER_DEVICE = 12
Row = Tuple[Optional[int], str, str]


def doctor(*args: str, env: Optional[Dict[str, str]] = None, timeout: float = 120):
    return cli("doctor", "--backend", "sim", *args, env=env, timeout=timeout)


def as_json(*args: str, env: Optional[Dict[str, str]] = None) -> Tuple[int, Dict[str, Any]]:
    r = doctor("--format", "json", *args, env=env)
    assert r.stderr == "", r.stderr
    return r.returncode, json.loads(r.stdout)


def config(**keys: Any) -> str:
    return json.dumps({"device_count": 2, **keys})


def not_passing(result: Dict[str, Any]) -> Dict[Tuple[Optional[int], str], str]:
    return {(c["device"], c["name"]): c["status"] for c in result["checks"] if c["status"] != PASS}


def table_rows(stdout: str) -> List[Row]:
    """(device, check, status) of each table row; a device's label is on its first row only, and
    long cells wrap onto lines with an empty check column."""
    lines = stdout.splitlines()
    rule = next(i for i, line in enumerate(lines) if line.startswith("--------"))
    spans, start = [], 0
    for width in (len(part) for part in lines[rule].split("  ")):
        spans.append((start, start + width))
        start += width + 2
    rows: List[Row] = []
    device: Optional[int] = None
    for line in lines[rule + 1 : lines.index("", rule)]:
        label, check, status = (line[a:b].strip() for a, b in spans[:3])
        if label:
            device = None if label == "machine" else int(label)
        if check:
            rows.append((device, check, status))
    return rows


def test_the_default_simulator_passes_every_check_and_the_figure_is_measured():
    start = time.monotonic()
    r = doctor()
    took = time.monotonic() - start
    print(f"dvpp-fleet doctor, 8 simulated devices: {took:.1f} s")
    assert r.returncode == 0, r.stderr
    assert r.stdout.startswith("dvpp-fleet doctor on ") and "backend sim (SIMULATED), 8 device(s)" in r.stdout
    total = len(MACHINE) + 8 * PER_DEVICE
    assert f"{total} checks: {total} PASS, 0 WARN, 0 FAIL in " in r.stdout
    rows = table_rows(r.stdout)
    assert [name for device, name, _ in rows if device is None] == MACHINE
    assert [device for device, _, _ in rows if device is not None] == [d for d in range(8) for _ in range(PER_DEVICE)]
    assert {status for _, _, status in rows} == {PASS}


def test_json_holds_the_same_checks_as_the_table():
    r = doctor("--sim-config", config(run_mode="rc", faults=[{"device": 1, "kind": "leak", "bytes": 1 << 21}]))
    code, result = as_json(
        "--sim-config", config(run_mode="rc", faults=[{"device": 1, "kind": "leak", "bytes": 1 << 21}])
    )
    assert r.returncode == code == result["exit_code"] == 1
    assert table_rows(r.stdout) == [(c["device"], c["name"], c["status"]) for c in result["checks"]]
    assert result["counts"] == {PASS: len(result["checks"]) - 2, WARN: 1, FAIL: 1}
    assert (result["backend"], result["simulated"], result["devices"], result["tolerance"]) == (
        "sim",
        True,
        [0, 1],
        524288,
    )
    env = result["environment"]
    assert env["device_nodes"] == [] and env["npu_smi"] is None and env["acl"] == {"origin": None, "simulator": False}
    assert set(result["checks"][0]) == {"name", "device", "status", "seen", "assumed"}
    # on the simulator, no device nodes and no npu-smi is expected, and said
    assert result["checks"][3]["seen"] == (
        "0 /dev/davinci* node(s), no npu-smi, get_device_count 2: as on any machine without NPUs (simulator)"
    )


def test_rc_mode_is_a_warning_not_a_failure():
    code, result = as_json("--sim-config", config(run_mode="rc"))
    assert code == 0 and not_passing(result) == {(None, "run_mode"): WARN}


def test_large_memory_noise_warns_on_jitter_and_passes():
    code, result = as_json("--sim-config", config(memory_noise=64 << 20))
    found = not_passing(result)
    assert code == 0 and set(found.values()) == {WARN}
    assert {(0, "free_jitter"), (1, "free_jitter")} <= set(found)
    # a tolerance above the jitter: nothing to warn about
    code, result = as_json("--sim-config", config(memory_noise=1 << 20), "--max-leak", "8MiB")
    assert code == 0 and not_passing(result) == {} and result["tolerance"] == 8 << 20


def test_a_leak_fails_that_device_and_the_run():
    r = doctor("--sim-config", config(faults=[{"device": 1, "kind": "leak", "bytes": 1 << 21}]))
    assert r.returncode == 1, r.stderr
    assert "  FAIL  device 1  dvpp_alloc_free: the 64.0 MiB block took 64.0 MiB of HBM; after its free" in r.stdout
    assert [(d, name) for d, name, status in table_rows(r.stdout) if status != PASS] == [(1, "dvpp_alloc_free")]


def test_a_visible_id_the_runtime_dropped_is_a_warning_naming_it():
    env = dict(os.environ, ASCEND_RT_VISIBLE_DEVICES="0,1,8")
    code, result = as_json(env=env)
    assert code == 0 and not_passing(result) == {(None, "visibility"): WARN}
    assert "dropped 8" in next(c["seen"] for c in result["checks"] if c["name"] == "visibility")
    assert result["devices"] == [0, 1]
    assert result["environment"]["visibility"] == {
        "variable": "ASCEND_RT_VISIBLE_DEVICES",
        "value": "0,1,8",
        "ids": [0, 1, 8],
    }


def test_chosen_devices_and_a_config_file(tmp_path):
    path = tmp_path / "sim.yaml"
    path.write_text(yaml.safe_dump({"chip": "Ascend310P3", "device_count": 4}))
    code, result = as_json("--sim-config", str(path), "--devices", "1-2")
    assert code == 0 and not_passing(result) == {} and result["devices"] == [1, 2]
    assert {c["device"] for c in result["checks"]} == {None, 1, 2}


def test_a_hung_worker_is_stopped_and_what_it_found_is_kept():
    slow = config(faults=[{"device": 1, "kind": "slow", "factor": 2000}])
    code, result = as_json("--sim-config", slow, "--timeout", "3")
    assert code == 1 and not_passing(result) == {(1, "worker"): FAIL}
    stopped = result["checks"][-1]
    assert stopped["seen"] == "python -m workers.doctor did not finish within 3 s, during warm_up_drop on device 1"
    assert [c["name"] for c in result["checks"] if c["device"] == 0][-1] == "error_double_reset"
    assert result["backend"] == "sim" and result["simulated"] is True


def test_the_simulator_on_a_machine_with_npus_says_its_devices_are_not_these(tmp_path):
    code, result = as_json(env=unsourced_npu_server(tmp_path))
    assert code == 0 and not_passing(result) == {(None, "device_count"): WARN}
    assert "the simulated devices are not this machine's NPUs" in result["checks"][3]["seen"]


@needs_no_acl
def test_the_real_backend_missing_is_an_environment_error():
    r = cli("doctor", "--backend", "acl")
    assert (r.returncode, r.stdout) == (3, "")
    assert r.stderr.startswith("dvpp-fleet: environment error: backend acl: the real acl module (Huawei CANN)")


@needs_no_acl
def test_auto_on_an_npu_server_without_cann_is_an_environment_error(tmp_path):
    r = cli("doctor", env=unsourced_npu_server(tmp_path))
    assert r.returncode == 3 and "but no importable acl module" in r.stderr and "Traceback" not in r.stderr


@pytest.mark.parametrize(
    "args, message",
    [
        (["--devices", "3-1"], "--devices: range 3-1 runs backwards (write 1-3) (got '3-1')"),
        (["--sim-config", "{nope"], "--sim-config: not valid JSON: "),
        (["--sim-config", '{"chip": "Ascend999"}'], "--sim-config: chip: unknown chip 'Ascend999'"),
        (["--sim-config", "[1]"], "--sim-config: must be a mapping of simulator keys (got list)"),
        (["--sim-config", "/no/such.yaml"], "/no/such.yaml: no such file"),
        (["--max-leak", "lots"], "--max-leak: not a size"),
        (["--timeout", "0"], "--timeout: must be > 0 (got 0)"),
    ],
)
def test_usage_errors_exit_2_with_one_line(args, message):
    r = doctor(*args)
    assert r.returncode == 2 and r.stdout == ""
    assert r.stderr.startswith(f"dvpp-fleet: error: {message}") and "Traceback" not in r.stderr


def test_a_simulator_config_is_for_the_simulator_only():
    r = cli("doctor", "--backend", "acl", "--sim-config", "{}")
    assert r.returncode == 2 and "--sim-config: only the simulator takes a config" in r.stderr


@pytest.mark.slow
def test_eight_simulated_devices_take_under_a_minute():
    start = time.monotonic()
    r = doctor()
    assert r.returncode == 0 and time.monotonic() - start < 60


# --- the controller's checks of a real server, from facts ------------------------------------------


def facts(nodes: int = 8, smi: Optional[Dict[int, str]] = None, visible: Optional[str] = None, **extra: Any):
    health = {i: "OK" for i in range(nodes)} if smi is None else smi
    return {
        "cann_version": "8.0.RC2",
        "driver_version": "24.1.rc2",
        "packages": {"numpy": "1.24.4"},
        "python": "3.9.18",
        "device_nodes": [f"/dev/davinci{i}" for i in range(nodes)],
        "npu_smi": {"available": True, "health": health, "header": []},
        "visibility": {"value": visible},
        **extra,
    }


def judged(env: Dict[str, Any], count: Optional[int] = 8, simulated: bool = False) -> Dict[str, Tuple[str, str]]:
    return {c.name: (c.status, c.seen) for c in controller_checks(env, {"simulated": simulated, "device_count": count})}


def test_a_healthy_server_passes_every_controller_check():
    assert {name: status for name, (status, _) in judged(facts()).items()} == dict.fromkeys(MACHINE[:5], PASS)


@pytest.mark.parametrize(
    "env, count, check, status, words",
    [
        (facts(), 7, "device_count", FAIL, "get_device_count 7: the nodes make 8"),
        (facts(visible="0,1,9"), 2, "device_count", PASS, "get_device_count 2"),
        (facts(visible="0,1"), 8, "device_count", FAIL, "the nodes through ASCEND_RT_VISIBLE_DEVICES='0,1' make 2"),
        (facts(nodes=0, smi={}), None, "device_count", FAIL, "the driver is not loaded, or no device is mounted"),
        (facts(smi={0: "OK", 1: "OK"}), 8, "device_count", WARN, "npu-smi counts cards, not chips"),
        (facts(npu_smi=None), 8, "device_count", WARN, "no npu-smi"),
        (facts(npu_smi=None), 8, "npu_health", WARN, "no npu-smi on PATH"),
        (facts(smi={0: "OK", 1: "Warning"}, nodes=2), 2, "npu_health", WARN, "NPU 1 Warning (of 2)"),
        (facts(smi={0: "Critical", 1: "OK"}, nodes=2), 2, "npu_health", FAIL, "NPU 0 Critical (of 2)"),
        (facts(cann_version=None), 8, "cann_version", WARN, "no CANN version under "),
        (facts(driver_version=None), 8, "driver_version", WARN, "no driver version under "),
        (facts(packages={"numpy": "2.1.0"}), 8, "numpy_version", WARN, "CANN's own Python packages may not import"),
    ],
)
def test_what_a_real_server_can_show(env, count, check, status, words):
    found = judged(env, count)[check]
    assert found[0] == status and words in found[1]


def test_on_the_simulator_absent_versions_and_tools_are_expected():
    env = facts(nodes=0, npu_smi=None, cann_version=None, driver_version=None, packages={"numpy": "2.1.0"})
    assert {name: status for name, (status, _) in judged(env, simulated=True).items()} == dict.fromkeys(
        MACHINE[:5], PASS
    )
