"""What a run leaves for diagnosis: log tails, drill-down, live status, compare (real fleets); and a
real run's journal damaged in each way a journal can be, which every output of ``report`` and
``compare`` survives, saying what it skipped."""

from __future__ import annotations

import copy
import json
import random
import time
from pathlib import Path
from typing import Any, Callable, Dict, List, Optional, Tuple

import pytest

from orchestrator.results import replay as replay_module
from tests.helpers.cli import cli, run_fleet, start_run
from tests.helpers.journals import Line, Said, copy_run, dvpp, example_record, records, rewrite
from tests.helpers.specs import spec
from workers import events as ev
from workers.entry.position import read_position

DROP = object()

pytestmark = pytest.mark.slow


def test_a_crash_leaves_the_log_tail_in_the_summary_and_report(tmp_path):
    r = run_fleet(tmp_path, spec(devices=2, faults=[{"device": 1, "kind": "crash", "at_copy": 2}]))
    log = r.device(1)["log"]
    assert log["path"] == "logs/localhost-1.log"
    assert any(line.endswith("in memcpy_h2d") for line in log["tail"])  # the stack of the crash
    assert "localhost:1: worker log logs/localhost-1.log:" in r.stdout
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
        "Worker log logs/localhost-1.log",
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


# a damaged journal: report and compare say what they skipped and never raise


@pytest.fixture(scope="module")
def recorded(tmp_path_factory) -> Path:
    """A real run of two simulated devices, device 1 with a bit flip (so its journal holds a fault)."""
    r = run_fleet(
        tmp_path_factory.mktemp("real"), spec(devices=2, faults=[{"device": 1, "kind": "bitflip", "at_copy": 2}])
    )
    assert r.code == 1, r.stderr
    return r.run_dir


def test_drill_down_as_json_is_the_summary_record_with_every_cycle_and_memory_sample(recorded, tmp_path, capsys):
    run_dir = copy_run(recorded, tmp_path / "run")
    said = dvpp(capsys, "report", run_dir, "--device", "localhost:1", "--format", "json")
    assert (said.code, said.err) == (0, "")
    data = json.loads(said.out)
    assert sorted(data) == ["cycles", "device", "memory_samples", "run", "schema_version"]
    summary = json.loads(dvpp(capsys, "report", recorded, "--format", "json").out)
    assert data["device"] == summary["devices"][1] and data["device"]["status"] == "FAIL"
    assert data["run"]["run_id"] == summary["run_id"] == "run" and data["run"]["simulated"] is True
    mine = [r for r in records(recorded) if r.get("device") == 1 and r.get("host") == "localhost"]
    ends = [r for r in mine if r.get("kind") == "cycle_end"]
    assert data["cycles"] == [{k: v for k, v in r.items() if k not in ("host", "device", "kind")} for r in ends]
    assert [c["cycle"] for c in data["cycles"]] == [1, 2] and all(isinstance(c["t"], float) for c in data["cycles"])
    samples = [
        (r["kind"], r["memory"]) for r in mine if r.get("memory") and r["kind"] in ("started", "progress", "finished")
    ]
    assert [(m["event"], m["memory"]) for m in data["memory_samples"]] == samples
    assert data["memory_samples"][0]["event"] == "started" and data["memory_samples"][-1]["event"] == "finished"
    assert not (run_dir / "summary.json").exists()  # a drill-down writes nothing


def test_report_quiet_prints_the_runs_one_line_and_nothing_else(recorded, tmp_path, capsys):
    run_dir = copy_run(recorded, tmp_path / "run")
    junit = tmp_path / "fleet.xml"
    said = dvpp(capsys, "report", run_dir, "--quiet", "--junit", junit)
    assert said == (1, "FAIL 1/2 (simulated): localhost:1 data_mismatch\n", "")
    assert junit.read_text().count("<testcase") == 2 and (run_dir / "summary.json").is_file()  # still written
    said = dvpp(capsys, "report", run_dir, "--quiet", "--device", "localhost:1")
    assert (said.code, said.out) == (2, "")
    assert said.err == (
        "dvpp-fleet: error: --quiet: one line is the verdict of a whole run, not a drill-down; leave out --device\n"
    )


def _at(lines: List[Line], kind: str, device: Optional[int] = None) -> int:
    return next(
        n
        for n, r in enumerate(lines)
        if isinstance(r, dict) and r.get("kind") == kind and device in (None, r.get("device"))
    )


def _missing_field(lines: List[Line]) -> Tuple[List[Line], List[str]]:
    n = _at(lines, "progress")
    lines[n] = {k: v for k, v in lines[n].items() if k != "copies"}
    return lines, [f"line {n + 1}: progress: copies is missing"]


def _job_without_thresholds(lines: List[Line]) -> Tuple[List[Line], List[str]]:
    del lines[0]["jobs"][0]["thresholds"]
    return lines, ["line 1: header: jobs[0] (localhost:0) has no thresholds; it is judged by the fleet's"]


def _detail_a_list(lines: List[Line]) -> Tuple[List[Line], List[str]]:
    n = _at(lines, "fault")
    lines[n] = dict(lines[n], detail=["first_bad_offset", 4096])
    return lines, [f"line {n + 1}: fault: detail must be an object (got ['first_bad_offset', 4096])"]


def _strings_in_progress(lines: List[Line]) -> Tuple[List[Line], List[str]]:
    at = [n for n, r in enumerate(lines) if isinstance(r, dict) and r.get("kind") == "progress"]
    for n in at:
        lines[n] = dict(lines[n], cycle=str(lines[n]["cycle"]), copies="many")
    return lines, [f"line {n + 1}: progress: cycle must be an integer (got '{lines[n]['cycle']}')" for n in at]


def _device_a_string(lines: List[Line]) -> Tuple[List[Line], List[str]]:
    n = _at(lines, "cycle_end", 0)
    lines[n] = dict(lines[n], device="0")
    return lines, [f"line {n + 1}: device '0' is not an integer"]


def _unknown_kind(lines: List[Line]) -> Tuple[List[Line], List[str]]:
    n = _at(lines, "cycle_end")
    lines.insert(n, {"t": 1.0, "host": "localhost", "device": 0, "kind": "bogus"})
    return lines, [f"line {n + 1}: unknown kind 'bogus'"]


def _garbled_middle(lines: List[Line]) -> Tuple[List[Line], List[str]]:
    n = _at(lines, "cycle_end")
    lines.insert(n, '{"t": 1800000000.5, "host": "localhost", "device": 0, "kind": "prog')
    return lines, [f"line {n + 1}: not JSON (Invalid control character at: column 68)"]  # the newline


CORRUPTIONS: Dict[str, Callable[[List[Line]], Tuple[List[Line], List[str]]]] = {
    "a record missing a field": _missing_field,
    "a header job without thresholds": _job_without_thresholds,
    "a fault whose detail is a list": _detail_a_list,
    "string values in progress records": _strings_in_progress,
    "a device given as a string": _device_a_string,
    "an unknown kind": _unknown_kind,
    "a garbled line in the middle": _garbled_middle,
}


def _clean(said: Said) -> None:
    assert "Traceback" not in said.err and "internal error" not in said.err, said.err


@pytest.mark.parametrize("name", list(CORRUPTIONS))
def test_every_output_of_a_damaged_journal_says_what_was_skipped(recorded, tmp_path, capsys, name):
    run_dir = copy_run(recorded, tmp_path / "run")
    lines, expected = CORRUPTIONS[name](records(run_dir))
    rewrite(run_dir, lines)
    page = tmp_path / "page.html"
    for argv in (  # compare first: it reads the journal only while the run has no summary.json, which report restores
        ["compare", recorded, run_dir, "--tolerance", "0.99"],
        ["report", run_dir],
        ["report", run_dir, "--format", "json"],
        ["report", run_dir, "--html", page],
        ["report", run_dir, "--device", "localhost:0"],
        ["report", run_dir, "--device", "localhost:0", "--format", "json"],
        ["report", run_dir, "--quiet"],
    ):
        said = dvpp(capsys, *argv)
        _clean(said)
        assert said.code in (0, 1), (argv, said.err)
        assert said.skipped() == expected, argv
        lines_or_parts = "1 part(s) of the header" if name == "a header job without thresholds" else None
        count = lines_or_parts or f"{len(expected)} unreadable journal line(s)"
        assert f"dvpp-fleet: skipped {count} of {run_dir / 'events.jsonl'}:" in said.err.splitlines(), argv
        assert "torn" not in said.err
    again = dvpp(capsys, "compare", recorded, run_dir, "--tolerance", "0.99")  # now from the restored summary
    assert "could not be used" in again.err and "rebuilt from a journal of which" in again.err
    assert json.loads(dvpp(capsys, "report", run_dir, "--format", "json").out)["devices"][1]["status"] == "FAIL"
    assert page.read_text().startswith("<!DOCTYPE html>")
    assert dvpp(capsys, "report", run_dir, "--device", "localhost:1").out.startswith("localhost:1  FAIL")


def test_a_header_whose_jobs_are_a_string_is_an_environment_error(recorded, tmp_path, capsys):
    run_dir = copy_run(recorded, tmp_path / "run")
    lines = records(run_dir)
    lines[0]["jobs"] = "localhost:0,localhost:1"
    rewrite(run_dir, lines)
    why = (
        f"dvpp-fleet: environment error: {run_dir / 'events.jsonl'} has no usable header line "
        "(line 1: jobs must be a list of jobs (got 'localhost:0,localhost:1'))\n"
    )
    for argv in (
        ["report", run_dir],
        ["report", run_dir, "--format", "json"],
        ["report", run_dir, "--html", tmp_path / "page.html"],
        ["report", run_dir, "--device", "localhost:0"],
        ["report", run_dir, "--device", "localhost:0", "--format", "json"],
        ["compare", recorded, run_dir],
    ):
        assert dvpp(capsys, *argv) == (3, "", why), argv
    assert not (tmp_path / "page.html").exists()


def test_a_journal_that_cannot_be_read_is_an_environment_error(recorded, tmp_path, capsys, monkeypatch):
    def refused(*args: Any, **kwargs: Any) -> Any:
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(replay_module, "read_journal", refused)
    said = dvpp(capsys, "report", recorded)
    assert said == (
        3,
        "",
        f"dvpp-fleet: environment error: cannot read {recorded / 'events.jsonl'} (Permission denied)\n",
    )


MUTATIONS = [DROP, "x", [1, "a"], {"k": {"n": [1]}}, None, 10**30, 2**62, -1, 0, 0.5, "", [], {}, True, "\ud800"]
"""What a field is replaced by: valid but odd values (null, 0, -1, 2**62, empty) must render, the rest be skipped."""


def _paths(value: Any, prefix: Tuple[Any, ...] = ()) -> List[Tuple[Any, ...]]:
    """Every key down to three levels (the first item of a list)."""
    if len(prefix) == 3 or not value or not isinstance(value, (dict, list)):
        return []
    keys = list(value) if isinstance(value, dict) else [0]
    return [p for k in keys for p in [prefix + (k,)] + _paths(value[k], prefix + (k,))]


def _mutated(lines: List[Line], n: int, path: Tuple[Any, ...], mutation: Any) -> List[Line]:
    lines = copy.deepcopy(lines)
    node: Any = lines[n]
    for key in path[:-1]:
        node = node[key]
    if mutation is DROP:
        del node[path[-1]]
    else:
        node[path[-1]] = copy.deepcopy(mutation)
    return lines


def test_report_never_raises_whatever_a_field_of_any_record_holds(recorded, tmp_path, capsys):
    run_dir = copy_run(recorded, tmp_path / "run")
    lines = records(run_dir)
    present = {r.get("kind") for r in lines if isinstance(r, dict)}
    extra = [example_record(kind, "localhost", 0) for kind in sorted(set(ev.EVENT_TYPES) - present)]
    lines[-1:-1] = extra  # every kind of record, before the run's end
    assert {r["kind"] for r in lines} >= set(ev.EVENT_TYPES) | {"header", "run_end"}
    rng = random.Random(20270115)
    tried = 0
    for n, rec in enumerate(lines):
        skip = ("environment", "resolved", "inventory")
        for path in [p for p in _paths(rec) if not (n == 0 and p[0] in skip and len(p) > 1)]:
            rewrite(run_dir, _mutated(lines, n, path, rng.choice(MUTATIONS)))
            argv = rng.choice([[], ["--format", "json"], ["--html", tmp_path / "p.html"], ["--device", "localhost:1"]])
            said = dvpp(capsys, "report", run_dir, *argv)
            _clean(said)
            assert said.code in (0, 1, 3, 130), (n, path, said.err)  # 3: no job left; 130: interrupted: true
            if n:  # a mutated event record: only that line may be skipped
                assert {s.split(":")[0] for s in said.skipped()} <= {f"line {n + 1}"}, (path, said.err)
            tried += 1
    assert tried > 150


# --- a run that has not finished: killed controller, run in progress, results missing ----------


def _long_run(tmp_path: Path, *extra: str) -> Tuple[Any, Path]:
    data = spec(devices=3, concurrency="serial", status_interval="200ms")
    data["defaults"].update(number_of_cycles=-1, duration="30s", interval="2ms")
    proc, run_dir = start_run(tmp_path, data, *extra)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:  # until the first device has copied for a while
        try:
            status = json.loads((run_dir / "status.json").read_text())
            if status["devices"][0]["copies"] > 20:
                return proc, run_dir
        except (OSError, ValueError, KeyError, IndexError):
            pass
        time.sleep(0.1)
    proc.kill()
    raise AssertionError("the run never got going")


def test_report_of_a_run_whose_controller_was_killed_writes_it_final_as_incomplete(tmp_path):
    prom = tmp_path / "fleet.prom"
    proc, run_dir = _long_run(tmp_path, "--prom", str(prom))
    proc.kill()  # SIGKILL: no run end in the journal, status.json left saying RUNNING
    proc.communicate(timeout=30)
    stale = json.loads((run_dir / "status.json").read_text())
    assert stale["exit_code"] == -1 and stale["devices"][0]["status"] == "RUNNING"
    assert not (run_dir / "summary.json").exists()
    time.sleep(1.5)  # the orphaned worker sees its controller gone and releases the device

    out = cli("report", str(run_dir), "--prom", str(prom))
    assert out.returncode == 1, out.stderr
    assert "incomplete: the journal ends without the run's end" in out.stderr
    for name in ("summary.json", "status.json"):
        data = json.loads((run_dir / name).read_text())
        assert data["state"] == "incomplete" and data["finished"] is None and data["exit_code"] == 1
        assert [d["status"] for d in data["devices"]] == ["INCOMPLETE", "SKIPPED", "SKIPPED"]
    where = read_position(str(run_dir / "logs" / ".localhost-0.position"))
    first = json.loads((run_dir / "summary.json").read_text())["devices"][0]
    assert where.copies > 20 and (first["copies"], first["bytes"]) == (where.copies, where.bytes)  # exact
    text = (run_dir / "report.txt").read_text()
    assert "INCOMPLETE: the run is incomplete" in text and "RUNNING" not in text
    assert text.strip() in out.stdout
    assert "INCOMPLETE: the run is incomplete" in (run_dir / "report.html").read_text()
    assert 'status="RUNNING"} 1' not in prom.read_text()


def test_report_of_a_run_in_progress_shows_it_and_writes_nothing_in_it(tmp_path):
    proc, run_dir = _long_run(tmp_path)
    try:
        before = sorted(p.name for p in run_dir.iterdir())
        out = cli("report", str(run_dir), "--format", "json")
        assert out.returncode == 1, out.stderr  # not every device has passed: running ones have not
        assert "in progress: its controller is still writing the journal" in out.stderr
        data = json.loads(out.stdout)
        assert data["state"] == "running" and data["exit_code"] == 1
        assert [d["status"] for d in data["devices"]] == ["RUNNING", "RUNNING", "RUNNING"]
        assert sorted(p.name for p in run_dir.iterdir()) == before  # no summary, report.txt or report.html
        assert json.loads((run_dir / "status.json").read_text())["exit_code"] == -1  # still the controller's
        own = cli("report", str(run_dir), "--html", str(run_dir / "report.html"))
        assert own.returncode == 2 and "report.html of a run in progress" in own.stderr
        assert not (run_dir / "report.html").exists()
    finally:
        proc.send_signal(2)
        proc.communicate(timeout=60)
    assert json.loads((run_dir / "summary.json").read_text())["state"] == "finished"


def test_a_journal_cut_short_by_a_failed_write_never_replaces_the_controllers_summary(tmp_path):
    r = run_fleet(tmp_path, spec(devices=2))
    journal = r.run_dir / "events.jsonl"
    lines = journal.read_text().splitlines(keepends=True)
    journal.write_text("".join(lines[: len(lines) // 2]))  # no run end, nobody holds it
    summary_before = (r.run_dir / "summary.json").read_bytes()
    (r.run_dir / "report.txt").unlink()
    out = cli("report", str(r.run_dir))
    assert "its summary.json is the controller's final record" in out.stderr
    assert (r.run_dir / "summary.json").read_bytes() == summary_before
    assert (r.run_dir / "report.txt").is_file()  # only what was missing is restored


def test_a_journal_nobody_can_tell_is_free_is_taken_as_in_progress(tmp_path, monkeypatch, capsys):
    from orchestrator.cli import main
    from orchestrator.results import replay as replayed

    r = run_fleet(tmp_path, spec(devices=1))
    journal = r.run_dir / "events.jsonl"
    journal.write_text("".join(journal.read_text().splitlines(keepends=True)[:-1]))  # the run end is gone
    (r.run_dir / "summary.json").unlink()
    monkeypatch.setattr(replayed, "held", lambda path: None)  # a file system without flock (NFS nolock)
    main(["report", str(r.run_dir)])
    assert "cannot be told (the file system does not lock files)" in capsys.readouterr().err
    assert not (r.run_dir / "summary.json").exists()


def test_report_of_a_finished_run_restores_only_what_is_missing_or_unreadable(tmp_path):
    r = run_fleet(tmp_path, spec(devices=2))
    html = r.run_dir / "report.html"
    before = html.stat().st_mtime_ns
    (r.run_dir / "report.txt").unlink()
    (r.run_dir / "summary.json").write_text('{"devices": [')  # torn by a full disk
    out = cli("report", str(r.run_dir))
    assert out.returncode == 0, out.stderr
    assert r.summary["state"] == "finished" and r.statuses() == {0: "PASS", 1: "PASS"}
    assert (r.run_dir / "report.txt").read_text().strip() in out.stdout
    assert html.stat().st_mtime_ns == before  # whole: left as the run wrote it
