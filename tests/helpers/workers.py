"""Shared helpers for the worker tests: small simulator configs, event collection, subprocesses."""

from __future__ import annotations

import contextlib
import json
import subprocess
import sys
from pathlib import Path
from typing import Any, Dict, Iterator, List, Optional, Type, TypeVar

from workers import events, simulator
from workers.main import run_device
from workers.params import WorkerParams
from workers.simulator import catalog

ROOT = Path(__file__).resolve().parents[2]
E = TypeVar("E", bound=events.Event)
BLOCK = 4096


def sim(hbm: int = 1 << 20, faults: Any = (), **extra: Any) -> Dict[str, Any]:
    """A simulator config with little device memory, so filling it is quick and cheap; no driver
    cache, so free-memory figures are exact (the tests of the cache configure it themselves)."""
    return {"device_count": 2, "memory": {"hbm": hbm}, "faults": list(faults), "driver_cache": 0, **extra}


def huge_pages(total: int, chip: str = catalog.DEFAULT_CHIP) -> int:
    """The bytes of huge pages (what DVPP memory comes from) of a simulated pool of ``total``."""
    return int(total * catalog.PROFILES[chip].huge_share)


def params(**kw: Any) -> WorkerParams:
    """Small blocks, no open delay; anything else as given."""
    kw.setdefault("memory_size", BLOCK)
    kw.setdefault("open_retry_delay", 0.0)
    return WorkerParams(**kw)


DEFAULT: Dict[str, Any] = {}


def run(p: WorkerParams, config: Optional[Dict[str, Any]] = DEFAULT, **kw: Any) -> List[events.Event]:
    """``run_device`` on the simulator (``config`` None: as already configured, e.g. ``held``);
    the events, each checked to survive JSON."""
    got: List[events.Event] = []
    run_device(p, got.append, backend="sim", sim_config=sim() if config is DEFAULT else config, **kw)
    for ev in got:
        assert events.from_dict(json.loads(json.dumps(ev.to_dict()))) == ev
    return got


def of(got: List[events.Event], cls: Type[E]) -> List[E]:
    return [e for e in got if isinstance(e, cls)]


def finished(got: List[events.Event]) -> events.Finished:
    """The one Finished, which must come last."""
    ends = of(got, events.Finished)
    assert len(ends) == 1 and got[-1] is ends[0]
    return ends[0]


def live_allocations() -> List[Any]:
    """Host, device and DVPP buffers the simulator still holds."""
    from workers.simulator.acl import _state

    return [r for r in _state.driver().memory.regions.values() if r.kind in ("host", "device", "dvpp")]


@contextlib.contextmanager
def held(config: Dict[str, Any]) -> Iterator[Any]:
    """The simulator, initialised by the test so the worker's own cleanup can be inspected (the
    worker sees ACL already initialised and leaves finalize to us); asserts nothing is left."""
    acl = simulator.load(config)
    assert acl.init() == 0
    try:
        yield acl
        assert live_allocations() == []
    finally:
        acl.finalize()


WORKER = """
import json, sys
from workers.main import run_device
from workers.params import WorkerParams
p = WorkerParams.from_dict(json.loads(sys.argv[1]))
run_device(p, lambda e: print(json.dumps(e.to_dict()), flush=True), backend="sim",
           sim_config=json.loads(sys.argv[2]))
"""


def worker_process(p: WorkerParams, config: Dict[str, Any]) -> subprocess.Popen[str]:
    """``run_device`` in a child process printing one JSON event per line."""
    return subprocess.Popen(
        [sys.executable, "-c", WORKER, json.dumps(p.to_dict()), json.dumps(config)],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


class StopAt:
    """A ``cycles.Watch`` that sets ``stop`` once copy ``copy`` has been made (a stop between copies)."""

    def __init__(self, stop: Any, copy: int) -> None:
        self.stop, self.copy = stop, copy

    def copied(self, cycle: int, copy: int, pattern: str, sent: Any, received: Any, memory: Any) -> None:
        if copy == self.copy:
            self.stop.set()

    def released(self, cycle: int, memory: Any) -> None:
        pass


class MemcpyWrapper:
    """The simulator's acl with ``rt.memcpy`` going through ``self._memcpy`` (a subclass says how),
    which counts calls in ``calls``; ``at`` is the subclass's call of interest."""

    def __init__(self, acl: Any, at: int) -> None:
        from types import SimpleNamespace

        self._acl, self.calls, self.at = acl, 0, at
        self.rt = SimpleNamespace(**{n: getattr(acl.rt, n) for n in dir(acl.rt) if not n.startswith("_")})
        self.rt.memcpy = self._memcpy

    def __getattr__(self, name: str) -> Any:
        return getattr(self._acl, name)

    def _memcpy(self, *args: Any) -> int:
        return int(self._acl.rt.memcpy(*args))
