"""The README's "Reliability" guarantees, each shown on real processes under the fault an operator's
machine really has: Ctrl-C to the whole process group, a full disk, few descriptors, a host memory
limit, two runs on one device, outputs aimed at a run's own files. (Bad specs and corrupted journals
are shown where they are read: tests/orchestrator/spec/test_yaml_io.py, tests/orchestrator/results/.)
"""

from __future__ import annotations

import json
import os
import random
import resource
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any, Callable, Dict, Optional, Set

import pytest

from orchestrator.launch.local import START_METHOD_ENV, START_METHODS
from tests.helpers.cli import ROOT, cli, press, run_fleet, start_cli, table_rows
from tests.helpers.specs import spec, write_spec

pytestmark = pytest.mark.slow
OUTPUTS = ("summary.json", "report.txt", "report.html", "status.json", "events.jsonl")


def timed_spec(devices: int, seconds: str = "3s") -> Dict[str, Any]:
    data = spec(devices=devices)
    data["defaults"].update({"number_of_cycles": -1, "duration": seconds})
    return data


def start(spec_path: Path, run_dir: Path, *extra: str, limits: Optional[Callable[[], None]] = None) -> subprocess.Popen:
    """``dvpp-fleet run`` as a terminal would start it: its own process group, output piped."""
    return start_cli("run", str(spec_path), "--out", str(run_dir), "--no-progress", *extra, limits=limits)


def statuses(run_dir: Path) -> Dict[int, str]:
    return {d["device"]: d["status"] for d in json.loads((run_dir / "summary.json").read_text())["devices"]}


def no_traceback(*texts: str) -> None:
    for text in texts:
        assert "Traceback" not in text and "reentrant call" not in text, text[-3000:]


def worker_logs(run_dir: Path) -> str:
    return "".join(p.read_text(errors="replace") for p in sorted((run_dir / "logs").glob("*.log")))


def wait_for_events(run_dir: Path, kind: str, count: int, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if (run_dir / "events.jsonl").read_text().count(f'"kind":"{kind}"') >= count:
                return
        except OSError:
            pass
        time.sleep(0.05)
    raise AssertionError(f"no {count} {kind} event(s) in {run_dir} within {timeout}s")


def test_ctrl_c_to_the_process_group_at_random_moments_never_breaks_a_worker_or_an_output(tmp_path):
    """20 runs, each given 1 to 5 Ctrl-C presses 20 ms apart, as a terminal sends them: to the whole
    process group. Early presses (imports, discovery, planning) end the command with nothing run;
    every later one ends with every output written, every worker stopped cleanly."""
    rng = random.Random(20261201)
    path = write_spec(tmp_path, timed_spec(4))
    ran = 0
    for i in range(20):
        run_dir = tmp_path / f"run{i}"
        proc = start(path, run_dir)
        if i % 4 == 0:
            time.sleep(rng.uniform(0.15, 0.8))  # imports, discovery, planning or the launch (after Python's own start)
        else:
            wait_for_events(run_dir, "started", 1)
            time.sleep(rng.uniform(0.0, 3.0))  # during the run, or while it writes its outputs
        press(proc, rng.randint(1, 5))
        out, err = proc.communicate(timeout=60)
        no_traceback(out, err)
        assert proc.returncode in (0, 130), err
        if not (run_dir / "events.jsonl").exists() or not (run_dir / "events.jsonl").stat().st_size:
            assert proc.returncode == 130 and "dvpp-fleet: interrupted" in err  # before anything ran
            continue
        ran += 1
        assert all((run_dir / name).is_file() for name in OUTPUTS), sorted(p.name for p in run_dir.iterdir())
        assert set(statuses(run_dir).values()) <= {"PASS", "ABORTED", "SKIPPED"}, statuses(
            run_dir
        )  # SKIPPED: before launch
        assert len(table_rows(out)) == 4  # the table was printed, a row per device
        logs = worker_logs(run_dir)
        no_traceback(logs)
        assert "worker_error" not in (run_dir / "events.jsonl").read_text()
    assert ran >= 12  # most presses landed while the fleet ran


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM])
@pytest.mark.parametrize("delay", [0.3, 0.8, 1.5])
def test_a_stop_signal_before_the_run_exits_130_without_a_traceback(tmp_path, signum, delay):
    proc = start(write_spec(tmp_path, spec(devices=2)), tmp_path / "run")
    time.sleep(delay)
    proc.send_signal(signum)
    out, err = proc.communicate(timeout=60)
    no_traceback(out, err)
    assert proc.returncode in (0, 130)  # 0: it had already finished
    journal = tmp_path / "run" / "events.jsonl"
    if journal.exists() and journal.stat().st_size:  # it had started: then everything is there
        assert all((tmp_path / "run" / name).is_file() for name in OUTPUTS)
    else:
        assert "dvpp-fleet: interrupted" in err and not (tmp_path / "run" / "summary.json").exists()


def fsize(limit: int) -> Callable[[], None]:
    return lambda: resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))


@pytest.mark.parametrize("limit", [16 << 10, 28 << 10, 40 << 10])
def test_a_journal_that_cannot_be_written_stops_the_run_cleanly_with_the_environment_code(tmp_path, limit):
    # every file of the run may grow to `limit` bytes only: the journal fails mid-run (EFBIG)
    proc = start(write_spec(tmp_path, timed_spec(8)), tmp_path / "run", limits=fsize(limit))
    out, err = proc.communicate(timeout=120)
    no_traceback(out, err)
    assert proc.returncode == 3, err
    assert f"could not write {tmp_path / 'run' / 'events.jsonl'}: File too large" in err
    assert "stopping the run" in err
    rows = table_rows(out)
    assert len(rows) == 8 and {row[1] for row in rows} <= {"PASS", "ABORTED"}  # the verdicts, printed
    assert "CRASHED" not in out and "Not written (the verdicts above stand):" in out


def mountable() -> bool:
    if shutil.which("unshare") is None:
        return False
    probe = subprocess.run(
        ["unshare", "-rm", "sh", "-c", "mount -t tmpfs -o size=1m tmpfs /mnt"], capture_output=True, timeout=30
    )
    return probe.returncode == 0


@pytest.mark.skipif(not mountable(), reason="no user namespace to mount a tmpfs in (the RLIMIT_FSIZE test stands)")
@pytest.mark.parametrize("fill_after", [0.8, 2.0, 3.2])
def test_a_disk_that_fills_during_the_run(tmp_path, fill_after):
    """A real tmpfs as --out, filled by another process while the run writes to it."""
    mnt = tmp_path / "mnt"
    mnt.mkdir()
    path = write_spec(tmp_path, timed_spec(8))
    script = (
        f"mount -t tmpfs -o size=40m tmpfs {mnt} && "
        f"(sleep {fill_after}; head -c 100000000 /dev/zero > {mnt}/filler 2>/dev/null) & "
        f"{sys.executable} -m orchestrator run {path} --out {mnt}/run --no-progress; echo exit=$?; wait"
    )
    proc = subprocess.run(
        ["unshare", "-rm", "sh", "-c", script],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=str(ROOT),
        env=dict(os.environ, PYTHONPATH=str(ROOT)),
    )
    no_traceback(proc.stdout, proc.stderr)
    assert "exit=3" in proc.stdout, proc.stderr
    assert "No space left on device" in proc.stderr
    rows = table_rows(proc.stdout)
    assert len(rows) == 8 and {row[1] for row in rows} <= {"PASS", "ABORTED"}


def test_a_disk_too_small_for_the_run_is_refused_before_anything_starts(tmp_path):
    data = timed_spec(8, "366d")
    r = cli("run", str(write_spec(tmp_path, data)), "--out", str(tmp_path / "run"), "--no-progress")
    assert r.returncode == 3
    assert "free on its file system, but the run's journal and reports may take" in r.stderr
    assert not (tmp_path / "run").exists()


def nofile(limit: int) -> Callable[[], None]:
    return lambda: resource.setrlimit(resource.RLIMIT_NOFILE, (limit, limit))


def test_32_devices_complete_under_ulimit_n_64(tmp_path):
    proc = start(write_spec(tmp_path, spec(devices=32)), tmp_path / "run", limits=nofile(64))
    out, err = proc.communicate(timeout=300)
    no_traceback(out, err)
    assert proc.returncode == 0, err
    assert set(statuses(tmp_path / "run").values()) == {"PASS"} and len(statuses(tmp_path / "run")) == 32
    assert "the descriptor limit (ulimit -n 64, hard limit 64) lets" in err


def test_64_devices_under_ulimit_n_128_all_pass_from_one_forkserver(tmp_path):
    """The case that once killed the forkserver (a fork request cut short by EMFILE, and every
    running device then read CRASHED): the workers run in turns, all forked from the run's one
    server, which never fails (its log, kept only when it says something, is not there)."""
    run_dir = tmp_path / "run"
    proc = start(write_spec(tmp_path, spec(devices=64)), run_dir, limits=nofile(128))
    out, err = proc.communicate(timeout=300)
    no_traceback(out, err)
    assert proc.returncode == 0, err
    assert set(statuses(run_dir).values()) == {"PASS"} and len(statuses(run_dir)) == 64
    assert "the descriptor limit (ulimit -n 128, hard limit 128) lets" in err
    assert not (run_dir / "logs" / "forkserver.log").exists()
    assert "(forked from the launcher's forkserver)" in (run_dir / "logs" / "localhost-63.log").read_text()


def address_space(limit: int) -> Callable[[], None]:
    return lambda: resource.setrlimit(resource.RLIMIT_AS, (limit, limit))


@pytest.mark.parametrize("method", START_METHODS)
def test_a_host_memory_limit_is_blamed_on_the_host_not_on_the_devices(tmp_path, monkeypatch, method):
    """Under ``ulimit -v`` the workers cannot hold their 256 MiB buffers, or cannot even start
    numpy: one line blames the host, exit 3, forked or spawned. The limit that starves workers but
    not the controller depends on the build, so a few are tried."""
    monkeypatch.setenv(START_METHOD_ENV, method)
    data = spec(devices=8, timeouts={"init": "20s"})
    data["defaults"]["open_retries"] = 0  # a worker stuck starting under the limit is given up on in time
    data["defaults"]["memory_size"] = "256MiB"  # over every limit tried: a worker cannot hold its buffers
    path = write_spec(tmp_path, data)
    blamed = 0
    for mib in (150, 175, 200, 250):
        run_dir = tmp_path / f"run-{mib}"
        proc = start(path, run_dir, limits=address_space(mib << 20))
        try:
            out, err = proc.communicate(timeout=150)
        finally:
            if proc.poll() is None:
                press(proc, 1, signal.SIGKILL)
                proc.communicate()
        if not (run_dir / "summary.json").exists():
            continue  # the controller itself could not start under this limit
        found = statuses(run_dir)
        no_traceback(out, err)
        assert set(found.values()) <= {"PASS", "HOST_ERROR"}, (mib, found, out[-3000:])
        if "HOST_ERROR" in found.values():
            blamed += 1
            assert proc.returncode in (3, 1)
            if set(found.values()) == {"HOST_ERROR"}:
                assert proc.returncode == 3
                blame = [line for line in out.splitlines() if "the host failed: " in line]
                assert [line.split(": ", 1)[0] for line in blame] == ["  host localhost"], out[-3000:]
                assert "all 8 device(s) untested" in blame[0] and "the host is out of memory" in blame[0], blame
                assert "ulimit -v" in blame[0] and "localhost:0 HOST_ERROR" not in out  # one line, names the limit
    assert blamed >= 1


def test_two_runs_on_one_device_the_second_is_busy_and_names_the_holder(tmp_path):
    path = write_spec(tmp_path, timed_spec(2, "5m"))  # held until the second run has ended
    first = start(path, tmp_path / "first")
    try:
        wait_for_events(tmp_path / "first", "started", 2)
        second = cli("run", str(path), "--out", str(tmp_path / "second"), "--no-progress", timeout=180)
        assert first.poll() is None  # the first still held both devices throughout
    finally:
        press(first, 1)
        out, err = first.communicate(timeout=60)
    assert first.returncode == 130, err
    assert second.returncode == 1
    assert statuses(tmp_path / "second") == {0: "BUSY", 1: "BUSY"}
    assert statuses(tmp_path / "first") == {0: "ABORTED", 1: "ABORTED"}  # stopped by us, never BUSY
    holders = {
        json.loads(line)["pid"]
        for line in (tmp_path / "first" / "events.jsonl").read_text().splitlines()
        if '"kind":"started"' in line
    }
    assert any(f"is in use by pid {pid}" in second.stdout for pid in holders)


def test_the_same_out_twice_at_once_is_refused_cleanly(tmp_path):
    path = write_spec(tmp_path, timed_spec(1, "5m"))
    first = start(path, tmp_path / "run")
    try:
        wait_for_events(tmp_path / "run", "started", 1)
        second = cli("run", str(path), "--out", str(tmp_path / "run"), "--no-progress")
        assert first.poll() is None  # refused while the first is in progress
    finally:
        press(first, 1)
        first.communicate(timeout=60)
    assert second.returncode == 2
    assert second.stderr.strip().endswith(
        "already holds a run (events.jsonl, finished or in progress); choose a new directory"
    )
    no_traceback(second.stderr)
    assert first.returncode == 130 and statuses(tmp_path / "run") == {0: "ABORTED"}


def test_ctrl_c_after_some_devices_finished_still_writes_every_output(tmp_path):
    """A serial run: the first devices have ended (their processes retired) when Ctrl-C comes."""
    data = timed_spec(3, "2s")
    data["concurrency"] = "serial"
    run_dir = tmp_path / "run"
    proc = start(write_spec(tmp_path, data), run_dir)
    wait_for_events(run_dir, "finished", 1)
    wait_for_events(run_dir, "started", 2)
    press(proc, 2)
    out, err = proc.communicate(timeout=60)
    no_traceback(out, err)
    assert proc.returncode == 130, err
    assert all((run_dir / name).is_file() for name in OUTPUTS)
    assert statuses(run_dir) == {0: "PASS", 1: "ABORTED", 2: "SKIPPED"}


@pytest.mark.parametrize("option", ["--junit", "--prom", "--html"])
@pytest.mark.parametrize("name", ["events.jsonl", "summary.json", "logs/localhost-0.log"])
def test_outputs_never_overwrite_a_runs_own_files(tmp_path, option, name):
    path = write_spec(tmp_path, spec(devices=1))
    run_dir = tmp_path / "run"
    (run_dir / "logs").mkdir(parents=True)
    before = cli("run", str(path), "--out", str(run_dir), "--no-progress", option, str(run_dir / name))
    assert before.returncode == 2 and f"{option}: " in before.stderr and "never overwritten" in before.stderr
    assert not (run_dir / "events.jsonl").exists()  # refused before anything ran
    assert cli("run", str(path), "--out", str(run_dir), "--no-progress").returncode == 0
    kept = (run_dir / name).read_bytes()
    again = cli("report", str(run_dir), option, str(run_dir / name))
    assert again.returncode == 2 and "never overwritten" in again.stderr
    assert (run_dir / name).read_bytes() == kept


def test_a_crashed_and_a_hung_device_are_accounted_to_the_copy_and_shown_where_they_died(tmp_path):
    """Device 1 dies (SIGSEGV) in copy 40, the last of cycle 5; device 2 hangs in copy 27 of cycle 4.
    Progress events are rate-limited: the exact figures come from each worker's position file."""
    block = 64 << 10
    data = spec(
        devices=3,
        faults=[{"device": 1, "kind": "crash", "at_copy": 40}, {"device": 2, "kind": "hang", "at_copy": 27}],
        timeouts={"copy": "3s"},
    )
    data["defaults"].update({"release_cycle": 8, "number_of_cycles": 6})
    junit = tmp_path / "junit.xml"
    done = run_fleet(tmp_path, data, "--junit", str(junit))
    assert done.code == 1, done.stderr
    assert done.statuses() == {0: "PASS", 1: "CRASHED", 2: "HUNG"}
    for device, kind, cycles, copies, cycle in ((1, "crashed", 4, 39, 5), (2, "hung", 3, 26, 4)):
        got = done.device(device)
        assert (got["cycles"], got["copies"], got["bytes"]) == (cycles, copies, copies * 2 * block)
        (fault,) = got["faults"]
        assert (fault["kind"], fault["cycle"], fault["copy"]) == (kind, cycle, copies + 1)
        assert fault["detail"]["copies"] == copies and "exact up to the" in fault["detail"]["partial"]
        tail = got["log"]["tail"]
        assert got["log"]["path"] == f"logs/localhost-{device}.log" and len(tail) <= 8
        frames = [line for line in tail if line.lstrip().startswith("File ")]
        assert "workers/simulator/acl/_faults.py" in frames[0] and "before_h2d" in frames[0]  # innermost first
        assert any("workers/runtime.py" in f and "memcpy_h2d" in f for f in frames)  # the ACL call it was in
    report = (done.run_dir / "report.txt").read_text()
    assert "localhost:1 died from signal SIGSEGV during cycle 5, copy 40" in report
    assert "stuck in acl.rt.memcpy (H2D) at cycle 4, copy 27" in report
    for text in (done.stdout, report, junit.read_text()):
        shown = text[text.index("worker log logs/localhost-1.log:") :]
        assert shown.split("\n")[1].strip("| ") == "Fatal Python error: Segmentation fault"
        assert "before_h2d" in shown.split("\n")[3] and "worker log logs/localhost-2.log:" in shown
        assert "multiprocessing/spawn.py" not in text and "Extension modules" not in text
    assert "multiprocessing/spawn.py" in (done.run_dir / "logs" / "localhost-1.log").read_text()  # the log keeps all
    drill = cli("report", str(done.run_dir), "--device", "localhost:1")
    assert drill.returncode == 0 and "copies: 39" in drill.stdout and "partial:" in drill.stdout
    assert "multiprocessing/spawn.py" not in drill.stdout and "Extension modules" not in drill.stdout


NEGLECTFUL_PARENT = """
import subprocess, sys, time
controller = subprocess.Popen(sys.argv[1:], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
print(controller.pid, flush=True)
time.sleep(600)  # never waits for it: once killed, it stays a zombie
"""


def running(pid: int) -> bool:
    import psutil

    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


@pytest.mark.parametrize("method", START_METHODS)
def test_workers_stop_when_their_controller_is_killed_even_if_nobody_reaps_it(tmp_path, method):
    """A controller killed with SIGKILL by a parent that never waits for it stays a zombie, its
    pid taken. Its workers see their pipes' read end close (a forked worker's parent is the
    forkserver, which lives on while they do): device 0 stops after its copy, devices 1 and 2,
    stuck in a copy that never returns (and so sending nothing), exit within ORPHAN_GRACE; the
    server then ends too."""
    import psutil

    from workers.entry.local import ORPHAN_GRACE, ORPHAN_POLL

    data = timed_spec(3, "2m")
    data["sim"]["faults"] = [{"device": d, "kind": "hang", "at_copy": 3} for d in (1, 2)]
    data["timeouts"] = {"copy": "5m"}  # the controller itself would not have killed them yet
    path = write_spec(tmp_path, data)
    run_dir = tmp_path / "run"
    command = [sys.executable, "-m", "orchestrator", "run", str(path), "--out", str(run_dir), "--no-progress"]
    env = dict(os.environ, PYTHONPATH=str(ROOT), **{START_METHOD_ENV: method})
    parent = subprocess.Popen(
        [sys.executable, "-c", NEGLECTFUL_PARENT, *command], cwd=str(ROOT), env=env, stdout=subprocess.PIPE, text=True
    )
    pids: Set[int] = set()
    try:
        assert parent.stdout is not None
        controller = int(parent.stdout.readline())
        wait_for_events(run_dir, "started", 3)
        time.sleep(0.5)  # devices 1 and 2 are in their copy 3 by now
        journal = [json.loads(line) for line in (run_dir / "events.jsonl").read_text().splitlines()]
        pids = {e["pid"] for e in journal if e.get("kind") == "launched"}
        parents = {psutil.Process(pid).ppid() for pid in pids}
        assert len(pids) == 3 and (parents == {controller}) == (method == "spawn")
        os.kill(controller, signal.SIGKILL)
        deadline = time.monotonic() + ORPHAN_POLL + ORPHAN_GRACE + 3
        while any(running(pid) for pid in pids | parents if pid != controller) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert psutil.Process(controller).status() == psutil.STATUS_ZOMBIE  # never reaped all along
        assert [pid for pid in pids | parents if pid != controller and running(pid)] == []
        logs = worker_logs(run_dir)
        assert logs.count("controller is gone") == 3, logs[-3000:]
    finally:
        for pid in pids:
            if running(pid):
                os.kill(pid, signal.SIGKILL)
        parent.kill()
        parent.wait()
