"""The device lock (workers/devlock.py): one holder per device, named when busy, gone with its process."""

from __future__ import annotations

import os
import signal
import stat
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from tests.helpers.workers import ROOT
from workers import devlock
from workers.devlock import DeviceBusy, DeviceLock, LockUnusable, lock_dirs, lock_name

HOLD = """
import sys, time
from pathlib import Path
from workers.devlock import DeviceLock
DeviceLock(int(sys.argv[1]), simulated=True, directory=Path(sys.argv[2])).acquire()
time.sleep(600)
"""


def test_the_directories_are_the_variables_else_run_lock_and_tmp(monkeypatch, tmp_path):
    monkeypatch.setenv(devlock.LOCK_DIR_ENV, str(tmp_path / "mine"))
    assert lock_dirs() == [tmp_path / "mine"]
    monkeypatch.delenv(devlock.LOCK_DIR_ENV)
    monkeypatch.setattr(devlock, "SYSTEM_LOCKS", str(tmp_path))
    assert lock_dirs() == [tmp_path / "dvpp-fleet", Path("/tmp", "dvpp-fleet-locks")]
    monkeypatch.setattr(devlock, "SYSTEM_LOCKS", str(tmp_path / "absent"))
    monkeypatch.setenv("TMPDIR", str(tmp_path))  # every process of the machine must find the same files
    assert lock_dirs() == [Path("/tmp", "dvpp-fleet-locks")]


def test_a_device_is_locked_in_every_usable_directory(tmp_path, monkeypatch):
    monkeypatch.delenv(devlock.LOCK_DIR_ENV)
    monkeypatch.setattr(devlock, "SYSTEM_LOCKS", str(tmp_path / "run-lock"))
    monkeypatch.setattr(devlock, "TMP_LOCKS", str(tmp_path / "tmp"))
    (tmp_path / "run-lock").mkdir()
    with DeviceLock(5, simulated=True) as first:
        first.acquire()
        # a process that can use only the second directory (e.g. not root) still finds it held
        with pytest.raises(DeviceBusy):
            DeviceLock(5, simulated=True, directory=tmp_path / "tmp" / "dvpp-fleet-locks").acquire()
        with pytest.raises(DeviceBusy):
            DeviceLock(5, simulated=True, directory=tmp_path / "run-lock" / "dvpp-fleet").acquire()
    (tmp_path / "run-lock" / "dvpp-fleet").chmod(0o555)  # one directory unusable: the other still locks
    try:
        if os.geteuid() != 0:
            with DeviceLock(6, simulated=True) as lock:
                lock.acquire()
    finally:
        (tmp_path / "run-lock" / "dvpp-fleet").chmod(0o777)


def test_a_symbolic_link_as_the_lock_file_is_never_followed(tmp_path):
    victim = tmp_path / "precious"
    victim.write_text("keep me")
    (tmp_path / "locks").mkdir()
    (tmp_path / "locks" / "npu-0.lock").symlink_to(victim)
    with pytest.raises(LockUnusable):
        DeviceLock(0, simulated=False, directory=tmp_path / "locks").acquire()
    assert victim.read_text() == "keep me"


def test_a_symbolic_link_as_the_lock_directory_is_refused(tmp_path):
    (tmp_path / "elsewhere").mkdir()
    (tmp_path / "locks").symlink_to(tmp_path / "elsewhere")
    with pytest.raises(LockUnusable, match="not a directory"):
        DeviceLock(0, simulated=False, directory=tmp_path / "locks").acquire()


def test_another_users_lock_file_is_locked_but_never_written(tmp_path):
    path = tmp_path / "npu-0.lock"
    path.write_text('{"pid": 1}')
    if os.geteuid() == 0:
        os.chown(path, 65534, 65534)  # nobody's file
    else:
        pytest.skip("needs a file owned by another user")
    with DeviceLock(0, simulated=False, directory=tmp_path) as lock:
        lock.acquire()
    assert path.read_text() == '{"pid": 1}'


def test_names_tell_the_real_runtime_from_the_simulator():
    assert lock_name(3, simulated=False) == "npu-3.lock"
    assert lock_name(3, simulated=False, host="node-a") == "npu-3.lock"  # one machine, one device 3
    assert lock_name(3, simulated=True) == "sim-3.lock"
    assert lock_name(3, simulated=True, host="node-a") == "sim-node-a-3.lock"
    assert lock_name(0, simulated=True, host="a/b c") == "sim-a_b_c-0.lock"


def test_the_directory_and_files_it_creates_serve_every_user(tmp_path):
    old = os.umask(0o022)
    try:
        with DeviceLock(3, simulated=False, directory=tmp_path / "locks") as lock:
            lock.acquire()
    finally:
        os.umask(old)
    assert stat.S_IMODE((tmp_path / "locks").stat().st_mode) == 0o1777
    assert stat.S_IMODE((tmp_path / "locks" / "npu-3.lock").stat().st_mode) == 0o666


def test_a_second_holder_is_refused_and_told_who_holds_it(tmp_path):
    with DeviceLock(3, simulated=False, directory=tmp_path) as first:
        first.acquire()
        with pytest.raises(DeviceBusy) as busy:
            DeviceLock(3, simulated=False, directory=tmp_path).acquire()
        facts = busy.value.holder
        assert (facts["pid"], busy.value.device, busy.value.path) == (os.getpid(), 3, tmp_path / "npu-3.lock")
        assert set(facts) == {"pid", "host", "since", "command", "log"}
        assert time.strptime(facts["since"], "%Y-%m-%dT%H:%M:%SZ")
        assert str(busy.value).startswith(f"device 3 is in use by pid {os.getpid()} (since {facts['since']}, ")
        for other in (DeviceLock(2, simulated=False, directory=tmp_path), DeviceLock(3, True, directory=tmp_path)):
            with other:
                other.acquire()  # another device, or the simulator's device 3: free
    with DeviceLock(3, simulated=False, directory=tmp_path) as again:
        again.acquire()  # released on exit
    assert (tmp_path / "npu-3.lock").read_text() == ""  # its facts went with it


def test_a_holder_that_wrote_nothing_is_still_reported(tmp_path):
    import fcntl

    path = tmp_path / "sim-1.lock"
    with open(path, "w") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        with pytest.raises(DeviceBusy, match=r"^device 1 is in use by another process \(it left no details in "):
            DeviceLock(1, simulated=True, directory=tmp_path).acquire()


def test_waiting_takes_the_lock_once_it_is_given_back(tmp_path):
    holder = DeviceLock(0, simulated=True, directory=tmp_path)
    holder.acquire()
    threading.Timer(0.3, holder.release).start()
    begun = time.monotonic()
    with DeviceLock(0, simulated=True, directory=tmp_path) as waiter:
        waiter.acquire(wait=10)
        assert 0.25 <= time.monotonic() - begun < 5
        assert waiter.holder()["pid"] == os.getpid()


def test_waiting_gives_up_at_the_deadline_or_when_stopped(tmp_path):
    with DeviceLock(0, simulated=True, directory=tmp_path) as holder:
        holder.acquire()
        begun = time.monotonic()
        with pytest.raises(DeviceBusy):
            DeviceLock(0, simulated=True, directory=tmp_path).acquire(wait=0.3)
        assert 0.3 <= time.monotonic() - begun < 3
        stop = threading.Event()
        threading.Timer(0.2, stop.set).start()
        begun = time.monotonic()
        with pytest.raises(DeviceBusy):
            DeviceLock(0, simulated=True, directory=tmp_path).acquire(wait=60, stopped=stop.is_set)
        assert time.monotonic() - begun < 5


def test_a_killed_holder_leaves_no_stale_lock(tmp_path):
    log = tmp_path / "holder.log"
    with open(log, "w") as out:
        proc = subprocess.Popen([sys.executable, "-c", HOLD, "4", str(tmp_path)], cwd=ROOT, stdout=out)
    try:
        probe = DeviceLock(4, simulated=True, directory=tmp_path)
        deadline = time.monotonic() + 60
        while probe.holder().get("pid") != proc.pid and time.monotonic() < deadline:
            time.sleep(0.05)
        with pytest.raises(DeviceBusy) as busy:
            probe.acquire()
        assert busy.value.holder["log"] == str(log)  # where the holder's output goes, e.g. its run's log
        assert f"device 4 is in use by pid {proc.pid} (since " in str(busy.value) and f"; log {log})" in str(busy.value)
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)
    assert (tmp_path / "sim-4.lock").exists()  # the file stays behind, its holder does not
    with DeviceLock(4, simulated=True, directory=tmp_path) as lock:
        lock.acquire()
        assert lock.holder()["pid"] == os.getpid()


def test_a_directory_that_cannot_be_made_is_unusable_not_busy(tmp_path):
    (tmp_path / "plain").write_text("a file, not a directory")
    with pytest.raises(LockUnusable, match="cannot use the lock directory .*plain/locks"):
        DeviceLock(0, simulated=True, directory=tmp_path / "plain" / "locks").acquire()
