"""The local launcher (orchestrator/launch/local.py) beyond the launcher contract: where its files
go, the per-run simulated link, slots, what a crash says, and how workers start: forked from the
run's own forkserver (what it holds, its signals, its death, descriptors), or spawned. Real worker
processes on the simulator."""

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


# How workers start: forked from the run's own forkserver (orchestrator/launch/local.py's docstring).


def parent_of(pid: int) -> int:
    import psutil

    return psutil.Process(pid).ppid()


def alive(pid: int) -> bool:
    """``pid`` is a process that has not ended (a zombie has)."""
    import psutil

    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


def proc_status(pid: int, key: str) -> str:
    """A line of /proc/PID/status, e.g. ``SigBlk``."""
    lines = Path(f"/proc/{pid}/status").read_text().splitlines()
    return next(line.split(":", 1)[1].strip() for line in lines if line.startswith(f"{key}:"))


def test_each_run_forks_its_workers_from_its_own_server_which_ends_with_it(tmp_path):
    """The server is a child of the controller, started for the run with its stderr in this run's
    logs and stopped when the run ends: a second run has another one, in its own folder."""
    import os

    servers, stderr = [], []

    def sink(host, device, event):
        if isinstance(event, ev.Launched):
            servers.append(parent_of(event.pid))
            stderr.append(os.readlink(f"/proc/{servers[-1]}/fd/2"))

    for name in ("first", "second"):
        LocalLauncher().run(plan(devices=2).jobs, tmp_path / name, sink, threading.Event())
        assert not alive(servers[-1])  # stopped with its run
    first, second = servers[:2], servers[2:]
    assert len(set(first)) == 1 and len(set(second)) == 1 and first[0] != second[0] and os.getpid() not in servers
    assert stderr == [str(rundir.forkserver_log_path(tmp_path / name)) for name in ("first",) * 2 + ("second",) * 2]
    assert not rundir.forkserver_log_path(tmp_path / "first").exists()  # it had nothing to say: dropped
    for name in ("first", "second"):
        text = rundir.log_path(tmp_path / name, "localhost", 0).read_text()
        assert "backend sim (forked from the launcher's forkserver)" in text


def test_the_server_has_preloaded_numpy_and_the_worker_but_never_a_runtime(tmp_path):
    """What a worker inherits is what the server imported: asked of the run's server itself, by a
    process it forks that lists its modules before importing anything."""
    import multiprocessing as mp

    from workers.entry.local import RUNTIME_PACKAGES

    listing = tmp_path / "modules.txt"
    probe = f"""import os, sys
with open({str(listing)!r}, 'w') as fh:
    fh.write('\\n'.join([str(os.getppid())] + sorted(sys.modules)))"""
    parents = []

    def sink(host, device, event):
        if isinstance(event, ev.Launched) and not parents:
            parents.append(parent_of(event.pid))
            child = mp.get_context("forkserver").Process(target=exec, args=(probe,))
            child.start()
            child.join(30)
            assert child.exitcode == 0

    LocalLauncher().run(plan(devices=1, interval="200ms").jobs, tmp_path / "run", sink, threading.Event())
    server, *modules = listing.read_text().split("\n")
    assert parents == [int(server)]  # the probe was forked from the worker's server
    assert [m for m in modules if m.split(".")[0] == "acl" or m.startswith("workers.simulator.acl")] == []
    assert RUNTIME_PACKAGES == ("acl", "workers.simulator.acl")
    assert {"numpy", "workers.main", "workers.entry.local", "workers.cycles"} <= set(modules)


def test_a_worker_that_finds_a_runtime_imported_when_it_starts_opens_nothing(tmp_path, monkeypatch):
    """The guard behind the preload: a server that had imported the simulator's acl (which the
    preload never does) makes every worker refuse its device; one that finishes had none."""
    from orchestrator.launch import local
    from workers.entry.local import INHERITED_RUNTIME_EXIT_CODE

    monkeypatch.setattr(local, "PRELOAD", local.PRELOAD + ("workers.simulator.acl",))
    seen = launch(plan(devices=2), tmp_path)
    for device in (0, 1):
        events = of(seen, device)
        assert [e.kind for e in events] == ["launched", "fault", "crashed"], events
        assert events[1].fault == "worker_error"
        assert events[1].message.startswith("the worker process already held the runtime (workers.simulator.acl")
        assert events[2].exitcode == INHERITED_RUNTIME_EXIT_CODE
    assert not any(isinstance(e, ev.Started) for _, _, e in seen)


def test_a_worker_takes_the_environment_of_the_controller_when_it_is_asked_for(tmp_path, monkeypatch):
    """The server has the environment of the run's start; the second device is asked for after
    the controller hid it (ASCEND_RT_VISIBLE_DEVICES=0): its worker sees that, not the server's."""
    monkeypatch.delenv("ASCEND_RT_VISIBLE_DEVICES", raising=False)

    def sink(host, device, event):
        seen.append((host, device, event))
        if isinstance(event, ev.Finished) and device == 0:
            monkeypatch.setenv("ASCEND_RT_VISIBLE_DEVICES", "0")

    seen: Seen = []
    LocalLauncher().run(plan(devices=2).jobs, tmp_path, sink, threading.Event(), slots=1)
    assert [e.outcome for e in of(seen, 0) if isinstance(e, ev.Finished)] == ["completed"]
    faults = [e for e in of(seen, 1) if isinstance(e, ev.Fault)]
    assert len(faults) == 1 and faults[0].message.startswith("device 1 is not visible"), of(seen, 1)


def test_spawn_may_be_asked_for_and_an_unknown_method_is_the_default(tmp_path, monkeypatch):
    import os

    from orchestrator.launch.local import START_METHOD_ENV, start_method

    monkeypatch.setenv(START_METHOD_ENV, "bogus")
    assert start_method() == "forkserver"
    monkeypatch.setenv(START_METHOD_ENV, "Spawn")
    assert start_method() == "spawn"
    parents = []

    def sink(host, device, event):
        if isinstance(event, ev.Launched):
            parents.append(parent_of(event.pid))

    LocalLauncher().run(plan(devices=1).jobs, tmp_path, sink, threading.Event())
    assert parents == [os.getpid()]  # spawned by the controller itself
    assert "backend sim (spawned)" in rundir.log_path(tmp_path, "localhost", 0).read_text()
    assert not rundir.forkserver_log_path(tmp_path).exists()


def long_copies(devices: int, faults: Any = (), **top: Any) -> FleetPlan:
    """Devices that copy for about 1.2 s after they start (12 copies, 100 ms apart); ``top``: spec keys."""
    data = spec(devices=devices, faults=list(faults), **top)
    data["defaults"].update({"release_cycle": 4, "number_of_cycles": 3, "interval": "100ms"})
    return resolve(parse_spec(data), inventory(devices), hostname=HOST)


def kill_server_when_started(seen: Seen, count: int, servers: List[int]) -> Any:
    """A sink that kills the forkserver with SIGKILL once ``count`` workers have started."""
    import os
    import signal

    pids: dict = {}

    def sink(host: str, device: int, event: ev.Event) -> None:
        seen.append((host, device, event))
        if isinstance(event, ev.Launched):
            pids[device] = event.pid
            servers.append(parent_of(event.pid))
        if isinstance(event, ev.Started) and sum(isinstance(e, ev.Started) for _, _, e in seen) == count:
            os.kill(servers[0], signal.SIGKILL)

    sink.pids = pids  # type: ignore[attr-defined]
    return sink


def test_a_killed_forkserver_leaves_its_workers_running_and_passing_and_the_next_are_spawned(tmp_path):
    """Finding: multiprocessing reports every worker of a dead server with exit code 255 at once.
    They live on: each is watched through its pipe to its own end; devices 3 and 4 (3 slots) are
    spawned, and the run's log says why."""
    import os

    seen: Seen = []
    servers: List[int] = []
    sink = kill_server_when_started(seen, 3, servers)
    LocalLauncher().run(long_copies(5).jobs, tmp_path, sink, threading.Event(), slots=3)
    ends = {d: e for _, d, e in seen if isinstance(e, (ev.Finished, ev.Crashed, ev.Hung))}
    assert {d: (e.kind, getattr(e, "outcome", None)) for d, e in ends.items()} == {
        d: ("finished", "completed") for d in range(5)
    }, ends
    assert servers[:3] == [servers[0]] * 3 and servers[3:] == [os.getpid()] * 2  # the last two: spawned
    assert [d for _, d, e in seen if isinstance(e, ev.Launched)] == [0, 1, 2, 3, 4]
    log = rundir.forkserver_log_path(tmp_path).read_text()
    assert f"the forkserver (pid {servers[0]}) died from signal SIGKILL: the workers it started" in log
    assert "the next ones are spawned" in log
    assert not [pid for pid in sink.pids.values() if alive(pid)]  # the orphans too had ended when it returned


def test_a_worker_of_a_dead_server_that_hangs_is_hung_and_one_that_dies_is_crashed_without_an_exit_code(tmp_path):
    """Orphans are still supervised: device 1 hangs at copy 8 (killed by pid while it held its
    pipe, its stack taken), device 2 dies at copy 8 (its exit status is lost with the server)."""
    faults = [{"device": 1, "kind": "hang", "at_copy": 8}, {"device": 2, "kind": "crash", "at_copy": 8}]
    p = long_copies(3, faults, timeouts={"copy": "2s"})
    seen: Seen = []
    servers: List[int] = []
    sink = kill_server_when_started(seen, 3, servers)
    LocalLauncher().run(p.jobs, tmp_path, sink, threading.Event())
    finished = of(seen, 0)[-1]
    assert isinstance(finished, ev.Finished) and finished.outcome == "completed"
    hung = of(seen, 1)[-1]
    assert isinstance(hung, ev.Hung) and hung.stack and "before_h2d" in hung.stack
    assert (hung.cycle, hung.copy) == (2, 8)
    crashed = of(seen, 2)[-1]
    assert isinstance(crashed, ev.Crashed) and (crashed.exitcode, crashed.signal) == (None, None)
    assert crashed.message == (
        "worker for localhost:2 ended during cycle 2, copy 8 without its end event; its exit status is unknown: "
        "the forkserver it was started from had died"
    )
    assert (crashed.cycles, crashed.copies) == (1, 7)
    assert not [pid for pid in sink.pids.values() if alive(pid)]


def test_the_server_starts_with_the_stop_signals_blocked_and_outlives_them(tmp_path):
    """A terminal's Ctrl-C, or a SIGTERM to the process group, reaches the server too: it has them
    blocked (its workers inherit that, until their handler is in place), so it goes on serving;
    the controller's own mask is as it was."""
    import os
    import signal

    before = signal.pthread_sigmask(signal.SIG_BLOCK, [])
    seen: Seen = []
    state = {}

    def sink(host, device, event):
        seen.append((host, device, event))
        if isinstance(event, ev.Launched) and "server" not in state:
            server = state["server"] = parent_of(event.pid)
            state["blocked"] = int(proc_status(server, "SigBlk"), 16)
            os.kill(server, signal.SIGTERM)
            os.kill(server, signal.SIGINT)
        if isinstance(event, ev.Started) and device == 2:
            state["alive"] = alive(state["server"])

    LocalLauncher().run(long_copies(3).jobs, tmp_path, sink, threading.Event(), slots=2)
    for signum in (signal.SIGINT, signal.SIGTERM):
        assert state["blocked"] & (1 << (signum - 1)), hex(state["blocked"])
    assert state["alive"] is True  # still there when the third worker was forked from it
    assert [e.outcome for _, _, e in seen if isinstance(e, ev.Finished)] == ["completed"] * 3
    assert not rundir.forkserver_log_path(tmp_path).exists()  # it never died
    assert signal.pthread_sigmask(signal.SIG_BLOCK, []) == before


def test_few_descriptors_make_workers_wait_their_turn_and_never_cut_a_fork_request_short(tmp_path):
    """Finding: a fork request cut short by EMFILE kills the server. With room for about two
    workers, six start in turns, all from the one server, which never dies."""
    import resource

    from orchestrator.launch import budget

    seen: Seen = []
    parents = []
    running, most = [0], [0]

    def sink(host, device, event):
        seen.append((host, device, event))
        if isinstance(event, ev.Launched):
            parents.append(parent_of(event.pid))
        running[0] += isinstance(event, ev.Started) - isinstance(event, ev.Finished)
        most[0] = max(most[0], running[0])

    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    tight = budget.open_descriptors() + 1 + 2 * budget.FDS_PER_WORKER + budget.FDS_TO_START
    resource.setrlimit(resource.RLIMIT_NOFILE, (tight, hard))
    try:
        LocalLauncher().run(plan(devices=6, interval="20ms").jobs, tmp_path, sink, threading.Event())
    finally:
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))
    assert [e.outcome for _, _, e in seen if isinstance(e, ev.Finished)] == ["completed"] * 6
    assert not any(isinstance(e, (ev.Crashed, ev.Fault)) for _, _, e in seen)
    assert len(parents) == 6 and len(set(parents)) == 1  # every one forked from the same server
    assert most[0] <= 3
    assert not rundir.forkserver_log_path(tmp_path).exists()  # it never failed


def two_completed_runs_parents(tmp_path: Path) -> List[int]:
    """Run two devices to completion (asserted) under ``tmp_path/run``; the parent of each worker."""
    parents: List[int] = []
    seen: Seen = []

    def sink(host, device, event):
        seen.append((host, device, event))
        if isinstance(event, ev.Launched):
            parents.append(parent_of(event.pid))

    LocalLauncher().run(plan(devices=2).jobs, tmp_path / "run", sink, threading.Event())
    assert [e.outcome for _, _, e in seen if isinstance(e, ev.Finished)] == ["completed"] * 2
    return parents


def test_a_forkserver_that_cannot_start_leaves_the_run_to_spawned_workers(tmp_path, monkeypatch):
    """A server that dies as it starts (here a preload that raises): every worker is spawned, and
    the run's log has the server's last words and why."""
    import os

    from orchestrator.launch import local

    (tmp_path / "broken_preload.py").write_text("raise RuntimeError('this server cannot start')\n")
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join([str(tmp_path), os.environ.get("PYTHONPATH", "")]))
    monkeypatch.setattr(local, "PRELOAD", local.PRELOAD + ("broken_preload",))
    parents = two_completed_runs_parents(tmp_path)
    assert parents == [os.getpid()] * 2
    log = rundir.forkserver_log_path(tmp_path / "run").read_text()
    assert "RuntimeError: this server cannot start" in log
    assert "exited with code 1, failing a fork request (EOFError" in log or "exited with code 1: the workers" in log
    assert "the next ones are spawned" in log


def test_a_workers_folder_in_the_current_directory_is_never_what_a_forkserver_imports(tmp_path, monkeypatch):
    import os

    here = tmp_path / "project"
    (here / "workers" / "entry").mkdir(parents=True)
    (here / "workers" / "__init__.py").write_text("")
    (here / "workers" / "entry" / "__init__.py").write_text("")  # someone else's package of that name
    monkeypatch.chdir(here)
    parents = two_completed_runs_parents(tmp_path)
    assert parents == [os.getpid()] * 2  # spawned, each with this controller's own path
    log = rundir.forkserver_log_path(tmp_path / "run").read_text()
    assert f"workers are spawned: the current directory holds {here / 'workers'}" in log


def test_a_dead_server_is_never_replaced_behind_the_runs_back_and_the_controller_keeps_its_stderr(
    tmp_path, monkeypatch
):
    import os
    import signal
    import time
    from multiprocessing import forkserver

    from orchestrator.launch import local

    redirected = []
    real_dup2 = os.dup2
    monkeypatch.setattr(os, "dup2", lambda fd, target, *a: redirected.append(target) or real_dup2(fd, target, *a))
    log = tmp_path / "forkserver.log"
    starter = local._Starter(log)
    starter.open()
    try:
        assert starter.forking and 2 not in redirected  # the server redirects its own stderr
        server = forkserver._forkserver
        pid = server._forkserver_pid
        os.kill(pid, signal.SIGKILL)
        deadline = time.monotonic() + 5
        while local._ended(pid) is None and time.monotonic() < deadline:
            time.sleep(0.01)
        with pytest.raises(OSError, match="the forkserver died from signal SIGKILL"):
            server.connect_to_new_process([])
        assert server._forkserver_pid == pid  # no second server was started
    finally:
        starter.close()
    assert forkserver._forkserver._forkserver_pid is None
    assert "ensure_running" not in vars(forkserver._forkserver)  # the class's own again


def test_an_orphan_is_alive_while_it_holds_its_pipe_when_proc_cannot_say(monkeypatch):
    import errno
    from multiprocessing import Pipe

    from orchestrator.launch import local

    reader, writer = Pipe(duplex=False)
    try:
        w = local._Worker(job=None, since=0.0, last_event=0.0, conn=reader, pid=1, orphan=True, birth=12345)

        def no_descriptor(pid):
            raise OSError(errno.EMFILE, "Too many open files")

        monkeypatch.setattr(local, "_proc_stat", no_descriptor)
        assert w.alive()  # not called dead for a /proc that could not be read
        writer.close()
        assert not w.alive()
    finally:
        reader.close()
