"""One process at a time per NPU: an exclusive ``flock`` on a file per physical device.

The vendor forbids two processes testing one device at once, so a worker holds its device's lock
from before it opens the device until after it closed it. The lock files live in fixed directories
of the machine (``lock_dirs``), shared by every user (sticky and world-writable, like ``/tmp``); a file is
named by the runtime and the physical id (what ``npu-smi`` shows): ``npu-3.lock`` for the real
runtime, ``sim-3.lock`` for the simulator, so a simulated run never blocks a real one.

The kernel drops a ``flock`` when its holder dies, however it dies: a file left behind without a
holder is simply locked again, never "stale". The holder writes its facts (pid, host, since when,
what it is) into the file, so that a process that finds the device locked can name it.
"""

from __future__ import annotations

import errno
import fcntl
import json
import multiprocessing
import os
import re
import shlex
import socket
import stat
import sys
import time
from pathlib import Path
from typing import Any, Callable, Dict, List, Optional, Union

LOCK_DIR_ENV = "DVPP_FLEET_LOCK_DIR"
"""Overrides the directory of the lock files (created when missing)."""
SYSTEM_LOCKS = "/run/lock"
TMP_LOCKS = "/tmp"
POLL = 0.1
"""Seconds between two attempts while waiting for a device another process holds."""
_FACTS_MAX = 64 * 1024
_COMMAND_MAX = 300


def lock_dirs() -> List[Path]:
    """``$DVPP_FLEET_LOCK_DIR`` alone; else ``/run/lock/dvpp-fleet`` (where ``/run/lock`` exists) and
    ``/tmp/dvpp-fleet-locks``. A device is locked in each of them that can be used, so two processes
    that can use different ones (on some systems only root may write ``/run/lock``) still see each
    other. Fixed paths, not ``$TMPDIR``: every process of the machine must find the same files.
    Never raises; a directory may not exist yet."""
    value = os.environ.get(LOCK_DIR_ENV)
    if value:
        return [Path(value)]
    system = [Path(SYSTEM_LOCKS, "dvpp-fleet")] if os.path.isdir(SYSTEM_LOCKS) else []
    return system + [Path(TMP_LOCKS, "dvpp-fleet-locks")]


def lock_name(device: int, simulated: bool, host: Optional[str] = None) -> str:
    """``npu-3.lock`` or ``sim-3.lock``; a simulated ``host`` is part of the name (``sim-node-a-3.lock``):
    the simulated hosts of a test cluster share one machine but not their devices."""
    if not simulated:
        return f"npu-{device}.lock"
    scope = f"{re.sub(r'[^A-Za-z0-9_.-]', '_', host)}-" if host else ""
    return f"sim-{scope}{device}.lock"


class LockUnusable(Exception):
    """The lock file cannot be made or locked (a read-only or foreign directory, no ``flock`` there)."""


class DeviceBusy(Exception):
    """Another process holds the device's lock; ``holder`` is what it wrote (``{}`` when nothing)."""

    def __init__(self, device: int, holder: Dict[str, Any], path: Path) -> None:
        self.device, self.holder, self.path = device, holder, path
        super().__init__(describe(device, holder, path))


def describe(device: int, holder: Dict[str, Any], path: Path) -> str:
    """``device 3 is in use by pid 1234 (since 2024-05-01T10:00:00Z, <its command>; log <file>)``."""
    if not isinstance(holder.get("pid"), int):
        return f"device {device} is in use by another process (it left no details in {path})"
    where = "" if holder.get("host") in (None, socket.gethostname()) else f" on {holder['host']}"
    parts = [f"since {holder['since']}"] if holder.get("since") else []
    parts += [" ".join(str(holder["command"]).split())] if holder.get("command") else []  # one line
    log = f"log {holder['log']}" if holder.get("log") else ""
    what = "; ".join(x for x in (", ".join(parts), log) if x)
    return f"device {device} is in use by pid {holder['pid']}{where}" + (f" ({what})" if what else "")


class DeviceLock:
    """The lock of one device, in every lock directory (``lock_dirs``, or ``directory`` alone):
    ``acquire``, then ``release`` (or use it as a context manager, which releases on exit)."""

    def __init__(
        self, device: int, simulated: bool, host: Optional[str] = None, directory: Optional[Path] = None
    ) -> None:
        self.device = device
        dirs = [directory] if directory is not None else lock_dirs()
        self.files = [_LockFile(d / lock_name(device, simulated, host)) for d in dirs]
        self.path = self.files[0].path
        self._held: List[_LockFile] = []

    def acquire(self, wait: float = 0.0, stopped: Optional[Callable[[], bool]] = None) -> None:
        """Take the lock, trying every ``POLL`` seconds for up to ``wait`` seconds (0: once), or until
        ``stopped()`` is true. Raises ``DeviceBusy`` naming the holder, or ``LockUnusable`` when no
        lock directory can be used."""
        deadline = time.monotonic() + wait
        try:
            while True:
                busy = self._try_all()
                if busy is None:
                    break
                left = deadline - time.monotonic()
                if left <= 0 or (stopped is not None and stopped()):
                    raise DeviceBusy(self.device, busy.holder(), busy.path)
                time.sleep(min(POLL, left))
        except BaseException:  # busy, unusable or interrupted: keep no file open
            self.release()
            raise
        for held in self._held:
            held.write_facts()

    def _try_all(self) -> Optional[_LockFile]:
        """Lock every usable file; the one another process holds (all given back), else None."""
        unusable: List[LockUnusable] = []
        for file in self.files:
            try:
                locked = file.try_lock()
            except LockUnusable as exc:
                unusable.append(exc)
                continue
            if not locked:
                self.release()
                return file
            self._held.append(file)
        if len(unusable) == len(self.files):
            raise unusable[0]
        return None

    def release(self) -> None:
        """Give the lock back (its facts are cleared first, while it is still ours)."""
        held, self._held = self._held, []
        for file in held:
            file.release()
        for file in self.files:
            file.close()

    def holder(self) -> Dict[str, Any]:
        """The facts a holder wrote, ``{}`` when none (it may be between locking and writing)."""
        for file in self.files:
            facts = file.holder()
            if facts:
                return facts
        return {}

    def __enter__(self) -> DeviceLock:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.release()


class _LockFile:
    """One lock file. Opened without following a symbolic link and only when it is a regular file;
    written (the holder's facts) only when this user owns it: a shared directory must not let
    another user aim our writes at a file of theirs (or of the system's)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._fd: Optional[int] = None
        self._writable = False

    def try_lock(self) -> bool:
        if self._fd is None:
            self._fd = self._open()
        try:
            fcntl.flock(self._fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return False
        except OSError as exc:  # e.g. ENOLCK: this file system keeps no locks
            self.close()
            raise LockUnusable(f"cannot lock {self.path}: {exc}") from exc
        return True

    def release(self) -> None:
        if self._fd is not None and self._writable:
            try:
                os.ftruncate(self._fd, 0)
            except OSError:
                pass
        self.close()  # closing the file drops the lock

    def holder(self) -> Dict[str, Any]:
        for _ in range(5):
            try:
                fd = os.open(self.path, os.O_RDONLY | _SAFE)
                try:
                    facts = json.loads(os.read(fd, _FACTS_MAX).decode(errors="replace") or "null")
                finally:
                    os.close(fd)
            except (OSError, ValueError):
                facts = None
            if isinstance(facts, dict):
                return facts
            time.sleep(0.05)
        return {}

    def close(self) -> None:
        fd, self._fd = self._fd, None
        if fd is not None:
            os.close(fd)

    def _open(self) -> int:
        try:
            _make_dir(self.path.parent)
            while True:
                try:  # without O_CREAT first: a sticky directory may refuse it on another user's file
                    return self._checked(os.open(self.path, os.O_RDWR | _SAFE))
                except FileNotFoundError:
                    pass
                except OSError as exc:  # not ours to write: it can still be locked
                    if exc.errno not in (errno.EACCES, errno.EPERM, errno.EROFS):
                        raise
                    return self._checked(os.open(self.path, os.O_RDONLY | _SAFE))
                try:
                    fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_EXCL | _SAFE, 0o666)
                except FileExistsError:
                    continue  # another process created it just now
                _chmod(fd, 0o666)  # the umask would keep other users from locking it
                return self._checked(fd)
        except OSError as exc:
            raise LockUnusable(f"cannot use the lock directory {self.path.parent}: {exc}") from exc

    def _checked(self, fd: int) -> int:
        """``fd`` when it is a regular file (writable only when ours), else closed and refused."""
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            os.close(fd)
            raise OSError(errno.EINVAL, f"{self.path} is not a regular file")
        self._writable = info.st_uid == os.geteuid() and _opened_for_writing(fd)
        return fd

    def write_facts(self) -> None:
        if not self._writable or self._fd is None:
            return
        data = json.dumps(holder_facts()).encode()
        try:
            os.ftruncate(self._fd, 0)
            os.pwrite(self._fd, data, 0)
        except OSError:  # a full disk: the lock holds all the same, only unnamed
            pass


_SAFE = os.O_NOFOLLOW | os.O_NOCTTY | os.O_CLOEXEC
"""Never through a symbolic link, never a terminal, never inherited by a child."""


def _opened_for_writing(fd: int) -> bool:
    return fcntl.fcntl(fd, fcntl.F_GETFL) & os.O_ACCMODE != os.O_RDONLY


def _make_dir(path: Path) -> None:
    try:
        path.mkdir(parents=True)
    except FileExistsError:
        if not stat.S_ISDIR(os.lstat(path).st_mode):  # a symbolic link planted in /tmp is no lock directory
            raise NotADirectoryError(errno.ENOTDIR, "not a directory (or a symbolic link)", str(path)) from None
        return
    _chmod(str(path), 0o777 | stat.S_ISVTX)  # like /tmp: everyone may lock, nobody removes another's


def _chmod(target: Union[int, str], mode: int) -> None:
    """``os.chmod`` of a path or an open file, where allowed (only the owner may)."""
    try:
        os.chmod(target, mode)
    except OSError:
        pass


def holder_facts() -> Dict[str, Any]:
    """What this process writes into a lock it holds: ``pid``, ``host``, ``since`` (UTC), ``command``
    (a worker started by ``multiprocessing`` gives its parent's, the controller's) and ``log`` (the
    file its stdout goes to, in a run directory; None when not a file)."""
    parent = multiprocessing.parent_process()
    command = _command("self")
    if parent is not None and parent.pid is not None:
        command = f"worker of pid {parent.pid}: {_command(str(parent.pid))}"
    return {
        "pid": os.getpid(),
        "host": socket.gethostname(),
        "since": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "command": command[:_COMMAND_MAX],
        "log": _stdout_file(),
    }


def _command(pid: str) -> str:
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as fh:
            words = fh.read().decode(errors="replace").split("\0")
    except OSError:
        words = sys.argv if pid == "self" else []
    return shlex.join(w for w in words if w) or "unknown command"


def _stdout_file() -> Optional[str]:
    try:
        if not stat.S_ISREG(os.fstat(1).st_mode):
            return None
        path = os.readlink("/proc/self/fd/1")
    except OSError:
        return None
    return None if path.endswith(" (deleted)") else path
