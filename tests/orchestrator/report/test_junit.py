"""JUnit XML: valid against the Ant JUnit schema, read back by junitparser (the reader the GitHub
test-result actions use), and consistent with the verdicts and the exit code. Recorded runs for each
rule, then real simulated fleets: demo-faults.yaml, and a run interrupted after some devices ended."""

from __future__ import annotations

import json
import time
from pathlib import Path

import junitparser
import pytest
import xmlschema

from orchestrator.report import junit
from tests.helpers.cli import cli, press, start_cli
from tests.helpers.fleet_runs import CHIP, MIXED_STATUSES, assert_consistent, copies, mismatch, mixed_run, record_run
from tests.helpers.specs import spec, write_spec
from workers import events as ev

SCHEMA = Path(__file__).parent / "data" / "junit.xsd"
MARK = " [SIMULATED]"
UNOPENED = ("node-b:2", "node-b:3")
"""Devices of the mixed run that never sent a ``started`` (and its header lists no inventory): no chip."""


@pytest.fixture(scope="module")
def schema():
    return xmlschema.XMLSchema(str(SCHEMA))


def write(tmp_path, run):
    path = tmp_path / "fleet.xml"
    path.write_text(junit.render(run.verdicts, run.data), encoding="utf-8")
    return path


def outcomes(path):
    """(classname, test case name) -> (outcome tag or 'passed', type, message, text), as junitparser
    reads them; the names of a simulated run end with [SIMULATED], which is checked and left out here."""
    out = {}
    for suite in junitparser.JUnitXml.fromfile(str(path)):
        simulated = suite.name.endswith(MARK)
        for case in suite:
            assert case.name.endswith(MARK) == simulated, case.name
            result = case.result[0] if case.result else None
            out[(case.classname, case.name.replace(MARK, ""))] = (
                ("passed", None, None, None)
                if result is None
                else (result._tag, result.type, result.message, result.text)
            )
    return out


def case(name):
    """``node-a:3`` of the mixed run -> its (classname, name)."""
    host, device = name.split(":")
    chip = "" if name in UNOPENED else f" ({CHIP})"
    return (f"dvpp-fleet.{host}", f"device {device}{chip}")


def counts(element):
    return (element.tests, element.failures, element.errors, element.skipped)


def test_mixed_run_is_valid_against_the_schema(tmp_path, schema):
    path = write(tmp_path, mixed_run(tmp_path))
    schema.validate(str(path))


def test_one_test_case_per_device_named_by_device_and_chip_with_each_status_mapped(tmp_path):
    got = outcomes(write(tmp_path, mixed_run(tmp_path)))
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
    assert {key: o[0] for key, o in got.items()} == {case(n): expected[s] for n, s in MIXED_STATUSES.items()}
    assert case("node-a:0") == ("dvpp-fleet.node-a", "device 0 (Ascend910B1)")
    assert case("node-b:2") == ("dvpp-fleet.node-b", "device 2")  # never opened, no inventory: no chip


@pytest.mark.parametrize(
    "host, name",
    [
        ("127.0.0.1", "dvpp-fleet.127_0_0_1"),
        ("localhost", "dvpp-fleet.localhost"),
        ("npu-07.rack2.example.com", "dvpp-fleet.npu-07_rack2_example_com"),
    ],
)
def test_classname_is_the_fleet_package_then_the_host_with_dots_as_underscores(host, name):
    assert junit.classname(host) == name


def test_a_ci_server_splitting_the_classname_at_its_last_dot_finds_package_and_host(tmp_path):
    run = record_run(tmp_path, {("127.0.0.1", 0): copies(0), ("localhost", 1): copies(1)})
    cases = [c for s in junitparser.JUnitXml.fromfile(str(write(tmp_path, run))) for c in s]
    assert [c.classname.rpartition(".") for c in cases] == [
        ("dvpp-fleet", ".", "127_0_0_1"),
        ("dvpp-fleet", ".", "localhost"),
    ]
    assert [c.name for c in cases] == ["device 0 (Ascend910B1) [SIMULATED]", "device 1 (Ascend910B1) [SIMULATED]"]


def test_failure_type_is_the_cause_kind_and_error_type_the_status(tmp_path):
    got = outcomes(write(tmp_path, mixed_run(tmp_path)))
    types = {key: o[:2] for key, o in got.items() if o[0] in ("failure", "error")}
    assert types == {
        case("node-a:3"): ("failure", "data_mismatch"),
        case("node-a:5"): ("failure", "leak"),
        case("node-a:4"): ("error", "CRASHED"),
        case("node-b:1"): ("error", "HUNG"),
        case("node-b:2"): ("error", "UNAVAILABLE"),
        case("node-b:5"): ("error", "INCOMPLETE"),
    }


def test_failures_and_errors_carry_cause_and_detail(tmp_path):
    got = outcomes(write(tmp_path, mixed_run(tmp_path)))
    tag, kind, message, text = got[case("node-a:3")]
    assert (tag, kind, message) == ("failure", "data_mismatch", "3 byte(s) differ after D2H")
    assert "- [data_mismatch] 3 byte(s) differ after D2H (cycle 2, copy 11); expected/actual at offset" in text
    assert got[case("node-a:4")][:3] == ("error", "CRASHED", "worker died from signal SIGSEGV in cycle 1, copy 4")
    assert got[case("node-b:1")][:3] == ("error", "HUNG", "no progress for 30s: stuck in acl.rt.memcpy")
    tag, kind, message, text = got[case("node-b:2")]
    assert (tag, kind, message) == ("error", "UNAVAILABLE", "acl.rt.set_device failed 3 time(s)")
    assert "<acl.rt.set_device 507033 ACL_ERROR_RT_DEV_SETUP_ERROR>" in text
    message = "INCOMPLETE: the journal ends before the device finished (the controller died after starting it)"
    assert got[case("node-b:5")][:3] == ("error", "INCOMPLETE", message)
    assert got[case("node-a:5")][:2] == ("failure", "leak")
    assert got[case("node-a:5")][2].startswith("free device memory after release is 8.0 MiB below the baseline")


def test_an_error_says_the_cause_of_its_status_not_an_earlier_fault(tmp_path):
    died = ev.Crashed(message="worker died from signal SIGKILL in cycle 1, copy 4", exitcode=-9, signal="SIGKILL")
    run = record_run(tmp_path, {("h", 0): copies(0, faults=[mismatch(cycle=1, copy=3)])[:3] + [died]})
    assert [c.fault for c in run.verdicts[0].causes] == ["data_mismatch", "crashed"]
    tag, kind, message, text = outcomes(write(tmp_path, run))[("dvpp-fleet.h", f"device 0 ({CHIP})")]
    assert (tag, kind, message) == ("error", "CRASHED", "worker died from signal SIGKILL in cycle 1, copy 4")
    assert "- [data_mismatch] 3 byte(s) differ after D2H (cycle 1, copy 3)" in text  # the text holds every cause


def test_skipped_devices_say_why_they_have_no_verdict(tmp_path):
    got = outcomes(write(tmp_path, mixed_run(tmp_path)))
    assert got[case("node-b:3")][:3] == (
        "skipped",
        None,
        "SKIPPED: the device was never started (the run ended before its turn)",
    )
    assert got[case("node-b:4")][:3] == (
        "skipped",
        None,
        "ABORTED: the run was stopped while the device was running (2 cycle(s), 16 copies done), before it "
        "finished; it recorded no fault up to then, so it is not judged",
    )


def test_suites_per_host_with_counts_time_and_run_properties(tmp_path):
    run = mixed_run(tmp_path)
    xml = junitparser.JUnitXml.fromfile(str(write(tmp_path, run)))
    suites = {s.name: s for s in xml}
    assert set(suites) == {"node-a [SIMULATED]", "node-b [SIMULATED]"}
    a, b = suites["node-a [SIMULATED]"], suites["node-b [SIMULATED]"]
    assert counts(a) == (6, 2, 1, 0)
    assert counts(b) == (6, 0, 3, 2)
    assert a.time == 4.0 and a.hostname == "node-a" and a.timestamp == "2027-01-15T08:00:00"
    props = {p.name: p.value for p in a.properties()}
    assert (props["run_id"], props["simulated"]) == ("run-1", "true")
    assert counts(xml) == (12, 2, 4, 2) and xml.time == 90.0  # the run's wall time: devices run in parallel


def test_outlier_warning_reaches_system_out_of_a_passing_case(tmp_path):
    run = mixed_run(tmp_path)
    text = write(tmp_path, run).read_text()
    assert outcomes(tmp_path / "fleet.xml")[case("node-a:2")][0] == "passed"
    assert "WARNING node-a:2 PASS: [outlier] H2D median 9.00 GB/s is 62% below" in text


def test_outlier_fail_becomes_a_failure(tmp_path, schema):
    run = mixed_run(tmp_path, outlier="fail")
    path = write(tmp_path, run)
    schema.validate(str(path))
    tag, kind, message, _ = outcomes(path)[case("node-a:2")]
    assert (tag, kind) == ("failure", "outlier") and "below the fleet median" in message


def test_control_characters_from_a_worker_log_keep_the_xml_valid(tmp_path, schema):
    died = ev.Crashed(message="died\x00 with \x1b[31mcolour\x07", exitcode=-6, signal="SIGABRT")
    run = record_run(tmp_path, {("h", 0): copies(0)[:2] + [died]})
    path = write(tmp_path, run)
    schema.validate(str(path))
    assert outcomes(path)[("dvpp-fleet.h", f"device 0 ({CHIP})")][2] == "died\ufffd with \ufffd[31mcolour\ufffd"


def test_consistent_with_verdicts_and_exit_code(tmp_path):
    for thresholds in ({}, {"outlier": "fail"}, {"max_below_fleet": None}):
        sub = tmp_path / str(len(list(tmp_path.iterdir())))
        sub.mkdir()
        run = mixed_run(sub, **thresholds)
        assert_consistent(run)
        got = outcomes(write(sub, run))
        passed = {key for key, o in got.items() if o[0] == "passed"}
        assert passed == {case(v.name) for v in run.verdicts if v.status.value == "PASS"}
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
    assert names == ["device 0 (Ascend910B1)"]


def read(path):
    """junitparser's reading of a file: the root's and each suite's counts, and per case
    (classname, name, outcome tag or 'passed', type, message)."""
    xml = junitparser.JUnitXml.fromfile(str(path))
    suites = [(s.name, counts(s)) for s in xml]
    cases = [
        (c.classname, c.name) + ((c.result[0]._tag, c.result[0].type, c.result[0].message) if c.result else ("passed",))
        for s in xml
        for c in s
    ]
    return counts(xml), suites, cases


def first_faults(run_dir):
    return {
        d["device"]: d["faults"][0]["message"]
        for d in json.loads((run_dir / "summary.json").read_text())["devices"]
        if d["faults"]
    }


@pytest.mark.slow
def test_demo_faults_run_read_by_junitparser(tmp_path, schema):
    xml = tmp_path / "fleet.xml"
    proc = cli("run", "configs/demo-faults.yaml", "--out", str(tmp_path / "run"), "--no-progress", "--junit", str(xml))
    assert proc.returncode == 1, proc.stderr
    schema.validate(str(xml))
    total, suites, cases = read(xml)
    assert total == (8, 4, 0, 0) and suites == [("localhost [SIMULATED]", (8, 4, 0, 0))]
    faults = first_faults(tmp_path / "run")
    assert faults[1] == "2 bad bytes from offset 3785679 (random pattern)"
    outcome = {
        1: ("failure", "data_mismatch", faults[1]),
        3: ("failure", "alloc_failed", faults[3]),
        5: ("failure", "leak", faults[5]),
        6: ("failure", "bandwidth", faults[6]),
    }
    assert cases == [
        ("dvpp-fleet.localhost", f"device {d} (Ascend910B1) [SIMULATED]") + outcome.get(d, ("passed",))
        for d in range(8)
    ]


def interrupted_spec():
    """Five devices one at a time: 0 passes, 1 fails (a flipped bit), 2 cannot be opened, 3 runs for
    two minutes (it is running when Ctrl-C comes), 4 has not started."""
    data = spec(
        devices=5,
        faults=[{"device": 1, "kind": "bitflip", "at_copy": 2}, {"device": 2, "kind": "init_fail"}],
        concurrency="serial",
    )
    data["defaults"]["open_retries"] = 0
    data["hosts"][0]["overrides"] = {3: {"number_of_cycles": -1, "duration": "2m"}}
    return data


def wait_for(path, text, count, timeout=60.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if path.is_file() and path.read_text().count(text) >= count:
            return
        time.sleep(0.05)
    raise AssertionError(f"no {count} x {text} in {path} within {timeout}s")


@pytest.mark.slow
def test_an_interrupted_run_keeps_the_verdicts_of_devices_that_had_ended(tmp_path, schema):
    xml, run_dir = tmp_path / "fleet.xml", tmp_path / "run"
    proc = start_cli(
        "run",
        str(write_spec(tmp_path, interrupted_spec())),
        "--out",
        str(run_dir),
        "--no-progress",
        "--junit",
        str(xml),
    )
    wait_for(run_dir / "events.jsonl", '"kind":"started"', 3)  # devices 0, 1 and 3 (2 never opens)
    press(proc, 1)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, err
    schema.validate(str(xml))
    total, suites, cases = read(xml)
    assert total == (5, 1, 1, 2) and suites == [("localhost [SIMULATED]", (5, 1, 1, 2))]
    faults = first_faults(run_dir)
    aborted = next(c for c in cases if c[1].startswith("device 3 "))[4]
    assert aborted.startswith("ABORTED: the run was interrupted while the device was running (")
    assert aborted.endswith(" copies done), before it finished; it recorded no fault up to then, so it is not judged")
    skipped = (
        "SKIPPED: the run was interrupted before this device's turn: its worker was never started, so it was not tested"
    )
    assert cases == [
        ("dvpp-fleet.localhost", "device 0 (Ascend910B1) [SIMULATED]", "passed"),
        ("dvpp-fleet.localhost", "device 1 (Ascend910B1) [SIMULATED]", "failure", "data_mismatch", faults[1]),
        ("dvpp-fleet.localhost", "device 2 (Ascend910B1) [SIMULATED]", "error", "UNAVAILABLE", faults[2]),
        ("dvpp-fleet.localhost", "device 3 (Ascend910B1) [SIMULATED]", "skipped", None, aborted),
        ("dvpp-fleet.localhost", "device 4 (Ascend910B1) [SIMULATED]", "skipped", None, skipped),
    ]
    assert faults[2].startswith("acl.rt.set_device failed: 507033 ACL_ERROR_RT_DEV_SETUP_ERROR")
