"""The seed-compatible command, run as users run it: ``python3 scripts/memcpy_host_dvpp.py``."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.helpers.server import unsourced_npu_server
from workers.backend import acl_available

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "scripts" / "memcpy_host_dvpp.py"
SMALL_SIM = ["--sim_config", json.dumps({"memory": {"hbm": 50 << 20}, "driver_cache": 0})]  # exact figures


def run(*args: str, sim: bool = True, timeout: float = 60):
    extra = list(SMALL_SIM) if sim and "--sim_config" not in args else []
    return subprocess.run(
        [sys.executable, str(SCRIPT), *args, *extra], cwd=ROOT.parent, capture_output=True, text=True, timeout=timeout
    )


def verdict(out: str) -> str:
    return next(line for line in out.splitlines() if line.startswith(("PASS", "FAIL")))


@pytest.mark.skipif(acl_available(), reason="the real acl is installed here")
def test_default_run_fills_memory_and_passes_loudly_simulated():
    proc = run()
    assert proc.returncode == 0, proc.stdout + proc.stderr
    lines = proc.stdout.splitlines()
    assert lines[0].startswith("SIMULATED") and lines[-1].startswith("SIMULATED")
    for shown in (
        "device id : 0",
        "release cycle : -1",
        "number of cycles : 1",
        "memory size : 10485760 Bytes",
        "memory_reuse : False",
    ):
        assert shown in proc.stdout
    assert "At number_of_cycles = 0, release_cycle = 0, HBM free memory:52428800 Byte" in proc.stdout
    assert "At copy 1 data back from device is [7 7 7 ... 7 7 7]" in proc.stdout
    assert verdict(proc.stdout).startswith("PASS: outcome capacity, 4 copies verified")
    assert "capacity reached at 4 blocks" in proc.stdout


def test_seed_example_command_line():
    proc = run(
        "--release_cycle",
        "3",
        "--number_of_cycles",
        "2",
        "--device_id",
        "1",
        "--memory_size",
        "65536",
        "--memory_reuse",
        "--backend",
        "sim",
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert verdict(proc.stdout).startswith("PASS: outcome completed, 6 copies verified, 768.0 KiB moved (H2D + D2H)")
    assert proc.stdout.count("released its memory") == 2
    assert "At number_of_cycles = 2, release_cycle = 3, HBM free memory" in proc.stdout


def test_unbounded_copies_with_a_duration_and_patterns():
    proc = run(
        "--release_cycle",
        "-1",
        "--number_of_cycles",
        "-1",
        "--memory_reuse",
        "--memory_size",
        "4096",
        "--duration",
        "0.3",
        "--pattern",
        "address",
        "--pattern",
        "random",
        "--interval",
        "0.01",
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert verdict(proc.stdout).startswith("PASS: outcome duration")
    assert "host data (address) is" in proc.stdout
    assert "(random)" in proc.stdout


def test_a_flipped_bit_fails_the_run():
    config = {"memory": {"hbm": 50 << 20}, "faults": [{"device": 0, "kind": "bitflip", "at_copy": 2}]}
    proc = run("--release_cycle", "3", "--memory_size", "4096", "--sim_config", json.dumps(config))
    assert proc.returncode == 1
    assert "data_mismatch at cycle 1, copy 2" in proc.stdout
    assert verdict(proc.stdout).startswith("FAIL") and "1 faults" in verdict(proc.stdout)


def test_memory_full_where_it_should_fit_fails():
    proc = run("--release_cycle", "2", "--memory_reuse", "--memory_size", str(60 << 20))
    assert proc.returncode == 1
    assert verdict(proc.stdout).startswith("FAIL: outcome error")


def test_every_figure_of_the_verdict_is_human_sized_and_a_fault_without_a_place_says_none():
    proc = run("--release_cycle", "2", "--memory_reuse", "--memory_size", str(60 << 20))
    lines = proc.stdout.splitlines()
    moved = next(line for line in lines if line.startswith("  cycles: "))
    assert moved.split("moved: ")[1].split()[:2] == ["0", "B"]
    lowest = next(line for line in lines if line.startswith("  verify errors: "))
    assert lowest.endswith("lowest free: -") or "hbm " in lowest.split("lowest free: ")[1]
    assert "ddr 0 B" not in lowest and "{" not in lowest  # only the memory kinds the device has
    assert "cycle None" not in proc.stdout and "copy None" not in proc.stdout


def test_help_shows_every_default():
    text = run("--help", sim=False).stdout
    for flag, default in (("--release_cycle", "-1"), ("--memory_size", "10485760"), ("--host_memory", "pinned")):
        after = " ".join(text.split(flag, 2)[-1].split()[:40])
        assert f"(default: {default})" in after, after
    assert "(default: None)" not in text and "(default: False)" not in text


def test_memory_kind_device():
    proc = run("--release_cycle", "2", "--memory_size", "4096", "--memory_kind", "device")
    assert proc.returncode == 0, proc.stdout + proc.stderr


@pytest.mark.skipif(acl_available(), reason="the real acl is installed here")
def test_missing_real_backend_exits_3():
    proc = run("--backend", "acl", sim=False)
    assert proc.returncode == 3 and "not importable" in proc.stderr


def test_bad_flag_is_a_usage_error():
    proc = run("--release_cycle", "many", sim=False)
    assert proc.returncode == 2 and "--release_cycle" in proc.stderr


@pytest.mark.skipif(acl_available(), reason="the real acl is installed here")
def test_on_an_npu_server_without_cann_the_default_refuses_to_simulate(tmp_path):
    env = unsourced_npu_server(tmp_path)
    proc = subprocess.run(
        [sys.executable, str(SCRIPT), *SMALL_SIM], cwd=ROOT.parent, capture_output=True, text=True, timeout=60, env=env
    )
    assert proc.returncode == 3, proc.stdout + proc.stderr
    assert proc.stderr.startswith("memcpy_host_dvpp: backend auto: this machine has Ascend hardware (npu-smi at ")
    assert proc.stdout == ""  # no simulated run, no PASS
    sim = subprocess.run(
        [sys.executable, str(SCRIPT), "--backend", "sim", "--release_cycle", "2", *SMALL_SIM],
        cwd=ROOT.parent,
        capture_output=True,
        text=True,
        timeout=60,
        env=env,
    )
    assert sim.returncode == 0 and sim.stdout.startswith("SIMULATED"), sim.stderr
