"""The typed messages that flow from a worker to the controller (and into the journal).

Both sides read it (with the job a worker is given, ``job.py`` and ``params.py``): it holds
data, no logic.

Vocabulary, in the order a worker sends it::

    Started -> (Progress | CycleEnd | Capacity | Fault)* -> Finished

``Launched``, ``Crashed`` and ``Hung`` are never sent by a worker: the launcher synthesises them
when it starts a worker process and when one dies or stops making progress, so a dead worker is
just another event in the same stream.

Units everywhere: sizes in bytes (``bytes`` totals count both directions, H2D + D2H), bandwidth in
decimal GB/s (1e9 bytes per second), times in seconds. ``cycle`` and ``copy`` indexes count from 1;
``copy`` counts host-to-device copies within the run (not within the cycle). ``None`` means "not
known / not applicable", never zero.

Memory samples (``memory`` fields) are dicts keyed by memory kind, ``{"ddr": {"free": int,
"total": int}, "hbm": {...}}``, exactly as ``acl.rt.get_mem_info`` reported them.
Bandwidth statistics (``h2d``/``d2h`` fields) are dicts ``{"count": int, "min": float,
"max": float, "median": float, "mean": float}`` over the copies of the run so far at the largest
block size (a size sweep's last), warm-up copies left out, or ``None`` before the first such copy.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any, ClassVar, Dict, List, Optional, Type, TypedDict

SCHEMA_VERSION = 7
"""Bumped whenever a field is added, removed or changes meaning."""
MAX_MISMATCH_FAULTS = 20
"""Data mismatches a worker sends as ``Fault`` events with their detail; later ones are only
counted (``Finished.verify_errors``)."""
DIRECTIONS = ("h2d", "d2h")
"""The two directions of a copy, as every field and statistic names them."""

JSON = Dict[str, Any]


class Stats(TypedDict):
    """Bandwidth statistics over the copies of a run (decimal GB/s); see the module docstring."""

    count: int
    min: float
    max: float
    median: float
    mean: float


class Pool(TypedDict):
    """One memory kind of a ``get_mem_info`` sample, in bytes."""

    free: int
    total: int


Memory = Dict[str, Pool]
"""A memory sample: memory kind (``ddr``, ``hbm``) -> its free and total bytes."""


class LinkUse(TypedDict):
    """How busy a run kept the link, so far: ``busy`` is the seconds of its timed transfers (both
    directions; a bidirectional copy's overlapped span once), ``wall`` the seconds since its first
    cycle began (allocations, checks and pauses included), ``verified`` the bytes of round trips whose
    read-back was compared (both directions, as ``bytes`` counts them). ``busy / wall`` is the duty
    cycle, ``verified / wall`` the verified bytes per second."""

    busy: float
    wall: float
    verified: int


@dataclass(frozen=True)
class Event:
    """Base of every message. ``kind`` is the tag that names the subclass on the wire."""

    kind: ClassVar[str] = "event"

    def to_dict(self) -> JSON:
        """The JSON-serialisable form: the fields plus ``kind``."""
        return {"kind": self.kind, **dataclasses.asdict(self)}


@dataclass(frozen=True)
class Launched(Event):
    """Synthesised by a launcher when it has started a device's worker (the journal then shows that
    the device may have been opened, even if the controller dies before ``Started``). ``pid``: the
    worker process, where the launcher knows it."""

    kind: ClassVar[str] = "launched"
    pid: Optional[int] = None


@dataclass(frozen=True)
class Started(Event):
    """Sent once the device is open (context created) and warmed up (one allocation, copy and
    free, so the runtime's first-use caches exist), before the first cycle.

    ``physical_id`` is what ``npu-smi`` shows and what reports use; ``logical_id`` is what was
    passed to ``acl.rt.set_device`` (differs when ``ASCEND_RT_VISIBLE_DEVICES`` is set).
    ``memory`` is the baseline sample that leak detection compares against. ``node`` names the
    cluster node the worker ran on (filled in by the Ray launcher); ``None`` for a local run.
    ``run_mode`` is ``ep`` (the application runs on the host and copies cross PCIe) or ``rc`` (it
    runs on the device: no host link), ``None`` when the runtime cannot tell. ``memory_at_open`` is
    the sample taken when the device opened, before the warm-up that the baseline follows (their
    difference is what the runtime keeps for itself on first use).
    """

    kind: ClassVar[str] = "started"
    physical_id: int
    logical_id: int
    chip: Optional[str]
    backend: str  # "acl" (the real runtime) or "sim" (the simulator)
    simulated: bool
    pid: int
    params: JSON
    memory: Memory
    attempts: int = 1  # how many times the device had to be opened (retries after open errors)
    node: Optional[str] = None
    run_mode: Optional[str] = None
    memory_at_open: Optional[Memory] = None


@dataclass(frozen=True)
class Progress(Event):
    """Sent at most every ``PROGRESS_PERIOD`` seconds while copies run; totals are cumulative.

    Also serves as the heartbeat the controller's hang detection watches.
    """

    kind: ClassVar[str] = "progress"
    cycle: int
    copies: int
    bytes: int
    h2d_gbps: Optional[float]  # the most recent copy
    d2h_gbps: Optional[float]
    memory: Memory
    elapsed: float


@dataclass(frozen=True)
class CycleEnd(Event):
    """Sent after a cycle released its memory (rate-limited like ``Progress``; see ``cycles``).

    ``cycles`` is how many cycles this event covers (>1 when short cycles were batched); every
    other count is a run total. ``leak`` is how far free memory after the release is below the
    baseline taken after the warm-up (bytes, the worst memory kind; 0 when none).
    ``lowest_free`` is the lowest free figure per memory kind seen so far in the run. ``link``: the
    run's link use so far (``LinkUse``; ``None`` in journals written before schema 7).
    """

    kind: ClassVar[str] = "cycle_end"
    cycle: int
    cycles: int
    copies: int
    bytes: int
    h2d: Optional[Stats]
    d2h: Optional[Stats]
    memory: Memory
    leak: int
    lowest_free: Dict[str, int]
    elapsed: float
    link: Optional[LinkUse] = None


@dataclass(frozen=True)
class Capacity(Event):
    """Sent when an allocation failed because device memory was full.

    ``blocks`` and ``bytes`` are what the worker held at that moment: the capacity reached.
    ``expected`` is True when filling memory was the point of the run (unbounded copies without
    reuse, the seed's default), False when the run should have fitted. ``pool`` is the memory kind
    that filled (``hbm_huge``: the HBM's huge pages, where DVPP memory comes from; ``hbm``, ``ddr``,
    ...), ``None`` when the samples do not tell.
    """

    kind: ClassVar[str] = "capacity"
    cycle: int
    copy: int
    blocks: int
    bytes: int
    api: str
    code: int
    name: str
    expected: bool
    pool: Optional[str] = None


@dataclass(frozen=True)
class Fault(Event):
    """Sent for every fact that means the device misbehaved, where it happened.

    ``kind`` values (``fault``): ``data_mismatch`` (verification found wrong bytes; ``detail``
    holds ``first_bad_offset``, ``bad_bytes``, ``samples`` and ``direction``: ``h2d`` (the device
    held wrong bytes), ``d2h`` (it held the right ones, the read-back lost them), ``host`` (the
    host buffer the copy was sent from no longer held the pattern) or ``unknown`` (the device could
    not be asked again)), ``api_error`` (a
    runtime call returned non-zero; ``api``/``code``/``name``/``message`` filled), ``open_failed``
    (the device could not be opened after the retries; the device is UNAVAILABLE),
    ``worker_error`` (an unexpected exception in the worker itself; ``detail.traceback``),
    ``host_error`` (the host, not the device, ran out: memory, descriptors, processes, disk;
    ``workers/hostfault.py``; the device is HOST_ERROR, not judged),
    ``busy`` (another process held the device's lock, ``workers/devlock.py``, for all of the wait:
    the device was never opened; ``detail.holder`` is what that process wrote, ``pid``, ``host``,
    ``since`` (UTC), ``command`` and ``log``, ``{}`` when it wrote nothing; ``detail.lock`` the
    lock file, ``detail.waited`` the seconds allowed).
    """

    kind: ClassVar[str] = "fault"
    fault: str
    message: str
    api: Optional[str] = None
    code: Optional[int] = None
    name: Optional[str] = None
    cycle: Optional[int] = None
    copy: Optional[int] = None
    detail: JSON = field(default_factory=dict)


@dataclass(frozen=True)
class Finished(Event):
    """The explicit end event: sent exactly once, after every release, also after a fault.

    ``outcome``: ``completed`` (every cycle ran), ``duration`` (the wall-clock cap ended an
    unbounded loop), ``capacity`` (memory filled, the expected end of a fill run), ``stopped``
    (the worker was asked to stop), ``error`` (a fault ended the run early), ``busy`` (another
    process was testing the device, which was never opened: see the ``busy`` fault).

    ``h2d``/``d2h`` are the statistics at the largest block size, warm-up copies left out.
    ``curve`` is one entry per block size measured, ascending: ``{"size": bytes, "h2d": stats,
    "d2h": stats}`` (stats as above, ``None`` when every copy at that size was a warm-up), plus
    ``"sum"`` (stats of H2D + D2H bytes over the overlapped time) with ``bidirectional``, and
    ``"pageable": {"h2d", "d2h"}`` with ``"ratio": {"h2d", "d2h"}`` (pinned median over pageable
    median, ``None`` when either is missing) with ``host_memory: both``. ``None`` when no copy
    ran (the device never opened) and in journals written before the field existed.
    ``leak_trend`` is the loss after each of the last cycles (bytes) when it grew every cycle (a
    leak, however small), else ``None``. ``link``: the run's link use (``LinkUse``), ``None`` when
    no cycle began and in journals written before schema 7.
    """

    kind: ClassVar[str] = "finished"
    outcome: str
    cycles: int
    copies: int
    bytes: int
    h2d: Optional[Stats]
    d2h: Optional[Stats]
    verify_errors: int
    leak: int
    lowest_free: Dict[str, int]
    memory: Memory
    elapsed: float
    curve: Optional[List[JSON]] = None
    leak_trend: Optional[List[int]] = None
    link: Optional[LinkUse] = None


@dataclass(frozen=True)
class Crashed(Event):
    """Synthesised by a launcher: the worker process died. ``signal`` is set when a signal killed it.

    ``cycle``/``copy``: the cycle and copy in progress when it died (``None`` while it was opening
    the device, or when the launcher could not tell). ``cycles``, ``copies`` and ``bytes``: the exact
    run totals up to the end (cycles completed, copies completed, bytes moved), read from the
    worker's position file (``workers/entry/position.py``); ``None`` when it could not be read (then
    the last progress events are all that is known; also in journals written before schema 6).
    """

    kind: ClassVar[str] = "crashed"
    message: str
    exitcode: Optional[int] = None
    signal: Optional[str] = None
    cycle: Optional[int] = None
    copy: Optional[int] = None
    cycles: Optional[int] = None
    copies: Optional[int] = None
    bytes: Optional[int] = None


@dataclass(frozen=True)
class Hung(Event):
    """Synthesised by a launcher: no event within the timeout, so the worker was killed. ``stack``:
    its stack at kill time, in ``faulthandler``'s format; the other fields as ``Crashed`` has them."""

    kind: ClassVar[str] = "hung"
    message: str
    timeout: float
    stack: Optional[str] = None
    cycle: Optional[int] = None
    copy: Optional[int] = None
    cycles: Optional[int] = None
    copies: Optional[int] = None
    bytes: Optional[int] = None


EVENT_TYPES: Dict[str, Type[Event]] = {
    cls.kind: cls for cls in (Launched, Started, Progress, CycleEnd, Capacity, Fault, Finished, Crashed, Hung)
}


def from_dict(data: JSON) -> Event:
    """Rebuild an event from ``to_dict`` output; raises ``ValueError`` on an unknown kind."""
    kind = data.get("kind")
    cls = None if kind is None else EVENT_TYPES.get(kind)
    if cls is None:
        raise ValueError(f"unknown event kind {kind!r}")
    names = {f.name for f in dataclasses.fields(cls)}
    return cls(**{k: v for k, v in data.items() if k in names})
