"""One device's drill-down from a recorded run: ``--device`` parsing (with or without the host),
the message for a device the run did not have, evenly thinned long tables, and every section."""

from __future__ import annotations

import pytest

from orchestrator.errors import SpecError
from orchestrator.report import drilldown
from orchestrator.results.replay import replay
from tests.helpers.fleet_runs import copies, mixed_run, record_run
from workers import events as ev

T0 = 1_800_000_000.0
TWO_HOSTS = [("node-a", 0), ("node-a", 3), ("node-b", 0)]


def test_parse_device_with_its_host():
    assert drilldown.parse_device("node-a:3", TWO_HOSTS) == ("node-a", 3)
    assert drilldown.parse_device("node-b:0", TWO_HOSTS) == ("node-b", 0)


def test_parse_device_keeps_colons_in_the_host_name():
    assert drilldown.parse_device("fe80::1:2", [("fe80::1", 2)]) == ("fe80::1", 2)


def test_parse_device_without_host_when_one_host_ran():
    assert drilldown.parse_device("3", [("localhost", 0), ("localhost", 3)]) == ("localhost", 3)


def test_parse_device_without_host_is_ambiguous_on_two_hosts():
    with pytest.raises(SpecError) as err:
        drilldown.parse_device("0", TWO_HOSTS)
    assert err.value.problems == ["--device: 0 was not part of this run (devices: node-a:0, node-a:3, node-b:0)"]


def test_an_unknown_device_names_the_runs_devices():
    with pytest.raises(SpecError) as err:
        drilldown.parse_device("node-a:9", TWO_HOSTS)
    assert err.value.problems == ["--device: node-a:9 was not part of this run (devices: node-a:0, node-a:3, node-b:0)"]


@pytest.mark.parametrize("text", ["node-a:x", "node-a", "", "node-a:3.5"])
def test_a_device_that_is_not_a_number_is_a_usage_error(text):
    with pytest.raises(SpecError) as err:
        drilldown.parse_device(text, TWO_HOSTS)
    assert err.value.problems == [f"--device: expected HOST:ID such as localhost:3 (got {text!r})"]


def test_thin_keeps_short_lists():
    rows = list(range(40))
    assert drilldown.thin(rows) is rows


def test_thin_keeps_first_and_last_and_spreads_evenly():
    assert drilldown.thin(list(range(10)), 4) == [0, 3, 6, 9]
    thinned = drilldown.thin(list(range(1000)))
    assert len(thinned) == drilldown.MAX_ROWS == 40
    assert thinned[0] == 0 and thinned[-1] == 999 and thinned == sorted(set(thinned))
    gaps = {b - a for a, b in zip(thinned, thinned[1:])}
    assert gaps <= {25, 26}


def test_render_of_a_failed_device_has_every_section(tmp_path):
    run = mixed_run(tmp_path)
    (run.run_dir / "logs").mkdir()
    (run.run_dir / "logs" / "node-a-3.log").write_text("opening device 3\nverify failed at 4096\n")
    again = replay(run.run_dir)
    v = next(v for v in again.verdicts if v.name == "node-a:3")
    text = drilldown.render(v, again.records, T0)
    sections = text.split("\n\n")
    assert [s.splitlines()[0] for s in sections] == [
        "node-a:3  FAIL: a fault was recorded: data mismatch, API error, leak, or a threshold not met",
        "Parameters",
        "Cycles",
        "Memory samples",
        "Faults and causes",
        "Worker log logs/node-a-3.log",
    ]
    assert sections[0].splitlines()[1:] == [
        "  chip Ascend910B1, logical id 3, simulated True, opened after 1 attempt(s)",
        "  outcome completed, 4 cycle(s), 32 copies, 512.0 MiB moved, 1 verification error(s), leak 0 B, 4.0s",
        "  H2D GB/s: median 24.000, min 19.200, max 25.200 over 32 copies",
        "  D2H GB/s: median 25.000, min 20.000, max 26.250 over 32 copies",
    ]
    assert sections[1] == "Parameters\n  memory_size: 8MiB"
    cycles = sections[2].splitlines()
    assert len(cycles) == 3 + 4 and cycles[3].split()[:4] == ["6.25", "1", "8", "128.0"]
    memory = [line.split()[1] for line in sections[3].splitlines()[3:]]
    assert memory == ["started", "progress", "progress", "progress", "progress", "finished"]
    assert sections[4] == "\n".join(
        [
            "Faults and causes",
            "  - data_mismatch at cycle 2, copy 11: 3 byte(s) differ after D2H",
            "      first_bad_offset: 4096",
            "      bad_bytes: 3",
            "      direction: d2h",
            "      samples: [{offset: 4096, expected: 255, actual: 254}]",
        ]
    )
    assert sections[5] == "Worker log logs/node-a-3.log\n  | opening device 3\n  | verify failed at 4096"


def test_render_shows_only_the_devices_own_records(tmp_path):
    run = mixed_run(tmp_path)
    v = run.by_name()["node-b:1"]
    text = drilldown.render(v, run.records, T0)
    assert text.startswith("node-b:1  HUNG: no progress within the timeout; the worker was killed\n")
    assert "Cycles" not in text  # it hung before its first cycle ended
    memory = text.split("Memory samples\n")[1].split("\n\n")[0].splitlines()[2:]
    assert [line.split()[:3] for line in memory] == [["1.75", "started", "-"], ["4.5", "progress", "4"]]
    assert "  - hung: no progress for 30s: stuck in acl.rt.memcpy\n      timeout: 30" in text
    assert "stack" not in text


def test_render_lists_warnings_apart_from_causes(tmp_path):
    v = mixed_run(tmp_path).by_name()["node-a:2"]
    text = drilldown.render(v, [], T0)
    assert "Faults and causes" not in text
    assert "\n\nWarnings\n  - outlier: H2D median 9.00 GB/s is 62% below" in text


def test_a_hang_stack_is_printed_line_by_line(tmp_path):
    hung = copies(0)[:2] + [ev.Hung(message="no progress for 5s", timeout=5.0, stack="frame one\nframe two")]
    run = record_run(tmp_path, {("h", 0): hung})
    text = drilldown.render(run.verdicts[0], run.records, T0)
    assert "  - hung: no progress for 5s\n      timeout: 5\n      stack:\n        frame one\n        frame two" in text


def test_a_long_run_shows_a_thinned_cycle_table(tmp_path):
    run = record_run(tmp_path, {("h", 0): copies(0, cycles=60)})
    text = drilldown.render(run.verdicts[0], run.records, T0)
    cycles = text.split("\n\n")[2].splitlines()
    assert cycles[0] == "Cycles (60 records, 40 shown)"
    assert len(cycles) == 3 + 40
    assert [line.split()[1] for line in (cycles[3], cycles[-1])] == ["1", "60"]


def test_as_json_holds_the_summary_record_every_cycle_and_every_memory_sample(tmp_path):
    run = record_run(tmp_path, {("node-a", 0): copies(0), ("node-a", 1): copies(1, leak=1 << 20, cycles=3)})
    verdict = run.by_name()["node-a:1"]
    data = drilldown.as_json(verdict, run.records, run.data)
    assert data["device"] == next(d for d in run.data["devices"] if d["device"] == 1)
    assert data["run"] == {
        "run_id": "run-1",
        "state": "finished",
        "backend": "sim",
        "simulated": True,
        "launcher": "local",
        "started": "2027-01-15T08:00:00+00:00",
        "finished": "2027-01-15T08:01:30+00:00",
        "interrupted": False,
    }
    assert [(c["cycle"], c["copies"], c["leak"]) for c in data["cycles"]] == [
        (1, 8, 1 << 20),
        (2, 16, 2 << 20),
        (3, 24, 3 << 20),
    ]
    assert set(data["cycles"][0]) == {
        "t",
        "cycle",
        "cycles",
        "copies",
        "bytes",
        "h2d",
        "d2h",
        "memory",
        "leak",
        "lowest_free",
        "elapsed",
        "link",
    }
    events = [(m["event"], m["copies"]) for m in data["memory_samples"]]
    assert events == [("started", None), ("progress", 4), ("progress", 12), ("progress", 20), ("finished", 24)]
    assert data["memory_samples"][-1]["memory"]["hbm"]["free"] == 64 * (1 << 30) - 3 * (1 << 20)
    times = [m["t"] for m in data["memory_samples"]]
    assert times == sorted(times) and times[0] > T0  # arrival times as the journal holds them (Unix seconds)


def test_as_json_is_not_thinned(tmp_path):
    run = record_run(tmp_path, {("h", 0): copies(0, cycles=drilldown.MAX_ROWS + 10)})
    data = drilldown.as_json(run.verdicts[0], run.records, run.data)
    assert [c["cycle"] for c in data["cycles"]] == list(range(1, drilldown.MAX_ROWS + 11))
