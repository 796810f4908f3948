"""What is guaranteed when things go wrong around the devices: the controller dies, is stopped,
is given bad input, or runs big fleets. Real processes throughout."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest

from tests.helpers.cli import ROOT, cli, run_fleet, start_run
from tests.helpers.specs import spec, write_spec

pytestmark = pytest.mark.slow


def _wait_for_progress(run_dir: Path, devices: int, timeout: float = 60) -> list:
    journal = run_dir / "events.jsonl"
    deadline = time.time() + timeout
    while time.time() < deadline:
        if journal.exists():
            records = [json.loads(x) for x in journal.read_text().splitlines() if x.endswith("}")]
            pids = [r["pid"] for r in records if r.get("kind") == "started"]
            if len(pids) == devices and sum(r.get("kind") == "progress" for r in records) >= 2 * devices:
                return pids
        time.sleep(0.2)
    raise AssertionError("workers never made progress")


def _running(pids: list) -> list:
    alive = []
    for pid in pids:
        try:
            if psutil.Process(pid).status() != psutil.STATUS_ZOMBIE:
                alive.append(pid)
        except psutil.NoSuchProcess:
            pass
    return alive


def _wait_gone(pids: list, timeout: float = 10.0) -> list:
    """Wait until none of ``pids`` runs any more; the ones still running after ``timeout``."""
    deadline = time.time() + timeout
    while time.time() < deadline and _running(pids):
        time.sleep(0.1)
    return _running(pids)


def _unbounded(devices: int):
    data = spec(devices=devices)
    data["defaults"].update(number_of_cycles=-1, duration="5m", interval="5ms")
    return data


def test_workers_exit_within_seconds_when_the_controller_is_killed(tmp_path):
    proc, run_dir = start_run(tmp_path, _unbounded(2))
    pids = _wait_for_progress(run_dir, 2)
    proc.send_signal(signal.SIGKILL)
    proc.communicate(timeout=10)
    assert _wait_gone(pids) == [], "workers outlived their controller"
    logs = "".join(p.read_text() for p in (run_dir / "logs").glob("*.log"))
    assert "controller is gone" in logs


def test_the_journal_of_a_killed_controller_reports_incomplete_devices(tmp_path):
    proc, run_dir = start_run(tmp_path, _unbounded(2))
    pids = _wait_for_progress(run_dir, 2)
    proc.send_signal(signal.SIGKILL)
    proc.communicate(timeout=10)
    with open(run_dir / "events.jsonl", "a") as fh:
        fh.write('{"t": 1, "host": "localhost", "dev')  # a torn last line, as a kill mid-write leaves
    r = cli("report", str(run_dir), "--format", "json")
    assert r.returncode == 1, r.stderr
    summary = json.loads(r.stdout)
    assert {d["status"] for d in summary["devices"]} == {"INCOMPLETE"}
    assert all(d["copies"] > 0 and d["bytes"] > 0 for d in summary["devices"])
    assert "skipped 1 unreadable journal line" in r.stderr
    assert _wait_gone(pids) == []  # the orphaned workers end by themselves (the leftover check follows)


def test_sigterm_is_handled_like_ctrl_c(tmp_path):
    proc, run_dir = start_run(tmp_path, _unbounded(2))
    _wait_for_progress(run_dir, 2)
    proc.send_signal(signal.SIGTERM)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, err
    summary = json.loads((run_dir / "summary.json").read_text())
    assert [d["status"] for d in summary["devices"]] == ["ABORTED", "ABORTED"]
    assert "INTERRUPTED" in out


def test_a_run_directory_with_a_journal_is_never_overwritten(tmp_path):
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    (run_dir / "events.jsonl").write_text("precious\n")
    r = cli("run", str(write_spec(tmp_path, spec(devices=1))), "--out", str(run_dir))
    assert r.returncode == 2
    assert "already holds a run" in r.stderr and "Traceback" not in r.stderr
    assert (run_dir / "events.jsonl").read_text() == "precious\n"


def test_an_unwritable_out_is_a_usage_error(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("")
    r = cli("run", str(write_spec(tmp_path, spec(devices=1))), "--out", str(blocker / "run"))
    assert r.returncode == 2
    assert r.stderr.startswith("dvpp-fleet: error: --out: cannot write to") and "Traceback" not in r.stderr


def test_malformed_yaml_names_line_and_column_without_traceback(tmp_path):
    path = tmp_path / "bad.yaml"
    path.write_text("version: 1\nhosts: [\n  {name: a\n")
    r = cli("run", str(path))
    assert r.returncode == 2
    assert "bad.yaml:" in r.stderr and "Traceback" not in r.stderr


def test_every_fault_kind_at_once_each_on_its_own_device(tmp_path):
    faults = [
        {"device": 0, "kind": "bitflip", "at_copy": 2},
        {"device": 1, "kind": "alloc_fail", "at_alloc": 2},
        {"device": 2, "kind": "crash", "at_copy": 3},
        {"device": 3, "kind": "hang", "at_copy": 3},
        {"device": 4, "kind": "leak", "bytes": "1MiB"},
        {"device": 5, "kind": "slow", "factor": 50},
        {"device": 6, "kind": "init_fail"},
    ]
    data = spec(
        devices=8,
        faults=faults,
        timeouts={"init": "60s", "copy": "3s"},
        thresholds={"min_h2d_gbps": 0.5},
        concurrency="serial",
    )  # serial: no CPU contention in the figures
    data["defaults"].update(open_retries=1, open_retry_delay="100ms", memory_size="1MiB")
    r = run_fleet(tmp_path, data, timeout=180)
    assert r.code == 1
    assert r.statuses() == {
        0: "FAIL",
        1: "FAIL",
        2: "CRASHED",
        3: "HUNG",
        4: "FAIL",
        5: "FAIL",
        6: "UNAVAILABLE",
        7: "PASS",
    }
    first = {d["device"]: d["faults"][0]["kind"] for d in r.summary["devices"] if d["faults"]}
    assert first == {
        0: "data_mismatch",
        1: "alloc_failed",
        2: "crashed",
        3: "hung",
        4: "leak",
        5: "bandwidth",
        6: "open_failed",
    }


def test_an_open_failure_that_clears_is_retried_and_passes(tmp_path):
    data = spec(devices=2, faults=[{"device": 1, "kind": "init_fail", "times": 1}])
    data["defaults"].update(open_retries=2, open_retry_delay="100ms")
    r = run_fleet(tmp_path, data)
    assert r.code == 0, r.stdout
    assert r.device(1)["attempts"] == 2 and r.device(0)["attempts"] == 1


def test_a_fleet_of_64_devices_reports_every_device(tmp_path):
    data = spec(devices=64)
    data["defaults"].update(memory_size="16KiB", release_cycle=2, number_of_cycles=1)
    r = run_fleet(tmp_path, data, timeout=300)
    assert r.code == 0, r.stdout[-2000:]
    assert sorted(r.statuses()) == list(range(64)) and set(r.statuses().values()) == {"PASS"}


def test_the_live_status_is_refreshed_on_time_while_no_event_arrives(tmp_path):
    data = spec(devices=1, status_interval="200ms")
    data["defaults"].update(number_of_cycles=1, release_cycle=3, interval="1500ms")  # 1.5 s of silence per copy
    proc, run_dir = start_run(tmp_path, data)
    seen = set()
    deadline = time.monotonic() + 3.0
    while time.monotonic() < deadline and proc.poll() is None:
        try:
            seen.add(json.loads((run_dir / "status.json").read_text())["updated"])
        except (OSError, ValueError, KeyError):
            pass
        time.sleep(0.05)
    proc.communicate(timeout=60)
    assert proc.returncode == 0
    assert len(seen) >= 8, sorted(seen)  # about 5 per second, not one per copy


def test_off_a_terminal_a_fault_is_a_line_on_stderr_the_moment_it_is_recorded(tmp_path):
    faults = [{"device": 1, "kind": "bitflip", "at_copy": 3}, {"device": 1, "kind": "bitflip", "at_copy": 6}]
    data = spec(devices=2, faults=faults)
    data["defaults"].update(number_of_cycles=-1, duration="3s", interval="20ms")
    path = write_spec(tmp_path, data)
    with (tmp_path / "stdout.txt").open("w") as stdout:  # live view on: stderr is a pipe, not a terminal
        proc = subprocess.Popen(
            [sys.executable, "-m", "orchestrator", "run", str(path), "--out", str(tmp_path / "run")],
            cwd=str(ROOT),
            env=dict(os.environ, PYTHONPATH=str(ROOT)),
            stdout=stdout,
            stderr=subprocess.PIPE,
            text=True,
        )
        lines = []
        while not any(" FAULT " in line for line in lines):
            line = proc.stderr.readline()
            assert line, f"stderr ended without a FAULT line: {lines}"
            lines.append(line.rstrip("\n"))
        running_at_fault = proc.poll() is None
        lines += proc.stderr.read().splitlines()
        assert proc.wait(timeout=60) == 1
    assert running_at_fault  # the line came while the run went on (about 3 s before its end)
    fault = next(i for i, line in enumerate(lines) if " FAULT " in line)
    assert re.fullmatch(
        r"localhost:1 FAULT \[data_mismatch\] 1 bad bytes from offset \d+ \(\w+ pattern\) \(cycle 1, copy 3\)",
        lines[fault],
    )
    ends = {line.split(" ", 1)[0]: i for i, line in enumerate(lines) if " after " in line and " copies, " in line}
    assert fault < min(ends.values())  # before either device ended: mid-run
    assert sum(" FAULT " in line for line in lines) == 1  # the second bitflip is only counted
    assert re.fullmatch(
        r"localhost:1 FAIL after \d+ copies, .* moved, \d+\.\ds; 2 fault\(s\) recorded", lines[ends["localhost:1"]]
    )
    assert re.fullmatch(
        r"localhost:0 done \(duration\) after \d+ copies, .* moved, \d+\.\ds", lines[ends["localhost:0"]]
    )
