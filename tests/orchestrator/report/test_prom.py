"""Prometheus text: parsed by prometheus_client's own parser, every family with HELP and TYPE,
labels host/device/chip, written atomically, and consistent with the verdicts and exit code."""

from __future__ import annotations

import os
from datetime import datetime, timezone

import pytest

from orchestrator.report import prom
from tests.helpers.fleet_runs import MIXED_STATUSES, assert_consistent, copies, mixed_run, record_run

parser = pytest.importorskip("prometheus_client.parser")

FAMILIES = {
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
    "reference_bytes_per_second",
    "last_run_timestamp_seconds",
    "last_run_exit_code",
    "last_run_simulated",
    "last_run_devices",
}


def parse(text):
    """name -> list of (labels, value), through the client library's parser."""
    return {f.name: [(s.labels, s.value) for s in f.samples] for f in parser.text_string_to_metric_families(text)}


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


def test_every_family_parses_with_help_type_and_device_labels(tmp_path):
    text = prom.render(*_mixed(tmp_path))
    families = {f.name: f for f in parser.text_string_to_metric_families(text)}
    assert set(families) == {"dvpp_fleet_" + n for n in FAMILIES}
    for family in families.values():
        assert family.type == "gauge" and family.documentation
        assert f"# HELP {family.name} " in text and f"# TYPE {family.name} gauge" in text
    for labels, _ in parse(text)["dvpp_fleet_copies"]:
        assert set(labels) == {"host", "device", "chip"}


def test_status_is_one_hot_per_device(tmp_path):
    families = parse(prom.render(*_mixed(tmp_path)))
    for name, status in MIXED_STATUSES.items():
        host, device = name.split(":")
        row = {
            labels["status"]: value for labels, value in samples(families, "device_status", host=host, device=device)
        }
        assert sum(row.values()) == 1 and row[status] == 1
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


def test_outlier_shows_as_warning_and_fleet_ratio(tmp_path):
    families = parse(prom.render(*_mixed(tmp_path)))
    assert one(families, "device_warnings", host="node-a", device="2") == 1
    assert one(families, "bandwidth_fleet_ratio", host="node-a", device="2", direction="h2d") == pytest.approx(9 / 24)
    assert one(families, "device_pass", host="node-a", device="2") == 1
    assert sum(v for _, v in samples(families, "device_warnings")) == 1


def test_run_level_facts_and_reference(tmp_path):
    run = mixed_run(tmp_path)
    families = parse(prom.render(run.verdicts, run.data))
    assert one(families, "last_run_exit_code") == 1 and one(families, "last_run_simulated") == 1
    finished = datetime(2027, 1, 15, 8, 1, 30, tzinfo=timezone.utc).timestamp()
    assert one(families, "last_run_timestamp_seconds") == finished
    assert one(families, "last_run_devices", status="PASS") == 4
    assert one(families, "reference_bytes_per_second", chip="Ascend910B1", kind="link") == 63e9


def test_label_values_are_escaped(tmp_path):
    run = record_run(tmp_path, {('rack "7"\\a\nb', 0): copies(0)})
    families = parse(prom.render(run.verdicts, run.data))
    assert [labels["host"] for labels, _ in families["dvpp_fleet_copies"]] == ['rack "7"\\a\nb']


def test_write_is_atomic_and_leaves_no_temporary_file(tmp_path):
    run = mixed_run(tmp_path)
    out = tmp_path / "textfile"
    out.mkdir()
    target = out / "dvpp_fleet.prom"
    target.write_text("old content\n")
    prom.write(target, run.verdicts, run.data)
    assert os.listdir(out) == ["dvpp_fleet.prom"]
    assert parse(target.read_text())


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


def _mixed(tmp_path):
    run = mixed_run(tmp_path)
    return run.verdicts, run.data
