"""Prometheus text: every file parsed by prometheus_client's own parser (and linted by ``promtool check
metrics`` where it is installed or can be), every family with HELP and TYPE, labels host/device/chip
that stay the same whatever a device's status, live refreshes told from the final file, mode 0644
whatever the umask, and values consistent with the verdicts and exit code."""

from __future__ import annotations

import json
import os
import signal
import stat
import subprocess
import time
from datetime import datetime, timezone

import pytest
from prometheus_client import parser

from orchestrator.errors import EXIT_CODES
from orchestrator.report import prom
from orchestrator.report.live import LiveStatus
from orchestrator.results.replay import collector_for
from orchestrator.results.verdict import judge_all
from tests.helpers import debian
from tests.helpers.cli import ROOT, cli, run_fleet, start_run
from tests.helpers.fleet_runs import MIXED_STATUSES, assert_consistent, copies, mixed_devices, mixed_run, record_run
from tests.helpers.specs import spec

DEVICE_FAMILIES = {
    "device_status",
    "device_pass",
    "device_warnings",
    "device_rc_mode",
    "bandwidth_bytes_per_second",
    "bandwidth_fleet_ratio",
    "copied_bytes",
    "copies",
    "cycles",
    "verify_errors",
    "faults",
    "leak_bytes",
    "lowest_free_bytes",
    "duration_seconds",
    "link_duty_ratio",
    "verified_bytes_per_second",
}
RUN_FAMILIES = {
    "reference_bytes_per_second",
    "run_in_progress",
    "last_refresh_timestamp_seconds",
    "last_run_start_timestamp_seconds",
    "last_run_timestamp_seconds",
    "last_run_exit_code",
    "last_run_simulated",
    "last_run_devices",
}
FINAL_ONLY = {"last_run_timestamp_seconds", "last_run_exit_code"}
IDENTITY = ("host", "device", "chip")
NOW = 1_900_000_000.0


# --- promtool: on PATH, else Debian's package where apt can install it ---------------------------


PROMTOOL = (("promtool",), "prometheus", "DVPP_FLEET_NO_PROMTOOL_INSTALL")


def _promtool():
    return debian.found(*PROMTOOL)


@pytest.fixture(scope="module")
def promtool():
    return debian.needed(*PROMTOOL)


def lint(text, promtool):
    """``promtool check metrics``: silent and exit 0 on a clean file; what it said otherwise."""
    proc = subprocess.run([promtool, "check", "metrics"], input=text, capture_output=True, text=True, timeout=60)
    return proc.returncode, (proc.stdout + proc.stderr).strip()


def parse(text):
    """name -> list of (labels, value), through the client library's parser; and through promtool
    whenever it is here, which must find nothing to say."""
    families = {f.name: [(s.labels, s.value) for s in f.samples] for f in parser.text_string_to_metric_families(text)}
    if _promtool():
        assert lint(text, _promtool()) == (0, "")
    return families


def samples(families, name, **match):
    return [
        (labels, value)
        for labels, value in families["dvpp_fleet_" + name]
        if all(labels.get(k) == v for k, v in match.items())
    ]


def one(families, name, **match):
    found = samples(families, name, **match)
    assert len(found) == 1, (name, match, found)
    return found[0][1]


def names(families):
    return {name[len("dvpp_fleet_") :] for name in families}


def identities(families, host, device):
    """Every distinct host/device/chip label set a device's samples carry, over every family."""
    return {
        tuple(labels[k] for k in IDENTITY)
        for found in families.values()
        for labels, _ in found
        if (labels.get("host"), labels.get("device")) == (host, device)
    }


# --- a recorded run, final --------------------------------------------------------------------


def test_every_family_parses_with_help_type_and_device_labels(tmp_path):
    text = prom.render(*_mixed(tmp_path))
    families = {f.name: f for f in parser.text_string_to_metric_families(text)}
    unmeasured = {"device_rc_mode"}  # the recorded workers named no run mode: a family without samples is left out
    assert set(families) == {"dvpp_fleet_" + n for n in (DEVICE_FAMILIES | RUN_FAMILIES) - unmeasured}
    for family in families.values():
        assert family.type == "gauge" and family.documentation and family.samples
        assert f"# HELP {family.name} " in text and f"# TYPE {family.name} gauge" in text
    for name in DEVICE_FAMILIES - unmeasured:
        for sample in families["dvpp_fleet_" + name].samples:
            assert set(IDENTITY) <= set(sample.labels), name
    parse(text)


def test_status_is_one_hot_per_device(tmp_path):
    families = parse(prom.render(*_mixed(tmp_path)))
    for name, status in MIXED_STATUSES.items():
        host, device = name.split(":")
        row = {
            labels["status"]: value for labels, value in samples(families, "device_status", host=host, device=device)
        }
        assert sum(row.values()) == 1 and row[status] == 1
        assert len(row) == 11 and "RUNNING" in row  # every status word, including the live one
        assert one(families, "device_pass", host=host, device=device) == (status == "PASS")


def test_bandwidth_bytes_errors_leak_and_duration(tmp_path):
    families = parse(prom.render(*_mixed(tmp_path)))
    ids = {"host": "node-a", "device": "0", "chip": "Ascend910B1"}
    assert one(families, "bandwidth_bytes_per_second", direction="h2d", stat="median", **ids) == 24e9
    assert one(families, "bandwidth_bytes_per_second", direction="d2h", stat="min", **ids) == 20e9
    assert one(families, "copied_bytes", **ids) == 2 * 32 * (8 << 20)  # both directions
    assert one(families, "verify_errors", host="node-a", device="3") == 1
    assert one(families, "leak_bytes", host="node-a", device="5") == 4 * (2 << 20)
    assert one(families, "duration_seconds", **ids) == 4.0
    assert one(families, "lowest_free_bytes", memory="hbm", **ids) == 64 * (1 << 30) - 4 * (8 << 20)
    assert samples(families, "lowest_free_bytes", memory="ddr") == []  # the chip has no DDR
    assert samples(families, "bandwidth_bytes_per_second", host="node-b", device="2") == []  # never measured
    assert samples(families, "copies", host="node-b", device="2") == []  # never opened: not 0, absent
    assert one(families, "link_duty_ratio", **ids) == pytest.approx(0.72)
    assert one(families, "verified_bytes_per_second", **ids) == pytest.approx(16 * 4 * (8 << 20) / 4.0)
    assert samples(families, "link_duty_ratio", host="node-b", device="2") == []  # no cycle ran: absent


def test_outlier_shows_as_warning_and_fleet_ratio(tmp_path):
    families = parse(prom.render(*_mixed(tmp_path)))
    assert one(families, "device_warnings", host="node-a", device="2") == 1
    assert one(families, "bandwidth_fleet_ratio", host="node-a", device="2", direction="h2d") == pytest.approx(9 / 24)
    assert one(families, "device_pass", host="node-a", device="2") == 1
    assert sum(v for _, v in samples(families, "device_warnings")) == 1


def test_run_level_facts_of_a_final_run(tmp_path):
    run = mixed_run(tmp_path)
    families = parse(prom.render(run.verdicts, run.data, now=NOW))
    assert one(families, "last_run_exit_code") == 1 and one(families, "last_run_simulated") == 1
    assert one(families, "run_in_progress") == 0
    assert one(families, "last_refresh_timestamp_seconds") == NOW
    started = datetime(2027, 1, 15, 8, 0, 0, tzinfo=timezone.utc).timestamp()
    finished = datetime(2027, 1, 15, 8, 1, 30, tzinfo=timezone.utc).timestamp()
    assert one(families, "last_run_start_timestamp_seconds") == started
    assert one(families, "last_run_timestamp_seconds") == finished  # when it finished, not when written
    assert one(families, "last_run_devices", status="PASS") == 4
    assert one(families, "reference_bytes_per_second", chip="Ascend910B1", kind="link") == 63e9


def test_exit_code_help_lists_every_code_that_can_be_written(tmp_path):
    family = next(
        f
        for f in parser.text_string_to_metric_families(prom.render(*_mixed(tmp_path)))
        if f.name == "dvpp_fleet_last_run_exit_code"
    )
    for code, meaning in EXIT_CODES.items():
        assert f"{code} {meaning}" in family.documentation
    assert "-1" not in family.documentation  # never written: a run in progress has no exit code yet
    for code in (-1, 7):  # a live refresh, and a code the help does not list: left out
        families = parse(prom.render([], {"exit_code": code}))
        assert "dvpp_fleet_last_run_exit_code" not in families


def test_a_device_nobody_named_a_chip_for_is_labelled_unknown_in_every_family(tmp_path):
    families = parse(prom.render(*_mixed(tmp_path)))  # the recorded header holds no inventory
    assert identities(families, "node-b", "2") == {("node-b", "2", prom.UNKNOWN_CHIP)}  # UNAVAILABLE
    assert identities(families, "node-b", "3") == {("node-b", "3", prom.UNKNOWN_CHIP)}  # SKIPPED
    assert identities(families, "node-a", "3") == {("node-a", "3", "Ascend910B1")}


def test_a_run_rebuilt_from_a_dead_controller_s_journal_is_final_without_a_finished_time(tmp_path):
    run = mixed_run(tmp_path)
    data = dict(run.data, finished=None, state="incomplete")  # what report gives for such a run
    families = parse(prom.render(run.verdicts, data, now=NOW))
    assert one(families, "run_in_progress") == 0 and one(families, "last_run_exit_code") == 1
    assert "dvpp_fleet_last_run_timestamp_seconds" not in families  # no end was recorded: never "now"
    assert one(families, "last_refresh_timestamp_seconds") == NOW


def test_label_values_are_escaped(tmp_path):
    run = record_run(tmp_path, {('rack "7"\\a\nb', 0): copies(0)})
    families = parse(prom.render(run.verdicts, run.data))
    assert [labels["host"] for labels, _ in families["dvpp_fleet_copies"]] == ['rack "7"\\a\nb']


# --- the file ----------------------------------------------------------------------------------


def test_write_is_atomic_and_leaves_no_temporary_file(tmp_path):
    run = mixed_run(tmp_path)
    out = tmp_path / "textfile"
    out.mkdir()
    target = out / "dvpp_fleet.prom"
    target.write_text("old content\n")
    prom.write(target, run.verdicts, run.data)
    assert os.listdir(out) == ["dvpp_fleet.prom"]
    assert one(parse(target.read_text()), "last_run_exit_code") == 1


def test_the_file_is_0644_under_umask_077(tmp_path):
    run = mixed_run(tmp_path)
    target = tmp_path / "dvpp_fleet.prom"
    target.write_text("old\n")
    target.chmod(0o600)
    before = os.umask(0o077)
    try:
        prom.write(target, run.verdicts, run.data)
        fresh = tmp_path / "fresh.prom"
        prom.write(fresh, run.verdicts, run.data)
    finally:
        os.umask(before)
    assert stat.S_IMODE(target.stat().st_mode) == 0o644  # node_exporter runs as another user
    assert stat.S_IMODE(fresh.stat().st_mode) == 0o644
    assert parse(fresh.read_text())


def test_consistent_with_verdicts_and_exit_code(tmp_path):
    for i, thresholds in enumerate(({}, {"outlier": "fail"})):
        (tmp_path / str(i)).mkdir()
        run = mixed_run(tmp_path / str(i), **thresholds)
        assert_consistent(run)
        families = parse(prom.render(run.verdicts, run.data))
        passing = {(lab["host"], lab["device"]) for lab, v in families["dvpp_fleet_device_pass"] if v == 1}
        faulty = {(lab["host"], lab["device"]) for lab, v in families["dvpp_fleet_faults"] if v > 0}
        assert not passing & faulty
        assert (one(families, "last_run_exit_code") == 0) == (len(passing) == len(run.verdicts))
    assert ("node-a", "2") not in passing  # outlier: fail


# --- live refreshes ----------------------------------------------------------------------------


def test_a_live_refresh_is_in_progress_without_exit_code_or_finished_time(tmp_path):
    target = tmp_path / "live.prom"
    live = _live_status(tmp_path, lambda verdicts, data: prom.write(target, verdicts, data))
    before = time.time()
    live.refresh(force=True)
    families = parse(target.read_text())
    assert one(families, "run_in_progress") == 1
    assert not FINAL_ONLY & names(families)
    assert before <= one(families, "last_refresh_timestamp_seconds") <= time.time()
    assert (
        one(families, "last_run_start_timestamp_seconds") == datetime(2027, 1, 15, 8, tzinfo=timezone.utc).timestamp()
    )
    assert one(families, "device_status", host="node-a", device="0", status="RUNNING") == 1
    assert one(families, "device_status", host="node-a", device="3", status="FAIL") == 1  # gone bad already
    assert identities(families, "node-a", "0") == {("node-a", "0", "Ascend910B1")}


def _live_status(tmp_path, hook):
    """The mixed fleet part-way through (each device's first events), refreshed by ``live.py``."""
    run = mixed_run(tmp_path)
    collector, limits, fleet = collector_for(run.header)
    for (host, device), events in mixed_devices().items():
        for event in events[:3] if device != 3 else events[:7]:  # node-a:3 up to its data mismatch
            if event.kind not in ("finished", "crashed", "hung"):
                collector.fold(host, device, event)
    facts = {"run_id": "run-1", "started": "2027-01-15T08:00:00+00:00", "simulated": True, "finished": None}
    return LiveStatus(run.run_dir, 0.0, lambda: judge_all(collector, limits, fleet, live=True), facts, [hook])


# --- real fleets -------------------------------------------------------------------------------


@pytest.mark.slow
def test_demo_faults_run_parses_and_passes_promtool(tmp_path, promtool):
    target = tmp_path / "dvpp_fleet.prom"
    demo = str(ROOT / "configs" / "demo-faults.yaml")
    proc = cli("run", demo, "--out", str(tmp_path / "run"), "--no-progress", "--prom", str(target), timeout=240)
    assert proc.returncode == 1, proc.stderr
    text = target.read_text()
    assert lint(text, promtool) == (0, "")
    families = parse(text)
    statuses = {lab["device"]: lab["status"] for lab, v in families["dvpp_fleet_device_status"] if v == 1}
    assert statuses == {str(d): "FAIL" if d in (1, 3, 5, 6) else "PASS" for d in range(8)}
    assert one(families, "run_in_progress") == 0 and one(families, "last_run_exit_code") == 1
    assert {chip for _, _, chip in identities(families, "localhost", "3")} == {"Ascend910B1"}
    assert names(families) == DEVICE_FAMILIES | RUN_FAMILIES  # every family, rc mode included


@pytest.mark.slow
def test_an_unavailable_device_keeps_the_labels_it_has_when_it_passes(tmp_path):
    labels = {}
    for case, faults in (("down", [{"device": 1, "kind": "init_fail"}]), ("up", [])):
        (tmp_path / case).mkdir()
        data = spec(devices=2, faults=faults)
        data["defaults"].update(open_retries=0)
        r = run_fleet(tmp_path / case, data, "--prom", str(tmp_path / case / "fleet.prom"))
        families = parse((tmp_path / case / "fleet.prom").read_text())
        status = [lab["status"] for lab, v in samples(families, "device_status", device="1") if v == 1]
        labels[case] = (status, identities(families, "localhost", "1"))
        assert r.summary["devices"][1]["chip"] == "Ascend910B1", r.stderr  # from the inventory when unopened
    assert labels["down"] == (["UNAVAILABLE"], {("localhost", "1", "Ascend910B1")})
    assert labels["up"] == (["PASS"], labels["down"][1])  # the same series, whatever its status


@pytest.mark.slow
def test_live_refreshes_then_final_and_a_killed_controller_left_in_progress(tmp_path):
    target = tmp_path / "fleet.prom"
    data = spec(devices=2, status_interval="200ms")
    data["defaults"].update(number_of_cycles=-1, duration="60s", interval="2ms")
    proc, run_dir = start_run(tmp_path, data, "--prom", str(target))
    seen = _refreshes(target, proc, 3)
    os.kill(proc.pid, signal.SIGKILL)  # the controller only: its workers see it gone and stop
    proc.communicate(timeout=30)
    assert all(one(f, "run_in_progress") == 1 and not FINAL_ONLY & names(f) for f in seen)
    assert len({one(f, "last_refresh_timestamp_seconds") for f in seen}) == 3  # refreshed, each time anew
    assert {lab["status"] for lab, v in seen[-1]["dvpp_fleet_device_status"] if v == 1} == {"RUNNING"}
    stale = parse(target.read_text())
    assert one(stale, "run_in_progress") == 1  # what the dead-run alert sees: in progress, no refreshes
    time.sleep(1.5)  # the orphaned workers release their devices
    assert parse(target.read_text()) == stale

    out = cli("report", str(run_dir), "--prom", str(target))
    assert out.returncode == 1, out.stderr
    final = parse(target.read_text())
    assert one(final, "run_in_progress") == 0 and one(final, "last_run_exit_code") == 1
    assert one(final, "last_refresh_timestamp_seconds") > one(stale, "last_refresh_timestamp_seconds")
    assert {lab["status"] for lab, v in final["dvpp_fleet_device_status"] if v == 1} == {"INCOMPLETE"}
    assert stat.S_IMODE(target.stat().st_mode) == 0o644
    assert json.loads((run_dir / "events.jsonl").read_text().splitlines()[0])["inventory"]["devices"]


def _refreshes(target, proc, count):
    """The first ``count`` distinct live files of a running ``proc``, parsed."""
    seen, texts, deadline = [], set(), time.monotonic() + 60
    while len(seen) < count and time.monotonic() < deadline and proc.poll() is None:
        try:
            text = target.read_text()
        except OSError:
            text = ""
        if text and text not in texts:
            texts.add(text)
            seen.append(parse(text))
        time.sleep(0.05)
    assert len(seen) == count, "the run wrote too few live refreshes"
    return seen


def _mixed(tmp_path):
    run = mixed_run(tmp_path)
    return run.verdicts, run.data
