"""The output options through the real CLI: path checks before a run, re-rendering from a journal,
and one simulated fleet end to end with a slowed device, every output read by its consumer."""

from __future__ import annotations

import json
from pathlib import Path

import jsonschema
import junitparser
import pytest
import xmlschema
from prometheus_client import parser

from orchestrator import rundir
from orchestrator.report.summary import SCHEMA_FILE
from tests.helpers.cli import cli, run_fleet
from tests.helpers.fleet_runs import mixed_run
from tests.helpers.specs import spec

XSD = Path(__file__).parent / "data" / "junit.xsd"
SCHEMA = SCHEMA_FILE


def test_an_unwritable_output_path_is_a_usage_error_before_anything_runs(tmp_path):
    proc = cli(
        "run", "configs/demo-sim.yaml", "--out", str(tmp_path / "run"), "--junit", str(tmp_path / "no" / "x.xml")
    )
    assert proc.returncode == 2
    assert f"argument --junit: cannot write {tmp_path / 'no' / 'x.xml'}" in proc.stderr
    assert not (tmp_path / "run").exists()


def test_report_rerenders_every_output_from_the_journal(tmp_path):
    run = mixed_run(tmp_path)
    out = {k: tmp_path / f"out.{k}" for k in ("xml", "prom", "html")}
    proc = cli(
        "report", str(run.run_dir), "--junit", str(out["xml"]), "--prom", str(out["prom"]), "--html", str(out["html"])
    )
    assert proc.returncode == 1, proc.stderr
    assert all(p.is_file() for p in out.values())
    # the recorded run has only its journal: report restores the results a finished run lacks
    assert sorted(p.name for p in run.run_dir.iterdir() if p.is_file()) == sorted(["events.jsonl", *rundir.RESULTS])
    xmlschema.XMLSchema(str(XSD)).validate(str(out["xml"]))
    families = {f.name: f for f in parser.text_string_to_metric_families(out["prom"].read_text())}
    statuses = {
        s.labels["host"] + ":" + s.labels["device"]: s.labels["status"]
        for s in families["dvpp_fleet_device_status"].samples
        if s.value == 1
    }
    assert statuses == {v.name: v.status.value for v in run.verdicts}  # the text says what the verdicts say
    assert out["html"].read_text().count('<figure class="device"') == 12


@pytest.mark.slow
def test_simulated_fleet_with_a_slow_device_end_to_end(tmp_path):
    data = spec(
        devices=4,
        faults=[{"device": 2, "kind": "slow", "factor": 20}],
        thresholds={"max_below_fleet": 0.5, "outlier": "fail"},
        concurrency="serial",
    )
    data["defaults"].update(memory_size="1MiB", release_cycle=8, number_of_cycles=2)
    files = {k: tmp_path / f"fleet.{k}" for k in ("xml", "prom", "html")}
    r = run_fleet(
        tmp_path,
        data,
        "--junit",
        str(files["xml"]),
        "--prom",
        str(files["prom"]),
        "--html",
        str(files["html"]),
        timeout=240,
    )
    summary = r.summary
    jsonschema.validate(summary, json.loads(SCHEMA.read_text()))
    slowed = r.device(2)
    assert slowed["status"] == "FAIL" and {f["kind"] for f in slowed["faults"]} == {"outlier"}
    assert {f["detail"]["direction"] for f in slowed["faults"]} == {"h2d", "d2h"}  # slow both ways
    assert r.code == 1 == summary["exit_code"]
    statuses = {f"device {d} (Ascend910B1) [SIMULATED]": s for d, s in r.statuses().items()}  # simulated: says so

    xmlschema.XMLSchema(str(XSD)).validate(str(files["xml"]))
    cases = {c.name: c for suite in junitparser.JUnitXml.fromfile(str(files["xml"])) for c in suite}
    assert {c.classname for c in cases.values()} == {"dvpp-fleet.localhost"}
    assert {n: ("PASS" if not c.result else "FAIL") for n, c in cases.items()} == statuses
    assert cases["device 2 (Ascend910B1) [SIMULATED]"].result[0].type == "outlier"

    families = {f.name: f.samples for f in parser.text_string_to_metric_families(files["prom"].read_text())}
    passing = {s.labels["device"]: s.value for s in families["dvpp_fleet_device_pass"]}
    assert passing == {str(d): float(s == "PASS") for d, s in r.statuses().items()}
    ratio = {
        s.labels["device"]: s.value
        for s in families["dvpp_fleet_bandwidth_fleet_ratio"]
        if s.labels["direction"] == "h2d"
    }
    assert ratio["2"] < 0.5
    assert [s.value for s in families["dvpp_fleet_last_run_exit_code"]] == [1]

    page = files["html"].read_text()
    assert page == (r.run_dir / "report.html").read_text()
    assert page.count('<figure class="device"') == 4 and page.count('class="outlier"') >= 1
    assert "http" not in page
