"""The local launcher (orchestrator/launch/local.py) beyond the launcher contract: where its files
go, the per-run simulated link, slots, and what a crash says. Real worker processes on the simulator."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any, List, Tuple

import pytest

from orchestrator import rundir
from orchestrator.launch.local import LocalLauncher
from orchestrator.spec.plan import FleetPlan, resolve
from orchestrator.spec.schema import parse_spec
from tests.helpers.specs import HOST, inventory, spec
from workers import events as ev
from workers.entry.position import read_position

pytestmark = pytest.mark.slow
Seen = List[Tuple[str, int, ev.Event]]


def plan(devices: int = 2, faults: Any = (), link_gbps: Any = None, **defaults: Any) -> FleetPlan:
    """``devices`` simulated devices, 64 KiB blocks, 2 cycles of 4 copies each; ``defaults`` added."""
    data = spec(devices=devices, faults=list(faults))
    data["defaults"].update(defaults)
    data["sim"]["link_gbps"] = link_gbps
    return resolve(parse_spec(data), inventory(devices), hostname=HOST)


def launch(p: FleetPlan, run_dir: Path, slots: int = 0, stop: Any = None) -> Seen:
    seen: Seen = []
    LocalLauncher().run(p.jobs, run_dir, lambda h, d, e: seen.append((h, d, e)), stop or threading.Event(), slots=slots)
    return seen


def of(seen: Seen, device: int) -> List[ev.Event]:
    return [e for _, d, e in seen if d == device]


def test_logs_and_positions_are_where_the_run_directory_says(tmp_path):
    seen = launch(plan(devices=2), tmp_path)
    assert {(h, d) for h, d, _ in seen} == {("localhost", 0), ("localhost", 1)}
    for device in (0, 1):
        log = rundir.log_path(tmp_path, "localhost", device)
        assert log == tmp_path / rundir.log_name("localhost", device)
        assert f"localhost:{device} backend sim" in log.read_text()
        found = read_position(str(rundir.position_path(tmp_path, "localhost", device)))
        assert found == (2, 8, 2, of(seen, device)[-1].bytes) and found.bytes == 8 * 2 * 65536
        assert of(seen, device)[-1].copies == 8
    assert sorted(p.name for p in (tmp_path / rundir.LOGS).iterdir()) == [
        ".localhost-0.position",
        ".localhost-1.position",
        "localhost-0.log",
        "localhost-1.log",
    ]


def test_a_simulated_shared_link_gets_a_state_file_of_this_run(tmp_path):
    with_link, without = tmp_path / "link", tmp_path / "none"
    seen = launch(plan(devices=2, link_gbps=50), with_link)
    assert [e.outcome for _, _, e in seen if isinstance(e, ev.Finished)] == ["completed", "completed"]
    state = rundir.link_state_path(with_link, "localhost")
    assert state.is_file() and state.stat().st_size > 0
    launch(plan(devices=1), without)
    assert not rundir.link_state_path(without, "localhost").exists()


def test_one_slot_runs_the_devices_one_after_the_other_in_job_order(tmp_path):
    p = plan(devices=3)
    seen = launch(p, tmp_path, slots=1)
    bounds = [(e.kind, d) for _, d, e in seen if e.kind in ("started", "finished")]
    assert bounds == [("started", 0), ("finished", 0), ("started", 1), ("finished", 1), ("started", 2), ("finished", 2)]


def test_with_two_slots_the_third_device_waits_for_one_to_finish(tmp_path):
    # a pause after every copy, so the workers of one slot really overlap (events are read in batches)
    seen = launch(plan(devices=3, interval="20ms"), tmp_path, slots=2)
    bounds = [(e.kind, d) for _, d, e in seen if e.kind in ("started", "finished")]
    third = bounds.index(("started", 2))
    assert any(kind == "finished" for kind, _ in bounds[:third])
    assert sorted(d for kind, d in bounds if kind == "finished") == [0, 1, 2]


def test_a_crash_is_a_crashed_event_naming_the_signal_and_the_copy(tmp_path):
    # copy 6 is the second copy of cycle 2 (4 copies a cycle); the worker dies in its H2D
    seen = launch(plan(devices=2, faults=[{"device": 1, "kind": "crash", "at_copy": 6, "signal": "SIGKILL"}]), tmp_path)
    crashed = of(seen, 1)[-1]
    assert isinstance(crashed, ev.Crashed)
    assert crashed.message == "worker for localhost:1 died from signal SIGKILL during cycle 2, copy 6"
    assert (crashed.exitcode, crashed.signal) == (-9, "SIGKILL")
    assert (crashed.cycle, crashed.copy, crashed.cycles, crashed.copies, crashed.bytes) == (2, 6, 1, 5, 5 * 2 * 65536)
    assert not any(isinstance(e, ev.Finished) for e in of(seen, 1))
    assert isinstance(of(seen, 0)[-1], ev.Finished) and of(seen, 0)[-1].outcome == "completed"


def test_a_stop_set_before_the_run_starts_no_worker(tmp_path):
    stop = threading.Event()
    stop.set()
    assert launch(plan(devices=2), tmp_path, stop=stop) == []
    assert list((tmp_path / rundir.LOGS).iterdir()) == []


def test_a_crash_at_the_first_copy_of_a_cycle_is_placed_in_that_cycle_with_the_totals_before_it(tmp_path):
    # copy 5 opens cycle 2: the worker had released cycle 1 and had not yet completed a copy of cycle 2
    seen = launch(plan(devices=1, faults=[{"device": 0, "kind": "crash", "at_copy": 5, "signal": "SIGKILL"}]), tmp_path)
    crashed = of(seen, 0)[-1]
    assert isinstance(crashed, ev.Crashed) and crashed.message.endswith("during cycle 2, copy 5")
    assert (crashed.cycle, crashed.copy, crashed.cycles, crashed.copies, crashed.bytes) == (2, 5, 1, 4, 4 * 2 * 65536)


def test_without_its_position_file_a_crash_has_no_totals_but_still_a_place(tmp_path):
    seen: Seen = []

    def sink(host: str, device: int, event: ev.Event) -> None:
        seen.append((host, device, event))
        if isinstance(event, ev.Started):  # the worker keeps its mapping; the controller finds no file
            rundir.position_path(tmp_path, host, device).unlink()

    p = plan(devices=1, faults=[{"device": 0, "kind": "crash", "at_copy": 6, "signal": "SIGKILL"}])
    LocalLauncher().run(p.jobs, tmp_path, sink, threading.Event())
    crashed = of(seen, 0)[-1]
    assert isinstance(crashed, ev.Crashed)
    assert (crashed.cycles, crashed.copies, crashed.bytes) == (None, None, None)  # the collector keeps its events'
    assert crashed.cycle is not None and crashed.copy is not None and crashed.copy <= 6
