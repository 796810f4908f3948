"""JUnit XML: valid against the Ant JUnit report schema, read back by junitparser (the reader the
GitHub test-result actions use), and consistent with the verdicts and the exit code."""

from __future__ import annotations

from pathlib import Path

import pytest

from orchestrator.report import junit
from tests.helpers.fleet_runs import MIXED_STATUSES, assert_consistent, copies, mixed_run, record_run
from workers import events as ev

junitparser = pytest.importorskip("junitparser")
xmlschema = pytest.importorskip("xmlschema")

SCHEMA = Path(__file__).parent / "data" / "junit.xsd"


@pytest.fixture(scope="module")
def schema():
    return xmlschema.XMLSchema(str(SCHEMA))


def write(tmp_path, run):
    path = tmp_path / "fleet.xml"
    path.write_text(junit.render(run.verdicts, run.data), encoding="utf-8")
    return path


def outcomes(path):
    """test case name -> (outcome tag or 'passed', type, message, text), as junitparser reads them;
    the names of a simulated run end with [SIMULATED], which is checked and left out here."""
    out = {}
    for suite in junitparser.JUnitXml.fromfile(str(path)):
        simulated = suite.name.endswith(" [SIMULATED]")
        for case in suite:
            result = case.result[0] if case.result else None
            assert case.name.endswith(" [SIMULATED]") == simulated, case.name
            out[case.name.replace(" [SIMULATED]", "")] = (
                ("passed", None, None, None)
                if result is None
                else (result._tag, result.type, result.message, result.text)
            )
    return out


def test_mixed_run_is_valid_against_the_schema(tmp_path, schema):
    path = write(tmp_path, mixed_run(tmp_path))
    schema.validate(str(path))


def test_one_test_case_per_device_named_host_device_with_each_status_mapped(tmp_path):
    run = mixed_run(tmp_path)
    got = outcomes(write(tmp_path, run))
    assert sorted(got) == sorted(MIXED_STATUSES)
    tags = {name: got[name][0] for name in got}
    expected = {
        "PASS": "passed",
        "FAIL": "failure",
        "CRASHED": "error",
        "HUNG": "error",
        "UNAVAILABLE": "error",
        "INCOMPLETE": "error",
        "SKIPPED": "skipped",
        "ABORTED": "skipped",
    }
    assert tags == {name: expected[status] for name, status in MIXED_STATUSES.items()}


def test_failures_and_errors_carry_cause_and_detail(tmp_path):
    got = outcomes(write(tmp_path, mixed_run(tmp_path)))
    tag, kind, message, text = got["node-a:3"]
    assert (tag, kind, message) == ("failure", "data_mismatch", "3 byte(s) differ after D2H")
    assert "(cycle 2, copy 11)" in text
    tag, kind, message, text = got["node-a:4"]
    assert (tag, kind) == ("error", "CRASHED") and "SIGSEGV" in message
    tag, kind, message, text = got["node-b:2"]
    assert (tag, kind) == ("error", "UNAVAILABLE")
    assert "<acl.rt.set_device 507033 ACL_ERROR_RT_DEV_SETUP_ERROR>" in text
    assert got["node-a:5"][1] == "leak"


def test_suites_per_host_with_counts_time_and_run_properties(tmp_path):
    run = mixed_run(tmp_path)
    xml = junitparser.JUnitXml.fromfile(str(write(tmp_path, run)))
    suites = {s.name: s for s in xml}
    assert set(suites) == {"node-a [SIMULATED]", "node-b [SIMULATED]"}
    a, b = suites["node-a [SIMULATED]"], suites["node-b [SIMULATED]"]
    assert (a.tests, a.failures, a.errors, a.skipped) == (6, 2, 1, 0)
    assert (b.tests, b.failures, b.errors, b.skipped) == (6, 0, 3, 2)
    assert a.time == 4.0 and a.hostname == "node-a" and a.timestamp == "2027-01-15T08:00:00"
    props = {p.name: p.value for p in a.properties()}
    assert (props["run_id"], props["simulated"]) == ("run-1", "true")
    assert (xml.tests, xml.failures, xml.errors, xml.skipped) == (12, 2, 4, 2)


def test_outlier_warning_reaches_system_out_of_a_passing_case(tmp_path):
    run = mixed_run(tmp_path)
    text = write(tmp_path, run).read_text()
    assert outcomes(tmp_path / "fleet.xml")["node-a:2"][0] == "passed"
    assert "WARNING node-a:2 PASS: [outlier] H2D median 9.00 GB/s is 62% below" in text


def test_outlier_fail_becomes_a_failure(tmp_path, schema):
    run = mixed_run(tmp_path, outlier="fail")
    path = write(tmp_path, run)
    schema.validate(str(path))
    tag, kind, message, _ = outcomes(path)["node-a:2"]
    assert (tag, kind) == ("failure", "outlier") and "below the fleet median" in message


def test_control_characters_from_a_worker_log_keep_the_xml_valid(tmp_path, schema):
    died = ev.Crashed(message="died\x00 with \x1b[31mcolour\x07", exitcode=-6, signal="SIGABRT")
    run = record_run(tmp_path, {("h", 0): copies(0)[:2] + [died]})
    path = write(tmp_path, run)
    schema.validate(str(path))
    assert outcomes(path)["h:0"][2] == "died\ufffd with \ufffd[31mcolour\ufffd"


def test_consistent_with_verdicts_and_exit_code(tmp_path):
    for thresholds in ({}, {"outlier": "fail"}, {"max_below_fleet": None}):
        sub = tmp_path / str(len(list(tmp_path.iterdir())))
        sub.mkdir()
        run = mixed_run(sub, **thresholds)
        assert_consistent(run)
        got = outcomes(write(sub, run))
        passed = {name for name, o in got.items() if o[0] == "passed"}
        assert passed == {v.name for v in run.verdicts if v.status.value == "PASS"}
        assert (run.code == 0) == (len(passed) == len(got))


def test_all_pass_run_has_no_failure_and_exit_0(tmp_path, schema):
    run = record_run(tmp_path, {("h", d): copies(d) for d in range(3)})
    path = write(tmp_path, run)
    schema.validate(str(path))
    assert set(o[0] for o in outcomes(path).values()) == {"passed"} and run.code == 0


def test_a_simulated_run_says_so_in_every_suite_and_test_name(tmp_path):
    simulated = junitparser.JUnitXml.fromfile(str(write(tmp_path, mixed_run(tmp_path))))
    assert all(s.name.endswith(" [SIMULATED]") for s in simulated)
    assert all(c.name.endswith(" [SIMULATED]") for s in simulated for c in s)
    (tmp_path / "hw").mkdir()
    real = record_run(tmp_path / "hw", {("h", 0): copies(0)}, simulated=False)
    names = [c.name for s in junitparser.JUnitXml.fromfile(str(write(tmp_path / "hw", real))) for c in s]
    assert names == ["h:0"]
