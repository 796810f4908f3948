"""Every output of a judged run in one call, on recorded runs: the run directory's own files only
those asked for, the table or the JSON summary on stdout, and the run's exit code."""

from __future__ import annotations

import argparse
import json

from orchestrator import rundir
from orchestrator.report import fmt
from orchestrator.report.publish import publish
from orchestrator.report.summary import summary
from orchestrator.report.table import report_text
from tests.helpers.fleet_runs import copies, mixed_run, record_run

OWN_FILES = ("summary.json", "status.json", "report.txt")


def args(fmt="table", command="report", quiet=False, wide=False, **files):
    return argparse.Namespace(
        format=fmt,
        command=command,
        quiet=quiet,
        wide=wide,
        junit=files.get("junit"),
        prom=files.get("prom"),
        html=files.get("html"),
    )


def facts(run):
    return {k: v for k, v in run.data.items() if k not in ("schema_version", "exit_code", "counts", "devices")}


def test_report_prints_the_table_and_writes_nothing(tmp_path, capsys):
    run = mixed_run(tmp_path)
    before = sorted(p.name for p in run.run_dir.iterdir())
    code = publish(run.verdicts, facts(run), run.run_dir, args())
    out, err = capsys.readouterr()
    assert code == 1
    assert out == report_text(run.verdicts, facts(run)) + "\n"
    assert err == ""
    assert sorted(p.name for p in run.run_dir.iterdir()) == before
    assert not any((run.run_dir / name).exists() for name in OWN_FILES)


def test_json_prints_the_summary(tmp_path, capsys):
    run = mixed_run(tmp_path)
    code = publish(run.verdicts, facts(run), run.run_dir, args("json"))
    printed = json.loads(capsys.readouterr().out)
    assert code == printed["exit_code"] == 1
    assert printed == json.loads(json.dumps(summary(run.verdicts, facts(run), 1), default=str))
    assert [d["status"] for d in printed["devices"]] == [v.status.value for v in run.verdicts]


def test_a_finished_run_writes_its_own_files(tmp_path, capsys):
    run = mixed_run(tmp_path)
    code = publish(run.verdicts, facts(run), run.run_dir, args(command="report"), write=OWN_FILES)
    out, err = capsys.readouterr()
    text = report_text(run.verdicts, facts(run))
    assert code == 1
    written = json.loads((run.run_dir / "summary.json").read_text())
    assert written == json.loads(json.dumps(run.data, default=str))
    assert json.loads((run.run_dir / "status.json").read_text()) == written  # the live file ends as the summary
    assert (run.run_dir / "report.txt").read_text() == text + "\n" == out
    assert err == f"\nresults: {run.run_dir / 'summary.json'}, journal: {run.run_dir / 'events.jsonl'}\n"


def test_wide_prints_and_writes_the_wide_table(tmp_path, capsys):
    run = mixed_run(tmp_path)
    publish(run.verdicts, facts(run), run.run_dir, args(command="report", wide=True), write=OWN_FILES)
    out = capsys.readouterr().out
    wide = report_text(run.verdicts, facts(run), wide=True)
    assert (run.run_dir / "report.txt").read_text() == wide + "\n" == out  # report.txt: as printed
    assert wide != report_text(run.verdicts, facts(run)) and out.splitlines()[2].startswith("host ")
    assert max(len(line) for line in out.splitlines()) > 100


def test_a_finished_run_as_json_says_nothing_on_stderr(tmp_path, capsys):
    run = mixed_run(tmp_path)
    publish(run.verdicts, facts(run), run.run_dir, args("json"), write=OWN_FILES)
    out, err = capsys.readouterr()
    assert err == "" and json.loads(out)["exit_code"] == 1
    assert all((run.run_dir / name).is_file() for name in OWN_FILES)


def test_run_also_writes_the_html_page_and_names_it(tmp_path, capsys):
    run = mixed_run(tmp_path)
    code = publish(
        run.verdicts,
        facts(run),
        run.run_dir,
        args(command="run"),
        write=rundir.RESULTS,
        journal=(run.header, run.records),
    )
    err = capsys.readouterr().err
    page = run.run_dir / "report.html"
    assert code == 1 and page.is_file() and page.read_text().count('<figure class="device"') == 12
    assert err.startswith(f"dvpp-fleet: wrote {page}\n")


def test_the_files_asked_for_are_written(tmp_path, capsys):
    run = mixed_run(tmp_path)
    junit, prom = tmp_path / "out.xml", tmp_path / "out.prom"
    publish(run.verdicts, facts(run), run.run_dir, args(junit=junit, prom=prom))
    err = capsys.readouterr().err
    assert junit.is_file() and prom.is_file()
    assert junit.read_text().count('classname="dvpp-fleet.node-') == len(run.verdicts) == 12  # a case per device
    assert err == f"dvpp-fleet: wrote {junit}, {prom}\n"
    assert not (run.run_dir / "report.html").exists()


def test_every_device_passing_exits_0(tmp_path, capsys):
    run = record_run(tmp_path, {("h", d): copies(d) for d in range(2)})
    assert publish(run.verdicts, facts(run), run.run_dir, args()) == 0
    assert "All 2 simulated device(s) passed." in capsys.readouterr().out


def test_an_interrupted_run_exits_130(tmp_path, capsys):
    run = record_run(tmp_path, {("h", d): copies(d) for d in range(2)})
    code = publish(run.verdicts, dict(facts(run), interrupted=True), run.run_dir, args())
    out = capsys.readouterr().out
    assert code == 130
    assert out.splitlines()[:4] == [
        fmt.SIMULATED,
        "",
        "INTERRUPTED: the run was stopped before every device finished.",
        "",
    ]


def test_quiet_prints_one_line_says_nothing_else_and_still_writes_every_file(tmp_path, capsys):
    run = mixed_run(tmp_path)
    junit, prom = tmp_path / "out.xml", tmp_path / "out.prom"
    code = publish(
        run.verdicts,
        facts(run),
        run.run_dir,
        args(command="run", quiet=True, junit=junit, prom=prom),
        write=rundir.RESULTS,
        journal=(run.header, run.records),
    )
    out, err = capsys.readouterr()
    assert code == 1 and err == ""
    assert out == (
        "FAIL 8/12 (simulated): node-a:3 data_mismatch, node-a:4 crashed, node-a:5 leak, node-b:1 hung, "
        "node-b:2 open_failed, node-b:3 skipped, node-b:4 aborted, node-b:5 incomplete\n"
    )
    assert json.loads((run.run_dir / "summary.json").read_text())["exit_code"] == 1
    text = report_text(run.verdicts, facts(run))
    assert (run.run_dir / "report.txt").read_text() == text + "\n"  # the table is still the run's report
    assert all((run.run_dir / name).is_file() for name in ("status.json", "report.html"))
    assert junit.is_file() and "dvpp_fleet_device_status" in prom.read_text()


def test_quiet_on_a_run_that_passed(tmp_path, capsys):
    run = record_run(tmp_path, {("h", d): copies(d) for d in range(2)})
    assert publish(run.verdicts, facts(run), run.run_dir, args(quiet=True)) == 0
    assert capsys.readouterr() == ("PASS 2/2 (simulated)\n", "")


def test_quiet_says_a_file_that_could_not_be_written_beside_the_verdict(tmp_path, capsys):
    run = record_run(tmp_path, {("h", d): copies(d) for d in range(2)})
    blocked = tmp_path / "no-such-folder" / "out.prom"
    code = publish(run.verdicts, facts(run), run.run_dir, args(command="run", quiet=True, prom=blocked))
    out, err = capsys.readouterr()
    assert (code, out) == (3, "PASS 2/2 (simulated); 1 file(s) not written\n")
    assert f"could not write {blocked}" in err
