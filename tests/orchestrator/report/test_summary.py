"""summary.json against the JSON Schema shipped in the package: real summaries validate, and the
schema is strict enough to catch a key that drifted."""

from __future__ import annotations

import copy
import json
from importlib.resources import files

import jsonschema
import pytest

from orchestrator.report.summary import SCHEMA_FILE
from tests.helpers.cli import cli
from tests.helpers.fleet_runs import assert_consistent, copies, mixed_run, record_run


@pytest.fixture(scope="module")
def validator():
    schema = json.loads(files("orchestrator.report").joinpath(SCHEMA_FILE.name).read_text(encoding="utf-8"))
    cls = jsonschema.validators.validator_for(schema)
    cls.check_schema(schema)
    return cls(schema, format_checker=cls.FORMAT_CHECKER)


def errors(validator, data):
    return sorted(e.message for e in validator.iter_errors(json.loads(json.dumps(data, default=str))))


@pytest.mark.parametrize("thresholds", [{}, {"outlier": "fail"}, {"max_below_fleet": None}])
def test_every_status_in_a_mixed_run_validates(tmp_path, validator, thresholds):
    run = mixed_run(tmp_path, **thresholds)
    assert errors(validator, run.data) == []
    assert len(run.data["counts"]) == 8


def test_all_pass_summary_validates_with_exit_0(tmp_path, validator):
    run = record_run(tmp_path, {("h", d): copies(d) for d in range(4)})
    assert errors(validator, run.data) == [] and run.data["exit_code"] == 0


def test_report_command_prints_a_summary_that_validates(tmp_path, validator):
    run = mixed_run(tmp_path)
    proc = cli("report", str(run.run_dir), "--format", "json")
    assert proc.returncode == 1, proc.stderr
    printed = json.loads(proc.stdout)
    assert errors(validator, printed) == []
    assert [d["status"] for d in printed["devices"]] == [v.status.value for v in run.verdicts]


def test_schema_catches_drift(tmp_path, validator):
    data = mixed_run(tmp_path).data
    for mutate, expected in [
        (lambda d: d["devices"][0].update(status="OK"), "is not one of"),
        (lambda d: d["devices"][0].update(extra=1), "Additional properties are not allowed"),
        (lambda d: d.pop("schema_version"), "'schema_version' is a required property"),
        (lambda d: d["devices"][2]["warnings"][0].pop("detail"), "'detail' is a required property"),
        (lambda d: d.update(exit_code=2), "is not one of"),
    ]:
        broken = copy.deepcopy(data)
        mutate(broken)
        assert any(expected in e for e in errors(validator, broken)), expected


def test_summary_agrees_with_the_recorded_faults_and_exit_code(tmp_path):
    run = mixed_run(tmp_path)
    assert_consistent(run)
    by_device = {f"{d['host']}:{d['device']}": d for d in run.data["devices"]}
    for v in run.verdicts:
        d = by_device[v.name]
        assert d["status"] == v.status.value
        assert (d["status"] == "PASS") == (
            not d["faults"] and d["faults_total"] == 0 and d["verify_errors"] == 0 and v.status.value == "PASS"
        )
    assert run.data["exit_code"] == run.code == 1


def test_each_device_says_how_busy_it_kept_its_link(tmp_path):
    by_device = {f"{d['host']}:{d['device']}": d for d in mixed_run(tmp_path).data["devices"]}
    assert by_device["node-a:0"]["link"] == {
        "busy_s": 2.88,
        "wall_s": 4.0,
        "duty_cycle": 0.72,
        "verified_bytes": 16 * 4 * (8 << 20),
        "verified_gbps": round(16 * 4 * (8 << 20) / 4.0 / 1e9, 3),
    }
    assert by_device["node-b:2"]["link"] is None  # never opened: no cycle ran
