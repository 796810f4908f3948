"""What a run leaves for diagnosis: log tails, drill-down, live status, compare (real fleets)."""

from __future__ import annotations

import json
import time

import pytest

from tests.helpers.cli import cli, run_fleet, start_run
from tests.helpers.specs import spec

pytestmark = pytest.mark.slow


def test_a_crash_leaves_the_log_tail_in_the_summary_and_report(tmp_path):
    r = run_fleet(tmp_path, spec(devices=2, faults=[{"device": 1, "kind": "crash", "at_copy": 2}]))
    log = r.device(1)["log"]
    assert log["path"] == "logs/localhost-1.log"
    assert any(line.endswith("in memcpy_h2d") for line in log["tail"])  # the stack of the crash
    assert "last lines of logs/localhost-1.log:" in r.stdout
    assert r.device(0)["log"]["path"] == "logs/localhost-0.log"


def test_the_header_and_summary_carry_the_environment(tmp_path):
    r = run_fleet(tmp_path, spec(devices=1))
    header = json.loads((r.run_dir / "events.jsonl").read_text().splitlines()[0])
    env = header["environment"]
    assert env["python"].count(".") == 2 and env["packages"]["numpy"]
    assert env["npu_smi"] is None and env["cann_version"] is None  # absent tools are recorded as absent
    assert r.summary["environment"] == env
    assert r.device(0)["chip"] == "Ascend910B1"


def test_drill_down_prints_one_device(tmp_path):
    r = run_fleet(tmp_path, spec(devices=2, faults=[{"device": 1, "kind": "bitflip", "at_copy": 3}]))
    out = cli("report", str(r.run_dir), "--device", "localhost:1")
    assert out.returncode == 0, out.stderr
    assert out.stdout.startswith("localhost:1  FAIL")
    for section in (
        "Parameters",
        "Cycles",
        "Memory samples",
        "Faults and causes",
        "Last lines of logs/localhost-1.log",
    ):
        assert section in out.stdout
    assert "data_mismatch at cycle 1, copy 3" in out.stdout and "first_bad_offset" in out.stdout
    bad = cli("report", str(r.run_dir), "--device", "localhost:9")
    assert bad.returncode == 2
    assert bad.stderr.strip() == (
        "dvpp-fleet: error: --device: localhost:9 was not part of this run (devices: localhost:0, localhost:1)"
    )


def test_status_and_prometheus_files_change_during_a_run(tmp_path):
    data = spec(devices=2, status_interval="300ms", faults=[{"device": 1, "kind": "bitflip", "at_copy": 5}])
    data["defaults"].update(number_of_cycles=-1, duration="4s", interval="2ms")
    prom = tmp_path / "fleet.prom"
    proc, run_dir = start_run(tmp_path, data, "--prom", str(prom))
    seen_copies, seen_prom = set(), set()
    while proc.poll() is None:
        try:
            status = json.loads((run_dir / "status.json").read_text())
            seen_copies.add(
                (tuple(d["status"] for d in status["devices"]), sum(d["copies"] for d in status["devices"]))
            )
            seen_prom.add(prom.read_text())
        except (OSError, ValueError):
            pass
        time.sleep(0.1)
    _, err = proc.communicate(timeout=30)
    assert proc.returncode == 1, err
    running = [copies for statuses, copies in seen_copies if statuses[0] == "RUNNING"]
    assert len(set(running)) >= 3, seen_copies  # refreshed several times while the devices ran
    assert ("RUNNING", "FAIL") in {statuses for statuses, _ in seen_copies}  # gone bad before the end
    assert len(seen_prom) >= 3
    final = json.loads((run_dir / "status.json").read_text())
    assert [d["status"] for d in final["devices"]] == ["PASS", "FAIL"]


def test_compare_finds_an_injected_slowdown(tmp_path):
    data = spec(devices=3, concurrency="serial")  # one at a time: less noise between the two runs
    data["defaults"].update(memory_size="1MiB")
    before = run_fleet(tmp_path / "a", data) if (tmp_path / "a").mkdir() is None else None
    data["sim"]["faults"] = [{"device": 2, "kind": "slow", "factor": 20}]
    after = run_fleet(tmp_path / "b", data) if (tmp_path / "b").mkdir() is None else None
    assert before.code == after.code == 0
    out = cli("compare", str(before.run_dir), str(after.run_dir), "--tolerance", "0.5")
    assert out.returncode == 1, out.stdout + out.stderr
    rows = {line.split()[1]: line for line in out.stdout.splitlines() if line.startswith("localhost")}
    assert "REGRESSED: H2D median -9" in rows["2"] and "D2H median -9" in rows["2"]
    assert rows["0"].rstrip().endswith("ok") and rows["1"].rstrip().endswith("ok")
    assert "1 of 3 device(s) regressed (bandwidth tolerance 50%)" in out.stdout
    same = cli("compare", str(before.run_dir), str(before.run_dir))
    assert same.returncode == 0 and "0 of 3 device(s) regressed" in same.stdout
