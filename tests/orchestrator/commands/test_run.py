"""Real fleets of simulated devices through the real CLI, one worker process per device."""

from __future__ import annotations

import json
import signal
import time
from typing import List

import pytest

from tests.helpers.cli import ROOT, cli, run_fleet, start_run
from tests.helpers.specs import spec, write_spec

pytestmark = pytest.mark.slow


def test_all_pass_exit_0_with_table_summary_and_journal(tmp_path):
    r = run_fleet(tmp_path, spec(devices=4))
    assert r.code == 0, r.stderr
    assert r.statuses() == {0: "PASS", 1: "PASS", 2: "PASS", 3: "PASS"}
    d = r.device(2)
    assert (d["cycles"], d["copies"]) == (2, 8)
    assert d["bytes"] == 2 * 8 * 64 * 1024
    assert d["h2d_gbps"]["median"] > 0 and d["d2h_gbps"]["min"] > 0
    assert d["faults"] == [] and d["verify_errors"] == 0
    s = r.summary
    assert (s["backend"], s["simulated"], s["launcher"], s["exit_code"]) == ("sim", True, "local", 0)
    assert "SIMULATED" in r.stdout and "All 4 simulated device(s) passed." in r.stdout
    assert (r.run_dir / "report.txt").read_text().strip() == r.stdout.strip()
    kinds = [json.loads(x)["kind"] for x in (r.run_dir / "events.jsonl").read_text().splitlines()]
    assert kinds[0] == "header" and kinds[-1] == "run_end" and kinds.count("finished") == 4


def test_a_bitflip_fails_only_its_device_and_is_named(tmp_path):
    r = run_fleet(tmp_path, spec(devices=4, faults=[{"device": 1, "kind": "bitflip", "at_copy": 3}]))
    assert r.code == 1
    assert r.statuses() == {0: "PASS", 1: "FAIL", 2: "PASS", 3: "PASS"}
    fault = r.device(1)["faults"][0]
    assert (fault["kind"], fault["copy"]) == ("data_mismatch", 3)
    assert "data_mismatch on 1 device(s): localhost:1" in r.stdout


def test_crash_hang_and_unavailable_are_told_apart(tmp_path):
    data = spec(
        devices=4,
        faults=[
            {"device": 0, "kind": "crash", "at_copy": 2},
            {"device": 1, "kind": "hang", "at_copy": 2},
            {"device": 2, "kind": "init_fail", "code": 507033},
        ],
        timeouts={"init": "60s", "copy": "3s"},
    )
    data["defaults"].update(open_retries=1, open_retry_delay="100ms")
    r = run_fleet(tmp_path, data)
    assert r.code == 1
    assert r.statuses() == {0: "CRASHED", 1: "HUNG", 2: "UNAVAILABLE", 3: "PASS"}
    assert (
        r.device(0)["faults"][0]["message"] == "worker for localhost:0 died from signal SIGSEGV during cycle 1, copy 2"
    )
    hung = r.device(1)["faults"][0]
    assert (
        hung["message"] == "no progress for 3s, stuck in acl.rt.memcpy (H2D) at cycle 1, copy 2; the worker was killed"
    )
    assert "memcpy" in (hung["detail"].get("stack") or "")
    opened = r.device(2)["faults"][0]
    assert (opened["kind"], opened["code"]) == ("open_failed", 507033)


def test_report_re_renders_the_same_table_from_the_journal(tmp_path):
    r = run_fleet(tmp_path, spec(devices=2, faults=[{"device": 0, "kind": "bitflip", "at_copy": 1}]))
    again = cli("report", str(r.run_dir))
    assert again.returncode == r.code == 1
    assert again.stdout.strip() == r.stdout.strip()


def interrupt_once_copying(proc, run_dir):
    """SIGINT to the run once its journal holds two progress records; its (stdout, stderr)."""
    journal = run_dir / "events.jsonl"
    deadline = time.time() + 60
    while time.time() < deadline and (not journal.exists() or journal.read_text().count('"progress"') < 2):
        time.sleep(0.2)
    proc.send_signal(signal.SIGINT)
    return proc.communicate(timeout=60)


def test_ctrl_c_stops_every_worker_writes_the_summary_and_exits_130(tmp_path):
    data = spec(devices=2)
    data["defaults"].update(number_of_cycles=-1, duration="5m", interval="10ms")
    proc, run_dir = start_run(tmp_path, data)
    out, err = interrupt_once_copying(proc, run_dir)
    assert proc.returncode == 130, err
    summary = json.loads((run_dir / "summary.json").read_text())
    assert {d["status"] for d in summary["devices"]} == {"ABORTED"}
    assert summary["interrupted"] is True and summary["exit_code"] == 130
    assert all(d["copies"] > 0 for d in summary["devices"])


@pytest.mark.parametrize("concurrency, most_at_once", [("serial", 1), (2, 2), ("all", 3)])
def test_concurrency_limits_how_many_devices_run_at_once(tmp_path, concurrency, most_at_once):
    r = run_fleet(tmp_path, spec(devices=3, concurrency=concurrency))
    assert r.code == 0, r.stderr
    running, peak = 0, 0
    for line in (r.run_dir / "events.jsonl").read_text().splitlines():
        kind = json.loads(line)["kind"]
        running += (kind == "started") - (kind == "finished")
        peak = max(peak, running)
    assert peak <= most_at_once
    if most_at_once == 1:
        assert peak == 1
    assert r.summary["concurrency"] == concurrency


def test_an_expected_device_that_is_not_visible_is_unavailable(tmp_path):
    data = spec(devices=3, expect={"devices": 4})
    r = run_fleet(tmp_path, data)
    assert r.code == 1
    assert r.statuses() == {0: "PASS", 1: "PASS", 2: "PASS", 3: "UNAVAILABLE"}
    cause = r.device(3)["faults"][0]
    assert (cause["kind"], cause["message"]) == (
        "not_visible",
        "device 3 was expected on localhost but is not visible (3 device(s) are); a dead NPU or a driver problem",
    )
    assert "not_visible on 1 device(s): localhost:3" in r.stdout
    again = cli("report", str(r.run_dir), "--format", "json")
    assert {d["device"]: d["status"] for d in json.loads(again.stdout)["devices"]}[3] == "UNAVAILABLE"


def test_a_shared_link_reads_lower_when_all_devices_copy_at_once(tmp_path):
    def medians(concurrency):
        data = spec(devices=4, concurrency=concurrency)
        data["sim"]["link_gbps"] = 2
        # long enough that the workers, started one after another, really copy at the same time
        data["defaults"].update(memory_size="4MiB", release_cycle=10, number_of_cycles=-1, duration="1s")
        (tmp_path / concurrency).mkdir()
        r = run_fleet(tmp_path / concurrency, data)
        assert r.code == 0, r.stdout
        assert (r.run_dir / "sim-link-localhost.state").exists()  # the link is this run's own
        return [d["h2d_gbps"]["median"] for d in r.summary["devices"]]

    together, alone = medians("all"), medians("serial")
    assert all(1.5 < m <= 2.1 for m in alone), alone  # one device alone reads the link's rate
    assert sum(together) / 4 < 0.75 * min(alone), (together, alone)


def test_a_fill_run_reports_the_capacity_reached_as_a_pass(tmp_path):
    data = spec(devices=2)
    data["sim"]["memory"] = {"hbm": "8MiB"}
    data["defaults"].update(memory_size="1MiB", release_cycle=-1, number_of_cycles=1, memory_reuse=False)
    r = run_fleet(tmp_path, data)
    assert r.code == 0, r.stdout
    cap = r.device(0)["capacity"]
    assert (cap["expected"], cap["code"], r.device(0)["outcome"]) == (True, 207001, "capacity")
    assert cap["blocks"] == r.device(0)["copies"] and cap["bytes"] == cap["blocks"] * (1 << 20)
    assert (
        f"  localhost:0: {cap['blocks']} block(s), {cap['blocks']}.0 MiB held when acl.media.dvpp_malloc "
        "returned 207001 ACL_ERROR_RT_MEMORY_ALLOCATION"
    ) in r.stdout


@pytest.mark.parametrize("cycles", [1, 6])
def test_a_leak_of_one_mib_per_free_fails_in_one_cycle_and_in_many(tmp_path, cycles):
    data = spec(devices=2, faults=[{"device": 1, "kind": "leak", "bytes": "1MiB"}])
    data["defaults"].update(number_of_cycles=cycles)
    r = run_fleet(tmp_path, data)  # default thresholds; the simulator's driver cache at its default
    assert r.statuses() == {0: "PASS", 1: "FAIL"}, r.stdout + r.stderr
    assert r.device(0)["memory"]["leak"] == 0  # the runtime's first-use cache is no leak
    assert [f["kind"] for f in r.device(1)["faults"]] == ["leak"]
    assert r.device(1)["memory"]["leak"] == cycles << 20


def test_a_small_leak_that_grows_every_cycle_fails_as_a_trend(tmp_path):
    data = spec(devices=2, faults=[{"device": 1, "kind": "leak", "bytes": "96KiB"}])
    data["defaults"].update(number_of_cycles=5)  # 480 KiB in all: under max_leak (512 KiB)
    r = run_fleet(tmp_path, data)
    assert r.statuses() == {0: "PASS", 1: "FAIL"}, r.stdout + r.stderr
    (leak,) = r.device(1)["faults"]
    assert leak["detail"]["trend"] == [96 * 1024 * n for n in range(1, 6)]
    assert leak["message"] == (
        "free device memory after release fell further in each of the last 5 cycles (96KiB, 192KiB, 288KiB, "
        "384KiB, 480KiB below the baseline): a leak that grows every cycle, below max_leak 512KiB"
    )


def test_an_rc_mode_device_is_labelled_everywhere_and_gets_no_pcie_floor(tmp_path):
    data = spec(devices=2, thresholds={"min_h2d_gbps": 1000})  # a floor no simulated copy reaches
    data["sim"]["run_mode"] = "rc"
    r = run_fleet(tmp_path, data, "--junit", str(tmp_path / "fleet.xml"), "--prom", str(tmp_path / "fleet.prom"))
    assert r.code == 0 and r.statuses() == {0: "PASS", 1: "PASS"}, r.stdout + r.stderr
    device = r.device(0)
    assert device["run_mode"] == "rc" and [w["kind"] for w in device["warnings"]] == ["rc_mode"]
    assert "the bandwidth floors min_h2d_gbps 1000 are not applied" in device["warnings"][0]["message"]
    rows = [line.split() for line in r.stdout.splitlines() if line.split()[1:2] == ["(RC)"]]
    assert [row[:3] for row in rows] == [["0", "(RC)", "PASS"], ["1", "(RC)", "PASS"]]  # under "localhost:"
    assert 'name="device 0 (Ascend910B1) (RC mode) [SIMULATED]"' in (tmp_path / "fleet.xml").read_text()
    prom = (tmp_path / "fleet.prom").read_text()
    assert 'dvpp_fleet_device_rc_mode{chip="Ascend910B1",device="0",host="localhost"} 1.0' in prom
    assert "dvpp_fleet_reference_bytes_per_second{" not in prom  # no PCIe link to compare with


def table_part(stdout: str) -> List[str]:
    """The table's lines of a run's stdout: from its header to the blank line after it."""
    lines = stdout.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith(("dev ", "host ")))
    return lines[start : lines.index("", start)]


def test_the_table_fits_100_columns_and_wide_shows_every_column(tmp_path):
    demo = str(ROOT / "configs" / "demo-faults.yaml")
    narrow = cli("run", demo, "--out", str(tmp_path / "narrow"), "--no-progress")
    wide = cli("run", demo, "--out", str(tmp_path / "wide"), "--no-progress", "--wide")
    assert narrow.returncode == wide.returncode == 1, narrow.stderr + wide.stderr
    lines, wide_lines = table_part(narrow.stdout), table_part(wide.stdout)
    assert len(lines) == 2 + 1 + 1 + 8 and max(len(line) for line in lines) <= 100  # headers, rule, host, devices
    assert lines[3] == "localhost:" and [line.split()[:2] for line in lines[4:6]] == [["0", "PASS"], ["1", "FAIL"]]
    assert lines[5].endswith(" data_mismatch")
    assert wide_lines[0].split()[:3] == ["host", "dev", "status"] and "first fault" in wide_lines[0]
    assert max(len(line) for line in wide_lines) > 100
    for r, name in ((narrow, "narrow"), (wide, "wide")):  # report.txt: what stdout printed
        assert (tmp_path / name / "report.txt").read_text().strip() == r.stdout.strip()
    again = cli("report", str(tmp_path / "narrow"), "--wide")
    assert table_part(again.stdout)[0].split() == wide_lines[0].split()  # widths follow each run's figures


def test_quiet_prints_one_line_and_still_writes_every_file(tmp_path):
    faults = [{"device": 1, "kind": "bitflip", "at_copy": 3}, {"device": 3, "kind": "crash", "at_copy": 1}]
    path = write_spec(tmp_path, spec(devices=4, faults=faults))
    junit, prom, run_dir = tmp_path / "fleet.xml", tmp_path / "fleet.prom", tmp_path / "run"
    r = cli("run", str(path), "--out", str(run_dir), "--quiet", "--junit", str(junit), "--prom", str(prom))
    assert (r.returncode, r.stderr) == (1, "")  # no live view, no "wrote", no banner: --quiet alone does it
    assert r.stdout == "FAIL 2/4 (simulated): localhost:1 data_mismatch, localhost:3 crashed\n"
    summary = json.loads((run_dir / "summary.json").read_text())
    assert [d["status"] for d in summary["devices"]] == ["PASS", "FAIL", "PASS", "CRASHED"]
    assert summary["exit_code"] == 1 and (run_dir / "report.html").is_file() and (run_dir / "report.txt").is_file()
    assert junit.read_text().count("<testcase") == 4 and "dvpp_fleet_last_run_exit_code 1.0" in prom.read_text()
    again = cli("run", str(path), "--out", str(tmp_path / "second"), "--quiet", "--backend", "sim")
    assert again.stdout == r.stdout and again.returncode == 1


def test_keep_removes_the_oldest_runs_beside_this_one(tmp_path):
    path = write_spec(tmp_path, spec(devices=1, keep=2))
    runs = tmp_path / "runs"
    (runs / "mine").mkdir(parents=True)  # not a run: never touched

    def run(name, *extra):
        r = cli("run", str(path), "--out", str(runs / name), "--no-progress", *extra)
        assert r.returncode == 0, r.stderr
        return r.stderr.splitlines()

    assert not [x for x in run("r0") + run("r1") if x.startswith("dvpp-fleet: keep")]  # none beyond keep: 2
    assert sorted(p.name for p in runs.iterdir()) == ["mine", "r0", "r1"]
    assert run("r2")[-1] == f"dvpp-fleet: keep 2: removed 1 old run directory(ies): {runs / 'r0'}"
    assert sorted(p.name for p in runs.iterdir()) == ["mine", "r1", "r2"]
    said = run("r3", "--keep", "1")  # the command line wins over the spec
    assert said[-1] == f"dvpp-fleet: keep 1: removed 2 old run directory(ies): {runs / 'r2'}, {runs / 'r1'}"
    assert sorted(p.name for p in runs.iterdir()) == ["mine", "r3"]
    r = cli("run", str(path), "--out", str(runs / "r4"), "--quiet", "--keep", "1")
    assert (r.returncode, r.stdout, r.stderr) == (0, "PASS 1/1 (simulated)\n", "")  # quiet: removed, not said
    assert sorted(p.name for p in runs.iterdir()) == ["mine", "r4"]


def test_an_interrupted_quiet_run_says_interrupted_and_removes_nothing(tmp_path):
    older = tmp_path / "older"
    done = cli("run", str(write_spec(tmp_path, spec(devices=1), "older.yaml")), "--out", str(older), "--quiet")
    assert done.returncode == 0, done.stderr
    data = spec(devices=2, keep=1)
    data["defaults"].update(number_of_cycles=-1, duration="5m", interval="10ms")
    proc, run_dir = start_run(tmp_path, data, "--quiet")
    out, err = interrupt_once_copying(proc, run_dir)
    assert proc.returncode == 130, err
    assert out == "INTERRUPTED 2/2 (simulated): localhost:0 aborted, localhost:1 aborted\n"
    assert "removed" not in err and (older / "events.jsonl").is_file()  # a stopped run removes nothing


def test_command_line_overrides_pick_the_devices_cycles_and_block_size(tmp_path):
    data = spec(devices=4)
    data["defaults"].update(memory_size="256KiB", number_of_cycles=3)
    r = run_fleet(tmp_path, data, "--devices", "0-1", "--cycles", "1", "--memory-size", "64KiB")
    assert r.code == 0, r.stderr
    assert r.statuses() == {0: "PASS", 1: "PASS"}
    for device in (0, 1):
        d = r.device(device)
        assert (d["params"]["memory_size"], d["params"]["number_of_cycles"]) == (64 * 1024, 1)
        assert (d["cycles"], d["copies"], d["bytes"]) == (1, 4, 2 * 4 * 64 * 1024)  # H2D and D2H
    header = json.loads((r.run_dir / "events.jsonl").read_text().splitlines()[0])
    assert header["resolved"]["overrides"] == {"--devices": "0-1", "--cycles": "1", "--memory-size": "64KiB"}
    assert header["resolved"]["defaults"]["number_of_cycles"] == 1


def test_a_pipelined_fleet_checks_every_byte_and_tells_a_hang_from_its_host_thread(tmp_path):
    data = spec(
        devices=3,
        faults=[{"device": 1, "kind": "bitflip", "at_copy": 3}, {"device": 2, "kind": "hang", "at_copy": 4}],
        timeouts={"init": "60s", "copy": "3s"},
    )
    data["defaults"].update(pipeline="pipelined", memory_size="1MiB", release_cycle=6)
    data["sim"]["memory"] = {"hbm": "64MiB"}
    r = run_fleet(tmp_path, data)
    assert r.statuses() == {0: "PASS", 1: "FAIL", 2: "HUNG"}
    for device in (0, 1):
        d = r.device(device)
        assert d["params"]["pipeline"] == "pipelined" and d["copies"] == 12
        assert d["link"]["verified_bytes"] == d["bytes"] == 2 * 12 * (1 << 20)  # every byte compared
        assert 0 < d["link"]["duty_cycle"] < 1
    (fault,) = r.device(1)["faults"]
    assert (fault["kind"], fault["cycle"], fault["copy"], fault["detail"]["direction"]) == (
        "data_mismatch",
        1,
        3,
        "h2d",
    )
    hung = r.device(2)["faults"][0]
    assert "stuck in acl.rt.memcpy (H2D) at cycle 1, copy 4" in hung["message"]  # the main thread, not the host's
