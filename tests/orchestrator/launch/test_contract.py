"""The Launcher contract (orchestrator/launch/contract.py), run against every launcher: local and Ray.

Each test drives ``get_launcher(name).run`` directly with a recording sink, on the simulator. The Ray
variant runs on a private cluster (Ray's ``Cluster`` test utility, fake ``NPU`` resources).
"""

from __future__ import annotations

import logging
import socket
import threading
from pathlib import Path
from typing import Any, Dict, Iterator, List, Tuple

import pytest

from orchestrator.launch import tracking
from orchestrator.launch.registry import get_launcher
from orchestrator.spec.inventory import discover
from orchestrator.spec.plan import FleetPlan, resolve
from orchestrator.spec.schema import parse_spec
from tests.helpers.specs import SMALL_DEFAULTS
from workers import events as ev

pytestmark = pytest.mark.slow
NPUS = 3
Seen = Dict[Tuple[str, int], List[ev.Event]]


@pytest.fixture(params=["local", pytest.param("ray", marks=pytest.mark.ray)])
def launcher(request: Any) -> Iterator[Dict[str, Any]]:
    """``{"name": ..., "address": ...}`` for each launcher; Ray gets a private cluster per test, shut
    down after it, so no Ray process outlives the test."""
    if request.param == "local":
        yield {"name": "local", "address": None}
        return
    ray = pytest.importorskip("ray")
    from ray.cluster_utils import Cluster

    logging.getLogger("ray._private.accelerators.npu").setLevel(logging.CRITICAL)
    c = Cluster(
        initialize_head=True,
        head_node_args={"num_cpus": 2, "resources": {"NPU": NPUS}, "node_name": "head", "include_dashboard": False},
    )
    c.wait_for_nodes()
    yield {"name": "ray", "address": c.address}
    ray.shutdown()
    c.shutdown()


def make_plan(launcher: Dict[str, Any], faults=(), **top: Any) -> FleetPlan:
    data = {
        "version": 1,
        "backend": "sim",
        "launcher": launcher["name"],
        "defaults": dict(SMALL_DEFAULTS),
        "hosts": [{"name": "all"}],
        "timeouts": {"init": "60s", "copy": "3s"},
        "sim": {"device_count": NPUS, "memory": {"hbm": "1GiB"}, "faults": list(faults)},
    }
    for key, value in top.items():
        data[key] = dict(data[key], **value) if isinstance(value, dict) and key in data else value
    if launcher["address"]:
        data["ray"] = {"address": launcher["address"]}
    spec = parse_spec(data)
    if launcher["name"] == "ray":
        from orchestrator.launch.ray.cluster import plan_on_cluster

        return plan_on_cluster(spec, hostname=socket.gethostname())[0]
    inventory = discover("sim", {k: v for k, v in spec.sim_config().items() if k != "faults"})
    return resolve(spec, inventory, hostname=socket.gethostname())


def launch(launcher: Dict[str, Any], plan: FleetPlan, run_dir: Path, stop_after: int = 0, order: Any = None) -> Seen:
    """Run the plan; with ``stop_after``, set ``stop`` once that many progress events arrived;
    ``order`` (a list) receives ``(kind, device)`` of every event in arrival order."""
    seen: Seen = {}
    stop = threading.Event()
    progress = [0]

    def sink(host: str, device: int, event: ev.Event) -> None:
        seen.setdefault((host, device), []).append(event)
        if order is not None:
            order.append((event.kind, device))
        progress[0] += isinstance(event, ev.Progress)
        if stop_after and progress[0] >= stop_after:
            stop.set()

    run_dir.mkdir(parents=True, exist_ok=True)
    get_launcher(launcher["name"], plan.ray or {}).run(plan.jobs, run_dir, sink, stop, slots=plan.slots)
    return seen


def terminal(events: List[ev.Event]) -> List[str]:
    return [e.kind for e in events if e.kind in ("finished", "crashed", "hung")]


def test_every_device_is_launched_then_started_and_ends_exactly_once(launcher, tmp_path):
    plan = make_plan(launcher)
    seen = launch(launcher, plan, tmp_path)
    assert sorted(seen) == sorted((j.host, j.device) for j in plan.jobs) and len(seen) == NPUS
    for events in seen.values():
        assert [e.kind for e in events[:2]] == ["launched", "started"]  # the journal shows it may be open
        assert terminal(events) == ["finished"] and events[-1].kind == "finished"
        assert events[-1].outcome == "completed" and events[-1].copies == 8


BLOCK = 64 << 10  # SMALL_DEFAULTS: 64 KiB blocks, 4 copies a cycle


def test_a_dead_worker_is_a_crashed_event_and_the_others_finish(launcher, tmp_path):
    plan = make_plan(launcher, faults=[{"device": 1, "kind": "crash", "at_copy": 7}])
    seen = launch(launcher, plan, tmp_path)
    ends = {device: terminal(events) for (_, device), events in seen.items()}
    assert ends == {0: ["finished"], 1: ["crashed"], 2: ["finished"]}
    host = next(h for h, d in seen if d == 1)
    crashed = seen[(host, 1)][-1]
    assert "during cycle 2, copy 7" in crashed.message  # exact, although progress is rate-limited
    # where, and the exact totals up to it from the worker's position file: 6 copies, 1 cycle completed
    at = (crashed.cycle, crashed.copy, crashed.cycles, crashed.copies, crashed.bytes)
    assert at == (2, 7, 1, 6, 6 * 2 * BLOCK)
    log = (tmp_path / "logs" / f"{host}-1.log").read_text()  # its last words, in the run directory
    assert "Fatal Python error" in log  # (under Ray the runtime's own crash dump comes first)


def test_a_silent_worker_is_a_hung_event_with_its_position(launcher, tmp_path):
    plan = make_plan(launcher, faults=[{"device": 2, "kind": "hang", "at_copy": 5}])
    seen = launch(launcher, plan, tmp_path)
    hung = next(e for (_, device), events in seen.items() for e in events if device == 2 and e.kind == "hung")
    assert "stuck in acl.rt.memcpy (H2D) at cycle 2, copy 5" in hung.message and hung.timeout == 3.0
    # copy 5 opens cycle 2: the position file says cycle 1 was released, so the hang is in cycle 2
    assert (hung.cycle, hung.copy, hung.cycles, hung.copies, hung.bytes) == (2, 5, 1, 4, 4 * 2 * BLOCK)
    assert {d: terminal(e) for (_, d), e in seen.items() if d != 2} == {0: ["finished"], 1: ["finished"]}


def test_stop_ends_every_worker_cleanly(launcher, tmp_path):
    plan = make_plan(launcher, defaults={"number_of_cycles": -1, "duration": "5m", "interval": "5ms"})
    seen = launch(launcher, plan, tmp_path, stop_after=2 * NPUS)
    for events in seen.values():
        assert terminal(events) == ["finished"] and events[-1].outcome == "stopped"


def test_serial_slots_never_overlap(launcher, tmp_path):
    order: List[Tuple[str, int]] = []
    launch(launcher, make_plan(launcher, concurrency="serial"), tmp_path, order=order)
    bounds = [(kind, device) for kind, device in order if kind in ("started", "finished")]
    assert [kind for kind, _ in bounds] == ["started", "finished"] * NPUS
    assert all(bounds[i][1] == bounds[i + 1][1] for i in range(0, len(bounds), 2))  # each ends before the next starts


def test_a_worker_stuck_when_the_stop_comes_is_hung_not_aborted(launcher, tmp_path, monkeypatch):
    monkeypatch.setattr(tracking, "GRACE", 6.0)  # the grace a stopping worker gets: past its copy timeout here
    plan = make_plan(
        launcher,
        faults=[{"device": 1, "kind": "hang", "at_copy": 3}],
        defaults={"number_of_cycles": -1, "duration": "5m", "interval": "5ms"},
        timeouts={"copy": "5s"},  # the stop comes before the hang is noticed, the grace ends after
    )
    seen = launch(launcher, plan, tmp_path, stop_after=2 * NPUS)
    ends = {d: events[-1] for (_, d), events in seen.items()}
    assert ends[1].kind == "hung" and ends[1].message.startswith("did not stop within 6s of the stop request")
    assert "stuck in acl.rt.memcpy (H2D)" in ends[1].message or launcher["name"] == "ray"
    assert [(ends[d].kind, ends[d].outcome) for d in (0, 2)] == [("finished", "stopped")] * 2


def test_an_error_in_the_sink_is_not_taken_for_a_dead_worker(tmp_path):
    plan = make_plan({"name": "local", "address": None})
    seen: Seen = {}

    def sink(host: str, device: int, event: ev.Event) -> None:
        seen.setdefault((host, device), []).append(event)
        if event.kind == "finished":
            raise OSError(28, "No space left on device")  # e.g. a sink that writes to a full disk

    tmp_path.mkdir(parents=True, exist_ok=True)
    with pytest.raises(OSError, match="No space left"):
        get_launcher("local", {}).run(plan.jobs, tmp_path, sink, threading.Event())
    assert not any(e.kind == "crashed" for events in seen.values() for e in events)


def test_a_worker_within_its_deadline_when_the_grace_ends_is_killed_but_never_called_hung(
    launcher, tmp_path, monkeypatch
):
    monkeypatch.setattr(tracking, "GRACE", 1.0)
    plan = make_plan(
        launcher,
        faults=[{"device": 1, "kind": "hang", "at_copy": 3}],
        defaults={"number_of_cycles": -1, "duration": "5m", "interval": "5ms"},
        timeouts={"copy": "60s"},  # a slow copy, for all the controller can tell
    )
    seen = launch(launcher, plan, tmp_path, stop_after=2 * NPUS)
    assert not any(e.kind in ("hung", "crashed") for events in seen.values() for e in events)
    assert terminal(seen[next(k for k in seen if k[1] == 1)]) == []  # killed: the verdict says ABORTED
