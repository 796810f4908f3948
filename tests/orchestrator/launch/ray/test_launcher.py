"""The Ray launcher on a real multi-node Ray cluster on this machine (Ray's ``Cluster`` test utility):
a head and two nodes, each declaring 4 fake ``NPU`` resources, running the simulator."""

from __future__ import annotations

import json
import logging
import os
import signal
import socket
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any, Dict, List, Tuple

import pytest

from orchestrator import fleet, rundir
from orchestrator.errors import EnvironmentProblem, SpecError
from orchestrator.spec.schema import parse_spec
from tests.helpers.specs import SMALL_DEFAULTS
from workers import events as ev

NODES = ("node-a", "node-b")
NPUS = 4


@pytest.fixture
def cluster():
    """A head and two nodes with ``NPU: 4`` each, for one test; everything is shut down after."""
    ray = pytest.importorskip("ray")
    from ray.cluster_utils import Cluster

    logging.getLogger("ray._private.accelerators.npu").setLevel(logging.CRITICAL)  # fake NPUs have no chip type
    args = {"num_cpus": 2, "resources": {"NPU": NPUS}}
    c = Cluster(initialize_head=True, head_node_args=dict(args, node_name="head", include_dashboard=False))
    nodes = {name: c.add_node(**args, node_name=name) for name in NODES}
    c.wait_for_nodes()
    c.named = nodes  # type: ignore[attr-defined]
    yield c
    ray.shutdown()
    c.shutdown()


def _spec(c, hosts: List[Dict[str, Any]], faults=(), concurrency="all", **defaults: Any):
    return parse_spec(
        {
            "version": 1,
            "backend": "sim",
            "launcher": "ray",
            "ray": {"address": c.address},
            "concurrency": concurrency,
            "defaults": dict(SMALL_DEFAULTS, **defaults),
            "hosts": hosts,
            "sim": {"chip": "Ascend910B", "device_count": NPUS, "memory": {"hbm": "1GiB"}, "faults": list(faults)},
        }
    )


def _plan(spec):
    from orchestrator.launch.ray.cluster import plan_on_cluster

    return plan_on_cluster(spec, hostname=socket.gethostname())


def _statuses(verdicts) -> Dict[Tuple[str, int], str]:
    return {(v.result.host, v.result.device): v.status.value for v in verdicts}


def _launch(plan, tmp_path: Path, on_event=None, stop=None) -> Dict[Tuple[str, int], List[ev.Event]]:
    """Run the plan's jobs through the launcher itself; ``on_event(host, device, event)`` sees each."""
    from orchestrator.launch.ray.launcher import RayLauncher

    seen: Dict[Tuple[str, int], List[ev.Event]] = {}

    def sink(host: str, device: int, event: ev.Event) -> None:
        seen.setdefault((host, device), []).append(event)
        if on_event:
            on_event(host, device, event)

    RayLauncher(plan.ray).run(plan.jobs, tmp_path, sink, stop or threading.Event(), slots=plan.slots)
    return seen


def _kinds(events: List[ev.Event]) -> List[str]:
    return [e.kind for e in events]


@pytest.mark.ray
@pytest.mark.slow
def test_every_npu_of_every_node_passes_and_the_table_names_the_node(cluster, tmp_path, capsys):
    from orchestrator import cli

    path = tmp_path / "fleet.yaml"
    path.write_text(
        json.dumps(
            {
                "version": 1,
                "backend": "sim",
                "launcher": "ray",
                "ray": {"address": cluster.address},
                "defaults": SMALL_DEFAULTS,
                "hosts": [{"name": "all"}],
                "sim": {"device_count": NPUS, "memory": {"hbm": "1GiB"}},
            }
        )
    )
    node_root = Path(tempfile.gettempdir()) / "dvpp-fleet"
    before = set(node_root.glob("run-*"))
    assert cli.main(["run", str(path), "--out", str(tmp_path / "run"), "--no-progress"]) == 0
    summary = json.loads((tmp_path / "run" / "summary.json").read_text())
    devices = summary["devices"]
    assert {d["status"] for d in devices} == {"PASS"} and summary["launcher"] == "ray"
    assert set(node_root.glob("run-*")) == before  # the nodes' files of this run were removed
    per_host: Dict[str, List[int]] = {}
    for d in devices:
        per_host.setdefault(d["host"], []).append(d["device"])
        assert d["node"].startswith(d["host"] + " (")
    assert per_host == {name: list(range(NPUS)) for name in ("head",) + NODES}
    assert len({d["node"] for d in devices}) == 3
    table = (tmp_path / "run" / "report.txt").read_text().splitlines()
    assert "(--wide also shows node)" in table and [line for line in table if line.endswith(":")][:3] == [
        "head:",
        "node-a:",
        "node-b:",
    ]  # the 100-column table: a line per host above its devices; the node is in --wide
    capsys.readouterr()
    assert cli.main(["report", str(tmp_path / "run"), "--wide"]) == 0
    header = next(line for line in capsys.readouterr().out.splitlines() if line.startswith("host"))
    assert header.split()[:3] == ["host", "dev", "node"]


@pytest.mark.ray
@pytest.mark.slow
def test_explicit_ids_run_on_exactly_those_npus_one_at_a_time(cluster, tmp_path):
    hosts = [{"name": "node-a", "devices": [1, 3]}, {"name": "node-b", "devices": [0]}]
    plan, _ = _plan(_spec(cluster, hosts, concurrency="serial"))
    order: List[str] = []
    seen = _launch(plan, tmp_path, lambda host, device, event: order.append(event.kind))
    assert sorted(seen) == [("node-a", 1), ("node-a", 3), ("node-b", 0)]
    assert [k for k in order if k in ("started", "finished")] == ["started", "finished"] * 3  # serial
    for (host, device), events in seen.items():
        started = next(e for e in events if isinstance(e, ev.Started))
        assert (started.physical_id, started.logical_id) == (device, 0)  # Ray made only that NPU visible
        assert started.node.startswith(host) and _kinds(events)[-1] == "finished"


@pytest.mark.ray
@pytest.mark.slow
def test_a_fault_on_one_device_of_one_node_fails_only_that_device(cluster, tmp_path):
    spec = _spec(cluster, [{"name": "all"}], faults=[{"host": "node-b", "device": 2, "kind": "bitflip", "at_copy": 2}])
    plan, inventory = _plan(spec)
    rundir.prepare_run_dir(tmp_path / "run")
    verdicts, _ = fleet.run_fleet(plan, inventory, tmp_path / "run", live=False)
    statuses = _statuses(verdicts)
    assert statuses.pop(("node-b", 2)) == "FAIL"
    assert set(statuses.values()) == {"PASS"} and len(statuses) == 3 * NPUS - 1


@pytest.mark.ray
@pytest.mark.slow
def test_json_on_stdout_stays_json_while_workers_die_and_the_crash_names_its_signal(cluster, tmp_path, capsys):
    from orchestrator import cli

    path = tmp_path / "fleet.yaml"
    faults = [{"host": "node-a", "device": d, "kind": "crash", "at_copy": 2} for d in (1, 2)]
    data = {
        "version": 1,
        "backend": "sim",
        "launcher": "ray",
        "ray": {"address": cluster.address},
        "defaults": SMALL_DEFAULTS,
        "hosts": [{"name": "node-a"}],
        "sim": {"device_count": NPUS, "memory": {"hbm": "1GiB"}, "faults": faults},
    }
    path.write_text(json.dumps(data))
    code = cli.main(["run", str(path), "--out", str(tmp_path / "run"), "--no-progress", "--format", "json"])
    out = capsys.readouterr().out
    summary = json.loads(out)  # nothing of Ray's on stdout: "(raylet) A worker died ..." went to the run's log
    assert code == summary["exit_code"] == 1
    statuses = {d["device"]: d["status"] for d in summary["devices"]}
    assert statuses == {0: "PASS", 1: "CRASHED", 2: "CRASHED", 3: "PASS"}
    for device in (1, 2):
        fault = summary["devices"][device]["faults"][0]
        assert fault["detail"]["signal"] == "SIGSEGV"
        assert fault["message"].startswith(f"worker for node-a:{device} on node node-a (")
        assert " died from signal SIGSEGV during cycle 1, copy 2: " in fault["message"]
    ray_log = tmp_path / "run" / rundir.LOGS / rundir.RAY_LOG
    deadline = time.monotonic() + 10  # Ray's error messages reach the driver a little after the deaths
    while "(raylet)" not in (ray_log.read_text() if ray_log.exists() else "") and time.monotonic() < deadline:
        time.sleep(0.2)
    assert "(raylet) A worker died" in ray_log.read_text()


@pytest.mark.ray
@pytest.mark.slow
def test_a_killed_actor_is_crashed_and_the_others_carry_on(cluster, tmp_path):
    plan, _ = _plan(
        _spec(
            cluster,
            [{"name": n} for n in NODES],
            faults=[{"host": "node-b", "device": 3, "kind": "crash"}],
            number_of_cycles=-1,
            duration="4s",
            interval="20ms",
        )
    )

    pids: Dict[str, int] = {}

    def on_event(host, device, event):
        if (host, device) != ("node-a", 1):
            return
        if isinstance(event, ev.Started):
            pids["started"] = event.pid
        elif isinstance(event, ev.Progress) and "killed" not in pids:
            pids["killed"] = pids["started"]
            os.kill(pids["started"], signal.SIGKILL)  # the actor process of node-a:1, mid-run

    seen = _launch(plan, tmp_path, on_event)
    for key in (("node-a", 1), ("node-b", 3)):
        crashed = seen[key][-1]
        assert isinstance(crashed, ev.Crashed), (key, _kinds(seen[key]))
        assert f"on node {key[0]} (" in crashed.message and "its process died" in crashed.message
    segv = seen[("node-b", 3)][-1]
    assert "died from signal SIGSEGV during cycle 1, copy 1:" in segv.message  # exact, from the node's files
    assert segv.signal == "SIGSEGV"
    assert seen[("node-a", 1)][-1].signal is None  # a SIGKILL leaves no last words: not guessed
    log = (tmp_path / "logs" / "node-b-3.log").read_text()  # fetched from the dead actor's node
    assert "Fatal Python error: Segmentation fault" in log
    assert "in memcpy_h2d" in log
    assert (tmp_path / "logs" / "node-a-0.log").read_text().startswith("worker pid")
    others = [events for key, events in seen.items() if key not in (("node-a", 1), ("node-b", 3))]
    assert len(others) == 2 * NPUS - 2
    assert all(isinstance(e[-1], ev.Finished) and e[-1].outcome == "duration" for e in others)


@pytest.mark.ray
@pytest.mark.slow
def test_a_controller_that_falls_behind_never_calls_a_healthy_device_hung(cluster, tmp_path):
    spec = _spec(cluster, [{"name": "all"}], number_of_cycles=-1, duration="8s", interval="10ms")
    spec = spec.model_copy(update={"timeouts": spec.timeouts.model_copy(update={"copy": 2.0})})
    plan, _ = _plan(spec)

    def slow_controller(host, device, event):
        time.sleep(0.06)  # every event costs the controller 60 ms: it falls seconds behind the devices

    seen = _launch(plan, tmp_path, slow_controller)
    assert len(seen) == 3 * NPUS
    ends = {key: events[-1] for key, events in seen.items()}
    assert {key: e.kind for key, e in ends.items() if e.kind != "finished"} == {}  # none HUNG, none CRASHED
    assert {e.outcome for e in ends.values()} == {"duration"}


@pytest.mark.ray
@pytest.mark.slow
def test_a_device_that_stops_making_progress_is_still_hung_by_its_own_clock(cluster, tmp_path):
    faults = [{"host": "node-a", "device": 2, "kind": "hang", "at_copy": 3}]
    spec = _spec(cluster, [{"name": "node-a"}], faults=faults)
    spec = spec.model_copy(update={"timeouts": spec.timeouts.model_copy(update={"copy": 2.0})})
    plan, _ = _plan(spec)
    start = time.monotonic()
    seen = _launch(plan, tmp_path)
    ends = {key[1]: events[-1] for key, events in seen.items()}
    assert [d for d, e in sorted(ends.items()) if e.kind != "finished"] == [2]
    hung = ends[2]
    assert isinstance(hung, ev.Hung) and hung.timeout == 2.0 and "memcpy" in (hung.stack or "")
    assert "stuck in acl.rt.memcpy (H2D) at cycle 1, copy 3" in hung.message
    assert time.monotonic() - start < 30


@pytest.mark.ray
@pytest.mark.slow
def test_a_node_removed_mid_run_crashes_its_devices_naming_the_node(cluster, tmp_path):
    plan, _ = _plan(_spec(cluster, [{"name": n} for n in NODES], number_of_cycles=-1, duration="6s", interval="20ms"))
    started: List[Tuple[str, int]] = []

    def on_event(host, device, event):
        if isinstance(event, ev.Started):
            started.append((host, device))
            if len(started) == 2 * NPUS:  # the sink runs on the launcher's thread: remove from another
                threading.Thread(target=cluster.remove_node, args=(cluster.named["node-b"],)).start()

    seen = _launch(plan, tmp_path, on_event)
    for device in range(NPUS):
        end = seen[("node-b", device)][-1]
        assert isinstance(end, ev.Crashed) and "on node node-b (" in end.message, end
        assert "node left the Ray cluster" in end.message
        assert isinstance(seen[("node-a", device)][-1], ev.Finished)


@pytest.mark.ray
@pytest.mark.slow
def test_a_device_that_does_not_exist_is_refused_before_launch(cluster):
    with pytest.raises(SpecError) as bad:
        _plan(_spec(cluster, [{"name": "node-a", "devices": [1, 7]}, {"name": "node-z"}]))
    problems = bad.value.problems
    assert problems[0].startswith("hosts[1].name: no alive node of the Ray cluster is named 'node-z' (nodes: head (")
    with pytest.raises(SpecError) as bad:
        _plan(_spec(cluster, [{"name": "node-a", "devices": [1, 7]}]))
    assert bad.value.problems == [f"hosts[0].devices: device 7 does not exist on node-a ({NPUS} visible: 0-3)"]


@pytest.mark.ray
@pytest.mark.slow
def test_an_npu_held_by_other_ray_work_is_unavailable_at_the_init_timeout(cluster, tmp_path):
    import ray
    from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

    spec = _spec(cluster, [{"name": "node-a", "devices": [0, 2]}])
    spec = spec.model_copy(update={"timeouts": spec.timeouts.model_copy(update={"init": 3.0})})
    plan, _ = _plan(spec)
    node_a = next(n["NodeID"] for n in ray.nodes() if n["NodeName"] == "node-a")

    @ray.remote(num_cpus=0, resources={"NPU": 1})
    class Holder:
        def npu(self):
            return ray.get_runtime_context().get_accelerator_ids()["NPU"]

    holders = [
        Holder.options(scheduling_strategy=NodeAffinitySchedulingStrategy(node_a, soft=False)).remote()
        for _ in range(3)
    ]  # a training job holding NPUs 0, 1, 2 of node-a
    assert sorted(ray.get([h.npu.remote() for h in holders])) == [["0"], ["1"], ["2"]]
    seen = _launch(plan, tmp_path)
    for device in (0, 2):
        fault = seen[("node-a", device)][-1]
        assert isinstance(fault, ev.Fault) and fault.fault == "open_failed"
        assert fault.message.startswith(f"no free NPU {device} on node node-a (") and "within 3s" in fault.message
        assert "Ray gave this run NPU(s) 3 of the node's 4" in fault.message
    for h in holders:
        ray.kill(h)


@pytest.mark.ray
@pytest.mark.slow
def test_stop_asks_every_actor_to_stop(cluster, tmp_path):
    plan, _ = _plan(_spec(cluster, [{"name": "node-a"}], number_of_cycles=-1, duration="60s", interval="20ms"))
    stop = threading.Event()
    started: List[int] = []

    def on_event(host, device, event):
        if isinstance(event, ev.Started):
            started.append(device)
        if len(started) == NPUS and isinstance(event, ev.Progress):
            stop.set()

    seen = _launch(plan, tmp_path, on_event, stop)
    assert all(isinstance(e[-1], ev.Finished) and e[-1].outcome == "stopped" for e in seen.values())


def test_asking_for_ray_without_ray_is_an_environment_error(monkeypatch):
    from orchestrator.launch.ray import cluster as ray_cluster

    monkeypatch.setitem(sys.modules, "ray", None)  # what an install without the extra looks like
    with pytest.raises(EnvironmentProblem, match=r"pip install 'dvpp-fleet\[ray\]'"):
        ray_cluster.connect("local")


def test_the_table_has_a_node_column_only_when_a_device_ran_on_a_cluster_node():
    from orchestrator.report import table as report
    from orchestrator.results.collect import DeviceResult
    from orchestrator.results.status import Status

    local = [report.Verdict(DeviceResult(host="localhost", device=0), Status.PASS, ())]
    assert "node" not in report.table(local).splitlines()[0]
    cluster = local + [
        report.Verdict(DeviceResult(host="node-a", device=1, node="node-a (192.0.2.7, id 1a2b3c4d)"), Status.PASS, ())
    ]
    lines = report.table(cluster, wide=True).splitlines()  # the 100-column table leaves the node to --wide
    assert lines[0].split()[:3] == ["host", "dev", "node"]
    assert "node-a (192.0.2.7, id 1a2b3c4d)" in lines[-1] and lines[-2].split()[2] == "-"
