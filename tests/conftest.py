"""Shared fixtures: every test that starts processes must leave none behind; no test touches the
machine's real device locks."""

from __future__ import annotations

import os

import pytest

from workers.devlock import LOCK_DIR_ENV

try:
    import psutil
except ImportError:  # pragma: no cover - psutil is a test dependency
    psutil = None


@pytest.fixture(autouse=True, scope="session")
def private_lock_dir(tmp_path_factory):
    """The device locks of this session in a fresh directory, also for every process it starts
    (workers, command lines, Ray nodes inherit the environment)."""
    before = os.environ.get(LOCK_DIR_ENV)
    os.environ[LOCK_DIR_ENV] = str(tmp_path_factory.mktemp("device-locks"))
    yield
    if before is None:
        os.environ.pop(LOCK_DIR_ENV, None)
    else:
        os.environ[LOCK_DIR_ENV] = before


@pytest.fixture(autouse=True)
def no_leftover_children():
    """Fail a test that leaves child processes of this test process running."""
    yield
    if psutil is None:
        return
    me = psutil.Process()
    alive = [p for p in me.children(recursive=True) if _ours(p)]
    if alive:
        _, still = psutil.wait_procs(alive, timeout=5)
        for proc in still:
            proc.kill()
        assert not still, f"test left child processes running: {[p.pid for p in still]}"


def _ours(proc: psutil.Process) -> bool:
    """A live child we started; multiprocessing's resource tracker (started by the first spawn and
    ending with this process) is the standard library's, not a leftover."""
    try:
        if not proc.is_running() or proc.status() == psutil.STATUS_ZOMBIE:
            return False
        return "multiprocessing.resource_tracker" not in " ".join(proc.cmdline())
    except psutil.NoSuchProcess:
        return False
