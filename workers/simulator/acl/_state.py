"""The process-wide simulated driver: devices, contexts, streams, memory and error text.

One ``Driver`` per process (``driver()``); ``reset()`` replaces it, e.g. between tests.
The current context and the recent error message are thread-local, as in the real runtime.
Every public API function runs under ``LOCK``. A sync copy's ``slow``/link delay sleeps outside it;
a ``hang`` fault and delays at ``synchronize_stream`` keep it, so other threads of that process block
on the simulator as they would on a wedged driver.
"""

from __future__ import annotations

import itertools
import os
import random
import threading
from typing import Any, Dict, List, Optional, Tuple

from . import _codes
from ._config import SimConfig, from_env
from ._link import Link, state_path
from ._memory import AddressSpace
from ._shared import visibility

LOCK = threading.RLock()
_tls = threading.local()
_handles = itertools.count(0x5EED0000, 0x40)  # never reused, even across reset()


class Stream:
    """A stream: queued operations (callables returning a code) run at the next sync."""

    def __init__(self, handle: int, context: Context) -> None:
        self.handle, self.context = handle, context
        self.pending: List[Any] = []


class Context:
    """A context on one physical device; ``streams`` includes the default stream under key 0."""

    def __init__(self, handle: int, device: Device, logical: int, default: bool) -> None:
        self.handle, self.device, self.logical, self.default = handle, device, logical, default
        self.streams: Dict[int, Stream] = {0: Stream(0, self)}


POOLS = ("hbm", "ddr")
HUGE, NORMAL = "huge", "normal"
PAGES = (HUGE, NORMAL)


def part(pool: str, page: str) -> str:
    """The accounting key of one page kind of one pool, e.g. ``"hbm.huge"`` (a ``Region.pool``)."""
    return f"{pool}.{page}"


PARTS = tuple(part(pool, page) for pool in POOLS for page in PAGES)


class Device:
    """One physical device: open counts, memory accounting and fault counters (per process).

    Memory is counted per part, a pool's huge or normal pages: ``used`` by live allocations,
    ``leaked`` for good, ``cached`` by the driver's one-time caches until the device is released.
    """

    def __init__(self, physical: int, config: SimConfig) -> None:
        self.physical = physical
        self.profile = config.profile
        self.totals: Dict[str, int] = {}
        for pool, total in config.totals.items():
            huge = min(config.huge.get(pool, 0), total)
            self.totals.update({part(pool, HUGE): huge, part(pool, NORMAL): total - huge})
        self.faults = config.faults_for(physical)
        self.driver_cache, self.memory_noise = config.driver_cache, config.memory_noise
        # Seeded by the device alone: a run's samples repeat exactly when it is run again.
        self.noise = random.Random(0x5EED + physical)
        self.set_count = 0
        self.default_ctx: Optional[Context] = None
        self.user_ctxs: Dict[int, Context] = {}
        self.used = dict.fromkeys(PARTS, 0)
        self.leaked = dict.fromkeys(PARTS, 0)
        self.cached = dict.fromkeys(PARTS, 0)
        self.warm = False
        self.dvpp_used = 0
        self.open_attempts = self.allocations = self.h2d_copies = 0

    @property
    def is_open(self) -> bool:
        return self.set_count > 0 or bool(self.user_ctxs)

    def free_bytes(self, key: str) -> int:
        """Bytes still allocatable from one part (``part(pool, page)``)."""
        return max(self.totals[key] - self.used[key] - self.leaked[key] - self.cached[key], 0)

    def warm_up(self) -> None:
        """The first use since the device was opened: the driver's caches take their memory.

        They come from the main pool's normal pages (assumed: the device OS runs on normal pages,
        so huge pages stay whole for DVPP and big blocks), at most half of those free: a real
        device has gigabytes of them, and a small simulated one must stay usable.
        """
        if self.warm:
            return
        self.warm = True
        key = part(self.profile.main_pool, NORMAL)
        self.cached[key] = min(self.driver_cache, self.free_bytes(key) // 2)

    def release(self) -> None:
        """Nobody holds the device any more: live allocations and the caches give their memory back."""
        self.used = dict.fromkeys(PARTS, 0)
        self.cached = dict.fromkeys(PARTS, 0)
        self.warm = False
        self.dvpp_used = 0

    def sample(self, keys: Tuple[str, ...]) -> Tuple[int, int]:
        """(free, total) of some parts as ``get_mem_info`` reports them, with ``memory_noise``."""
        free = sum(self.free_bytes(k) for k in keys)
        total = sum(self.totals[k] for k in keys)
        if self.memory_noise:
            free += self.noise.randint(-self.memory_noise, self.memory_noise)
        return min(max(free, 0), total), total


class Driver:
    """All simulated state of the process."""

    def __init__(self, config: SimConfig) -> None:
        self.config = config
        self.init_count = 0
        self.devices = [Device(i, config) for i in range(config.device_count)]
        self.contexts: Dict[int, Context] = {}
        self.streams: Dict[int, Stream] = {}
        self.memory = AddressSpace()
        self._visible: Optional[Tuple[List[int], str]] = None
        self.link = Link(config.link_gbps, state_path(config.link_state)) if config.link_gbps else None

    def close(self) -> None:
        """Let go of what outlives the driver's objects (the link's state file)."""
        if self.link is not None:
            self.link.close()

    def visible(self) -> Tuple[List[int], str]:
        """Physical ids visible to the process, in logical order, and the raw env text.

        Read once, like the runtime does at start-up, and parsed as it does
        (``workers/visibility.py``).
        """
        if self._visible is None:
            text = os.environ.get(visibility.VISIBLE_ENV)
            ids = visibility.visible_devices(text, self.config.device_count)
            self._visible = (list(range(self.config.device_count)) if ids is None else ids), text or ""
        return self._visible

    def new_handle(self) -> int:
        """A fresh opaque handle for a context or stream."""
        return next(_handles)


_driver = Driver(from_env())  # `import acl` under acl-sim-run is configured here


def driver() -> Driver:
    """The process's simulated driver."""
    return _driver


def configure(config: SimConfig) -> None:
    """Replace the driver with a fresh one for ``config``; refused while ``acl.init`` holds."""
    global _driver
    with LOCK:
        if _driver.init_count > 0:
            raise RuntimeError("the simulator can only be reconfigured before acl.init or after acl.finalize")
        _driver.close()
        _driver = Driver(config)
    set_context(None)


def reset(config: Optional[SimConfig] = None) -> None:
    """Forget all state (also a pending init); reconfigure from ``config`` or the environment."""
    global _driver
    with LOCK:
        _driver.close()
        _driver = Driver(config if config is not None else from_env())
    set_context(None)
    take_error()


def current_context() -> Optional[Context]:
    """The calling thread's current context, if it is still alive."""
    handle = getattr(_tls, "context", None)
    return None if handle is None else _driver.contexts.get(handle)


def set_context(context: Optional[Context]) -> None:
    """Make ``context`` current for the calling thread."""
    _tls.context = context.handle if context is not None else None


def fail(code: int, api: str, message: str) -> int:
    """Record the thread's recent error message and return ``code``."""
    _tls.error = f"{api} failed: {_codes.NAMES.get(code, 'error')} ({code}): {message}"
    return code


def take_error() -> Optional[str]:
    """Read and clear the calling thread's recent error message."""
    message = getattr(_tls, "error", None)
    _tls.error = None
    return message
