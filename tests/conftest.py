"""Shared fixtures: every test that starts processes must leave none behind."""
from __future__ import annotations

import pytest

try:
    import psutil
except ImportError:  # pragma: no cover - psutil is a test dependency
    psutil = None


@pytest.fixture(autouse=True)
def no_leftover_children():
    """Fail a test that leaves child processes of this test process running."""
    yield
    if psutil is None:
        return
    me = psutil.Process()
    alive = [p for p in me.children(recursive=True) if p.is_running() and p.status() != psutil.STATUS_ZOMBIE]
    if alive:
        _, still = psutil.wait_procs(alive, timeout=5)
        for proc in still:
            proc.kill()
        assert not still, f"test left child processes running: {[p.pid for p in still]}"
